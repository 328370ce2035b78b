// Serves `GET /metrics` (the Prometheus text exposition of registered collectables) on a
// CivetHttpServer, with the same limits against idle and slow clients as the control plane. Its
// output is prometheus::Exposer's: the collectables' families after the server's own
// exposer_scrapes_total, exposer_transferred_bytes_total and exposer_request_latencies.
//
//   lemon::MetricsHttpServer metrics("127.0.0.1", 9464);
//   metrics.add(exporter.registry());
//   if (absl::Status s = metrics.start(); !s.ok()) return s;
#ifndef LEMON_CONTROL_PLANE_METRICS_HTTP_SERVER_H_
#define LEMON_CONTROL_PLANE_METRICS_HTTP_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "control_plane/civet_http_server.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/summary.h"

namespace lemon {

class MetricsHttpServer {
 public:
  MetricsHttpServer(std::string host, int port, HttpLimits limits = HttpLimits());
  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Adds a collectable to every later scrape; one that has expired is skipped. Thread-safe.
  void add(std::weak_ptr<prometheus::Collectable> collectable);

  // Starts listening; an error names the address when it cannot be bound.
  absl::Status start();

  // Stops serving and joins the server's threads. Idempotent.
  void stop();

  // The port actually listened on (after a successful start), else 0.
  int port() const { return http_.port(); }

  // The exposition a scrape answers now (what GET /metrics returns). Thread-safe.
  std::string scrape();

 private:
  class Handler;

  std::shared_ptr<prometheus::Registry> own_;  // exposer_* metrics
  prometheus::Counter& bytes_;
  prometheus::Counter& scrapes_;
  prometheus::Summary& latencies_;
  absl::Mutex mu_;
  std::vector<std::weak_ptr<prometheus::Collectable>> collectables_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Handler> handler_;
  CivetHttpServer http_;  // declared last: stops before the handler goes
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_METRICS_HTTP_SERVER_H_
