#include "control_plane/metrics_http_server.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control_plane/half_open_connections.h"
#include "control_plane/http_client.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace lemon {
namespace {

const absl::Duration kTimeout = absl::Seconds(10);

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    prometheus::BuildCounter()
        .Name("lemon_test_total")
        .Help("A test counter.")
        .Register(*registry_)
        .Add({{"module", "counter"}})
        .Increment(3);
    server_.add(registry_);
    ASSERT_TRUE(server_.start().ok());
  }

  absl::StatusOr<HttpResponse> get(const std::string& path) {
    return http_request("127.0.0.1", server_.port(), "GET", path, "", {}, kTimeout);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  MetricsHttpServer server_{"127.0.0.1", 0};
};

TEST_F(MetricsHttpServerTest, ServesTheCollectablesAfterItsOwnExposerMetrics) {
  absl::StatusOr<HttpResponse> first = get("/metrics");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_NE(first->body.find("lemon_test_total{module=\"counter\"} 3"), std::string::npos)
      << first->body;
  EXPECT_LT(first->body.find("# TYPE exposer_scrapes_total counter"),
            first->body.find("lemon_test_total"));
  EXPECT_NE(first->body.find("exposer_scrapes_total 0"), std::string::npos) << first->body;
  absl::StatusOr<HttpResponse> second = get("/metrics");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(second->body.find("exposer_scrapes_total 1"), std::string::npos) << second->body;
  EXPECT_NE(second->body.find("# TYPE exposer_request_latencies summary"), std::string::npos);
  EXPECT_NE(second->body.find("exposer_transferred_bytes_total"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, ACollectableThatExpiredIsSkipped) {
  registry_.reset();
  absl::StatusOr<HttpResponse> r = get("/metrics");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.find("lemon_test_total"), std::string::npos);
}

TEST_F(MetricsHttpServerTest, OtherMethodsAre405) {
  absl::StatusOr<HttpResponse> r =
      http_request("127.0.0.1", server_.port(), "POST", "/metrics", "x", {}, kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "GET");
}

// As for the control plane: 64 connections that send nothing or half a request head do not keep
// a scrape waiting past 1 s, and the server closes all but the per-client limit of them.
TEST_F(MetricsHttpServerTest, MetricsAnswerWithinOneSecondWhile64IdleConnectionsAreOpen) {
  const int limit = HttpLimits().max_idle_per_client;
  for (const std::string prefix : {"", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"}) {
    SCOPED_TRACE(prefix.empty() ? "nothing sent" : "half a request head");
    HalfOpenConnections idle;
    ASSERT_EQ(idle.open(64, server_.port(), prefix), 64u);
    for (int round = 0; round < 3; ++round) {
      const absl::Time start = absl::Now();
      absl::StatusOr<HttpResponse> r = get("/metrics");
      const absl::Duration took = absl::Now() - start;
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 200);
      EXPECT_LT(took, absl::Seconds(1)) << "round " << round;
    }
    EXPECT_TRUE(idle.await_closed_by_server(64 - limit, absl::Seconds(10)));
  }
}

}  // namespace
}  // namespace lemon
