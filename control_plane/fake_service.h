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

  // The one-actor methods answer these, whatever the params.
  absl::StatusOr<rpc::ActorsStateResult> state_result = rpc::ActorsStateResult();
  absl::StatusOr<rpc::ActorsSuspendResult> suspend_result = rpc::ActorsSuspendResult();
  absl::StatusOr<rpc::ActorsResumeResult> resume_result = rpc::ActorsResumeResult();
  absl::StatusOr<rpc::ActorsStatisticsResult> statistics_result = rpc::ActorsStatisticsResult();

  absl::StatusOr<rpc::ActorsStateResult> get_state(const rpc::ActorsGetStateParams&) override {
    return state_result;
  }
  absl::StatusOr<rpc::ActorsStateResult> replace_state(
      const rpc::ActorsReplaceStateParams&) override {
    return state_result;
  }
  absl::StatusOr<rpc::ActorsSuspendResult> suspend(const rpc::ActorsSuspendParams&) override {
    return suspend_result;
  }
  absl::StatusOr<rpc::ActorsResumeResult> resume(const rpc::ActorsResumeParams&) override {
    return resume_result;
  }
  absl::StatusOr<rpc::ActorsStatisticsResult> statistics(
      const rpc::ActorsStatisticsParams&) override {
    return statistics_result;
  }
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_FAKE_SERVICE_H_
