#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  while (dirent* e = d ? readdir(d.get()) : nullptr) {
    if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
  }
  return out;
}

// Runs `fn` on a thread whose stack is `stack_bytes` with inaccessible memory below it, so that
// what the thread puts below its stack faults instead of landing in a neighbouring mapping (next to
// a civetweb worker's stack lies another thread's memory). False if the thread could not be made.
bool run_on_small_stack(std::size_t stack_bytes, const std::function<void()>& fn) {
  const std::size_t below = std::size_t{1} << 20;
  void* region = mmap(nullptr, below + stack_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) return false;
  char* stack = static_cast<char*>(region) + below;
  bool ran = false;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (mprotect(stack, stack_bytes, PROT_READ | PROT_WRITE) == 0 &&
      pthread_attr_setstack(&attr, stack, stack_bytes) == 0) {
    pthread_t thread;
    auto call = [](void* f) -> void* {
      (*static_cast<const std::function<void()>*>(f))();
      return nullptr;
    };
    ran = pthread_create(&thread, &attr, call, const_cast<std::function<void()>*>(&fn)) == 0 &&
          pthread_join(thread, nullptr) == 0;
  }
  pthread_attr_destroy(&attr);
  munmap(region, below + stack_bytes);
  return ran;
}

// The uid of `nobody`, when this test may give files to it (it runs as root); else nullopt.
std::optional<uid_t> other_user() {
  if (geteuid() != 0) return std::nullopt;
  const passwd* pw = getpwnam("nobody");
  return pw != nullptr ? std::optional<uid_t>(pw->pw_uid) : std::nullopt;
}

class FsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }

  // A directory `name` under the scratch directory with exactly `mode`.
  std::string make_dir(const std::string& name, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    EXPECT_EQ(mkdir(path.c_str(), 0700), 0) << path;
    EXPECT_EQ(chmod(path.c_str(), mode), 0) << path;
    return path;
  }

  std::string make_file(const std::string& name, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    write_file(path, "x");
    EXPECT_EQ(chmod(path.c_str(), mode), 0) << path;
    return path;
  }

  // Skips the test when the scratch directory itself is not trusted (its ancestors are writable
  // by others on this machine), as every expectation of a trusted path would fail for that reason.
  bool scratch_untrusted() {
    absl::Status s = check_trusted_path(dir_, PathKind::kDirectory);
    if (!s.ok()) std::printf("scratch directory not trusted here: %s\n", s.ToString().c_str());
    return !s.ok();
  }

  ScratchDir scratch_;
  const std::string dir_ = scratch_.path();
};

