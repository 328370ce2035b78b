#include "control_plane/net_address.h"

#include <netdb.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {

absl::StatusOr<std::vector<TcpAddress>> resolve_tcp(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot resolve ", host, ": ", ::gai_strerror(rc)));
  }
  std::vector<TcpAddress> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    TcpAddress address;
    address.family = a->ai_family;
    address.socktype = a->ai_socktype;
    address.protocol = a->ai_protocol;
    std::memcpy(&address.storage, a->ai_addr, a->ai_addrlen);
    address.length = a->ai_addrlen;
    out.push_back(address);
  }
  ::freeaddrinfo(found);
  if (out.empty()) {
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot resolve ", host, ": no address"));
  }
  return out;
}

int open_tcp_socket(const TcpAddress& address, int flags) {
  return ::socket(address.family, address.socktype | SOCK_CLOEXEC | flags, address.protocol);
}

}  // namespace lemon
