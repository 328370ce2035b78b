#include "control_plane/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control_plane/fake_service.h"
#include "control_plane/half_open_connections.h"
#include "control_plane/http_client.h"
#include "control_plane/methods.h"
#include "control_plane/report_proto.h"
#include "core/reload_error.h"
#include "core/reload_report.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using nlohmann::json;

constexpr char kToken[] = "0123456789abcdef-test-token";
const absl::Duration kTimeout = absl::Seconds(10);

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_control_plane_methods(dispatcher_, service_);
    RpcHttpServerOptions options;
    options.token = kToken;
    server_ = std::make_unique<RpcHttpServer>(dispatcher_, options);
    ASSERT_TRUE(server_->start().ok());
  }

  absl::StatusOr<HttpResponse> post_rpc(const std::string& body,
                                        const std::string& token = kToken) {
    HttpHeaders headers;
    if (!token.empty()) headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
    return http_post("127.0.0.1", server_->port(), "/rpc", body, headers, kTimeout);
  }

  FakeService service_;
  JsonRpcDispatcher dispatcher_;
  std::unique_ptr<RpcHttpServer> server_;
};

// Touches `bytes` of stack, every page from the top down (as stack-clash protection would), so
// that a smaller stack faults on its guard page instead of writing past it.
__attribute__((noinline)) int use_stack(std::size_t bytes) {
  volatile char frame[64 * 1024];
  for (std::size_t i = sizeof(frame); i >= 4096; i -= 4096) frame[i - 1] = 1;
  frame[0] = 1;
  if (bytes <= sizeof(frame)) return frame[0];
  return use_stack(bytes - sizeof(frame)) + frame[sizeof(frame) - 1];
}

TEST_F(HttpServerTest, AMethodRunsOnAStackOfTheUsualSizeNotCivetwebs) {
  // civetweb's threads have 100 KiB: 512 KiB would run into the next thread's memory there.
  dispatcher_.register_method("test.deep", [](const json&) -> absl::StatusOr<json> {
    return json{{"frames", use_stack(512 * 1024)}};
  });
  absl::StatusOr<HttpResponse> r = post_rpc(R"({"jsonrpc":"2.0","method":"test.deep","id":1})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["result"]["frames"], 8) << r->body;
}

TEST_F(HttpServerTest, PortZeroListensOnARealPort) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_LT(server_->port(), 65536);
}