TEST_F(FsTest, TrustedPathsAreOwnedByUsAndWritableOnlyByUsAllTheWayUp) {
  if (scratch_untrusted()) GTEST_SKIP() << "the test directory's ancestors are not trusted";
  make_dir("private", 0700);
  make_dir("shared_read", 0755);
  make_dir("group_w", 0770);
  make_dir("world_w", 0777);
  make_dir("sticky", 01777);
  make_dir("sticky/inside", 0700);
  make_dir("world_w/inside", 0700);
  make_dir("group_w/inside", 0700);
  make_file("token", 0600);
  make_file("token_group_w", 0620);
  make_file("private/file", 0644);
  ASSERT_EQ(symlink((dir_ + "/private").c_str(), (dir_ + "/link_ok").c_str()), 0);
  ASSERT_EQ(symlink((dir_ + "/group_w/inside").c_str(), (dir_ + "/link_bad").c_str()), 0);
  ASSERT_EQ(symlink("../private/../group_w/inside", (dir_ + "/private/rel_bad").c_str()), 0);
  const struct {
    std::string path;
    PathKind kind;
    ReloadError expected;
    std::string message;  // a part of the refusal
  } cases[] = {
      {"private", PathKind::kDirectory, ReloadError::kOk, ""},
      {"shared_read", PathKind::kDirectory, ReloadError::kOk, ""},
      {"private/../private/.", PathKind::kDirectory, ReloadError::kOk, ""},
      {"sticky/inside", PathKind::kDirectory, ReloadError::kOk, ""},
      {"link_ok", PathKind::kDirectory, ReloadError::kOk, ""},
      {"token", PathKind::kRegularFile, ReloadError::kOk, ""},
      {"private/file", PathKind::kRegularFile, ReloadError::kOk, ""},
      {"group_w", PathKind::kDirectory, ReloadError::kPathNotAllowed, "it is group-writable"},
      {"world_w", PathKind::kDirectory, ReloadError::kPathNotAllowed, "it is world-writable"},
      {"sticky", PathKind::kDirectory, ReloadError::kPathNotAllowed, "it is world-writable"},
      {"group_w/inside", PathKind::kDirectory, ReloadError::kPathNotAllowed,
       "/group_w above it is group-writable (mode 0770 without the sticky bit)"},
      {"world_w/inside", PathKind::kDirectory, ReloadError::kPathNotAllowed,
       "/world_w above it is world-writable"},
      {"link_bad", PathKind::kDirectory, ReloadError::kPathNotAllowed,
       "/group_w above it is group-writable"},
      {"private/rel_bad", PathKind::kDirectory, ReloadError::kPathNotAllowed,
       "/group_w above it is group-writable"},
      {"token_group_w", PathKind::kRegularFile, ReloadError::kPathNotAllowed,
       "it is group-writable (mode 0620)"},
      {"token", PathKind::kDirectory, ReloadError::kInvalidArgument, "is not a directory"},
      {"private", PathKind::kRegularFile, ReloadError::kInvalidArgument, "is not a regular file"},
      {"missing", PathKind::kDirectory, ReloadError::kNotFound, "does not exist"},
      {"token/below", PathKind::kDirectory, ReloadError::kIoError, "Not a directory"},
  };
  for (const auto& c : cases) {
    const std::string path = dir_ + "/" + c.path;
    SCOPED_TRACE(path);
    absl::Status s = check_trusted_path(path, c.kind);
    EXPECT_EQ(reload_error_of(s), c.expected) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.message)) << s;
    if (!s.ok()) {
      EXPECT_TRUE(absl::StrContains(s.message(), path)) << s;
    }
  }
}

TEST_F(FsTest, PathsAnotherUserOwnsAreNotTrusted) {
  if (scratch_untrusted()) GTEST_SKIP() << "the test directory's ancestors are not trusted";
  const std::optional<uid_t> nobody = other_user();
  if (!nobody) GTEST_SKIP() << "needs root to give files to `nobody`; not root here";
  const std::string theirs = make_dir("theirs", 0700);
  const std::string below = make_dir("theirs_above", 0755) + "/mine";
  ASSERT_EQ(mkdir(below.c_str(), 0700), 0);
  const std::string sticky = make_dir("sticky", 01777);
  const std::string link = sticky + "/link";
  ASSERT_EQ(symlink(make_dir("target", 0700).c_str(), link.c_str()), 0);
  const std::string file = make_file("their_token", 0600);
  ASSERT_EQ(chown(theirs.c_str(), *nobody, 0), 0);
  ASSERT_EQ(chown((dir_ + "/theirs_above").c_str(), *nobody, 0), 0);
  ASSERT_EQ(lchown(link.c_str(), *nobody, 0), 0);
  ASSERT_EQ(chown(file.c_str(), *nobody, 0), 0);
  const struct {
    std::string path;
    PathKind kind;
    std::string entry;  // named as the one at fault
  } cases[] = {
      {theirs, PathKind::kDirectory, "it is owned by uid "},
      {below, PathKind::kDirectory, dir_ + "/theirs_above above it is owned by uid "},
      {link, PathKind::kDirectory, "the symbolic link " + link + " on its way is owned by uid "},
      {file, PathKind::kRegularFile, "it is owned by uid "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    absl::Status s = check_trusted_path(c.path, c.kind);
    EXPECT_EQ(reload_error_of(s), ReloadError::kPathNotAllowed) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.path)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.entry)) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "(nobody)")) << s;
  }
}

