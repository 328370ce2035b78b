#include "node/reload_service.h"

#include <utility>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/response_promise.hpp"

namespace lemon {

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
                promise.deliver(r->run(req));
              });
          return promise;
        },
    };
  });
}

}  // namespace lemon