TEST_F(HttpServerTest, HealthzAnswersOkWithoutAToken) {
  absl::StatusOr<HttpResponse> r =
      http_request("127.0.0.1", server_->port(), "GET", "/healthz", "", {}, kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
}

TEST_F(HttpServerTest, RpcWithoutTokenIs401WithAJsonRpcError) {
  absl::StatusOr<HttpResponse> r =
      post_rpc(R"({"jsonrpc":"2.0","method":"system.health","id":1})", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->headers["www-authenticate"], "Bearer");
  json body = json::parse(r->body);
  EXPECT_EQ(body["error"]["code"], kJsonRpcUnauthorized);
  EXPECT_EQ(body["error"]["data"]["reason"], "unauthorized");
}

TEST_F(HttpServerTest, RpcWithWrongTokenIs401) {
  for (const std::string token :
       {"wrong", "0123456789abcdef-test-toke", "0123456789abcdef-test-tokenX"}) {
    SCOPED_TRACE(token);
    absl::StatusOr<HttpResponse> r =
        post_rpc(R"({"jsonrpc":"2.0","method":"system.health","id":1})", token);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(json::parse(r->body)["error"]["code"], kJsonRpcUnauthorized);
  }
}

TEST_F(HttpServerTest, RpcWithTokenIs200) {
  rpc::SystemHealthResult health;
  health.set_status("ok");
  health.set_node("node-a");
  service_.health_result = health;
  absl::StatusOr<HttpResponse> r = post_rpc(R"({"jsonrpc":"2.0","method":"system.health","id":1})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  json body = json::parse(r->body);
  EXPECT_EQ(body["id"], 1);
  EXPECT_EQ(body["result"]["node"], "node-a");
}

TEST_F(HttpServerTest, JsonRpcErrorsTravelAsHttp200) {
  absl::StatusOr<HttpResponse> r = post_rpc("{not json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], kJsonRpcParseError);
}

TEST_F(HttpServerTest, NotificationOnlyIs204) {
  absl::StatusOr<HttpResponse> r = post_rpc(R"({"jsonrpc":"2.0","method":"system.health"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 204);
  EXPECT_TRUE(r->body.empty());
}

TEST_F(HttpServerTest, OversizedBodyIs413WithoutTheBodyBeingRead) {
  // Only the head is sent: the answer must come without the server waiting for 2 MiB.
  std::string head =
      absl::StrCat("POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ", kToken,
                   "\r\nContent-Type: application/json\r\nContent-Length: ", 2 << 20, "\r\n\r\n");
  absl::StatusOr<HttpResponse> r = http_exchange_raw("127.0.0.1", server_->port(), head, kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
}

TEST_F(HttpServerTest, BodyAtTheLimitIsAccepted) {
  std::string body = R"({"jsonrpc":"2.0","method":"system.health","id":1})";
  body.resize(1 << 20, ' ');
  absl::StatusOr<HttpResponse> r = post_rpc(body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, MissingContentLengthIs411) {
  std::string head = absl::StrCat("POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ",
                                  kToken, "\r\nConnection: close\r\n\r\n");
  absl::StatusOr<HttpResponse> r = http_exchange_raw("127.0.0.1", server_->port(), head, kTimeout);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 411);
}

TEST_F(HttpServerTest, OtherHttpMethodsAre405) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    SCOPED_TRACE(method);
    absl::StatusOr<HttpResponse> r =
        http_request("127.0.0.1", server_->port(), method, "/rpc", "", {}, kTimeout);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->headers["allow"], "POST");
  }
}

TEST_F(HttpServerTest, SystemReloadReturnsTheServicesReport) {
  ReloadReport system = ReloadReport::begin(ReloadKind::kSystem, "all");
  ReloadReport counter = ReloadReport::begin(ReloadKind::kModule, "counter");
  counter.reloaded.push_back("counter");
  counter.finish();
  ReloadReport ext = ReloadReport::begin(ReloadKind::kExtension, "/ext/hello.cc");
  ErrorItem failed{"/ext/hello.cc", ReloadError::kCompileFailed, "did not compile", {}};
  failed.diagnostics.push_back(Diagnostic{"/ext/hello.cc", 4, 2, "error", "expected ';'"});
  ext.errors.push_back(failed);
  ext.finish();
  system.results = {counter, ext};
  system.finish();
  service_.reload_result = report_to_proto(system);

  absl::StatusOr<HttpResponse> r = post_rpc(R"({"jsonrpc":"2.0","method":"system.reload","id":"r1",
      "params":{"modules":["counter"],"extensions":["/ext/hello.cc"],"force":true}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  json body = json::parse(r->body);
  EXPECT_EQ(body["id"], "r1");
  const json& report = body["result"];
  EXPECT_EQ(report["kind"], "system");
  EXPECT_EQ(report["status"], "error");
  EXPECT_EQ(report["summary"], json({{"reloaded", 1}, {"skipped", 0}, {"errors", 1}}));
  ASSERT_EQ(report["results"].size(), 2u);
  EXPECT_EQ(report["results"][0]["reloaded"], json({"counter"}));
  const json& error = report["results"][1]["errors"][0];
  EXPECT_EQ(error["reason"], "compile_failed");
  EXPECT_EQ(error["diagnostics"][0]["line"], 4);

  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_reload.has_value());
  EXPECT_EQ(service_.last_reload->scope(), "all");
  EXPECT_TRUE(service_.last_reload->force());
}

TEST_F(HttpServerTest, ServesConcurrentClients) {
  std::vector<std::thread> clients;
  std::vector<int> statuses(8, 0);
  for (size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([this, i, &statuses] {
      absl::StatusOr<HttpResponse> r =
          post_rpc(absl::StrCat(R"({"jsonrpc":"2.0","method":"actors.list","id":)", i, "}"));
      statuses[i] = r.ok() ? r->status : -1;
    });
  }
  for (std::thread& t : clients) t.join();
  for (int status : statuses) EXPECT_EQ(status, 200);
}

// 64 connections that send nothing or half a request head, from the same client as the health
// request: it still answers within 1 s, and the server closes all but the per-client limit of them.
TEST_F(HttpServerTest, HealthAnswersWithinOneSecondWhile64IdleConnectionsAreOpen) {
  struct Case {
    const char* name;
    std::string prefix;
  };
  const Case cases[] = {
      {"nothing sent", ""},
      {"half a request head", "POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea"},
      {"half a healthz head", "GET /healthz HTTP/1.1\r\n"},
  };
  const int limit = RpcHttpServerOptions().limits.max_idle_per_client;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HalfOpenConnections idle;
    ASSERT_EQ(idle.open(64, server_->port(), c.prefix), 64u);
    for (int round = 0; round < 3; ++round) {
      const absl::Time start = absl::Now();
      absl::StatusOr<HttpResponse> r =
          post_rpc(absl::StrCat(R"({"jsonrpc":"2.0","method":"system.health","id":)", round, "}"));
      const absl::Duration took = absl::Now() - start;
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->status, 200);
      EXPECT_LT(took, absl::Seconds(1)) << "round " << round;
    }
    EXPECT_TRUE(idle.await_closed_by_server(64 - limit, absl::Seconds(10)));
  }
}