TEST(HomeDirectoryTest, AnUnsetOrEmptyHomeIsThePasswordDatabasesNeverTmp) {
  for (const testing::HomeCase& c : testing::home_cases("/srv/somebody")) {
    SCOPED_TRACE(c.home.value_or("<unset>"));
    testing::ScopedHome scoped(c.home);
    absl::StatusOr<std::string> home = home_directory();
    ASSERT_TRUE(home.ok()) << home.status();
    EXPECT_EQ(*home, c.resolved);
  }
}

TEST_F(FsTest, MakeDirsCreatesMissingDirectoriesWithTheModeAndLeavesExistingOnes) {
  make_dir("existing", 0755);
  ASSERT_TRUE(make_dirs(dir_ + "/existing/a/b", 0700).ok());
  EXPECT_EQ(mode_of(dir_ + "/existing"), 0755u);
  EXPECT_EQ(mode_of(dir_ + "/existing/a"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/existing/a/b"), 0700u);
  make_file("file", 0600);
  absl::Status s = make_dirs(dir_ + "/file/sub", 0700);
  EXPECT_EQ(reload_error_of(s), ReloadError::kIoError) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), dir_ + "/file/sub")) << s;
}

TEST_F(FsTest, RemoveTreeRemovesEverythingBelowButNotWhatALinkLeadsTo) {
  make_dir("outside", 0700);
  make_file("outside/kept", 0600);
  make_dir("tree", 0700);
  make_dir("tree/sub", 0700);
  make_file("tree/sub/file", 0600);
  ASSERT_EQ(symlink((dir_ + "/outside").c_str(), (dir_ + "/tree/link").c_str()), 0);
  ASSERT_TRUE(remove_tree(dir_ + "/tree").ok());
  EXPECT_NE(access((dir_ + "/tree").c_str(), F_OK), 0) << "the tree is still there";
  EXPECT_EQ(access((dir_ + "/outside/kept").c_str(), F_OK), 0) << "removed through the link";
  EXPECT_TRUE(remove_tree(dir_ + "/never_there").ok());
}

