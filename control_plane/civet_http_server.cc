#include "control_plane/civet_http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <thread>
#include <vector>

#include "CivetServer.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "civetweb.h"
#include "control_plane/net_address.h"
#include "core/fs.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

// A peer's address and port as "addr|port" (addr as inet_ntop prints it), the same whether read
// from a socket or from civetweb's request info.
std::string endpoint_key(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    port = ntohs(v6.sin6_port);
  }
  return absl::StrCat(text, "|", port);
}

std::string endpoint_key(const char* address, int port) {
  sockaddr_storage a{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a);
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
  } else {
    return absl::StrCat(address, "|", port);
  }
  return endpoint_key(a);
}

// Who a peer is for the per-client limit: its address, except that every loopback address is one
// client (a local user can bind any of 127.0.0.0/8).
std::string client_of(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    if ((ntohl(v4.sin_addr.s_addr) >> 24) == 127) return "loopback";
  } else if (peer.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127)) {
      return "loopback";
    }
  }
  std::string key = endpoint_key(peer);
  return key.substr(0, key.rfind('|'));
}

// A connected TCP socket of this process whose local port is the server's.
struct AcceptedSocket {
  int fd;
  sockaddr_storage peer;
};

// Whether `fd` is a TCP socket with local port `port`; its peer in *peer when it is connected.
bool is_accepted(int fd, int port, sockaddr_storage* peer) {
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
  if (local.ss_family == AF_INET) {
    if (ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port) != port) return false;
  } else if (local.ss_family == AF_INET6) {
    if (ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port) != port) return false;
  } else {
    return false;
  }
  len = sizeof(*peer);
  return getpeername(fd, reinterpret_cast<sockaddr*>(peer), &len) == 0;
}

// Whether a complete request head has arrived on `fd` and not been read yet (a connection waiting
// in civetweb's queue for a worker): peeked at, so the worker still reads all of it.
bool head_waiting(int fd) {
  char buf[16384];  // civetweb's largest request head
  const ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
  return n > 0 && memmem(buf, static_cast<size_t>(n), "\r\n\r\n", 4) != nullptr;
}

// The server's accepted connections, queued or being served. civetweb does not hand out a
// connection's socket, so this process's descriptors are searched (a few hundred system calls).
std::vector<AcceptedSocket> accepted_sockets(int port) {
  std::vector<AcceptedSocket> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    AcceptedSocket s{static_cast<int>(fd), {}};
    if (is_accepted(s.fd, port, &s.peer)) out.push_back(s);
  }
  closedir(dir);
  return out;
}

// Why binding host:port fails, for a readable start() error; empty when it binds now.
std::string bind_failure(const std::string& host, int port) {
  absl::StatusOr<std::vector<TcpAddress>> found = resolve_tcp(host, port);
  if (!found.ok()) return std::string(found.status().message());
  const TcpAddress& first = found->front();
  int fd = open_tcp_socket(first);
  if (fd < 0) return errno_text(errno);
  std::string failure;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, first.address(), first.length) != 0) failure = errno_text(errno);
  ::close(fd);
  return failure;
}

// Opens and closes one TCP connection to host:port (wildcard hosts via loopback), ignoring errors.
void poke(const std::string& host, int port) {
  std::string target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  absl::StatusOr<std::vector<TcpAddress>> found = resolve_tcp(target, port);
  if (!found.ok()) return;
  int fd = open_tcp_socket(found->front(), SOCK_NONBLOCK);
  if (fd >= 0) {
    (void)::connect(fd, found->front().address(), found->front().length);
    ::close(fd);
  }
}

}  // namespace

// Watches the server's connections for the two things civetweb cannot bound by itself:
// - idle connections (open idle_after_ms without a complete request head, read by a worker or
//   waiting to be): per client, the oldest beyond max_idle_per_client are shut down, which ends a
//   worker's wait (or a queued connection) at once. One client's idle connections thus hold at
//   most that many workers (plus those opened in the last idle_after_ms), and a new request is
//   never refused for old ones;
// - request bodies: one not read whole body_timeout_ms after its head has its reading side shut
//   down (civetweb's reads have no overall deadline while bytes keep trickling in), so the handler
//   sees the body end and can answer.
// civetweb tells when a worker takes a connection up (init_connection, before anything is read,
// without the peer) and when a head is complete (begin_request); the handler tells when it has
// read the body. On each take-up, and when a deadline comes, this searches the accepted sockets.
class CivetHttpServer::ConnectionWatch {
 public:
  explicit ConnectionWatch(const HttpLimits& limits)
      : max_idle_(limits.max_idle_per_client),
        idle_after_(absl::Milliseconds(limits.idle_after_ms)),
        body_timeout_(absl::Milliseconds(limits.body_timeout_ms)),
        thread_([this] { run(); }) {}

