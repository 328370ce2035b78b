#include "core/probe_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/fs.h"

extern char** environ;

namespace lemon {

absl::StatusOr<pid_t> spawn_probe(const std::string& probe_path, const std::string& arg, int fd,
                                  std::initializer_list<int> streams, int null_stream) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int stream : streams) posix_spawn_file_actions_adddup2(&actions, fd, stream);
  posix_spawn_file_actions_addopen(&actions, null_stream, "/dev/null", O_WRONLY, 0);
  std::string program = probe_path;
  std::string argument = arg;
  char* argv[] = {program.data(), argument.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return io_error("cannot start", probe_path, rc);
  return pid;
}

ProbeServer::~ProbeServer() {
  absl::MutexLock lock(&mu_);
  stop();
}

bool ProbeServer::start() {
  if (fd_ >= 0) return true;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return false;
  const absl::StatusOr<pid_t> pid =
      spawn_probe(probe_path_, "--serve", sv[1], {STDIN_FILENO, STDOUT_FILENO}, STDERR_FILENO);
  close(sv[1]);
  if (!pid.ok()) {
    close(sv[0]);
    return false;
  }
  pid_ = *pid;
  fd_ = sv[0];
  buffer_.clear();
  return true;
}

void ProbeServer::stop() {
  if (fd_ >= 0) close(fd_);  // the server reads EOF and exits
  fd_ = -1;
  buffer_.clear();
  if (pid_ > 0) {
    kill(pid_, SIGKILL);  // and if it is stuck on a child, it goes anyway
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

bool ProbeServer::fill(absl::Time deadline, bool& timed_out) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      return false;
    }
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buf[1024];
    const ssize_t got = read(fd_, buf, sizeof(buf));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(got));
    return true;
  }
}

bool ProbeServer::read_bytes(std::size_t n, std::string& out, absl::Time deadline,
                             bool& timed_out) {
  while (buffer_.size() < n) {
    if (!fill(deadline, timed_out)) return false;
  }
  out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return true;
}

bool ProbeServer::read_line(std::string& line, absl::Time deadline, bool& timed_out) {
  std::size_t nl;
  while ((nl = buffer_.find('\n')) == std::string::npos) {
    if (!fill(deadline, timed_out)) return false;
  }
  line = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  return true;
}

absl::StatusOr<ProbeServer::Outcome> ProbeServer::probe(const std::string& path,
                                                        absl::Duration timeout) {
  if (path.find('\n') != std::string::npos) {
    return absl::UnavailableError("a path with a newline cannot be sent to the probe server");
  }
  absl::MutexLock lock(&mu_);
  if (!start()) return absl::UnavailableError("cannot start the probe server");
  const std::string request = path + "\n";
  if (send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    stop();
    return absl::UnavailableError("the probe server is gone");
  }
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  std::string line;
  pid_t child = -1;
  if (!read_line(line, deadline, timed_out) || !absl::StartsWith(line, "pid ") ||
      !absl::SimpleAtoi(line.substr(4), &child)) {
    stop();
    if (timed_out) return absl::DeadlineExceededError("the probe did not start in time");
    return absl::UnavailableError("the probe server did not answer");
  }
  Outcome out;
  std::vector<std::string> parts;
  if (read_line(line, deadline, timed_out)) {
    parts = absl::StrSplit(line, ' ');
  }
  std::size_t n = 0;
  if (parts.size() != 3 || parts[0] != "status" || !absl::SimpleAtoi(parts[1], &out.wait_status) ||
      out.wait_status < 0 || !absl::SimpleAtoi(parts[2], &n) || n > 4096 ||
      !read_bytes(n, out.said, deadline, timed_out)) {
    if (timed_out && child > 0) kill(child, SIGKILL);
    stop();
    if (timed_out) return absl::DeadlineExceededError("the probe did not finish in time");
    return absl::UnavailableError("the probe server did not answer");
  }
  return out;
}

}  // namespace lemon
