// A scriptable ControlPlaneService for tests: returns canned results or errors and records the
// params it was called with.
//
//   lemon::FakeService service;
//   service.reload_result = lemon::reload_status(lemon::ReloadError::kReloadInProgress, "busy");
//   lemon::register_control_plane_methods(dispatcher, service);
#ifndef LEMON_CONTROL_PLANE_FAKE_SERVICE_H_
#define LEMON_CONTROL_PLANE_FAKE_SERVICE_H_

#include <map>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "control_plane/service.h"

namespace lemon {

// Set the results before serving; the recorded params are guarded by mu.
class FakeService : public ControlPlaneService {
 public:
  absl::StatusOr<rpc::ReloadReport> reload_result = rpc::ReloadReport();
  absl::StatusOr<rpc::ModulesListResult> modules_result = rpc::ModulesListResult();
  absl::StatusOr<rpc::ReloadReport> purge_result = rpc::ReloadReport();
  absl::StatusOr<rpc::ActorsListResult> actors_result = rpc::ActorsListResult();
  // When not empty, actors.list answers the page stored under the params' cursor instead.
  std::map<std::string, rpc::ActorsListResult> actors_pages;
  absl::StatusOr<rpc::SystemHealthResult> health_result = rpc::SystemHealthResult();

  absl::Mutex mu;
  std::optional<rpc::SystemReloadParams> last_reload ABSL_GUARDED_BY(mu);
  std::optional<rpc::ModulesListParams> last_modules ABSL_GUARDED_BY(mu);
  std::optional<rpc::ModulesPurgeParams> last_purge ABSL_GUARDED_BY(mu);
  std::optional<rpc::ActorsListParams> last_actors ABSL_GUARDED_BY(mu);

  absl::StatusOr<rpc::ReloadReport> reload(const rpc::SystemReloadParams& params) override {
    absl::MutexLock lock(&mu);
    last_reload = params;
    return reload_result;
  }
  absl::StatusOr<rpc::ModulesListResult> list_modules(
      const rpc::ModulesListParams& params) override {
    absl::MutexLock lock(&mu);
    last_modules = params;
    return modules_result;
  }
  absl::StatusOr<rpc::ReloadReport> purge_module(const rpc::ModulesPurgeParams& params) override {
    absl::MutexLock lock(&mu);
    last_purge = params;
    return purge_result;
  }
  absl::StatusOr<rpc::ActorsListResult> list_actors(const rpc::ActorsListParams& params) override {
    absl::MutexLock lock(&mu);
    last_actors = params;
    if (actors_pages.empty()) return actors_result;
    auto page = actors_pages.find(params.cursor());
    if (page == actors_pages.end()) return absl::InvalidArgumentError("unknown cursor");
    return page->second;
  }
  absl::StatusOr<rpc::SystemHealthResult> health(const rpc::SystemHealthParams&) override {
    return health_result;
  }

  // The one-actor and release methods answer these, whatever the params.
  absl::StatusOr<rpc::ActorsStateResult> state_result = rpc::ActorsStateResult();
  absl::StatusOr<rpc::ActorsSuspendResult> suspend_result = rpc::ActorsSuspendResult();
  absl::StatusOr<rpc::ActorsResumeResult> resume_result = rpc::ActorsResumeResult();
  absl::StatusOr<rpc::ActorsStatisticsResult> statistics_result = rpc::ActorsStatisticsResult();
  absl::StatusOr<rpc::MakePermanentResult> make_permanent_result = rpc::MakePermanentResult();
  absl::StatusOr<rpc::ReloadReport> rollback_result = rpc::ReloadReport();
  absl::StatusOr<rpc::ReloadHistoryResult> history_result = rpc::ReloadHistoryResult();
  absl::StatusOr<rpc::SupervisorsListResult> supervisors_result = rpc::SupervisorsListResult();

  // The name of the last call of these methods ("actors.suspend", ...) and its params.
  std::string last_method ABSL_GUARDED_BY(mu);
  std::string last_params ABSL_GUARDED_BY(mu);  // ShortDebugString: `name: "counter-1"`
  std::optional<rpc::ActorsReplaceStateParams> last_replace_state ABSL_GUARDED_BY(mu);

  absl::StatusOr<rpc::ActorsStateResult> get_state(const rpc::ActorsGetStateParams& p) override {
    record("actors.get_state", p);
    return state_result;
  }
  absl::StatusOr<rpc::ActorsStateResult> replace_state(
      const rpc::ActorsReplaceStateParams& p) override {
    record("actors.replace_state", p);
    absl::MutexLock lock(&mu);
    last_replace_state = p;
    return state_result;
  }
  absl::StatusOr<rpc::ActorsSuspendResult> suspend(const rpc::ActorsSuspendParams& p) override {
    record("actors.suspend", p);
    return suspend_result;
  }
  absl::StatusOr<rpc::ActorsResumeResult> resume(const rpc::ActorsResumeParams& p) override {
    record("actors.resume", p);
    return resume_result;
  }
  absl::StatusOr<rpc::ActorsStatisticsResult> statistics(
      const rpc::ActorsStatisticsParams& p) override {
    record("actors.statistics", p);
    return statistics_result;
  }
  absl::StatusOr<rpc::SupervisorsListResult> list_supervisors(
      const rpc::SupervisorsListParams& p) override {
    record("supervisors.list", p);
    return supervisors_result;
  }
  absl::StatusOr<rpc::MakePermanentResult> make_permanent(
      const rpc::ReleaseTargetParams& p) override {
    record("system.make_permanent", p);
    return make_permanent_result;
  }
  absl::StatusOr<rpc::ReloadReport> rollback(const rpc::ReleaseTargetParams& p) override {
    record("system.rollback", p);
    return rollback_result;
  }
  absl::StatusOr<rpc::ReloadHistoryResult> reload_history(
      const rpc::ReloadHistoryParams& p) override {
    record("reload.history", p);
    return history_result;
  }

 private:
  void record(const std::string& method, const google::protobuf::Message& params) {
    absl::MutexLock lock(&mu);
    last_method = method;
    last_params = params.ShortDebugString();
  }
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_FAKE_SERVICE_H_
