#include "node/reload_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/response_promise.hpp"
#include "core/reload_error.h"
#include "core/reload_limits.h"

namespace lemon {

namespace {

// The report for a request refused before anything ran.
ReloadReport refused(const ReloadRequest& req, const absl::Status& why) {
  ReloadReport r = ReloadReport::begin(ReloadKind::kSystem, req.target);
  r.add_error(req.kind, why);
  r.finish();
  return r;
}

}  // namespace

ReloadReport execute(Reloader& reloader, const ReloadRequest& req) {
  // Requests also arrive from remote CAF programs, past the control plane's checks.
  if (absl::Status s = check_reload_timeouts(req.timeout_ms, req.lock_timeout_ms); !s.ok()) {
    return refused(req, s);
  }
  ReloadOptions o;
  o.force = req.force;
  o.timeout = absl::Milliseconds(req.timeout_ms);
  o.lock_timeout = absl::Milliseconds(req.lock_timeout_ms);
  o.extra = req.extra;
  o.owner = req.owner;
  if (req.kind == "module") return reloader.reload_module(req.target, o);
  if (req.kind == "extension") return reloader.reload_extension(req.target, o);
  if (req.kind == "app") return reloader.reload_app(req.target, o);
  if (req.kind == "all") return reloader.reload_system(o);
  if (req.kind == "selection") {
    ReloadSelection selection{req.modules, req.apps, req.extensions, {}};
    for (size_t i = 0; i < req.code_change_actors.size(); ++i) {
      selection.code_changes.push_back({req.code_change_actors[i], i < req.code_change_extras.size()
                                                                       ? req.code_change_extras[i]
                                                                       : std::string()});
    }
    return reloader.reload_selection(selection, o);
  }
  if (req.kind == "code_change") return reloader.code_change({req.target, req.extra}, o);
  if (req.kind == "purge") return reloader.soft_purge_module(req.target, o);
  if (req.kind == "hard_purge") return reloader.purge_module(req.target, o);
  return refused(req, reload_status(ReloadError::kInvalidArgument,
                                    absl::StrCat("unknown reload kind '", req.kind, "'")));
}

void add_reload_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<ReloadRequest>("lemon.ReloadRequest");
  cfg.add_message_type<ReloadReport>("lemon.ReloadReport");
  cfg.add_message_type<std::vector<ReloadReport>>("lemon.ReloadReports");
}

caf::actor spawn_reload_service(caf::actor_system& sys, Reloader& reloader) {
  Reloader* r = &reloader;
  return sys.spawn([r](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](reload_atom, ReloadRequest& req) -> caf::result<ReloadReport> {
          auto promise = self->make_response_promise<ReloadReport>();
          self->spawn<caf::detached>(
              [r, promise, req = std::move(req)](caf::blocking_actor*) mutable {
                promise.deliver(execute(*r, req));
              });
          return promise;
        },
    };
  });
}

}  // namespace lemon
