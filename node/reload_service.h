// The reload manager's CAF interface: the reload operations as typed messages, so that a C++
// program in the same process, or a remote CAF node, triggers exactly what the control plane does.
//
//   caf::actor svc = runtime.reload_service();
//   self->request(svc, caf::infinite, reload_atom::value,
//   ReloadRequest::module("counter")).receive(
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
#include "core/reload_request.h"
#include "core/reloader.h"

namespace lemon {

using reload_atom = caf::atom_constant<caf::atom("lreload")>;

// Registers ReloadRequest and ReloadReport (they cross the network); call before the actor system
// is created.
void add_reload_message_types(caf::actor_system_config& cfg);

// Spawns the service for `reloader`, which must outlive the actor system.
caf::actor spawn_reload_service(caf::actor_system& sys, Reloader& reloader);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CodeChangeTarget& x) {
  return f(caf::meta::type_name("lemon.CodeChangeTarget"), x.actor, x.extra);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReloadSelection& x) {
  return f(caf::meta::type_name("lemon.ReloadSelection"), x.modules, x.apps, x.extensions,
           x.code_changes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReloadRequest& x) {
  return f(caf::meta::type_name("lemon.ReloadRequest"), x.op, x.target, x.selection, x.extra,
           x.timeout_ms, x.lock_timeout_ms, x.force, x.owner, x.requested_by, x.dry_run, x.sample,
           x.permanent, x.cluster_seq);
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
           x.skipped, x.errors, x.duration_ms, x.lock_token, x.rolled_back, x.metadata, x.results);
}

}  // namespace lemon

#endif  // LEMON_NODE_RELOAD_SERVICE_H_
