// A Lemon runtime: everything one node needs to host reloadable actors and reload them, wired
// together (actor system, code server, registry, reload manager, extension compiler, reload lock,
// telemetry with its Prometheus exporter, and the reload operations).
//
//   Runtime::Options o;
//   o.state_dir = "/tmp/lemon";                 // private module copies and compiled extensions
//   o.modules_dir = "/srv/lemon/modules";       // <name>.so files
//   auto rt = Runtime::create(o).value();
//   rt->reloader().load_file("/srv/lemon/modules/counter.so");
//   auto a = rt->spawn({"counter", "", "counter-1", "0"});
//   ReloadReport r = rt->reloader().run(ReloadRequest::module("counter"));
//
// Destroying the runtime stops every reloadable actor and then the actor system.
#ifndef LEMON_NODE_RUNTIME_H_
#define LEMON_NODE_RUNTIME_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actors/maintenance.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"
#include "core/extension_compiler.h"
#include "core/prometheus_exporter.h"
#include "core/reload_lock.h"
#include "core/reloader.h"
#include "core/telemetry.h"
#include "reload/reload_manager.h"

namespace lemon {

// The scheduler a Runtime runs for `requested` ("stealing", "sharing", or "auto"/empty) on a
// machine with `cores` cores: "auto" is "sharing" on at most 2 cores and "stealing" above. On few
// cores, work stealing's idle workers contend on each other's queues when messages go to many
// actors in turn, so one shared queue is faster (docs/operations.md, "Which scheduler"); on many
// cores the shared queue is what contends. kInvalidArgument, naming it, for anything else.
absl::StatusOr<std::string> choose_scheduler(const std::string& requested, unsigned cores);

class Runtime {
 public:
  struct Options {
    std::string node_name;  // metrics label `node` when set
    // Required: module copies, extension cache; created 0700 when missing. It, modules_dir (when
    // it exists) and the extension roots must be trusted (check_trusted_path, core/fs.h), else
    // create() refuses with kPathNotAllowed naming the directory.
    std::string state_dir;
    std::string modules_dir;                  // <name>.so; may be empty
    std::vector<std::string> extension_dirs;  // extension roots; empty: extensions refused
    std::string apps_manifest;                // default <modules_dir>/apps.json
    size_t scheduler_threads = 0;             // 0: CAF's default (one per core, at least 4)
    // CAF's scheduler: "stealing" (a queue per worker, idle workers steal; CAF's default),
    // "sharing" (one queue for all workers), or "auto" (also when empty): see choose_scheduler.
    // Anything else: kInvalidArgument. options().scheduler says which one runs.
    std::string scheduler;
    // A worker processes at most this many messages of one actor before it lets others run:
    // without it, actors with long mailboxes delay every suspension (and thus every reload).
    size_t max_throughput = 50;
    bool load_middleman = false;  // caf::io, for clustering
    // With load_middleman: CAF's heartbeats between connected nodes, and how long a peer may stay
    // silent before its connection is closed (its actors go down). Zero: CAF's default (off).
    absl::Duration heartbeat_interval = absl::ZeroDuration();
    absl::Duration connection_timeout = absl::ZeroDuration();
    // The embedding program's own CAF settings and message types (and a cluster's:
    // configure_cluster, cluster/cluster_messages.h), applied after Lemon's settings and before
    // the actor system starts.
    std::function<void(caf::actor_system_config&)> configure;
    // How long a purged (or replaced, or unloaded) version stays mapped, so that messages its
    // code built and that still wait in mailboxes can be taken (CodeServer::Options::unmap_grace).
    absl::Duration unmap_grace = absl::Seconds(5);
  };

  static absl::StatusOr<std::unique_ptr<Runtime>> create(Options options);
  ~Runtime();

  caf::actor_system& system() { return *system_; }
  CodeServer& code_server() { return *code_server_; }
  const std::shared_ptr<ActorRegistry>& registry() { return registry_; }
  ReloadManager& reload_manager() { return *manager_; }
  // Suspends, resumes and replaces the state of single actors (actors.suspend and friends).
  ActorMaintenance& maintenance() { return *maintenance_; }
  ExtensionCompiler* compiler() { return compiler_.get(); }
  ReloadLock& lock() { return *lock_; }
  Telemetry& telemetry() { return *telemetry_; }
  PrometheusExporter& exporter() { return *exporter_; }
  Reloader& reloader() { return *reloader_; }
  // The reload operations as CAF messages (node/reload_service.h).
  const caf::actor& reload_service() const { return reload_service_; }
  const Options& options() const { return options_; }

  // spawn_reloadable on this runtime.
  absl::StatusOr<caf::actor> spawn(SpawnSpec spec);

  // Stops every reloadable actor and waits (up to `timeout`) until they are gone.
  void stop_actors(absl::Duration timeout);

 private:
  explicit Runtime(Options options);

  Options options_;
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<CodeServer> code_server_;
  std::shared_ptr<ActorRegistry> registry_;
  std::unique_ptr<ReloadManager> manager_;
  std::unique_ptr<ActorMaintenance> maintenance_;
  std::unique_ptr<ExtensionCompiler> compiler_;
  std::unique_ptr<Telemetry> telemetry_;
  std::unique_ptr<PrometheusExporter> exporter_;
  std::unique_ptr<ReloadLock> lock_;
  std::unique_ptr<ReleaseStore> releases_;  // <state_dir>/releases
  std::unique_ptr<ReloadHistory> history_;  // <state_dir>/reload_history.jsonl
  std::unique_ptr<Reloader> reloader_;
  caf::actor reload_service_;
};

}  // namespace lemon

#endif  // LEMON_NODE_RUNTIME_H_
