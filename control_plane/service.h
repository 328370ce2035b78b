// The control plane's operations as one abstract interface: one method per JSON-RPC method, typed
// with the messages of rpc.proto. The JSON-RPC layer (methods.h) calls it; the node implements it
// on top of the reload manager, tests with a fake.
//
//   class MyService : public lemon::ControlPlaneService { ... };
//   MyService service;
//   lemon::JsonRpcDispatcher dispatcher;
//   lemon::register_control_plane_methods(dispatcher, service);
#ifndef LEMON_CONTROL_PLANE_SERVICE_H_
#define LEMON_CONTROL_PLANE_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "control_plane/rpc.pb.h"

namespace lemon {

// Implementations are called from several HTTP threads at once and must be thread-safe. An error
// status should carry a ReloadError (core/reload_error.h) so that clients get a precise code; a
// reload that ran but failed is the error reload_outcome (report_proto.h) makes of its report.
class ControlPlaneService {
 public:
  virtual ~ControlPlaneService() = default;

  // system.reload; params are already validated and normalized (scope is never empty).
  virtual absl::StatusOr<rpc::ReloadReport> reload(const rpc::SystemReloadParams& params) = 0;

  // modules.list
  virtual absl::StatusOr<rpc::ModulesListResult> list_modules(
      const rpc::ModulesListParams& params) = 0;

  // modules.purge; returns a report of kind "purge".
  virtual absl::StatusOr<rpc::ReloadReport> purge_module(const rpc::ModulesPurgeParams& params) = 0;

  // actors.list; params are validated (limit is 1..kActorsListMaxLimit of methods.h).
  virtual absl::StatusOr<rpc::ActorsListResult> list_actors(
      const rpc::ActorsListParams& params) = 0;

  // system.health
  virtual absl::StatusOr<rpc::SystemHealthResult> health(const rpc::SystemHealthParams& params) = 0;

  // One live actor (params checked: name not empty, timeout_ms within bounds).
  virtual absl::StatusOr<rpc::ActorsStateResult> get_state(const rpc::ActorsGetStateParams& p) = 0;
  virtual absl::StatusOr<rpc::ActorsStateResult> replace_state(
      const rpc::ActorsReplaceStateParams& p) = 0;
  virtual absl::StatusOr<rpc::ActorsSuspendResult> suspend(const rpc::ActorsSuspendParams& p) = 0;
  virtual absl::StatusOr<rpc::ActorsResumeResult> resume(const rpc::ActorsResumeParams& p) = 0;
  virtual absl::StatusOr<rpc::ActorsStatisticsResult> statistics(
      const rpc::ActorsStatisticsParams& p) = 0;

  // supervisors.list. A service without supervisors refuses it.
  virtual absl::StatusOr<rpc::SupervisorsListResult> list_supervisors(
      const rpc::SupervisorsListParams&) {
    return not_served("supervisors.list");
  }

  // system.make_permanent, system.rollback (a report of kind module or app) and reload.history;
  // params are validated (one of module and app; limit 1..kReloadHistoryMaxLimit). A service
  // without a release record refuses them.
  virtual absl::StatusOr<rpc::MakePermanentResult> make_permanent(const rpc::ReleaseTargetParams&) {
    return not_served("system.make_permanent");
  }
  virtual absl::StatusOr<rpc::ReloadReport> rollback(const rpc::ReleaseTargetParams&) {
    return not_served("system.rollback");
  }
  virtual absl::StatusOr<rpc::ReloadHistoryResult> reload_history(const rpc::ReloadHistoryParams&) {
    return not_served("reload.history");
  }

 protected:
  // The refusal of `method`, which this service does not serve.
  static absl::Status not_served(const std::string& method) {
    return absl::UnimplementedError(method + " is not served here");
  }
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_SERVICE_H_
