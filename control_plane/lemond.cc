// lemond: a Lemon node. With no flags it is a self-contained demo: it loads the example modules,
// starts demo actors fed by a steady message stream, serves the JSON-RPC control plane on
// 127.0.0.1:4040 and Prometheus metrics on 127.0.0.1:9464/metrics, and prints how to reload.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "actors/messages.h"
#include "caf/all.hpp"
#include "cluster/tls.h"
#include "control_plane/civet_http_server.h"
#include "control_plane/cluster_flags.h"
#include "control_plane/node.h"
#include "control_plane/node_files.h"
#include "core/reload_error.h"
#include "core/runfiles.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

ABSL_FLAG(int, control_port, 4040, "JSON-RPC control plane port on --bind (0: pick a free one)");
ABSL_FLAG(int, metrics_port, 9464, "Prometheus /metrics port on --bind (0: pick a free one)");
ABSL_FLAG(std::string, bind, "127.0.0.1", "address the control plane and metrics listen on");
ABSL_FLAG(int, http_threads, lemon::HttpLimits().num_threads,
          "worker threads of the control plane and of metrics, each (one per connection served)");
ABSL_FLAG(int, http_request_timeout_ms, lemon::HttpLimits().request_timeout_ms,
          "an HTTP request head must be complete this long after a worker takes it up");
ABSL_FLAG(int, http_body_timeout_ms, lemon::HttpLimits().body_timeout_ms,
          "an HTTP request body must be complete this long after its head");
ABSL_FLAG(int, http_max_idle_per_client, lemon::HttpLimits().max_idle_per_client,
          "connections one client (an address; all of loopback is one) may hold without a "
          "complete request head; one more closes its oldest");
ABSL_FLAG(std::string, modules_dir, "", "module files <name>.so (default ~/.lemon/modules)");
ABSL_FLAG(std::string, extensions_dir, "", "extension sources root (default ~/.lemon/extensions)");
ABSL_FLAG(std::string, state_dir, "",
          "private module copies and compiled extensions "
          "(default ~/.lemon/state)");
ABSL_FLAG(std::string, token_file, "",
          "bearer token file, created 0600 at first start "
          "(default ~/.lemon/token)");
ABSL_FLAG(std::string, node_name, "", "this node's name (default lemon@<hostname>)");
ABSL_FLAG(int, cluster_port, 0, "port this node listens on for peers (CAF io); 0: no clustering");
ABSL_FLAG(std::string, peers, "", "host:port,... of peer nodes to connect to");
ABSL_FLAG(std::string, cluster_bind, "127.0.0.1", "address the cluster agent listens on");
ABSL_FLAG(int, cluster_heartbeat_ms, 1000, "CAF heartbeat interval between cluster nodes");
ABSL_FLAG(int, cluster_timeout_ms, 5000,
          "a peer silent this long is dropped from the membership; 0: only on disconnect");
ABSL_FLAG(int, cluster_lease_ms, 10000,
          "a cluster lock held for a coordinator that has not renewed it for this long is given "
          "back (a running commit or rollback finishes first)");
ABSL_FLAG(std::string, scheduler, "auto",
          "CAF scheduler: auto (sharing on at most 2 cores, else stealing), stealing "
          "(CAF's default) or sharing (one queue; faster on 2 cores, docs/operations.md)");
ABSL_FLAG(int, scheduler_threads, 0,
          "scheduler worker threads (0: CAF's default, one per core but at least 4)");
ABSL_FLAG(int, unmap_grace_ms, 5000,
          "how long a purged or replaced module version stays mapped for messages its code built");
ABSL_FLAG(int, demo_actors, 2000, "demo counter actors to start (0: none)");
ABSL_FLAG(int, demo_rate, 20000, "demo messages per second, spread over the demo actors");

namespace lemon {
namespace {

// The examples seeded at first start into the default directories, from this binary's runfiles
// (those it ships with; none when it runs without them).
std::vector<SeedFile> example_seeds(const NodeFiles& files) {
  std::vector<SeedFile> seeds;
  auto add = [&seeds](const std::string& runfile, std::string to, bool replace) {
    std::string from = find_runfile(runfile);
    if (!from.empty()) seeds.push_back({std::move(from), std::move(to), replace});
  };
  const std::string root = "extensions/counter/";
  if (files.default_modules) {
    for (const char* v : {"1", "2", "3"}) {
      add(root + "libcounter_v" + v + ".so", files.examples_dir + "/counter_v" + v + ".so", true);
    }
    add(root + "counter_v2.cc", files.examples_dir + "/counter_v2.cc", true);
    add(root + "libcounter_v1.so", files.modules_dir + "/counter.so", false);
  }
  if (files.default_extensions) {
    add("extensions/greeter/greeter.cc", files.extensions_dir + "/greeter.cc", false);
  }
  return seeds;
}

// Sends ticks to the demo actors at a steady rate; each actor gets its own sequence numbers, so
// it can check order, and the totals show that a reload lost nothing.
class DemoLoad {
 public:
  DemoLoad(caf::actor_system& sys, std::vector<caf::actor> actors, int rate,
           prometheus::Counter& sent_metric)
      : sys_(sys), actors_(std::move(actors)), rate_(rate), sent_metric_(sent_metric) {
    thread_ = std::thread([this] { run(); });
  }
  ~DemoLoad() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t sent() const { return sent_.load(); }

