#include "control_plane/methods.h"

#include "absl/strings/str_cat.h"
#include "control_plane/openrpc.h"
#include "core/reload_error.h"
#include "core/reload_request.h"

namespace lemon {
namespace {

absl::Status invalid(const std::string& message) {
  return reload_status(ReloadError::kInvalidArgument, message);
}

// Registers `method`, whose params name one actor: refused without a name, else `call(params)`.
template <typename Params, typename Call>
void register_named(JsonRpcDispatcher& dispatcher, const std::string& method, Call call) {
  dispatcher.register_typed_method<Params>(method, [call](const Params& p) -> decltype(call(p)) {
    if (p.name().empty()) return invalid("name is required");
    return call(p);
  });
}

// The handler that passes a method's params on to `call` of `service`.
template <typename Params, typename Result>
auto forward_to(ControlPlaneService& service,
                absl::StatusOr<Result> (ControlPlaneService::*call)(const Params&)) {
  return [&service, call](const Params& p) { return (service.*call)(p); };
}

// actors.get_state, actors.replace_state, actors.suspend, actors.resume, actors.statistics.
void register_actor_methods(JsonRpcDispatcher& dispatcher, ControlPlaneService& service) {
  register_named<rpc::ActorsGetStateParams>(dispatcher, "actors.get_state",
                                            forward_to(service, &ControlPlaneService::get_state));
  register_named<rpc::ActorsReplaceStateParams>(
      dispatcher, "actors.replace_state", forward_to(service, &ControlPlaneService::replace_state));
  register_named<rpc::ActorsSuspendParams>(
      dispatcher, "actors.suspend",
      [&service](const rpc::ActorsSuspendParams& p) -> absl::StatusOr<rpc::ActorsSuspendResult> {
        if (p.timeout_ms() > kActorsSuspendMaxMs) {
          return invalid(absl::StrCat("timeout_ms is ", p.timeout_ms(), "; the maximum is ",
                                      kActorsSuspendMaxMs));
        }
        return service.suspend(p);
      });
  register_named<rpc::ActorsResumeParams>(dispatcher, "actors.resume",
                                          forward_to(service, &ControlPlaneService::resume));
  register_named<rpc::ActorsStatisticsParams>(
      dispatcher, "actors.statistics", forward_to(service, &ControlPlaneService::statistics));
}

}  // namespace

absl::Status normalize_reload_params(rpc::SystemReloadParams& params) {
  if (absl::Status s = check_reload_timeouts(params.timeout_ms(), params.lock_timeout_ms());
      !s.ok()) {
    return s;
  }
  const bool has_module = !params.module().empty();
  const bool has_app = !params.app().empty();
  const bool has_path = !params.path().empty();
  const bool has_lists = params.modules_size() > 0 || params.apps_size() > 0 ||
                         params.extensions_size() > 0 || params.code_change_size() > 0;
  for (const rpc::CodeChangeTarget& target : params.code_change()) {
    if (target.actor().empty()) return invalid("code_change targets need an actor");
  }
  if (params.scope().empty()) {
    const int singles = int{has_module} + int{has_app} + int{has_path};
    if (singles > 1) {
      return invalid("give only one of module, app and path, or a scope with the lists");
    }
    params.set_scope(has_module ? "module" : has_app ? "app" : has_path ? "extension" : "all");
  }
  const std::string& scope = params.scope();
  if (scope != "module" && scope != "app" && scope != "extension" && scope != "all") {
    return invalid(
        absl::StrCat("scope must be one of module, app, extension, all; got \"", scope, "\""));
  }
  if (scope == "all") {
    if (has_module || has_app || has_path) {
      return invalid("scope all takes the lists modules, apps, extensions, not module, app, path");
    }
    return absl::OkStatus();
  }
  if (has_lists) {
    return invalid(absl::StrCat(
        "the lists modules, apps, extensions, code_change go with scope all, not ", scope));
  }
  struct Need {
    const char* scope;
    const char* field;
    bool present;
  };
  for (const Need& need : {Need{"module", "module", has_module}, Need{"app", "app", has_app},
                           Need{"extension", "path", has_path}}) {
    if (scope == need.scope && !need.present) {
      return invalid(absl::StrCat("scope ", need.scope, " needs ", need.field));
    }
    if (scope != need.scope && need.present) {
      return invalid(absl::StrCat(need.field, " does not go with scope ", scope));
    }
  }
  return absl::OkStatus();
}

void register_control_plane_methods(JsonRpcDispatcher& dispatcher, ControlPlaneService& service) {
  dispatcher.register_typed_method<rpc::SystemReloadParams>(
      "system.reload",
      [&service](const rpc::SystemReloadParams& params) -> absl::StatusOr<rpc::ReloadReport> {
        rpc::SystemReloadParams normalized = params;
        if (absl::Status s = normalize_reload_params(normalized); !s.ok()) return s;
        return service.reload(normalized);
      });
  dispatcher.register_typed_method<rpc::ModulesListParams>(
      "modules.list", forward_to(service, &ControlPlaneService::list_modules));
  dispatcher.register_typed_method<rpc::ModulesPurgeParams>(
      "modules.purge",
      [&service](const rpc::ModulesPurgeParams& params) -> absl::StatusOr<rpc::ReloadReport> {
        if (params.module().empty()) return invalid("module is required");
        return service.purge_module(params);
      });
  dispatcher.register_typed_method<rpc::ActorsListParams>(
      "actors.list",
      [&service](const rpc::ActorsListParams& params) -> absl::StatusOr<rpc::ActorsListResult> {
        if (params.limit() > kActorsListMaxLimit) {
          return invalid(
              absl::StrCat("limit is ", params.limit(), "; the maximum is ", kActorsListMaxLimit));
        }
        rpc::ActorsListParams normalized = params;
        if (normalized.limit() == 0) normalized.set_limit(kActorsListDefaultLimit);
        return service.list_actors(normalized);
      });
  dispatcher.register_typed_method<rpc::SystemHealthParams>(
      "system.health", forward_to(service, &ControlPlaneService::health));
  dispatcher.register_typed_method<rpc::SupervisorsListParams>(
      "supervisors.list", forward_to(service, &ControlPlaneService::list_supervisors));
  register_actor_methods(dispatcher, service);
  register_release_methods(dispatcher, service);
  register_rpc_discover(dispatcher);
}

void register_release_methods(JsonRpcDispatcher& dispatcher, ControlPlaneService& service) {
  auto one_target = [](const rpc::ReleaseTargetParams& p) -> absl::Status {
    if (p.module().empty() == p.app().empty()) return invalid("give one of module and app");
    return check_reload_timeouts(p.timeout_ms(), 0);
  };
  dispatcher.register_typed_method<rpc::ReleaseTargetParams>(
      "system.make_permanent",
      [&service, one_target](
          const rpc::ReleaseTargetParams& params) -> absl::StatusOr<rpc::MakePermanentResult> {
        if (absl::Status s = one_target(params); !s.ok()) return s;
        return service.make_permanent(params);
      });
  dispatcher.register_typed_method<rpc::ReleaseTargetParams>(
      "system.rollback",
      [&service,
       one_target](const rpc::ReleaseTargetParams& params) -> absl::StatusOr<rpc::ReloadReport> {
        if (absl::Status s = one_target(params); !s.ok()) return s;
        return service.rollback(params);
      });
  dispatcher.register_typed_method<rpc::ReloadHistoryParams>(
      "reload.history",
      [&service](
          const rpc::ReloadHistoryParams& params) -> absl::StatusOr<rpc::ReloadHistoryResult> {
        if (params.limit() > kReloadHistoryMaxLimit) {
          return invalid(absl::StrCat("limit is ", params.limit(), "; the maximum is ",
                                      kReloadHistoryMaxLimit));
        }
        rpc::ReloadHistoryParams normalized = params;
        if (normalized.limit() == 0) normalized.set_limit(kReloadHistoryDefaultLimit);
        return service.reload_history(normalized);
      });
}

}  // namespace lemon
