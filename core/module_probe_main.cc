// module_probe: loads a module in a throw-away process, so that a shared object that crashes the
// dynamic loader (a corrupted hash table makes ld.so assert) or throws from a static constructor
// (std::terminate) takes this process down instead of the node. Used by core/code_server.cc.
//
//   module_probe <path>   exit 0: dlopen and the entry point worked; else a reason on stderr
//   module_probe --serve  a probe server (core/probe_server.h): reads one path per line on stdin;
//                         for each, forks a child that does the above, and writes on stdout
//                         "pid <child pid>\n" once it runs, then
//                         "status <waitpid status> <n>\n" and the n bytes the child wrote on stderr.
//                         The server already has CAF and the C++ runtime loaded (every module links
//                         them), so a child only maps and relocates the module itself.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "caf/sec.hpp"
#include "core/module_abi.h"

namespace {

int probe_one(const char* path) {
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    std::fprintf(stderr, "%s\n", why ? why : "dlopen failed");
    return 3;
  }
  auto entry = reinterpret_cast<LemonModuleEntryFn>(dlsym(handle, lemon::kModuleEntrySymbol));
  if (entry != nullptr && entry() == nullptr) {
    std::fprintf(stderr, "the entry point returned null\n");
    return 4;
  }
  return 0;  // no dlclose: the process ends here
}

// Runs one probe in a child; returns its waitpid status and what it wrote on stderr.
int probe_in_child(const std::string& path, std::string& said) {
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) {
    said = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    said = std::string("fork: ") + std::strerror(errno);
    close(err[0]);
    close(err[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    _exit(probe_one(path.c_str()));  // _exit: nothing of the server's state runs in the child
  }
  close(err[1]);
  std::printf("pid %d\n", static_cast<int>(pid));
  std::fflush(stdout);
  char buf[512];
  for (;;) {
    const ssize_t got = read(err[0], buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (said.size() < 4096) said.append(buf, static_cast<size_t>(got));
  }
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int serve() {
  // Keeps CAF loaded in the server (and so in every child) before any module asks for it.
  if (caf::to_string(caf::sec::none).empty()) return 5;
  char line[4096];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    std::string path(line);
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
    std::string said;
    const int status = probe_in_child(path, said);
    std::printf("status %d %zu\n", status, said.size());
    std::fwrite(said.data(), 1, said.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--serve") == 0) return serve();
  if (argc != 2) {
    std::fprintf(stderr, "usage: module_probe <shared object> | module_probe --serve\n");
    return 2;
  }
  return probe_one(argv[1]);
}
