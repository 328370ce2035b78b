#include "core/runfiles.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace lemon {

std::vector<std::string> runfiles_candidates(const std::string& workspace) {
  std::vector<std::string> out;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && *dir != '\0') out.push_back(std::string(dir) + "/" + workspace);
  }
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) out.push_back(std::string(exe, static_cast<size_t>(n)) + ".runfiles/" + workspace);
  return out;
}

std::string find_runfile(const std::string& relative, const std::string& workspace) {
  for (const std::string& root : runfiles_candidates(workspace)) {
    const std::string path = root + "/" + relative;
    struct stat st;
    if (stat(path.c_str(), &st) == 0) return path;
  }
  return "";
}

}  // namespace lemon
