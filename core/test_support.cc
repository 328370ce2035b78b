#include "core/test_support.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/statusor.h"
#include "core/fs.h"
#include "core/runfiles.h"

namespace lemon::testing {

std::string runfile(const std::string& path, const std::string& workspace) {
  std::string found = find_runfile(path, workspace);
  if (!found.empty()) return found;
  const std::vector<std::string> roots = runfiles_candidates(workspace);
  return (roots.empty() ? std::string(".") : roots.front()) + "/" + path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void copy_file(const std::string& from, const std::string& to) {
  absl::StatusOr<bool> copied = copy_file_atomic(from, to, 0644, true);
  if (!copied.ok()) {
    std::fprintf(stderr, "copy_file %s -> %s: %s\n", from.c_str(), to.c_str(),
                 copied.status().ToString().c_str());
    std::abort();
  }
}

ScratchDir::ScratchDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/lemon-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "ScratchDir: mkdtemp %s: %s\n", tmpl.c_str(), errno_text(errno).c_str());
    std::abort();
  }
  path_ = tmpl;
}

ScratchDir::~ScratchDir() { (void)remove_tree(path_); }

namespace {

void set_home(const std::optional<std::string>& home) {
  if (home) {
    setenv("HOME", home->c_str(), 1);
  } else {
    unsetenv("HOME");
  }
}

}  // namespace

ScopedHome::ScopedHome(const std::optional<std::string>& home) {
  if (const char* old = std::getenv("HOME")) saved_ = old;
  set_home(home);
}

ScopedHome::~ScopedHome() { set_home(saved_); }

std::string passwd_home() {
  const passwd* pw = getpwuid(geteuid());
  if (pw == nullptr) {
    std::fprintf(stderr, "passwd_home: no password database entry for uid %d\n",
                 static_cast<int>(geteuid()));
    std::abort();
  }
  return pw->pw_dir;
}

std::vector<HomeCase> home_cases(const std::string& set) {
  return {{std::nullopt, passwd_home()}, {std::string(""), passwd_home()}, {set, set}};
}

}  // namespace lemon::testing
