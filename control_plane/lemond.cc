// lemond: a Lemon node (control_plane/node.h) from its flags. With no flags it is a self-contained
// demo (demo/demo_load.h): it loads the example modules, starts demo actors fed by a steady message
// stream, serves the JSON-RPC control plane on 127.0.0.1:4040 and Prometheus metrics on
// 127.0.0.1:9464/metrics, and prints how to reload.
#include <signal.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cluster/tls.h"
#include "control_plane/civet_http_server.h"
#include "control_plane/cluster_flags.h"
#include "control_plane/node.h"
#include "control_plane/node_files.h"
#include "core/fs.h"
#include "core/reload_error.h"
#include "demo/demo_load.h"

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
ABSL_FLAG(int, cluster_port, 0,
          "port this node listens on for peers (CAF io); -1: a free one (READY says which); 0: no "
          "clustering");
ABSL_FLAG(std::string, peers, "", "host:port,... of peer nodes to connect to");
ABSL_FLAG(std::string, cluster_bind, "127.0.0.1", "address the cluster agent listens on");
ABSL_FLAG(int, cluster_heartbeat_ms, 1000, "CAF heartbeat interval between cluster nodes");
ABSL_FLAG(int, cluster_timeout_ms, 5000,
          "a peer silent this long is dropped from the membership; 0: only on disconnect");
ABSL_FLAG(int, cluster_lease_ms, 10000,
          "a cluster lock held for a coordinator that has not renewed it for this long is given "
          "back (a running commit or rollback finishes first)");
ABSL_FLAG(bool, cluster_catch_up, true,
          "joining a peer whose permanent version of a module comes from a later cluster reload, "
          "load that version first; false: report the module as version skew only");
ABSL_FLAG(std::string, scheduler, "auto",
          "CAF scheduler: auto (sharing on at most 2 cores, else stealing), stealing "
          "(CAF's default) or sharing (one queue; faster on 2 cores, docs/operations.md)");
ABSL_FLAG(int, scheduler_threads, 0,
          "scheduler worker threads (0: CAF's default, one per core but at least 4)");
ABSL_FLAG(int, unmap_grace_ms, 5000,
          "how long a purged or replaced module version stays mapped for messages its code built");
ABSL_FLAG(int, demo_actors, 2000,
          "demo counter actors to start (0: no demo, and no example files seeded)");
ABSL_FLAG(int, demo_rate, 20000, "demo messages per second, spread over the demo actors");

namespace lemon {
namespace {

// The examples seeded at first start into the default directories (those of --modules_dir and
// --extensions_dir when not given).
std::vector<SeedFile> demo_seeds(const NodeFiles& files) {
  ExampleDirs dirs;
  if (files.default_modules) {
    dirs.examples_dir = files.examples_dir;
    dirs.modules_dir = files.modules_dir;
  }
  if (files.default_extensions) dirs.extensions_dir = files.extensions_dir;
  return example_seeds(dirs);
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
  if (absl::GetFlag(FLAGS_demo_actors) > 0) o.seeds = demo_seeds;
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
  o.cluster_catch_up = absl::GetFlag(FLAGS_cluster_catch_up);
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
void print_banner(Node& node, const DemoLoad* demo) {
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
  std::printf("  demo           %zu counter actors, %d messages/s\n", demo ? demo->actors() : 0,
              demo ? demo->rate() : 0);
  std::printf("  scheduler      %s, %zu workers (--scheduler=%s)\n",
              node.runtime().options().scheduler.c_str(),
              node.runtime().system().scheduler().num_workers(),
              absl::GetFlag(FLAGS_scheduler).c_str());
  if (demo && files.default_modules) {
    std::printf(
        "Try a hot upgrade of the demo actors (in another shell):\n"
        "  cp %s/counter_v2.so %s/counter.so\n"
        "  bazel run //:lemonctl -- reload --module counter\n"
        "  bazel run //:lemonctl -- actors --module counter | head\n",
        files.examples_dir.c_str(), files.modules_dir.c_str());
  }
  if (demo && files.default_extensions) {
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

  std::unique_ptr<DemoLoad> demo;
  if (absl::GetFlag(FLAGS_demo_actors) > 0) {
    Runtime& rt = node->runtime();
    demo = DemoLoad::start({&rt.system(), rt.registry(), &rt.code_server()},
                           {absl::GetFlag(FLAGS_demo_actors), absl::GetFlag(FLAGS_demo_rate)});
    node->metrics().add(demo->registry());
  }
  print_banner(*node, demo.get());

  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("lemond: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (demo && demo->rate() > 0) {
    const DemoLoad::Totals t = demo->stop();
    std::printf("demo: sent=%llu processed=%lld lost=%lld\n",
                static_cast<unsigned long long>(t.sent), static_cast<long long>(t.processed),
                static_cast<long long>(t.sent) - static_cast<long long>(t.processed));
  }
  std::fflush(stdout);
  demo.reset();  // its actors' handles, before the node's runtime
  node.reset();
  return 0;
}

}  // namespace
}  // namespace lemon

int main(int argc, char** argv) { return lemon::run(argc, argv); }