 private:
  void run() {
    caf::scoped_actor self{sys_};
    std::vector<uint64_t> seq(actors_.size(), 0);
    const auto batch = std::chrono::milliseconds(10);
    const int per_batch = std::max(1, rate_ / 100);
    size_t next = 0;
    auto when = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      for (int k = 0; k < per_batch; ++k) {
        self->send(actors_[next], tick_atom::value, uint64_t{1}, ++seq[next]);
        next = (next + 1) % actors_.size();
      }
      sent_ += per_batch;
      sent_metric_.Increment(per_batch);
      when += batch;
      std::this_thread::sleep_until(when);  // pacing the generator, not waiting for a result
    }
  }

  caf::actor_system& sys_;
  std::vector<caf::actor> actors_;
  const int rate_;
  prometheus::Counter& sent_metric_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

// Sum of the demo actors' counts: messages processed.
int64_t processed(caf::actor_system& sys, const std::vector<caf::actor>& actors) {
  caf::scoped_actor self{sys};
  int64_t total = 0;
  for (const auto& a : actors) {
    self->request(a, std::chrono::seconds(30), get_atom::value)
        .receive([&](int64_t c) { total += c; }, [](caf::error&) {});
  }
  return total;
}

// The node's options from the flags; kInvalidArgument naming a flag with a value out of range.
absl::StatusOr<Node::Options> node_options_from_flags() {
  if (absl::GetFlag(FLAGS_scheduler_threads) < 0 || absl::GetFlag(FLAGS_unmap_grace_ms) < 0) {
    return reload_status(ReloadError::kInvalidArgument,
                         "--scheduler_threads and --unmap_grace_ms must not be negative");
  }
  Node::Options o;
  o.files.modules_dir = absl::GetFlag(FLAGS_modules_dir);
  o.files.extensions_dir = absl::GetFlag(FLAGS_extensions_dir);
  o.files.state_dir = absl::GetFlag(FLAGS_state_dir);
  o.files.token_file = absl::GetFlag(FLAGS_token_file);
  o.seeds = example_seeds;
  o.node_name = absl::GetFlag(FLAGS_node_name);
  o.bind = absl::GetFlag(FLAGS_bind);
  o.control_port = absl::GetFlag(FLAGS_control_port);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  o.http_limits.num_threads = absl::GetFlag(FLAGS_http_threads);
  o.http_limits.request_timeout_ms = absl::GetFlag(FLAGS_http_request_timeout_ms);
  o.http_limits.body_timeout_ms = absl::GetFlag(FLAGS_http_body_timeout_ms);
  o.http_limits.max_idle_per_client = absl::GetFlag(FLAGS_http_max_idle_per_client);
  o.scheduler = absl::GetFlag(FLAGS_scheduler);
  o.scheduler_threads = static_cast<size_t>(absl::GetFlag(FLAGS_scheduler_threads));
  o.unmap_grace = absl::Milliseconds(absl::GetFlag(FLAGS_unmap_grace_ms));
  o.cluster_port = absl::GetFlag(FLAGS_cluster_port);
  for (absl::string_view peer :
       absl::StrSplit(absl::GetFlag(FLAGS_peers), ',', absl::SkipEmpty())) {
    o.peers.emplace_back(peer);
  }
  o.cluster_bind = absl::GetFlag(FLAGS_cluster_bind);
  o.cluster_heartbeat = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_heartbeat_ms));
  o.cluster_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_timeout_ms));
  o.cluster_lease = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_lease_ms));
  o.cluster_secret_file = absl::GetFlag(FLAGS_cluster_secret_file);
  if (o.clustered()) {
    absl::StatusOr<cluster::TlsOptions> tls = cluster_tls_from_flags();
    if (!tls.ok()) return tls.status();
    o.cluster_tls = *tls;
    if (o.cluster_lease <= absl::ZeroDuration()) {
      return reload_status(ReloadError::kInvalidArgument, "--cluster_lease_ms must be positive");
    }
  }
  return o;
}

