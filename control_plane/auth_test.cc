#include "control_plane/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace lemon {
namespace {

std::string temp_dir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/" + name;
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  ::unlink(path.c_str());
  std::ofstream(path) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(AuthTest, CreatesA0600TokenFileAndItsParentDirectories) {
  std::string path = temp_dir("create") + "/a/b/token";
  absl::StatusOr<std::string> token = load_or_create_token(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->size(), 64u);
  EXPECT_EQ(token->find_first_not_of("0123456789abcdef"), std::string::npos) << *token;
  EXPECT_EQ(mode_of(path), 0600);
  EXPECT_EQ(mode_of(temp_dir("create") + "/a/b"), 0700);
}

TEST(AuthTest, ReloadingTheFileGivesTheSameToken) {
  std::string path = temp_dir("same") + "/token";
  absl::StatusOr<std::string> first = load_or_create_token(path);
  absl::StatusOr<std::string> second = load_or_create_token(path);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  absl::StatusOr<std::string> read = read_token(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, *first);
}

TEST(AuthTest, TwoFilesGetDifferentTokens) {
  absl::StatusOr<std::string> a = load_or_create_token(temp_dir("two") + "/a");
  absl::StatusOr<std::string> b = load_or_create_token(temp_dir("two") + "/b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(AuthTest, RefusesATokenFileOthersOrGroupCanRead) {
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    SCOPED_TRACE(mode);
    std::string path = temp_dir("open") + "/token";
    write_file(path, "secret\n", mode);
    absl::StatusOr<std::string> token = load_or_create_token(path);
    ASSERT_FALSE(token.ok());
    EXPECT_NE(std::string(token.status().message()).find("chmod 600"), std::string::npos)
        << token.status();
    EXPECT_FALSE(read_token(path).ok());
  }
}

TEST(AuthTest, ReadsAnExistingTokenTrimmed) {
  std::string path = temp_dir("existing") + "/token";
  write_file(path, "  my-token \n", 0600);
  absl::StatusOr<std::string> token = load_or_create_token(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "my-token");
}

TEST(AuthTest, RefusesAnEmptyTokenFile) {
  std::string path = temp_dir("empty") + "/token";
  write_file(path, "\n", 0600);
  EXPECT_FALSE(load_or_create_token(path).ok());
}

TEST(AuthTest, ReadTokenNeverCreates) {
  std::string path = temp_dir("nocreate") + "/token";
  absl::StatusOr<std::string> token = read_token(path);
  ASSERT_FALSE(token.ok());
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(AuthTest, TokenMatchesOnlyTheExactToken) {
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

TEST(AuthTest, ParsesBearerHeaders) {
  EXPECT_EQ(parse_bearer("Bearer abc"), "abc");
  EXPECT_EQ(parse_bearer("bearer abc"), "abc");
  EXPECT_EQ(parse_bearer("BEARER   abc  "), "abc");
  EXPECT_EQ(parse_bearer("Bearer"), std::nullopt);
  EXPECT_EQ(parse_bearer("Bearer   "), std::nullopt);
  EXPECT_EQ(parse_bearer("Basic abc"), std::nullopt);
  EXPECT_EQ(parse_bearer("Bearerabc"), std::nullopt);
}

TEST(AuthTest, DefaultPathIsUnderHome) {
  std::string path = default_token_path();
  EXPECT_NE(path.find("/.lemon/token"), std::string::npos) << path;
}

}  // namespace
}  // namespace lemon
