#include "control_plane/node.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "control_plane/auth.h"
#include "control_plane/http_client.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::ScratchDir;

const absl::Duration kTimeout = absl::Seconds(30);

// Options for a node on free ports with every directory in `dir`, counter v1 in its modules.
Node::Options options_in(const ScratchDir& dir) {
  Node::Options o;
  o.files.modules_dir = dir.file("modules");
  o.files.extensions_dir = dir.file("extensions");
  o.files.state_dir = dir.file("state");
  o.files.token_file = dir.file("token");
  o.seeds = [](const NodeFiles& files) {
    return std::vector<SeedFile>{{testing::runfile("extensions/counter/libcounter_v1.so"),
                                  files.modules_dir + "/counter.so"}};
  };
  o.node_name = "node-test";
  return o;
}

absl::StatusOr<HttpResponse> call_health(const Node& node, const std::string& token) {
  return http_post("127.0.0.1", node.ports().control, "/rpc",
                   R"({"jsonrpc":"2.0","id":1,"method":"system.health"})",
                   {{"Authorization", "Bearer " + token}}, kTimeout);
}

TEST(NodeTest, ServesHealthAndMetricsOnFreePortsUntilDestroyed) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::unique_ptr<Node>> started = Node::start(options_in(dir));
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<Node> node = *std::move(started);
  EXPECT_EQ(node->loaded(), std::vector<std::string>{"counter 1"});
  EXPECT_TRUE(node->skipped().empty());
  EXPECT_FALSE(node->clustered());
  const Node::Ports ports = node->ports();
  EXPECT_GT(ports.control, 0);
  EXPECT_GT(ports.metrics, 0);
  EXPECT_EQ(ports.cluster, 0);

  absl::StatusOr<std::string> token = read_token(dir.file("token"));
  ASSERT_TRUE(token.ok()) << token.status();
  absl::StatusOr<HttpResponse> health = call_health(*node, *token);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_TRUE(absl::StrContains(health->body, R"("status":"ok")")) << health->body;
  EXPECT_TRUE(absl::StrContains(health->body, R"("node":"node-test")")) << health->body;
  EXPECT_TRUE(absl::StrContains(health->body, R"("modules":1)")) << health->body;

  absl::StatusOr<HttpResponse> metrics =
      http_request("127.0.0.1", ports.metrics, "GET", "/metrics", "", {}, kTimeout);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_TRUE(absl::StrContains(metrics->body, R"(lemon_reload_in_progress{node="node-test"} 0)"))
      << metrics->body;

  node.reset();
  EXPECT_FALSE(http_request("127.0.0.1", ports.control, "GET", "/healthz", "", {}, kTimeout).ok());
  EXPECT_FALSE(http_request("127.0.0.1", ports.metrics, "GET", "/metrics", "", {}, kTimeout).ok());
}

TEST(NodeTest, AWorldWritableModulesDirIsRefusedNamingIt) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  ASSERT_EQ(mkdir((dir.file("modules")).c_str(), 0700), 0);
  ASSERT_EQ(chmod((dir.file("modules")).c_str(), 0777), 0);
  absl::StatusOr<std::unique_ptr<Node>> started = Node::start(options_in(dir));
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(reload_error_of(started.status()), ReloadError::kPathNotAllowed) << started.status();
  EXPECT_TRUE(absl::StrContains(started.status().message(),
                                absl::StrCat("untrusted directory ", dir.file("modules"))))
      << started.status();
  EXPECT_TRUE(absl::StrContains(started.status().message(), "world-writable")) << started.status();
  struct stat st;
  EXPECT_NE(lstat((dir.file("modules/counter.so")).c_str(), &st), 0) << "seeded into it";
}

TEST(NodeTest, AControlPortInUseIsAnErrorNamingTheAddress) {
  ScratchDir first_dir;
  ScratchDir second_dir;
  ASSERT_FALSE(first_dir.path().empty());
  ASSERT_FALSE(second_dir.path().empty());
  absl::StatusOr<std::unique_ptr<Node>> first = Node::start(options_in(first_dir));
  ASSERT_TRUE(first.ok()) << first.status();
  Node::Options o = options_in(second_dir);
  o.control_port = (*first)->ports().control;
  absl::StatusOr<std::unique_ptr<Node>> second = Node::start(o);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::StrContains(second.status().message(),
                                absl::StrCat("127.0.0.1:", (*first)->ports().control)))
      << second.status();
}

}  // namespace
}  // namespace lemon