  ~ConnectionWatch() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // Set once the server listens; until then nothing is checked.
  void set_port(int port) {
    absl::MutexLock lock(&mu_);
    port_ = port;
  }

  // civetweb callbacks; the context's user data is the CivetServer, whose user context is us.
  static int on_init_connection(const mg_connection* conn, void** conn_data) {
    *conn_data = nullptr;
    of(conn).check_soon(absl::Now());
    return 0;
  }
  static int on_begin_request(mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    if (info != nullptr) of(conn).started(key_of(conn), info->content_length > 0);
    return 0;
  }
  static bool body_read(const mg_connection* conn) { return of(conn).body_done(key_of(conn)); }

  long long evicted() const {
    absl::MutexLock lock(&mu_);
    return evicted_;
  }

 private:
  struct Seen {
    absl::Time first;
    bool started = false;       // its head was complete
    bool body_pending = false;  // a body the handler has not read whole yet
    bool body_cut = false;      // its reading side was shut down at the body deadline
    absl::Time body_deadline;
  };

  static ConnectionWatch& of(const mg_connection* conn) {
    const auto* server = static_cast<const CivetServer*>(mg_get_user_data(mg_get_context(conn)));
    return *static_cast<ConnectionWatch*>(const_cast<void*>(server->getUserContext()));
  }

  static std::string key_of(const mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    return info == nullptr ? "" : endpoint_key(info->remote_addr, info->remote_port);
  }

  // At most one search every 10 ms however fast connections come (a search is a few hundred
  // system calls).
  void check_soon(absl::Time when) {
    absl::MutexLock lock(&mu_);
    next_check_ = std::min(next_check_, std::max(when, last_check_ + absl::Milliseconds(10)));
  }

  void started(const std::string& key, bool has_body) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    auto [it, added] = seen_.try_emplace(key);
    if (added) it->second.first = now;
    it->second.started = true;
    it->second.body_pending = has_body;
    it->second.body_deadline = now + body_timeout_;
    if (has_body) next_check_ = std::min(next_check_, it->second.body_deadline);
  }

  // Whether the body deadline cut the body.
  bool body_done(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = seen_.find(key);
    if (it == seen_.end()) return false;
    it->second.body_pending = false;
    return it->second.body_cut;
  }

  void run() {
    absl::MutexLock lock(&mu_);
    while (true) {
      // Wakes when stopping, when the check is due, or when another thread moved it (to re-arm).
      const absl::Time armed = next_check_;
      auto due = [this, armed]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || next_check_ != armed || next_check_ <= absl::Now();
      };
      mu_.AwaitWithDeadline(absl::Condition(&due), armed);
      if (stopping_) return;
      if (next_check_ > absl::Now()) continue;
      next_check_ = absl::InfiniteFuture();
      last_check_ = absl::Now();
      const int port = port_;
      mu_.Unlock();
      std::vector<AcceptedSocket> sockets =
          port > 0 ? accepted_sockets(port) : std::vector<AcceptedSocket>();
      mu_.Lock();
      if (port > 0) enforce(port, sockets);
    }
  }

  // Forgets the connections that are gone, cuts bodies past their deadline and shuts down, per
  // client, the oldest idle connections beyond the limit; schedules the next check for the
  // earliest deadline still to come.
  void enforce(int port, const std::vector<AcceptedSocket>& sockets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const absl::Time now = absl::Now();
    std::map<std::string, Seen> live;
    std::map<std::string, std::vector<std::pair<absl::Time, const AcceptedSocket*>>> idle;
    for (const AcceptedSocket& s : sockets) {
      const std::string key = endpoint_key(s.peer);
      auto known = seen_.find(key);
      Seen& seen = live[key] = known == seen_.end() ? Seen{now} : known->second;
      if (seen.started) {
        if (!seen.body_pending) continue;
        if (now < seen.body_deadline) {
          next_check_ = std::min(next_check_, seen.body_deadline);
        } else if (still_same(s, port)) {
          shutdown(s.fd, SHUT_RD);
          seen.body_pending = false;
          seen.body_cut = true;
        }
      } else if (head_waiting(s.fd)) {
        continue;
      } else if (now - seen.first < idle_after_) {
        next_check_ = std::min(next_check_, seen.first + idle_after_);
      } else {
        idle[client_of(s.peer)].emplace_back(seen.first, &s);
      }
    }
    seen_ = std::move(live);
    for (auto& [client, conns] : idle) {
      if (conns.size() <= static_cast<size_t>(max_idle_)) continue;
      std::sort(conns.begin(), conns.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t i = 0; i + max_idle_ < conns.size(); ++i) {
        if (!still_same(*conns[i].second, port)) continue;
        shutdown(conns[i].second->fd, SHUT_RDWR);
        ++evicted_;
      }
    }
  }

  // The descriptor may have been closed and reused since the search: only the same connection
  // is acted on.
  static bool still_same(const AcceptedSocket& s, int port) {
    sockaddr_storage peer{};
    return is_accepted(s.fd, port, &peer) && endpoint_key(peer) == endpoint_key(s.peer);
  }

  const int max_idle_;
  const absl::Duration idle_after_;
  const absl::Duration body_timeout_;
  mutable absl::Mutex mu_;
  int port_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_check_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::map<std::string, Seen> seen_ ABSL_GUARDED_BY(mu_);  // by peer "addr|port"
  long long evicted_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts when the rest is ready
};

