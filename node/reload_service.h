// The reload manager's CAF interface: the reload operations as typed messages, so that a C++
// program in the same process, or a remote CAF node, triggers exactly what the control plane does.
//
//   caf::actor svc = runtime.reload_service();
//   ReloadRequest req;
//   req.kind = "module";
//   req.target = "counter";
//   self->request(svc, caf::infinite, reload_atom::value, req).receive(
//       [](const ReloadReport& r) { ... }, [](caf::error&) { ... });
//
// Each request runs on its own thread (a detached worker), so requests wait for each other only
// through the reload lock, with their own lock deadline, as direct calls to the Reloader do.
// ReloadRequest and ReloadReport are registered message types: they cross the network.
#ifndef LEMON_NODE_RELOAD_SERVICE_H_
#define LEMON_NODE_RELOAD_SERVICE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "caf/meta/type_name.hpp"
#include "core/reload_report.h"
#include "core/reloader.h"

namespace lemon {

using reload_atom = caf::atom_constant<caf::atom("lreload")>;

// One reload operation. `kind`: "module", "extension", "app", "all" (system), "selection" (the
// listed modules, apps and extensions, as Reloader::reload_selection), "code_change" (target =
// actor name, with `extra`), "purge" (soft), "hard_purge".
struct ReloadRequest {
  std::string kind = "all";
  std::string target;  // module or app name, or extension path
  std::vector<std::string> modules;
  std::vector<std::string> apps;
  std::vector<std::string> extensions;
  std::vector<std::string> code_change_actors;  // explicit code_change targets ("selection")
  std::vector<std::string> code_change_extras;  // one per actor ("" = `extra`)
  std::string extra;
  uint32_t timeout_ms = 10000;       // at most kMaxReloadTimeoutMs
  uint32_t lock_timeout_ms = 30000;  // at most kMaxLockTimeoutMs
  bool force = false;
  std::string owner = "caf";
};

// Runs `request` on `reloader` (what the service's workers do). An unknown kind, or a deadline over
// its maximum (core/reload_limits.h), is an error report (invalid_argument) and runs nothing.
ReloadReport execute(Reloader& reloader, const ReloadRequest& request);

// Registers ReloadRequest and ReloadReport (they cross the network); call before the actor system
// is created.
void add_reload_message_types(caf::actor_system_config& cfg);

// Spawns the service for `reloader`, which must outlive the actor system.
caf::actor spawn_reload_service(caf::actor_system& sys, Reloader& reloader);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReloadRequest& x) {
  return f(caf::meta::type_name("lemon.ReloadRequest"), x.kind, x.target, x.modules, x.apps,
           x.extensions, x.code_change_actors, x.code_change_extras, x.extra, x.timeout_ms,
           x.lock_timeout_ms, x.force, x.owner);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Diagnostic& x) {
  return f(caf::meta::type_name("lemon.Diagnostic"), x.file, x.line, x.column, x.severity,
           x.message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SkippedItem& x) {
  return f(caf::meta::type_name("lemon.SkippedItem"), x.target, x.reason, x.message);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ErrorItem& x) {
  return f(caf::meta::type_name("lemon.ErrorItem"), x.target, x.reason, x.message, x.diagnostics);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReloadReport& x) {
  return f(caf::meta::type_name("lemon.ReloadReport"), x.kind, x.target, x.status, x.reloaded,
           x.skipped, x.errors, x.duration_ms, x.metadata, x.results);
}

}  // namespace lemon

#endif  // LEMON_NODE_RELOAD_SERVICE_H_
