#include "control_plane/http_server.h"

#include <exception>
#include <future>
#include <utility>

#include "CivetServer.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "civetweb.h"
#include "control_plane/auth.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

void send_text(mg_connection* conn, int status, const char* reason, const std::string& text,
               const char* extra_headers = "") {
  send_http_response(conn, status, reason, "text/plain; charset=utf-8", text + "\n", extra_headers);
}

}  // namespace

class RpcHttpServer::RpcHandler : public CivetHandler {
 public:
  explicit RpcHandler(const RpcHttpServer& server) : server_(server) {}

  bool handlePost(CivetServer*, mg_connection* conn, int* status_code) override {
    *status_code = serve(conn);
    return true;
  }
  // Every other method is refused with 405.
  bool handleGet(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }
  bool handleHead(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }
  bool handlePut(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }
  bool handleDelete(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }
  bool handleOptions(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }
  bool handlePatch(CivetServer*, mg_connection* c, int* s) override { return refuse(c, s); }

 private:
  static bool refuse(mg_connection* conn, int* status_code) {
    send_method_not_allowed(conn, status_code, "POST");
    return true;
  }

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
      send_http_response(conn, 401, "Unauthorized", "application/json", body.dump(),
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
    // A read that waits request_timeout_ms for data ends; a body still incomplete after
    // body_timeout_ms is cut by the server (its reading side shut down).
    while (filled < body.size()) {
      int n = mg_read(conn, body.data() + filled, body.size() - filled);
      if (n <= 0) break;
      filled += static_cast<size_t>(n);
    }
    const bool cut = CivetHttpServer::body_read(conn);
    if (filled < body.size()) {
      if (cut) {
        send_text(
            conn, 408, "Request Timeout",
            absl::StrCat("the body did not arrive within ", options.limits.body_timeout_ms, " ms"));
        return 408;
      }
      send_text(conn, 400, "Bad Request", "the body ended before Content-Length bytes");
      return 400;
    }
    std::optional<std::string> reply = server_.dispatch(body);
    if (!reply) {
      send_http_response(conn, 204, "No Content", "application/json", "");
      return 204;
    }
    send_http_response(conn, 200, "OK", "application/json", *reply);
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
    send_method_not_allowed(conn, status_code, "GET");
    return true;
  }
};

RpcHttpServer::RpcHttpServer(const JsonRpcDispatcher& dispatcher, RpcHttpServerOptions options)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      rpc_handler_(std::make_unique<RpcHandler>(*this)),
      health_handler_(std::make_unique<HealthHandler>()),
      http_("control plane", options_.host, options_.port, options_.limits) {}

RpcHttpServer::~RpcHttpServer() { stop(); }

std::optional<std::string> RpcHttpServer::dispatch(const std::string& body) const {
  // On a pool thread, with a stack of the process's usual size, while this civetweb thread waits.
  std::promise<std::optional<std::string>> done;
  std::future<std::optional<std::string>> reply = done.get_future();
  handler_threads_->run([&] {
    try {
      done.set_value(dispatcher_.handle(body));
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  return reply.get();
}

absl::Status RpcHttpServer::start() {
  if (options_.token.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "the control plane needs a token (see load_or_create_token)");
  }
  if (!handler_threads_) handler_threads_ = std::make_unique<ThreadPool>("lemon-rpc");
  return http_.start({{"/rpc", rpc_handler_.get()}, {"/healthz", health_handler_.get()}});
}

void RpcHttpServer::stop() {
  http_.stop();
  handler_threads_.reset();  // no request is left to use it
}

}  // namespace lemon
