// For tests: TCP connections to a server that send nothing, or part of a request, and then stay
// open, as a client that stalls a server's workers would; and how many the server has closed.
//
//   lemon::HalfOpenConnections idle;
//   idle.open(64, port, "GET /metrics HTTP/1.1\r\n");   // half a request head each
//   bool closed = idle.await_closed_by_server(56, absl::Seconds(10));
//
// Not thread-safe.
#ifndef LEMON_CONTROL_PLANE_HALF_OPEN_CONNECTIONS_H_
#define LEMON_CONTROL_PLANE_HALF_OPEN_CONNECTIONS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace lemon {

class HalfOpenConnections {
 public:
  HalfOpenConnections() = default;
  ~HalfOpenConnections() {
    for (int fd : fds_) ::close(fd);
  }
  HalfOpenConnections(const HalfOpenConnections&) = delete;
  HalfOpenConnections& operator=(const HalfOpenConnections&) = delete;

  // Opens `n` connections to 127.0.0.1:port, each sending `prefix` (possibly empty); returns how
  // many connected.
  size_t open(size_t n, int port, const std::string& prefix) {
    size_t opened = 0;
    for (size_t i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          (!prefix.empty() && ::send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) < 0)) {
        ::close(fd);
        continue;
      }
      fds_.push_back(fd);
      ++opened;
    }
    return opened;
  }

  // Waits until at least `n` have been closed by the server (end of stream or reset), or `timeout`
  // passes; returns whether they were.
  bool await_closed_by_server(size_t n, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (closed_ < n) {
      std::vector<pollfd> open;
      for (size_t i = closed_; i < fds_.size(); ++i) open.push_back({fds_[i], POLLRDHUP, 0});
      const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (left <= 0 || ::poll(open.data(), open.size(), left) <= 0) return closed_ >= n;
      for (const pollfd& p : open) {
        if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) continue;
        // Closed ones move to the front, so the rest stay to be watched.
        for (size_t i = closed_; i < fds_.size(); ++i) {
          if (fds_[i] == p.fd) std::swap(fds_[i], fds_[closed_++]);
        }
      }
    }
    return true;
  }

 private:
  std::vector<int> fds_;  // the first closed_ have been closed by the server
  size_t closed_ = 0;
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_HALF_OPEN_CONNECTIONS_H_