void send_http_response(mg_connection* conn, int status, const char* reason,
                        const char* content_type, const std::string& body,
                        const char* extra_headers) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
            status, reason, content_type, body.size(), extra_headers);
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

void send_method_not_allowed(mg_connection* conn, int* status_code, const char* allow) {
  std::string header = absl::StrCat("Allow: ", allow, "\r\n");
  send_http_response(conn, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                     absl::StrCat("use ", allow, "\n"), header.c_str());
  *status_code = 405;
}

CivetHttpServer::CivetHttpServer(std::string name, std::string host, int port, HttpLimits limits)
    : name_(std::move(name)), host_(std::move(host)), requested_port_(port), limits_(limits) {}

CivetHttpServer::~CivetHttpServer() { stop(); }

long long CivetHttpServer::evicted() const { return watch_ == nullptr ? 0 : watch_->evicted(); }

bool CivetHttpServer::body_read(const mg_connection* conn) {
  return ConnectionWatch::body_read(conn);
}

absl::Status CivetHttpServer::start(
    const std::vector<std::pair<std::string, CivetHandler*>>& handlers) {
  if (server_ != nullptr) {
    return reload_status(ReloadError::kInvalidArgument, absl::StrCat(name_, " is already served"));
  }
  if (requested_port_ < 0 || requested_port_ > 65535) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("port ", requested_port_, " is out of range"));
  }
  const HttpLimits& l = limits_;
  if (l.num_threads < 1 || l.connection_queue < 1 || l.request_timeout_ms < 1 ||
      l.body_timeout_ms < 1 || l.max_idle_per_client < 1 || l.idle_after_ms < 1) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat(name_, ": every HTTP limit must be at least 1"));
  }
  const bool ipv6 = host_.find(':') != std::string::npos;
  const std::string address = ipv6 ? absl::StrCat("[", host_, "]:", requested_port_)
                                   : absl::StrCat(host_, ":", requested_port_);
  const std::string request_timeout = std::to_string(l.request_timeout_ms);
  const std::vector<std::string> options = {
      "listening_ports",       address,
      "num_threads",           std::to_string(l.num_threads),
      "connection_queue",      std::to_string(l.connection_queue),
      "request_timeout_ms",    request_timeout,
      "keep_alive_timeout_ms", request_timeout,
      "enable_keep_alive",     "no",
  };
  CivetCallbacks callbacks;
  callbacks.init_connection = &ConnectionWatch::on_init_connection;
  callbacks.begin_request = &ConnectionWatch::on_begin_request;
  watch_ = std::make_unique<ConnectionWatch>(l);
  try {
    server_ = std::make_unique<CivetServer>(options, &callbacks, watch_.get());
  } catch (const std::exception& e) {
    server_.reset();
    std::string why = bind_failure(host_, requested_port_);
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot serve the ", name_, " on ", address, ": ",
                                      why.empty() ? e.what() : why));
  }
  std::vector<int> ports = server_->getListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    server_.reset();
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("civetweb reports no listening port for ", address));
  }
  port_ = ports[0];
  watch_->set_port(port_);
  for (const auto& [uri, handler] : handlers) server_->addHandler(uri, handler);
  return absl::OkStatus();
}

void CivetHttpServer::stop() {
  if (server_ == nullptr) return;
  // civetweb's listener sees the stop flag only when its poll returns, every 2 s; a connection
  // makes it return at once. Poke until close() has joined every civetweb thread.
  absl::Notification closed;
  std::thread closer([this, &closed] {
    server_->close();
    closed.Notify();
  });
  while (!closed.WaitForNotificationWithTimeout(absl::Milliseconds(20))) poke(host_, port_);
  closer.join();
  server_.reset();
  port_ = 0;
}

}  // namespace lemon
