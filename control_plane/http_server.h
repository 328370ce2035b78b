// The control plane's HTTP face: serves `POST /rpc` (JSON-RPC 2.0, bearer token required) and
// `GET /healthz` (no auth) on a CivetHttpServer (its limits against idle and slow clients), handing
// request bodies to a JsonRpcDispatcher.
//
//   lemon::RpcHttpServer server(dispatcher, {.port = 0, .token = *token});
//   if (absl::Status s = server.start(); !s.ok()) return s;
//   std::cout << "control plane on 127.0.0.1:" << server.port() << "\n";
#ifndef LEMON_CONTROL_PLANE_HTTP_SERVER_H_
#define LEMON_CONTROL_PLANE_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "control_plane/civet_http_server.h"
#include "control_plane/json_rpc.h"
#include "reload/thread_pool.h"

namespace lemon {

struct RpcHttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                     // 0 = any free port; read it back with port()
  std::string token;                // required: requests must present it as a bearer token
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413 without being read
  HttpLimits limits;                // threads, deadlines, idle connections per client
};

// Responses: 200 with a JSON-RPC body; 204 when the body held notifications only; 401 with a
// -32001 JSON-RPC error for a missing or wrong token (the body is not read); 411 without
// Content-Length; 413 over the body limit; 408 when the body is not complete within
// limits.body_timeout_ms; 405 for another HTTP method. Requests are read on civetweb's threads,
// several at once, and each JSON-RPC body is dispatched on a thread of the server's own pool while
// the civetweb thread waits: civetweb's stacks are 100 KiB (Debian's build fixes the size), too
// small for a method that runs a whole reload (dlopen runs a module's static initializers), and a
// frame that overflows such a stack can skip its guard page into another thread's memory.
class RpcHttpServer {
 public:
  // `dispatcher` must outlive the server.
  RpcHttpServer(const JsonRpcDispatcher& dispatcher, RpcHttpServerOptions options);
  ~RpcHttpServer();

  RpcHttpServer(const RpcHttpServer&) = delete;
  RpcHttpServer& operator=(const RpcHttpServer&) = delete;

  // Starts listening; an error names the address when it cannot be bound (e.g. port in use).
  // Not thread-safe against stop().
  absl::Status start();

  // Stops serving and joins civetweb's threads and the handlers'; in-flight requests finish first.
  // Idempotent.
  void stop();

  // The port actually listened on (after a successful start), else 0.
  int port() const { return http_.port(); }

 private:
  class RpcHandler;
  class HealthHandler;

  // dispatcher_.handle(body) on a thread of handler_threads_, waited for.
  std::optional<std::string> dispatch(const std::string& body) const;

  const JsonRpcDispatcher& dispatcher_;
  const RpcHttpServerOptions options_;
  // Grows to as many threads as requests run at once (at most limits.num_threads). Made by start()
  // and ended by stop(): a thread that used CAF keeps a reference to the actor system's logger
  // until it exits, and the actor system's destructor waits for that.
  std::unique_ptr<ThreadPool> handler_threads_;
  std::unique_ptr<RpcHandler> rpc_handler_;
  std::unique_ptr<HealthHandler> health_handler_;
  CivetHttpServer http_;  // declared last: stops before the handlers go
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_HTTP_SERVER_H_