TEST_F(FsTest, ReadRegularFileRefusesOtherFilesAndCapsTheSizeWithoutBlocking) {
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string file = make_file("ten", 0600);
  write_file(file, "0123456789");
  struct Case {
    std::string path;
    std::size_t max;
    bool truncate;
    ReloadError expected;
    std::string content_or_message;
  };
  const Case cases[] = {
      {fifo, 100, false, ReloadError::kInvalidArgument, "is not a regular file"},
      {dir_, 100, false, ReloadError::kInvalidArgument, "is a directory"},
      {file, 9, false, ReloadError::kInvalidArgument, "is larger than the limit of 9 bytes"},
      {file, 9, true, ReloadError::kOk, "012345678"},
      {file, 10, false, ReloadError::kOk, "0123456789"},
      {file, 1 << 20, false, ReloadError::kOk, "0123456789"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path + " max " + std::to_string(c.max));
    // O_NONBLOCK: opening a FIFO with no writer returns at once; reading it must not block either.
    const int fd = open(c.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ASSERT_GE(fd, 0);
    bool truncated = false;
    absl::StatusOr<std::string> r =
        read_regular_file(fd, c.max, c.path, c.truncate ? &truncated : nullptr);
    close(fd);
    EXPECT_EQ(reload_error_of(r.status()), c.expected) << r.status();
    if (r.ok()) {
      EXPECT_EQ(*r, c.content_or_message);
      EXPECT_EQ(truncated, c.truncate);
    } else {
      EXPECT_TRUE(absl::StrContains(r.status().message(), c.content_or_message)) << r.status();
      EXPECT_TRUE(absl::StrContains(r.status().message(), c.path)) << r.status();
    }
  }
}

TEST_F(FsTest, AtomicWritesNeverFollowASymlinkAndLeaveNoTemporaryFile) {
  const std::string victim = make_file("victim", 0600);
  write_file(victim, "untouched");
  const std::string target = dir_ + "/out";
  ASSERT_EQ(symlink(victim.c_str(), target.c_str()), 0);

  // Not replacing: the existing name (here a symlink) is kept, nothing is written through it.
  absl::StatusOr<bool> kept = write_file_atomic(target, "new", 0600, false);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(*kept);
  EXPECT_EQ(read_file(victim), "untouched");

  // Replacing: the symlink itself is replaced by a regular file.
  absl::StatusOr<bool> written = write_file_atomic(target, "new", 0640, true);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(*written);
  EXPECT_EQ(read_file(victim), "untouched");
  EXPECT_EQ(read_file(target), "new");
  EXPECT_EQ(mode_of(target), 0640u);

  ASSERT_TRUE(copy_file_atomic(victim, dir_ + "/copy", 0600, true).ok());
  EXPECT_EQ(read_file(dir_ + "/copy"), "untouched");
  EXPECT_EQ(entries(dir_).size(), 3u) << "a temporary file was left behind";

  // A FIFO as the source is refused at once rather than read.
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  absl::Status s = copy_file_atomic(dir_ + "/fifo", dir_ + "/from_fifo", 0600, true).status();
  EXPECT_EQ(reload_error_of(s), ReloadError::kInvalidArgument) << s;
  EXPECT_FALSE(exists(dir_ + "/from_fifo"));
}

// Reloads copy modules on civetweb's worker threads, whose stacks are small (100 KiB).
TEST_F(FsTest, CopyingAFileNeedsLittleStack) {
  std::string bytes;
  for (int i = 0; bytes.size() < (std::size_t{3} << 16); ++i) bytes += std::to_string(i) + ",";
  const std::string from = dir_ + "/from.so";
  write_file(from, bytes);
  absl::StatusOr<bool> copied = absl::UnknownError("not run");
  ASSERT_TRUE(run_on_small_stack(std::size_t{64} << 10, [&] {
    copied = copy_file_atomic(from, dir_ + "/to.so", 0600, /*replace=*/false);
  }));
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(read_file(dir_ + "/to.so"), bytes);
}

// What a process killed with SIGKILL leaves (a LockedPath file and directory) is swept; what a
// live holder keeps, and names that are not ours, stay.
TEST_F(FsTest, SweepRemovesWhatADeadProcessLeftAndNothingInUse) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto file = LockedPath::create_file(dir_, ".dead.lemon-tmp-");
    auto dir = LockedPath::create_dir(dir_, "work-");
    if (!file.ok() || !dir.ok()) _exit(1);
    write_file(dir->path() + "/inside", "x");
    const std::string said = file->path() + "\n" + dir->path() + "\n";
    (void)!::write(pipe_fds[1], said.data(), said.size());
    pause();  // until SIGKILL
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string said;
  char buf[512];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof(buf))) > 0;) {
    said.append(buf, static_cast<std::size_t>(n));
    if (std::count(said.begin(), said.end(), '\n') == 2) break;
  }
  close(pipe_fds[0]);
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const std::string dead_file = said.substr(0, said.find('\n'));
  const std::string dead_dir =
      said.substr(said.find('\n') + 1, said.rfind('\n') - said.find('\n') - 1);
  ASSERT_TRUE(exists(dead_file)) << said;
  ASSERT_TRUE(exists(dead_dir)) << said;

  auto live_file = LockedPath::create_file(dir_, ".live.lemon-tmp-");
  auto live_dir = LockedPath::create_dir(dir_, "work-");
  ASSERT_TRUE(live_file.ok() && live_dir.ok());
  const std::string foreign = make_file("notes.txt", 0600);
  absl::StatusOr<int> removed = sweep_unlocked(dir_, [](absl::string_view name) {
    return is_temp_name(name) || absl::StartsWith(name, "work-");
  });
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, 2);
  EXPECT_FALSE(exists(dead_file));
  EXPECT_FALSE(exists(dead_dir));
  EXPECT_TRUE(exists(live_file->path()));
  EXPECT_TRUE(exists(live_dir->path()));
  EXPECT_TRUE(exists(foreign));
  const std::string live_path = live_file->path();
  *live_file = std::move(*live_dir);  // a LockedPath removes its file when it goes
  EXPECT_FALSE(exists(live_path));
}

}  // namespace
}  // namespace lemon
