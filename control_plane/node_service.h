// The control plane's operations on a real node: a ControlPlaneService that translates each
// JSON-RPC call into typed CAF messages to the node's reload service and actors.
//
//   NodeService service(node_service_deps(runtime), "node-a");  // control_plane/node.h
//   JsonRpcDispatcher dispatcher;
//   register_control_plane_methods(dispatcher, service);
//
// Thread-safe: civetweb calls it from several threads; each call uses its own scoped actor.
#ifndef LEMON_CONTROL_PLANE_NODE_SERVICE_H_
#define LEMON_CONTROL_PLANE_NODE_SERVICE_H_

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "actors/maintenance.h"
#include "actors/registry.h"
#include "actors/system_messages.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "cluster/cluster_messages.h"
#include "cluster/version_skew.h"
#include "control_plane/service.h"
#include "core/code_server.h"
#include "core/reload_lock.h"
#include "core/reload_request.h"
#include "core/reloader.h"

namespace lemon {

// The reload system.reload's params ask for (defaults filled in; not yet checked).
ReloadRequest to_request(const rpc::SystemReloadParams& params);

class NodeService : public ControlPlaneService {
 public:
  // Handles `"cluster": true` reloads; unset: such reloads are refused (single node).
  using ClusterReload = std::function<ReloadReport(const ReloadRequest& request)>;

  // The parts of a node the service uses, each required; all must outlive the service.
  struct Deps {
    caf::actor_system* system = nullptr;
    caf::actor reload_service;  // reload_atom requests (node/reload_service.h)
    const CodeServer* code_server = nullptr;
    const ActorRegistry* registry = nullptr;
    ActorMaintenance* maintenance = nullptr;  // actors.suspend, actors.resume, replace_state
    Reloader* reloader = nullptr;             // apps, releases, rollback and the history
    const LockService* lock = nullptr;        // system.health's reload_in_progress
  };

  NodeService(Deps deps, std::string node_name);

  void set_cluster_reload(ClusterReload fn) { cluster_reload_ = std::move(fn); }

  // What system.health shows of the cluster: this node's agent address and its live peers.
  struct ClusterView {
    std::string address;                    // "host:port" or ""
    std::vector<std::string> peers;         // "name=host:port", by name
    std::vector<std::string> down_peers;    // known members that are down, "name=host:port"
    std::vector<VersionSkew> version_skew;  // Cluster::version_skew
  };
  // Unset: system.health shows no cluster (clustered = false).
  void set_cluster_view(std::function<ClusterView()> fn) { cluster_view_ = std::move(fn); }

  // Every cluster member's modules, for modules.list with cluster: true. Unset: such a call is
  // refused with invalid_argument (single node).
  void set_cluster_modules(std::function<std::vector<ClusterNodeModules>()> fn) {
    cluster_modules_ = std::move(fn);
  }

  // How long actors.list waits for the statuses of one page (asked of all its actors at once);
  // an actor that has not answered by then is listed as "unresponsive". Set before serving.
  void set_actors_page_deadline(absl::Duration d) { actors_page_deadline_ = d; }

  // The reload this node runs for `params`, as a typed request to its reload service.
  absl::StatusOr<rpc::ReloadReport> reload_local(const rpc::SystemReloadParams& params);

  absl::StatusOr<rpc::ReloadReport> reload(const rpc::SystemReloadParams& params) override;
  absl::StatusOr<rpc::ModulesListResult> list_modules(
      const rpc::ModulesListParams& params) override;
  absl::StatusOr<rpc::ReloadReport> purge_module(const rpc::ModulesPurgeParams& params) override;
  absl::StatusOr<rpc::ActorsListResult> list_actors(const rpc::ActorsListParams& params) override;
  // Each supervisor's children, asked within the actors.list page deadline.
  absl::StatusOr<rpc::SupervisorsListResult> list_supervisors(
      const rpc::SupervisorsListParams& params) override;
  absl::StatusOr<rpc::SystemHealthResult> health(const rpc::SystemHealthParams& params) override;
  absl::StatusOr<rpc::MakePermanentResult> make_permanent(
      const rpc::ReleaseTargetParams& params) override;
  absl::StatusOr<rpc::ReloadReport> rollback(const rpc::ReleaseTargetParams& params) override;
  absl::StatusOr<rpc::ReloadHistoryResult> reload_history(
      const rpc::ReloadHistoryParams& params) override;

  // Who the reload history names for the calls this service serves (e.g. "token:<id>");
  // "control plane" unless set. Set before serving.
  void set_caller(std::string caller) { caller_ = std::move(caller); }

  // One live actor (node_service_actors.cc): through its status request and the node's
  // ActorMaintenance.
  absl::StatusOr<rpc::ActorsStateResult> get_state(const rpc::ActorsGetStateParams& p) override;
  absl::StatusOr<rpc::ActorsStateResult> replace_state(
      const rpc::ActorsReplaceStateParams& p) override;
  absl::StatusOr<rpc::ActorsSuspendResult> suspend(const rpc::ActorsSuspendParams& p) override;
  absl::StatusOr<rpc::ActorsResumeResult> resume(const rpc::ActorsResumeParams& p) override;
  absl::StatusOr<rpc::ActorsStatisticsResult> statistics(
      const rpc::ActorsStatisticsParams& p) override;

 private:
  // The actor `name` names (a registered name, or "#<id>"); kNotFound if there is none.
  absl::StatusOr<ActorEntry> find_actor(const std::string& name) const;
  // Its status, asked within the actors.list page deadline; kNotFound if it is gone.
  absl::StatusOr<ActorStatus> status_of(const ActorEntry& actor) const;
  // Both: the actor `name` names and its status, or the first of their errors.
  struct FoundActor {
    ActorEntry entry;
    ActorStatus status;
  };
  absl::StatusOr<FoundActor> find_with_status(const std::string& name) const;
  // Its state, as actors.get_state and actors.replace_state answer.
  absl::StatusOr<rpc::ActorsStateResult> state_result(const std::string& name,
                                                      const ActorStatus& status) const;

  const Deps deps_;
  const std::string node_name_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  ClusterReload cluster_reload_;
  std::function<ClusterView()> cluster_view_;
  std::function<std::vector<ClusterNodeModules>()> cluster_modules_;
  absl::Duration actors_page_deadline_ = absl::Milliseconds(500);
  std::string caller_ = "control plane";
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_NODE_SERVICE_H_
