// What supervisor.cc uses to build and take down trees of children: checking a spec, starting a
// child (a worker or a whole subtree), and waiting until a stopped child has left the registry.
// Internal to the supervisor library.
#ifndef LEMON_ACTORS_SUPERVISOR_TREE_H_
#define LEMON_ACTORS_SUPERVISOR_TREE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/registry.h"
#include "actors/supervisor.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"

namespace lemon {

// kInvalidArgument naming the supervisor if `spec` or a nested spec is not one spawn_supervisor
// accepts (supervisor.h).
absl::Status validate(const SupervisorSpec& spec);

// Spawns `child`: a worker with spawn_reloadable, registered with `parent` as its parent, or a
// nested supervisor with spawn_supervisor.
absl::StatusOr<caf::actor> spawn_child(caf::actor_system& sys,
                                       const std::shared_ptr<ActorRegistry>& registry,
                                       const CodeServer& code_server, const ChildSpec& child,
                                       const std::string& parent);

// spawn_supervisor for a supervisor started by the supervisor named `parent` ("" for a root).
absl::StatusOr<caf::actor> spawn_nested_supervisor(caf::actor_system& sys,
                                                   std::shared_ptr<ActorRegistry> registry,
                                                   const CodeServer& code_server,
                                                   SupervisorSpec spec, std::string parent);

// Starts the children of `spec` in order into `started`. If one fails, stops those started (in
// reverse order, waiting until they are gone) and returns its error.
absl::Status start_children(caf::actor_system& sys, const std::shared_ptr<ActorRegistry>& registry,
                            const CodeServer& code_server, const SupervisorSpec& spec,
                            std::vector<caf::actor>& started);

// Waits (bounded) until the child that ran from `child` as actor `id` has left the registry, so
// that starting it again finds its names free: a worker by its id; a supervisor by the registered
// names in its subtree's specs, whose workers may still be stopping (when it was killed).
void await_child_gone(const ActorRegistry& registry, const ChildSpec& child, caf::actor_id id);

}  // namespace lemon

#endif  // LEMON_ACTORS_SUPERVISOR_TREE_H_
