// Spawning reloadable actors: CAF actors whose behaviour comes from a module version and can be
// swapped while they run (see actors/reload_manager.h).
//
//   auto a = spawn_reloadable(sys, registry, code_server,
//                             {.module = "counter", .name = "counter-1", .init_arg = "0"});
//   caf::anon_send(*a, lemon::add_atom::value, int64_t{5});
//
// The framework handles system messages (actors/system_messages.h) before module handlers. The
// reload manager moves an actor without a message round trip: it *holds* the actor between two
// messages (one atomic operation; the actor is never interrupted inside a handler), migrates its
// state on the manager's own thread, and releases it. While held, ordinary messages are kept in
// arrival order, neither handled nor dropped, and status requests are still answered; after the
// release kept messages run first, in order, on the (possibly new) code. The actor has one CAF
// behaviour for its whole life, so a reload builds no CAF behaviour and sends an actor at most
// one message (a wake-up, only if messages were kept while it was held).
#ifndef LEMON_ACTORS_RELOADABLE_ACTOR_H_
#define LEMON_ACTORS_RELOADABLE_ACTOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/reload_round.h"
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

// What the reload manager sees of one reloadable actor while it moves it to another version.
// Not thread-safe by itself: one manager at a time (the registry's module gate ensures it).
class ReloadTarget {
 public:
  enum class Hold {
    kHeld,      // held: no handler runs until release(); migrate() may be called
    kBusy,      // inside a handler right now: try again
    kDraining,  // held, but continuations of requests made by the old code (ctx.request or CAF's
                // then/await) are still pending: they run (nothing else does); try again
    kNotReady,  // spawned during a reload and not started on a version yet: try again
    kExited,    // the actor is gone (or going): leave it out
  };

  // Takes the actor between two messages, or says why not. Also moves kDraining to kHeld once the
  // last continuation has run. Calling it on a held actor returns kHeld.
  virtual Hold hold() = 0;

  // Held only: builds `next`'s behaviour from the current state (export_state, code_change,
  // handlers) and stages it; the current behaviour and state are untouched. Errors carry
  // ReloadError::kCodeChangeFailed with the module's message.
  virtual absl::Status migrate(const ModuleRef& next, const std::string& extra) = 0;

  // Held or draining only: installs the staged behaviour (`commit`) or drops it, and lets the
  // actor run again. The actor's slot `index` in `round` reports resumed with its pause (held ->
  // running again): right here if nothing was kept meanwhile, else once the actor has taken a
  // wake-up message and is about to run what it kept. An actor that exited while held is cleaned
  // up here and reported gone.
  virtual void release(bool commit, const ReloadRoundPtr& round, std::size_t index) = 0;

 protected:
  ~ReloadTarget() = default;
};

// The reload interface of `actor`, or nullptr if it is not a reloadable actor. Valid as long as
// the caller holds `actor`.
ReloadTarget* reload_target(const caf::actor& actor);

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
