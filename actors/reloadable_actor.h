// Spawning reloadable actors: CAF actors whose behaviour comes from a module version and can be
// swapped while they run (see actors/reload_manager.h).
//
//   auto a = spawn_reloadable(sys, registry, code_server,
//                             {.module = "counter", .name = "counter-1", .init_arg = "0"});
//   caf::anon_send(*a, lemon::add_atom::value, int64_t{5});
//
// The framework handles system messages (actors/system_messages.h) before module handlers. While
// suspended, ordinary messages are kept in arrival order, neither handled nor dropped; on resume
// they run first, in order, on the (possibly new) code. The actor has one CAF behaviour for its
// whole life: suspending, swapping and resuming change which module handlers it dispatches to, so
// a reload builds no CAF behaviour: its cost per actor is two messages and the migration itself.
#ifndef LEMON_ACTORS_RELOADABLE_ACTOR_H_
#define LEMON_ACTORS_RELOADABLE_ACTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "actors/registry.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"

namespace lemon {

struct SpawnSpec {
  std::string module;
  std::string behaviour;  // defaults to the module name
  std::string name;       // registered name, optional
  std::string init_arg;   // passed to the behaviour's create
};

// Spawns an actor running the current version of `spec.module` (or, while that module is being
// reloaded, a deferred actor that starts on whichever version the reload leaves current).
// Errors: kInvalidArgument for an empty `spec.module` or when the behaviour's create fails (with
// the module's message); kNotFound when the module is not loaded or has no such behaviour;
// absl AlreadyExists when `spec.name` is taken.
absl::StatusOr<caf::actor> spawn_reloadable(caf::actor_system& sys,
                                            const std::shared_ptr<ActorRegistry>& registry,
                                            const CodeServer& code_server, SpawnSpec spec);

}  // namespace lemon

#endif  // LEMON_ACTORS_RELOADABLE_ACTOR_H_
