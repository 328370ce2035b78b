// Test helpers: where Bazel put the data files, and scratch directories that clean up after
// themselves.
#ifndef LEMON_TESTING_RUNFILES_H_
#define LEMON_TESTING_RUNFILES_H_

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/fs.h"

namespace lemon::testing {

// Absolute path of a workspace-relative data file.
inline std::string runfile(const std::string& path) {
  const char* root = std::getenv("TEST_SRCDIR");
  return std::string(root ? root : ".") + "/lemon/" + path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Copies `from` to `to` as the node copies files: through a temporary file renamed into place.
inline void copy_file(const std::string& from, const std::string& to) {
  (void)lemon::copy_file_atomic(from, to, 0644, true);
}

// A fresh directory under TEST_TMPDIR (or /tmp), removed on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/lemon-XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~ScratchDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    (void)!std::system(cmd.c_str());
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace lemon::testing

#endif  // LEMON_TESTING_RUNFILES_H_
