#include "control_plane/node_files.h"

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "control_plane/auth.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

bool is_regular(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class NodeFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.empty());
    files_.modules_dir = dir_ + "/modules";
    files_.extensions_dir = dir_ + "/extensions";
    files_.state_dir = dir_ + "/state";
    files_.token_file = dir_ + "/token";
  }

  ScratchDir scratch_;
  const std::string dir_ = scratch_.path();
  NodeFiles files_;
};

// With HOME unset or empty every default is under the password database's home, the token's
// included: never /tmp, and never two different homes in one start.
TEST_F(NodeFilesTest, EveryDefaultIsUnderOneHomeAlsoWithoutHome) {
  for (const testing::HomeCase& c : testing::home_cases(dir_)) {
    SCOPED_TRACE(c.home.value_or("<unset>"));
    testing::ScopedHome home(c.home);
    const std::string base = c.resolved + "/.lemon";
    absl::StatusOr<NodeFiles> files = resolve_node_files({});
    ASSERT_TRUE(files.ok()) << files.status();
    EXPECT_EQ(files->modules_dir, base + "/modules");
    EXPECT_EQ(files->examples_dir, base + "/examples");
    EXPECT_EQ(files->extensions_dir, base + "/extensions");
    EXPECT_EQ(files->state_dir, base + "/state");
    EXPECT_EQ(files->token_file, base + "/token");
    EXPECT_EQ(default_token_path().value_or(""), base + "/token");
    EXPECT_TRUE(files->default_modules && files->default_extensions);
  }
  // Paths given are kept as they are.
  absl::StatusOr<NodeFiles> given = resolve_node_files(files_);
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->modules_dir, files_.modules_dir);
  EXPECT_EQ(given->examples_dir, "");
  EXPECT_FALSE(given->default_modules || given->default_extensions);
}

TEST_F(NodeFilesTest, MissingDirectoriesAreCreatedPrivate) {
  ASSERT_TRUE(prepare_node_files(files_, {}).ok());
  for (const std::string& dir : {files_.modules_dir, files_.extensions_dir, files_.state_dir}) {
    SCOPED_TRACE(dir);
    EXPECT_EQ(mode_of(dir), 0700u);
  }
}

// A directory another user could change stops the node before anything is written into it.
TEST_F(NodeFilesTest, AnUntrustedDirectoryIsRefusedNamingItAndNothingIsSeeded) {
  write_file(dir_ + "/example.so", "module bytes");
  const passwd* nobody = getpwnam("nobody");
  const bool can_chown = geteuid() == 0 && nobody != nullptr;
  const struct {
    std::string what;
    mode_t mode;
    bool other_owner;
    std::string message;
  } cases[] = {
      {"group-writable", 0770, false, "it is group-writable (mode 0770)"},
      {"world-writable", 0777, false, "it is world-writable (mode 0777)"},
      {"owned by nobody", 0755, true, "it is owned by uid "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    if (c.other_owner && !can_chown) {
      std::printf("skipped \"%s\": giving a directory to `nobody` needs root\n", c.what.c_str());
      continue;
    }
    const std::string modules = dir_ + "/modules-" + std::to_string(c.mode);
    ASSERT_EQ(mkdir(modules.c_str(), 0700), 0);
    ASSERT_EQ(chmod(modules.c_str(), c.mode), 0);
    if (c.other_owner) {
      ASSERT_EQ(chown(modules.c_str(), nobody->pw_uid, 0), 0);
    }
    NodeFiles files = files_;
    files.modules_dir = modules;
    absl::Status s = prepare_node_files(files, {{dir_ + "/example.so", modules + "/counter.so"}});
    EXPECT_EQ(reload_error_of(s), ReloadError::kPathNotAllowed) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "untrusted directory " + modules)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.message)) << s;
    EXPECT_FALSE(is_regular(modules + "/counter.so")) << "seeded into an untrusted directory";
  }
}

// Seeding writes through a temporary file renamed into place: a symlink planted where a temporary
// file could be, or at the target, is never written through.
TEST_F(NodeFilesTest, SeedingNeverWritesThroughAPlantedSymlink) {
  ASSERT_TRUE(prepare_node_files(files_, {}).ok());
  const std::string victim = dir_ + "/victim";
  write_file(victim, "untouched");
  write_file(dir_ + "/example.so", "module bytes");
  const std::string counter = files_.modules_dir + "/counter.so";
  const std::string example = files_.modules_dir + "/example.so";
  for (const std::string& planted :
       {counter + ".tmp", example + ".tmp", example, files_.modules_dir + "/.counter.so.tmp"}) {
    ASSERT_EQ(symlink(victim.c_str(), planted.c_str()), 0) << planted;
  }
  ASSERT_TRUE(prepare_node_files(files_, {{dir_ + "/example.so", counter, false},
                                          {dir_ + "/example.so", example, true}})
                  .ok());
  EXPECT_EQ(read_file(victim), "untouched");
  EXPECT_TRUE(is_regular(counter));
  EXPECT_TRUE(is_regular(example)) << "the symlink at the target was not replaced";
  EXPECT_EQ(read_file(counter), "module bytes");
  EXPECT_EQ(read_file(example), "module bytes");

  // Not replacing keeps what is there, and seeding again changes nothing.
  write_file(counter, "deployed");
  ASSERT_TRUE(prepare_node_files(files_, {{dir_ + "/example.so", counter, false}}).ok());
  EXPECT_EQ(read_file(counter), "deployed");
}

TEST_F(NodeFilesTest, TemporaryFilesOfAKilledNodeAreRemovedAndOtherFilesStay) {
  ASSERT_TRUE(prepare_node_files(files_, {}).ok());
  const std::string left = files_.modules_dir + "/.counter.so.lemon-tmp-aB3dE5";
  const std::string deployed = files_.modules_dir + "/counter.so";
  write_file(left, "half a module");
  write_file(deployed, "a module");
  ASSERT_TRUE(prepare_node_files(files_, {}).ok());
  EXPECT_FALSE(is_regular(left));
  EXPECT_TRUE(is_regular(deployed));
}

}  // namespace
}  // namespace lemon
