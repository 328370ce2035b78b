// module_probe: loads a module in a throw-away process, so that a shared object that crashes the
// dynamic loader (a corrupted hash table makes ld.so assert) or throws from a static constructor
// (std::terminate) takes this process down instead of the node. Used by core/code_server.cc.
//
//   module_probe <path>   exit 0: dlopen and the entry point worked; else a reason on stderr
//   module_probe --serve  a probe server (core/probe_server.h): reads one path per line on stdin;
//                         for each, a child does the above, and the server writes on stdout
//                         "pid <child pid>\n" once it runs, then
//                         "status <waitpid status> <n>\n" and the n bytes the child wrote on stderr.
//                         The server already has CAF and the C++ runtime loaded (every module links
//                         them), so a child only maps and relocates the module itself.
//
// The server forks each child before its path is known (a spare, waiting for the path on a pipe),
// and a child that loaded its module says so on a pipe of its own before it exits. So neither the
// fork nor the child's exit is part of a probe's time: the server answers "status 0 0" on that word
// and reaps the child afterwards, then forks the next spare while no one waits. A child that fails
// or dies is waited for, and its status and words are reported as before.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
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

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// A forked child waiting for the path of the module it is to load.
struct Spare {
  pid_t pid = -1;
  int path_w = -1;    // the server writes the path here, ending in '\n'
  int err_r = -1;     // what the child writes on stderr
  int loaded_r = -1;  // one byte once the module loaded (EOF without it: it failed or died)

  void close_all() {
    close_fd(path_w);
    close_fd(err_r);
    close_fd(loaded_r);
    pid = -1;
  }
};

// In the child: reads the path (EOF before a whole line: the server is gone, nothing to do), loads
// the module, says so if it loaded, and exits.
[[noreturn]] void run_spare(int path_r, int err_w, int loaded_w) {
  dup2(err_w, STDERR_FILENO);
  const int null = open("/dev/null", O_RDWR);
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  std::string path;
  char c;
  for (;;) {
    const ssize_t got = read(path_r, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) _exit(0);
    if (c == '\n') break;
    path.push_back(c);
  }
  const int rc = probe_one(path.c_str());
  if (rc == 0) {
    const char loaded = 'k';
    while (write(loaded_w, &loaded, 1) < 0 && errno == EINTR) {
    }
  }
  _exit(rc);  // _exit: nothing of the server's state runs in the child
}

// Forks a spare; false (with the reason in `why`) if it cannot.
bool fork_spare(Spare& spare, std::string& why) {
  int pipes[3][2];  // path, err, loaded: [0] the read end, [1] the write end
  int(&path)[2] = pipes[0];
  int(&err)[2] = pipes[1];
  int(&loaded)[2] = pipes[2];
  int made = 0;
  while (made < 3 && pipe2(pipes[made], O_CLOEXEC) == 0) ++made;
  pid_t pid = -1;
  if (made == 3) {
    std::fflush(stdout);
    pid = fork();
  }
  if (pid < 0) {
    why = std::string(made == 3 ? "fork: " : "pipe: ") + std::strerror(errno);
    for (int k = 0; k < made; ++k) {
      close(pipes[k][0]);
      close(pipes[k][1]);
    }
    return false;
  }
  if (pid == 0) {
    // Our copies of the server's ends: closed, so that the path pipe reads EOF if the server dies.
    close(path[1]);
    close(err[0]);
    close(loaded[0]);
    run_spare(path[0], err[1], loaded[1]);
  }
  close(path[0]);
  close(err[1]);
  close(loaded[1]);
  spare.pid = pid;
  spare.path_w = path[1];
  spare.err_r = err[0];
  spare.loaded_r = loaded[0];
  return true;
}

// Reads what is available on `fd` into `said` (at most 4 KiB kept); false on EOF or error.
bool take(int fd, std::string& said) {
  char buf[512];
  for (;;) {
    const ssize_t got = read(fd, buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    if (said.size() < 4096) said.append(buf, static_cast<size_t>(got));
    return true;
  }
}

// Hands `path` to the spare and reports the outcome on stdout; the spare is used up.
void probe_with(Spare& spare, const std::string& path) {
  std::printf("pid %d\n", static_cast<int>(spare.pid));
  std::fflush(stdout);
  const std::string line = path + "\n";
  std::string said;
  bool loaded = false;
  if (write(spare.path_w, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
    // Until the child says it loaded, or its pipes close (it failed or died). Its stderr is read
    // meanwhile, so that a chatty loader cannot block on a full pipe.
    while (spare.loaded_r >= 0) {
      pollfd fds[2] = {{spare.loaded_r, POLLIN, 0}, {spare.err_r, POLLIN, 0}};
      const nfds_t n = spare.err_r >= 0 ? 2 : 1;
      if (poll(fds, n, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[0].revents != 0) {
        char c;
        const ssize_t got = read(spare.loaded_r, &c, 1);
        if (got < 0 && errno == EINTR) continue;
        loaded = got == 1;
        close_fd(spare.loaded_r);
      }
      if (n == 2 && fds[1].revents != 0 && !take(spare.err_r, said)) close_fd(spare.err_r);
    }
  }
  close_fd(spare.path_w);
  if (loaded) {
    std::printf("status 0 0\n");  // it loaded; it is exiting with 0 (reaped below)
    std::fflush(stdout);
  }
  while (spare.err_r >= 0 && take(spare.err_r, said)) {
  }
  int status = 0;
  while (waitpid(spare.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!loaded) {
    std::printf("status %d %zu\n", status, said.size());
    std::fwrite(said.data(), 1, said.size(), stdout);
    std::fflush(stdout);
  }
  spare.close_all();
}

int serve() {
  // Keeps CAF loaded in the server (and so in every child) before any module asks for it.
  if (caf::to_string(caf::sec::none).empty()) return 5;
  Spare spare;
  std::string why;
  (void)fork_spare(spare, why);
  char line[4096];
  while (std::fgets(line, sizeof(line), stdin) != nullptr) {
    std::string path(line);
    while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
    if (spare.pid < 0 && !fork_spare(spare, why)) {
      std::printf("status -1 %zu\n", why.size());  // the client runs a probe process of its own
      std::fwrite(why.data(), 1, why.size(), stdout);
      std::fflush(stdout);
      continue;
    }
    probe_with(spare, path);
    (void)fork_spare(spare, why);  // the next one, while no one waits
  }
  spare.close_all();  // its path pipe reads EOF: it exits
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
