// A long-lived `module_probe --serve` process (core/module_probe_main.cc) that loads modules in
// forked children: the same protection as one probe process per load (a module that crashes the
// loader kills a child, not the node), without starting a process and loading CAF and the C++
// runtime for every load (docs/benchmarks.md, "Loading code", has what each costs).
//
//   ProbeServer server("/path/to/module_probe");
//   absl::StatusOr<ProbeServer::Outcome> r = server.probe("/copy/of/module.so", absl::Seconds(30));
//
// Thread-safe; one probe at a time. If the server cannot be started, dies, or answers nonsense,
// probe() says Unavailable and the caller runs a probe process of its own; the server is started
// again on the next call.
#ifndef LEMON_CORE_PROBE_SERVER_H_
#define LEMON_CORE_PROBE_SERVER_H_

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace lemon {

// Starts the probe program `probe_path arg` with `fd` duplicated onto each of the child's
// `streams` (STDIN_FILENO, ...) and /dev/null, opened for writing, on `null_stream`: the child's
// pid, or an I/O error naming the program.
absl::StatusOr<pid_t> spawn_probe(const std::string& probe_path, const std::string& arg, int fd,
                                  std::initializer_list<int> streams, int null_stream);

class ProbeServer {
 public:
  struct Outcome {
    int wait_status = 0;  // the child's status as waitpid reports it
    std::string said;     // what it wrote on stderr (at most 4 KiB)
  };

  explicit ProbeServer(std::string probe_path) : probe_path_(std::move(probe_path)) {}
  ~ProbeServer();  // ends the server process
  ProbeServer(const ProbeServer&) = delete;
  ProbeServer& operator=(const ProbeServer&) = delete;

  // Loads `path` in a child of the server. DeadlineExceeded (the child is killed) if it has not
  // finished within `timeout`; Unavailable if the server could not be used.
  absl::StatusOr<Outcome> probe(const std::string& path, absl::Duration timeout);

 private:
  bool start() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void stop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads what the server wrote so far into buffer_ (at least one byte); false on EOF, error or
  // deadline (then timed_out).
  bool fill(absl::Time deadline, bool& timed_out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads one line (without '\n') before `deadline`; false on EOF, error or deadline.
  bool read_line(std::string& line, absl::Time deadline, bool& timed_out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool read_bytes(std::size_t n, std::string& out, absl::Time deadline, bool& timed_out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string probe_path_;
  absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;  // our end of the socket pair (the server's stdin/stdout)
  std::string buffer_ ABSL_GUARDED_BY(mu_);  // read but not yet consumed
};

}  // namespace lemon

#endif  // LEMON_CORE_PROBE_SERVER_H_
