#include "control_plane/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "CivetServer.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "civetweb.h"
#include "control_plane/auth.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

void send_response(mg_connection* conn, int status, const char* reason, const char* content_type,
                   const std::string& body, const char* extra_headers = "") {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
            status, reason, content_type, body.size(), extra_headers);
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

void send_text(mg_connection* conn, int status, const char* reason, const std::string& text,
               const char* extra_headers = "") {
  send_response(conn, status, reason, "text/plain; charset=utf-8", text + "\n", extra_headers);
}

void method_not_allowed(mg_connection* conn, int* status_code, const char* allow) {
  std::string header = absl::StrCat("Allow: ", allow, "\r\n");
  send_text(conn, 405, "Method Not Allowed", absl::StrCat("use ", allow), header.c_str());
  *status_code = 405;
}

// Why binding host:port fails, for a readable start() error; empty when it binds now.
std::string bind_failure(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return ::gai_strerror(rc);
  }
  std::string failure;
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    failure = std::strerror(errno);
  } else {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0) failure = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return failure;
}

// Opens and closes one TCP connection to host:port (wildcard hosts via loopback), ignoring errors.
void poke(const std::string& host, int port) {
  std::string target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(target.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd >= 0) {
    (void)::connect(fd, found->ai_addr, found->ai_addrlen);
    ::close(fd);
  }
  ::freeaddrinfo(found);
}

}  // namespace

class RpcHttpServer::RpcHandler : public CivetHandler {
 public:
  explicit RpcHandler(const RpcHttpServer& server) : server_(server) {}

  bool handlePost(CivetServer*, mg_connection* conn, int* status_code) override {
    *status_code = serve(conn);
    return true;
  }
  bool handleGet(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }
  bool handleHead(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }
  bool handlePut(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }
  bool handleDelete(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }
  bool handleOptions(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }
  bool handlePatch(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "POST");
    return true;
  }

 private:
  int serve(mg_connection* conn) {
    try {
      return serve_unchecked(conn);
    } catch (const std::exception& e) {
      send_text(conn, 500, "Internal Server Error", e.what());
    } catch (...) {
      send_text(conn, 500, "Internal Server Error", "internal error");
    }
    return 500;
  }

  int serve_unchecked(mg_connection* conn) {
    const RpcHttpServerOptions& options = server_.options_;
    const char* authorization = mg_get_header(conn, "Authorization");
    std::optional<std::string> presented =
        authorization == nullptr ? std::nullopt : parse_bearer(authorization);
    if (!presented || !token_matches(options.token, *presented)) {
      std::string message = presented ? "unauthorized: wrong token"
                                      : "unauthorized: send Authorization: Bearer <token>";
      nlohmann::json body = json_rpc_error(
          nullptr, kJsonRpcUnauthorized, message,
          nlohmann::json{{"reason", to_string(ReloadError::kUnauthorized)},
                         {"reason_code", static_cast<int>(ReloadError::kUnauthorized)}});
      send_response(conn, 401, "Unauthorized", "application/json", body.dump(),
                    "WWW-Authenticate: Bearer\r\n");
      return 401;
    }
    const mg_request_info* info = mg_get_request_info(conn);
    if (info->content_length < 0) {
      send_text(conn, 411, "Length Required", "a request body with Content-Length is required");
      return 411;
    }
    const auto length = static_cast<unsigned long long>(info->content_length);
    if (length > options.max_body_bytes) {
      send_text(
          conn, 413, "Payload Too Large",
          absl::StrCat("body of ", length, " bytes exceeds the limit of ", options.max_body_bytes));
      return 413;
    }
    std::string body(static_cast<size_t>(length), '\0');
    size_t filled = 0;
    while (filled < body.size()) {
      int n = mg_read(conn, body.data() + filled, body.size() - filled);
      if (n <= 0) break;
      filled += static_cast<size_t>(n);
    }
    if (filled < body.size()) {
      send_text(conn, 400, "Bad Request", "the body ended before Content-Length bytes");
      return 400;
    }
    std::optional<std::string> reply = server_.dispatcher_.handle(body);
    if (!reply) {
      send_response(conn, 204, "No Content", "application/json", "");
      return 204;
    }
    send_response(conn, 200, "OK", "application/json", *reply);
    return 200;
  }

  const RpcHttpServer& server_;
};

class RpcHttpServer::HealthHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* conn, int* status_code) override {
    send_text(conn, 200, "OK", "ok");
    *status_code = 200;
    return true;
  }
  bool handleHead(CivetServer*, mg_connection* conn, int* status_code) override {
    mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    *status_code = 200;
    return true;
  }
  bool handlePost(CivetServer*, mg_connection* conn, int* status_code) override {
    method_not_allowed(conn, status_code, "GET");
    return true;
  }
};

RpcHttpServer::RpcHttpServer(const JsonRpcDispatcher& dispatcher, RpcHttpServerOptions options)
    : dispatcher_(dispatcher), options_(std::move(options)) {}

RpcHttpServer::~RpcHttpServer() { stop(); }

absl::Status RpcHttpServer::start() {
  if (server_ != nullptr) {
    return reload_status(ReloadError::kInvalidArgument, "the control plane is already serving");
  }
  if (options_.token.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "the control plane needs a token (see load_or_create_token)");
  }
  if (options_.port < 0 || options_.port > 65535) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("port ", options_.port, " is out of range"));
  }
  const bool ipv6 = options_.host.find(':') != std::string::npos;
  const std::string address = ipv6 ? absl::StrCat("[", options_.host, "]:", options_.port)
                                   : absl::StrCat(options_.host, ":", options_.port);
  std::vector<std::string> civet_options = {
      "listening_ports",   address,
      "num_threads",       std::to_string(options_.num_threads > 0 ? options_.num_threads : 1),
      "enable_keep_alive", "no",
  };
  rpc_handler_ = std::make_unique<RpcHandler>(*this);
  health_handler_ = std::make_unique<HealthHandler>();
  try {
    server_ = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& e) {
    server_.reset();
    std::string why = bind_failure(options_.host, options_.port);
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot serve the control plane on ", address, ": ",
                                      why.empty() ? e.what() : why));
  }
  std::vector<int> ports = server_->getListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    server_.reset();
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("civetweb reports no listening port for ", address));
  }
  port_ = ports[0];
  server_->addHandler("/rpc", rpc_handler_.get());
  server_->addHandler("/healthz", health_handler_.get());
  return absl::OkStatus();
}

void RpcHttpServer::stop() {
  if (server_ == nullptr) return;
  // civetweb's listener sees the stop flag only when its poll returns, every 2 s; a connection
  // makes it return at once. Poke until close() has joined every civetweb thread.
  absl::Notification closed;
  std::thread closer([this, &closed] {
    server_->close();
    closed.Notify();
  });
  while (!closed.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
    poke(options_.host, port_);
  }
  closer.join();
  server_.reset();
  port_ = 0;
}

}  // namespace lemon
