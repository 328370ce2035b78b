#include "control_plane/auth.h"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  ::unlink(path.c_str());
  testing::write_file(path, content);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Each test's files go in a directory of its own.
class AuthTest : public ::testing::Test {
 protected:
  testing::ScratchDir dir_;
};

TEST_F(AuthTest, CreatesA0600TokenFileAndItsParentDirectories) {
  std::string path = dir_.file("a/b/token");
  absl::StatusOr<std::string> token = load_or_create_token(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->size(), 64u);
  EXPECT_EQ(token->find_first_not_of("0123456789abcdef"), std::string::npos) << *token;
  EXPECT_EQ(mode_of(path), 0600);
  EXPECT_EQ(mode_of(dir_.file("a/b")), 0700);
}

TEST_F(AuthTest, ReloadingTheFileGivesTheSameToken) {
  std::string path = dir_.file("token");
  absl::StatusOr<std::string> first = load_or_create_token(path);
  absl::StatusOr<std::string> second = load_or_create_token(path);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  absl::StatusOr<std::string> read = read_token(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, *first);
}

TEST_F(AuthTest, TwoFilesGetDifferentTokens) {
  absl::StatusOr<std::string> a = load_or_create_token(dir_.file("a"));
  absl::StatusOr<std::string> b = load_or_create_token(dir_.file("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST_F(AuthTest, RefusesATokenFileOthersOrGroupCanRead) {
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    SCOPED_TRACE(mode);
    std::string path = dir_.file("token");
    write_file(path, "secret\n", mode);
    absl::StatusOr<std::string> token = load_or_create_token(path);
    ASSERT_FALSE(token.ok());
    EXPECT_NE(std::string(token.status().message()).find("chmod 600"), std::string::npos)
        << token.status();
    EXPECT_FALSE(read_token(path).ok());
  }
}

TEST_F(AuthTest, ReadsAnExistingTokenTrimmed) {
  std::string path = dir_.file("token");
  write_file(path, "  my-token \n", 0600);
  absl::StatusOr<std::string> token = load_or_create_token(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "my-token");
}

TEST_F(AuthTest, RefusesAnEmptyTokenFile) {
  std::string path = dir_.file("token");
  write_file(path, "\n", 0600);
  EXPECT_FALSE(load_or_create_token(path).ok());
}

TEST_F(AuthTest, ReadTokenNeverCreates) {
  std::string path = dir_.file("token");
  absl::StatusOr<std::string> token = read_token(path);
  ASSERT_FALSE(token.ok());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(AuthTest, TokenMatchesOnlyTheExactToken) {
  EXPECT_TRUE(token_matches("abc123", "abc123"));
  EXPECT_FALSE(token_matches("abc123", "abc124"));
  EXPECT_FALSE(token_matches("abc123", "xbc123"));
  EXPECT_FALSE(token_matches("abc123", "abc12"));
  EXPECT_FALSE(token_matches("abc123", "abc1234"));
  EXPECT_FALSE(token_matches("abc123", "abc123abc123"));  // the cycled expected must not match
  EXPECT_FALSE(token_matches("abc123", ""));
  EXPECT_FALSE(token_matches("", ""));
  EXPECT_FALSE(token_matches("", "x"));
  std::string with_nul("a\0b", 3);
  EXPECT_TRUE(token_matches(with_nul, with_nul));
  EXPECT_FALSE(token_matches(with_nul, "a"));
}

TEST_F(AuthTest, ParsesBearerHeaders) {
  EXPECT_EQ(parse_bearer("Bearer abc"), "abc");
  EXPECT_EQ(parse_bearer("bearer abc"), "abc");
  EXPECT_EQ(parse_bearer("BEARER   abc  "), "abc");
  EXPECT_EQ(parse_bearer("Bearer"), std::nullopt);
  EXPECT_EQ(parse_bearer("Bearer   "), std::nullopt);
  EXPECT_EQ(parse_bearer("Basic abc"), std::nullopt);
  EXPECT_EQ(parse_bearer("Bearerabc"), std::nullopt);
}

TEST_F(AuthTest, DefaultPathIsUnderHome) {
  absl::StatusOr<std::string> path = default_token_path();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_NE(path->find("/.lemon/token"), std::string::npos) << *path;
}

// Creates the token at `path` in a process that any write to a file kills (SIGXFSZ, no core).
void create_token_without_room_to_write(const std::string& path) {
  const struct rlimit nothing = {0, 0};
  setrlimit(RLIMIT_CORE, &nothing);
  setrlimit(RLIMIT_FSIZE, &nothing);
  (void)load_or_create_token(path);
  _exit(0);
}

// A node killed between creating the token file and writing the token into it (here by SIGXFSZ at
// its first write) leaves no empty token behind: the next start creates the token as usual, and
// the temporary file the killed one was writing is removed.
TEST_F(AuthTest, ANodeKilledWhileCreatingTheTokenLeavesNoEmptyToken) {
  const std::string dir = dir_.path();
  const std::string path = dir + "/token";
  EXPECT_EXIT(create_token_without_room_to_write(path), ::testing::KilledBySignal(SIGXFSZ), "");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    EXPECT_GT(st.st_size, 0) << "an empty token file was left";
  }
  absl::StatusOr<std::string> token = load_or_create_token(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->size(), 64u);
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  std::vector<std::string> names;
  while (dirent* e = readdir(d.get())) {
    if (e->d_name[0] != '.' || std::string(e->d_name).size() > 2) names.push_back(e->d_name);
  }
  EXPECT_EQ(names, std::vector<std::string>{"token"}) << "the temporary file was not removed";
}

// The node's token file and its directory must be trusted (core/fs.h): one that another user
// could change is refused, naming it.
TEST_F(AuthTest, ATokenAnotherUserCouldChangeIsRefused) {
  const std::string open_dir = dir_.file("group_writable_dir");
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0770), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0770), 0);
  absl::StatusOr<std::string> in_open_dir = load_or_create_token(open_dir + "/token");
  EXPECT_FALSE(in_open_dir.ok());
  EXPECT_NE(std::string(in_open_dir.status().message()).find("untrusted directory " + open_dir),
            std::string::npos)
      << in_open_dir.status();
  EXPECT_NE(::access((open_dir + "/token").c_str(), F_OK), 0) << "created in an untrusted place";

  const passwd* nobody = ::getpwnam("nobody");
  if (::geteuid() != 0 || nobody == nullptr) {
    GTEST_SKIP() << "giving the token file to another user needs root; not root here";
  }
  const std::string path = dir_.file("token");
  write_file(path, "their-token\n", 0600);
  ASSERT_EQ(::chown(path.c_str(), nobody->pw_uid, 0), 0);
  absl::StatusOr<std::string> theirs = load_or_create_token(path);
  EXPECT_FALSE(theirs.ok());
  EXPECT_NE(std::string(theirs.status().message()).find("untrusted file " + path),
            std::string::npos)
      << theirs.status();
  EXPECT_NE(std::string(theirs.status().message()).find("(nobody)"), std::string::npos)
      << theirs.status();
}

}  // namespace
}  // namespace lemon
