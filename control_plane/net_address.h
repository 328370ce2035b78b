// Host and port to TCP socket addresses, for the control plane's HTTP server and client.
//
//   absl::StatusOr<std::vector<TcpAddress>> found = resolve_tcp("localhost", 8080);
//   int fd = open_tcp_socket(found->front(), SOCK_NONBLOCK);
#ifndef LEMON_CONTROL_PLANE_NET_ADDRESS_H_
#define LEMON_CONTROL_PLANE_NET_ADDRESS_H_

#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lemon {

// One address getaddrinfo gave for a TCP service.
struct TcpAddress {
  int family = AF_UNSPEC;
  int socktype = SOCK_STREAM;
  int protocol = 0;
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* address() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// The TCP addresses of `host` (a name or a literal IPv4/IPv6 address) and `port`, IPv4 and IPv6,
// in getaddrinfo's order of preference; never empty when OK. kIoError "cannot resolve <host>:
// <reason>" otherwise.
absl::StatusOr<std::vector<TcpAddress>> resolve_tcp(const std::string& host, int port);

// A new close-on-exec socket for `address`, with `flags` (SOCK_NONBLOCK) added to its type; -1
// with errno set when socket(2) fails.
int open_tcp_socket(const TcpAddress& address, int flags = 0);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_NET_ADDRESS_H_
