#include "control_plane/metrics_http_server.h"

#include <chrono>
#include <utility>

#include "CivetServer.h"
#include "civetweb.h"
#include "prometheus/text_serializer.h"

namespace lemon {

class MetricsHttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(MetricsHttpServer& server) : server_(server) {}

  bool handleGet(CivetServer*, mg_connection* conn, int* status_code) override {
    const auto start = std::chrono::steady_clock::now();
    const std::string body = server_.scrape();
    // Counted before the body is sent, so a client's next scrape always sees this one.
    server_.bytes_.Increment(static_cast<double>(body.size()));
    server_.scrapes_.Increment();
    server_.latencies_.Observe(
        static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count()));
    send_http_response(conn, 200, "OK", "text/plain; charset=utf-8", body);
    *status_code = 200;
    return true;
  }
  bool handlePost(CivetServer*, mg_connection* conn, int* status_code) override {
    send_method_not_allowed(conn, status_code, "GET");
    return true;
  }

 private:
  MetricsHttpServer& server_;
};

MetricsHttpServer::MetricsHttpServer(std::string host, int port, HttpLimits limits)
    : own_(std::make_shared<prometheus::Registry>()),
      bytes_(prometheus::BuildCounter()
                 .Name("exposer_transferred_bytes_total")
                 .Help("Transferred bytes to metrics services")
                 .Register(*own_)
                 .Add({})),
      scrapes_(prometheus::BuildCounter()
                   .Name("exposer_scrapes_total")
                   .Help("Number of times metrics were scraped")
                   .Register(*own_)
                   .Add({})),
      latencies_(
          prometheus::BuildSummary()
              .Name("exposer_request_latencies")
              .Help("Latencies of serving scrape requests, in microseconds")
              .Register(*own_)
              .Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}})),
      collectables_{own_},
      handler_(std::make_unique<Handler>(*this)),
      http_("metrics", std::move(host), port, limits) {}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

void MetricsHttpServer::add(std::weak_ptr<prometheus::Collectable> collectable) {
  absl::MutexLock lock(&mu_);
  collectables_.push_back(std::move(collectable));
}

absl::Status MetricsHttpServer::start() { return http_.start({{"/metrics", handler_.get()}}); }

void MetricsHttpServer::stop() { http_.stop(); }

std::string MetricsHttpServer::scrape() {
  std::vector<std::shared_ptr<prometheus::Collectable>> live;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& c : collectables_) {
      if (auto locked = c.lock()) live.push_back(std::move(locked));
    }
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : live) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace lemon
