// lemond: a Lemon node. With no flags it is a self-contained demo: it loads the example modules,
// starts demo actors fed by a steady message stream, serves the JSON-RPC control plane on
// 127.0.0.1:4040 and Prometheus metrics on 127.0.0.1:9464/metrics, and prints how to reload.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

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
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "cluster/cluster.h"
#include "actors/messages.h"
#include "node/runtime.h"
#include "caf/all.hpp"
#include "cluster/tls.h"
#include "control_plane/auth.h"
#include "control_plane/cluster_flags.h"
#include "control_plane/http_server.h"
#include "control_plane/json_rpc.h"
#include "control_plane/methods.h"
#include "control_plane/metrics_http_server.h"
#include "control_plane/node_files.h"
#include "control_plane/node_service.h"
#include "control_plane/report_proto.h"
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

int run(int argc, char** argv) {
  absl::SetProgramUsageMessage("lemond: a Lemon node (hot code reload for CAF actors)");
  absl::ParseCommandLine(argc, argv);

  // Signals are taken by sigwait in main; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The node's directories, checked before anything is written into or loaded from them.
  NodeFiles given;
  given.modules_dir = absl::GetFlag(FLAGS_modules_dir);
  given.extensions_dir = absl::GetFlag(FLAGS_extensions_dir);
  given.state_dir = absl::GetFlag(FLAGS_state_dir);
  given.token_file = absl::GetFlag(FLAGS_token_file);
  absl::StatusOr<NodeFiles> files = resolve_node_files(given);
  absl::Status prepared =
      files.ok() ? prepare_node_files(*files, example_seeds(*files)) : files.status();
  if (!prepared.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(prepared.message()).c_str());
    return 1;
  }
  const std::string& modules_dir = files->modules_dir;
  const std::string& extensions_dir = files->extensions_dir;
  const std::string& token_file = files->token_file;
  std::string node_name = absl::GetFlag(FLAGS_node_name);
  if (node_name.empty()) {
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    node_name = absl::StrCat("lemon@", host);
  }

  Runtime::Options options;
  options.node_name = node_name;
  options.state_dir = files->state_dir;
  options.modules_dir = modules_dir;
  options.extension_dirs = {extensions_dir};
  const bool clustered =
      absl::GetFlag(FLAGS_cluster_port) > 0 || !absl::GetFlag(FLAGS_peers).empty();
  options.load_middleman = clustered;
  options.heartbeat_interval = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_heartbeat_ms));
  options.connection_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_timeout_ms));
  if (clustered) {
    auto tls = cluster_tls_from_flags();
    if (!tls.ok()) {
      std::fprintf(stderr, "lemond: %s\n", std::string(tls.status().message()).c_str());
      return 1;
    }
    options.configure = [tls = *tls](caf::actor_system_config& cfg) {
      configure_cluster(cfg, tls);
    };
  }
  options.scheduler = absl::GetFlag(FLAGS_scheduler);
  if (absl::GetFlag(FLAGS_scheduler_threads) < 0 || absl::GetFlag(FLAGS_unmap_grace_ms) < 0) {
    std::fprintf(stderr, "lemond: --scheduler_threads and --unmap_grace_ms must not be negative\n");
    return 1;
  }
  options.scheduler_threads = static_cast<size_t>(absl::GetFlag(FLAGS_scheduler_threads));
  options.unmap_grace = absl::Milliseconds(absl::GetFlag(FLAGS_unmap_grace_ms));
  auto created = Runtime::create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<Runtime> rt = std::move(*created);

  // Modules: every <name>.so in the modules directory.
  std::vector<std::string> loaded;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(modules_dir.c_str()), closedir);
  if (dir) {
    while (dirent* e = readdir(dir.get())) {
      std::string name = e->d_name;
      if (name.size() < 4 || name.substr(name.size() - 3) != ".so") continue;
      auto m = rt->reloader().load_file(modules_dir + "/" + name);
      if (m.ok()) {
        loaded.push_back(absl::StrCat((*m)->name(), " ", (*m)->version()));
      } else {
        std::fprintf(stderr, "lemond: skipping %s: %s\n", name.c_str(),
                     std::string(m.status().message()).c_str());
      }
    }
  }

  // Extensions: every *.cc in the extensions directory, compiled (or found in the cache).
  if (DIR* ext = opendir(extensions_dir.c_str())) {
    std::vector<std::string> sources;
    while (dirent* e = readdir(ext)) {
      std::string name = e->d_name;
      if (name.size() > 3 && name.substr(name.size() - 3) == ".cc") sources.push_back(name);
    }
    closedir(ext);
    for (const std::string& name : sources) {
      ReloadReport r = rt->reloader().run(ReloadRequest::extension(extensions_dir + "/" + name));
      if (r.status == ReloadStatus::kError) {
        std::fprintf(stderr, "lemond: extension %s: %s\n", name.c_str(),
                     r.errors.empty() ? "failed" : r.errors[0].message.c_str());
      } else if (r.metadata.count("module") > 0) {
        loaded.push_back(
            absl::StrCat(r.metadata["module"], " ", r.metadata["to_version"], " (extension)"));
      }
    }
  }

  // Metrics: the runtime's reload metrics plus the demo's counters.
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
  const std::string bind = absl::GetFlag(FLAGS_bind);
  HttpLimits http_limits;
  http_limits.num_threads = absl::GetFlag(FLAGS_http_threads);
  http_limits.request_timeout_ms = absl::GetFlag(FLAGS_http_request_timeout_ms);
  http_limits.body_timeout_ms = absl::GetFlag(FLAGS_http_body_timeout_ms);
  http_limits.max_idle_per_client = absl::GetFlag(FLAGS_http_max_idle_per_client);
  MetricsHttpServer metrics(bind, absl::GetFlag(FLAGS_metrics_port), http_limits);
  metrics.add(rt->exporter().registry());
  metrics.add(demo_registry);
  if (absl::Status s = metrics.start(); !s.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const int metrics_port = metrics.port();

  // Control plane.
  auto token = load_or_create_token(token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  // Clustering: this node's agent, published for peers, and connections to --peers (in the
  // background, retried until they answer).
  std::unique_ptr<Cluster> cluster;
  if (clustered) {
    auto secret = cluster_secret_from_flags(/*create=*/true);
    if (!secret.ok()) {
      std::fprintf(stderr, "lemond: %s\n", std::string(secret.status().message()).c_str());
      return 1;
    }
    if (absl::GetFlag(FLAGS_cluster_lease_ms) <= 0) {
      std::fprintf(stderr, "lemond: --cluster_lease_ms must be positive\n");
      return 1;
    }
    Cluster::Options co;
    co.node_name = node_name;
    co.secret = *secret;
    co.lease = absl::Milliseconds(absl::GetFlag(FLAGS_cluster_lease_ms));
    co.bind = absl::GetFlag(FLAGS_cluster_bind);
    co.port = absl::GetFlag(FLAGS_cluster_port);
    for (absl::string_view peer :
         absl::StrSplit(absl::GetFlag(FLAGS_peers), ',', absl::SkipEmpty())) {
      co.peers.emplace_back(peer);
    }
    auto started = Cluster::start(*rt, co);
    if (!started.ok()) {
      std::fprintf(stderr, "lemond: %s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    cluster = std::move(*started);
  }
  NodeService service(*rt, node_name);
  if (cluster) {
    Cluster* c = cluster.get();
    service.set_cluster_reload([c](const ReloadRequest& request) { return c->reload(request); });
    service.set_cluster_modules([c] { return c->list_modules(); });
    service.set_cluster_view([c] {
      NodeService::ClusterView view;
      for (const ClusterMember& m : c->members()) {
        if (m.self) {
          view.address = m.address;
        } else {
          view.peers.push_back(absl::StrCat(m.name, "=", m.address));
        }
      }
      return view;
    });
  }
  JsonRpcDispatcher dispatcher;
  register_control_plane_methods(dispatcher, service);
  RpcHttpServerOptions http;
  http.host = bind;
  http.port = absl::GetFlag(FLAGS_control_port);
  http.token = *token;
  http.limits = http_limits;
  RpcHttpServer server(dispatcher, http);
  if (absl::Status s = server.start(); !s.ok()) {
    std::fprintf(stderr, "lemond: %s\n", std::string(s.message()).c_str());
    return 1;
  }

  // Demo actors and their steady stream.
  std::vector<caf::actor> demo;
  std::unique_ptr<DemoLoad> load;
  const int demo_actors = absl::GetFlag(FLAGS_demo_actors);
  if (demo_actors > 0 && rt->code_server().current("counter")) {
    for (int i = 0; i < demo_actors; ++i) {
      auto a = rt->spawn({"counter", "", absl::StrCat("counter-", i), ""});
      if (a.ok()) demo.push_back(*a);
    }
    if (rt->code_server().current("greeter")) {
      for (int i = 0; i < 3; ++i) (void)rt->spawn({"greeter", "", absl::StrCat("greeter-", i), ""});
    }
    if (!demo.empty() && absl::GetFlag(FLAGS_demo_rate) > 0) {
      load = std::make_unique<DemoLoad>(rt->system(), demo, absl::GetFlag(FLAGS_demo_rate),
                                        sent_metric);
    }
  }

  std::string modules_list;
  for (const auto& m : loaded) absl::StrAppend(&modules_list, modules_list.empty() ? "" : ", ", m);
  std::printf("lemond %s ready\n", node_name.c_str());
  std::printf("  control plane  http://%s:%d/rpc  (JSON-RPC 2.0, Bearer token in %s)\n",
              bind.c_str(), server.port(), token_file.c_str());
  std::printf("  metrics        http://%s:%d/metrics\n", bind.c_str(), metrics_port);
  std::printf("  modules        %s  [%s]\n", modules_dir.c_str(), modules_list.c_str());
  std::printf("  extensions     %s\n", extensions_dir.c_str());
  std::printf("  demo           %zu counter actors, %d messages/s\n", demo.size(),
              load ? absl::GetFlag(FLAGS_demo_rate) : 0);
  std::printf("  scheduler      %s, %zu workers (--scheduler=%s)\n",
              rt->options().scheduler.c_str(), rt->system().scheduler().num_workers(),
              absl::GetFlag(FLAGS_scheduler).c_str());
  if (files->default_modules) {
    std::printf(
        "Try a hot upgrade of the demo actors (in another shell):\n"
        "  cp %s/counter_v2.so %s/counter.so\n"
        "  bazel run //:lemonctl -- reload --module counter\n"
        "  bazel run //:lemonctl -- actors --module counter | head\n",
        files->examples_dir.c_str(), modules_dir.c_str());
  }
  if (files->default_extensions) {
    std::printf(
        "Edit the example extension and reload it:\n"
        "  $EDITOR %s/greeter.cc   # change kGreeting and GREETER_VERSION\n"
        "  bazel run //:lemonctl -- reload --extension %s/greeter.cc\n",
        extensions_dir.c_str(), extensions_dir.c_str());
  }
  if (cluster) {
    std::string secret_file = absl::GetFlag(FLAGS_cluster_secret_file);
    if (secret_file.empty()) secret_file = default_cluster_secret_path().value_or("");
    std::printf("  cluster        node %s, gate on %s:%d%s, peers [%s], secret in %s\n",
                node_name.c_str(), absl::GetFlag(FLAGS_cluster_bind).c_str(), cluster->port(),
                absl::GetFlag(FLAGS_cluster_tls_cert).empty() ? "" : " (TLS)",
                absl::GetFlag(FLAGS_peers).c_str(), secret_file.c_str());
  }
  std::printf("READY control_port=%d metrics_port=%d cluster_port=%d\n", server.port(),
              metrics_port, cluster ? cluster->port() : 0);
  std::fflush(stdout);

  // Until SIGINT/SIGTERM: every 5 s, refresh the processed-messages gauge.
  absl::Notification done;
  std::thread auditor([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Seconds(5))) {
      if (!demo.empty()) processed_metric.Set(static_cast<double>(processed(rt->system(), demo)));
    }
  });
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("lemond: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  done.Notify();
  auditor.join();
  if (load) {
    load->stop();
    const int64_t total = processed(rt->system(), demo);
    std::printf("demo: sent=%llu processed=%lld lost=%lld\n",
                static_cast<unsigned long long>(load->sent()), static_cast<long long>(total),
                static_cast<long long>(load->sent()) - static_cast<long long>(total));
  }
  std::fflush(stdout);
  server.stop();
  metrics.stop();
  cluster.reset();  // before the runtime: it holds lock guards and the agent
  demo.clear();
  rt.reset();
  return 0;
}

}  // namespace
}  // namespace lemon

int main(int argc, char** argv) { return lemon::run(argc, argv); }
