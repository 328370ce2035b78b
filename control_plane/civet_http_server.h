// A civetweb HTTP server with the limits every Lemon endpoint needs against idle or slow clients:
// a deadline for a request's head and body, enough worker threads and a queue, and at most a few
// idle connections per client (open without a complete request head; beyond the limit the
// client's oldest are closed). The control plane (http_server.h) and /metrics
// (metrics_http_server.h) both run on it.
//
//   lemon::CivetHttpServer server("metrics", "127.0.0.1", 0, lemon::HttpLimits{});
//   if (absl::Status s = server.start({{"/metrics", &handler}}); !s.ok()) return s;
//   int port = server.port();
#ifndef LEMON_CONTROL_PLANE_CIVET_HTTP_SERVER_H_
#define LEMON_CONTROL_PLANE_CIVET_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

class CivetHandler;
class CivetServer;
struct mg_connection;

namespace lemon {

// A client is its remote address; every loopback address (127.0.0.0/8, ::1) is one client, since
// any local user can connect from any of them.
struct HttpLimits {
  int num_threads = 32;           // civetweb worker threads: one per connection being served
  int connection_queue = 128;     // accepted connections waiting for a free worker
  int request_timeout_ms = 5000;  // a request head must be complete this long after a worker
                                  // takes the connection up; also the longest single body read
  int body_timeout_ms = 10000;    // a request body must be complete this long after its head
  int idle_after_ms = 100;      // a connection this long without a complete request head is idle (a
                                // client sends its head right after connecting)
  int max_idle_per_client = 8;  // idle connections of one client; beyond, its oldest are closed
};

// Writes a whole response with Content-Length and Connection: close; `extra_headers` are complete
// "Name: value\r\n" lines.
void send_http_response(mg_connection* conn, int status, const char* reason,
                        const char* content_type, const std::string& body,
                        const char* extra_headers = "");

// A 405 naming the methods allowed (`allow`, e.g. "GET"); sets *status_code.
void send_method_not_allowed(mg_connection* conn, int* status_code, const char* allow);

class CivetHttpServer {
 public:
  // `name` says what is served, for error messages ("control plane", "metrics").
  CivetHttpServer(std::string name, std::string host, int port, HttpLimits limits);
  ~CivetHttpServer();

  CivetHttpServer(const CivetHttpServer&) = delete;
  CivetHttpServer& operator=(const CivetHttpServer&) = delete;

  // Starts listening and serves each (uri, handler); the handlers must outlive the server. An
  // error names the address when it cannot be bound. Not thread-safe against stop().
  absl::Status start(const std::vector<std::pair<std::string, CivetHandler*>>& handlers);

  // Stops serving and joins civetweb's threads; in-flight requests finish first. Idempotent.
  void stop();

  // The port actually listened on (after a successful start), else 0.
  int port() const { return port_; }

  const HttpLimits& limits() const { return limits_; }

  // Connections closed because their client had too many idle ones. Thread-safe.
  long long evicted() const;

  // Tells the server that the handler serving `conn` has read its request body (whole, or all it
  // will read), so the body deadline no longer applies; returns whether that deadline had already
  // cut the body (its reads then ended early). Call from the handler.
  static bool body_read(const mg_connection* conn);

 private:
  class ConnectionWatch;

  const std::string name_;
  const std::string host_;
  const int requested_port_;
  const HttpLimits limits_;
  int port_ = 0;
  std::unique_ptr<ConnectionWatch> watch_;
  std::unique_ptr<CivetServer> server_;  // declared last: stops before watch_ goes
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_CIVET_HTTP_SERVER_H_