// A body that stops coming is cut when one read waits request_timeout_ms (400); one that trickles
// in, a byte at a time within that, is cut at body_timeout_ms (408). Either way the worker is free.
TEST_F(HttpServerTest, SlowBodiesAreCutAtTheirDeadlines) {
  RpcHttpServerOptions options;
  options.token = kToken;
  options.limits.request_timeout_ms = 400;
  options.limits.body_timeout_ms = 800;
  RpcHttpServer server(dispatcher_, options);
  ASSERT_TRUE(server.start().ok());
  for (const auto& [trickle, status] : {std::pair<bool, int>{false, 400}, {true, 408}}) {
    SCOPED_TRACE(trickle ? "trickling" : "stalled");
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string head =
        absl::StrCat("POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ", kToken,
                     "\r\nContent-Length: 1000\r\n\r\n");
    ASSERT_GT(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), 0);
    std::string reply;
    char buf[512];
    // A byte every 100 ms (pacing the client, well inside the 400 ms read timeout) until the
    // server answers; it must answer while the client is still at it (within 10 s).
    bool answered = false;
    for (int i = 0; i < 100 && !answered; ++i) {
      pollfd p{fd, POLLIN, 0};
      answered = ::poll(&p, 1, 100) == 1;
      if (trickle && !answered) ::send(fd, "x", 1, MSG_NOSIGNAL);
    }
    EXPECT_TRUE(answered);
    for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, n);
    ::close(fd);
    EXPECT_EQ(reply.rfind(absl::StrCat("HTTP/1.1 ", status), 0), 0u) << reply;
  }
}

TEST_F(HttpServerTest, PortInUseIsAClearError) {
  RpcHttpServerOptions options;
  options.token = kToken;
  options.port = server_->port();
  RpcHttpServer second(dispatcher_, options);
  absl::Status s = second.start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find(absl::StrCat("127.0.0.1:", server_->port())),
            std::string::npos)
      << s;
  EXPECT_NE(std::string(s.message()).find("in use"), std::string::npos) << s;
  EXPECT_EQ(second.port(), 0);
}

TEST_F(HttpServerTest, StartRefusesAnEmptyToken) {
  RpcHttpServer tokenless(dispatcher_, RpcHttpServerOptions{});
  EXPECT_FALSE(tokenless.start().ok());
}

TEST_F(HttpServerTest, StopIsIdempotentAndClosesThePort) {
  int port = server_->port();
  server_->stop();
  server_->stop();
  absl::StatusOr<HttpResponse> r =
      http_request("127.0.0.1", port, "GET", "/healthz", "", {}, kTimeout);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace lemon
