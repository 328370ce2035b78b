// Helpers for the tests and benchmarks of every layer: Bazel data files, scratch directories that
// remove themselves, and whole-file reads and writes. No test framework is needed to use them.
//
//   ScratchDir dir;                                          // $TEST_TMPDIR/lemon-XXXXXX
//   copy_file(runfile("extensions/counter/libcounter_v1.so"), dir.file("counter.so"));
#ifndef LEMON_CORE_TEST_SUPPORT_H_
#define LEMON_CORE_TEST_SUPPORT_H_

#include <optional>
#include <string>
#include <vector>

namespace lemon::testing {

// The absolute path of data file `path` (relative to workspace `workspace`), found as
// core/runfiles.h finds it; when no runfiles directory has it, the path it would have in the first
// one, so that a test that opens it fails naming the file.
std::string runfile(const std::string& path, const std::string& workspace = "lemon");

// The bytes of the file at `path` ("" when it cannot be read).
std::string read_file(const std::string& path);

// Replaces the file at `path` with `bytes`.
void write_file(const std::string& path, const std::string& bytes);

// Copies `from` to `to` as the node copies files (core/fs.h's copy_file_atomic, mode 0644,
// replacing `to`); aborts naming both when that fails.
void copy_file(const std::string& from, const std::string& to);

// A fresh directory under $TEST_TMPDIR (/tmp when unset), removed with everything in it when this
// object goes. Aborts when the directory cannot be made.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` (relative) in this directory; nothing is created.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Sets HOME for the life of this object (nullopt: unset), then puts it back.
class ScopedHome {
 public:
  explicit ScopedHome(const std::optional<std::string>& home);
  ~ScopedHome();
  ScopedHome(const ScopedHome&) = delete;
  ScopedHome& operator=(const ScopedHome&) = delete;

 private:
  std::optional<std::string> saved_;
};

// The current user's home directory in the password database (what HOME falls back to); aborts
// when there is none.
std::string passwd_home();

// A HOME setting and the home directory it stands for.
struct HomeCase {
  std::optional<std::string> home;  // nullopt: unset
  std::string resolved;
};
// The HOME settings a default path must work with: unset and empty (both stand for passwd_home(),
// never /tmp), then `set`, which stands for itself.
std::vector<HomeCase> home_cases(const std::string& set);

}  // namespace lemon::testing

#endif  // LEMON_CORE_TEST_SUPPORT_H_