// What the node runs and how to try a reload; last the READY line that tests wait for.
void print_banner(Node& node, size_t demo_actors, int demo_rate) {
  const NodeFiles& files = node.files();
  const Node::Ports ports = node.ports();
  const std::string bind = absl::GetFlag(FLAGS_bind);
  std::printf("lemond %s ready\n", node.node_name().c_str());
  std::printf("  control plane  http://%s:%d/rpc  (JSON-RPC 2.0, Bearer token in %s)\n",
              bind.c_str(), ports.control, files.token_file.c_str());
  std::printf("  metrics        http://%s:%d/metrics\n", bind.c_str(), ports.metrics);
  std::printf("  modules        %s  [%s]\n", files.modules_dir.c_str(),
              absl::StrJoin(node.loaded(), ", ").c_str());
  std::printf("  extensions     %s\n", files.extensions_dir.c_str());
  std::printf("  demo           %zu counter actors, %d messages/s\n", demo_actors, demo_rate);
  std::printf("  scheduler      %s, %zu workers (--scheduler=%s)\n",
              node.runtime().options().scheduler.c_str(),
              node.runtime().system().scheduler().num_workers(),
              absl::GetFlag(FLAGS_scheduler).c_str());
  if (files.default_modules) {
    std::printf(
        "Try a hot upgrade of the demo actors (in another shell):\n"
        "  cp %s/counter_v2.so %s/counter.so\n"
        "  bazel run //:lemonctl -- reload --module counter\n"
        "  bazel run //:lemonctl -- actors --module counter | head\n",
        files.examples_dir.c_str(), files.modules_dir.c_str());
  }
  if (files.default_extensions) {
    std::printf(
        "Edit the example extension and reload it:\n"
        "  $EDITOR %s/greeter.cc   # change kGreeting and GREETER_VERSION\n"
        "  bazel run //:lemonctl -- reload --extension %s/greeter.cc\n",
        files.extensions_dir.c_str(), files.extensions_dir.c_str());
  }
  if (node.clustered()) {
    std::string secret_file = absl::GetFlag(FLAGS_cluster_secret_file);
    if (secret_file.empty()) secret_file = default_cluster_secret_path().value_or("");
    std::printf("  cluster        node %s, gate on %s:%d%s, peers [%s], secret in %s\n",
                node.node_name().c_str(), absl::GetFlag(FLAGS_cluster_bind).c_str(), ports.cluster,
                absl::GetFlag(FLAGS_cluster_tls_cert).empty() ? "" : " (TLS)",
                absl::GetFlag(FLAGS_peers).c_str(), secret_file.c_str());
  }
  std::printf("READY control_port=%d metrics_port=%d cluster_port=%d\n", ports.control,
              ports.metrics, ports.cluster);
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  absl::SetProgramUsageMessage("lemond: a Lemon node (hot code reload for CAF actors)");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken by sigwait in main; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<Node::Options> options = node_options_from_flags();
  absl::StatusOr<std::unique_ptr<Node>> started =
      options.ok() ? Node::start(*std::move(options)) : options.status();
  if (!started.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(started.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<Node> node = *std::move(started);
  for (const std::string& s : node->skipped()) std::fprintf(stderr, "lemond: %s\n", s.c_str());
  Runtime& rt = node->runtime();

  // Metrics: the demo's counters beside the runtime's.
  auto demo_registry = std::make_shared<prometheus::Registry>();
  auto& sent_metric = prometheus::BuildCounter()
                          .Name("lemon_demo_messages_sent_total")
                          .Help("Messages the demo generator sent to demo actors.")
                          .Register(*demo_registry)
                          .Add({});
  auto& processed_metric = prometheus::BuildGauge()
                               .Name("lemon_demo_messages_processed")
                               .Help("Messages the demo actors have processed (sum of counts).")
                               .Register(*demo_registry)
                               .Add({});
  node->metrics().add(demo_registry);

  // Demo actors and their steady stream.
  std::vector<caf::actor> demo;
  std::unique_ptr<DemoLoad> load;
  const int demo_actors = absl::GetFlag(FLAGS_demo_actors);
  if (demo_actors > 0 && rt.code_server().current("counter")) {
    for (int i = 0; i < demo_actors; ++i) {
      auto a = rt.spawn({"counter", "", absl::StrCat("counter-", i), ""});
      if (a.ok()) demo.push_back(*a);
    }
    if (rt.code_server().current("greeter")) {
      for (int i = 0; i < 3; ++i) (void)rt.spawn({"greeter", "", absl::StrCat("greeter-", i), ""});
    }
    if (!demo.empty() && absl::GetFlag(FLAGS_demo_rate) > 0) {
      load = std::make_unique<DemoLoad>(rt.system(), demo, absl::GetFlag(FLAGS_demo_rate),
                                        sent_metric);
    }
  }
  print_banner(*node, demo.size(), load ? absl::GetFlag(FLAGS_demo_rate) : 0);

  // Until SIGINT/SIGTERM: every 5 s, refresh the processed-messages gauge.
  absl::Notification done;
  std::thread auditor([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Seconds(5))) {
      if (!demo.empty()) processed_metric.Set(static_cast<double>(processed(rt.system(), demo)));
    }
  });
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("lemond: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  done.Notify();
  auditor.join();
  if (load) {
    load->stop();
    const int64_t total = processed(rt.system(), demo);
    std::printf("demo: sent=%llu processed=%lld lost=%lld\n",
                static_cast<unsigned long long>(load->sent()), static_cast<long long>(total),
                static_cast<long long>(load->sent()) - static_cast<long long>(total));
  }
  std::fflush(stdout);
  demo.clear();
  node.reset();
  return 0;
}

}  // namespace
}  // namespace lemon

int main(int argc, char** argv) { return lemon::run(argc, argv); }
