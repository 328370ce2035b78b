// The actor registry: which reloadable actors exist, their names, and which module each runs.
//
//   auto reg = std::make_shared<ActorRegistry>();
//   caf::actor a = reg->whereis("counter-1");
//   std::vector<caf::actor> on_counter = reg->actors_of("counter");
//
// It also holds the reload gate of each module: while a module is being reloaded, actors spawned
// for it are admitted as *deferred* (they start suspended, without a version) and are handed the
// version that won when the reload ends, so no actor is ever left on a version being discarded.
// Thread-safe; touched on spawn, exit and reload only, never on message delivery.
#ifndef LEMON_ACTORS_REGISTRY_H_
#define LEMON_ACTORS_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "caf/actor.hpp"

namespace lemon {

struct ActorEntry {
  caf::actor handle;
  std::string name;  // may be empty
  std::string module;
  std::string behaviour;
  // Who started it: a supervisor's name, or the actor that spawned it; "" for none.
  std::string parent;
};

// A running supervisor (actors/supervisor.h). Supervisors belong to no module: they are listed
// apart from the actors (supervisors()), so that reloads, counts and actors_of never see them.
struct SupervisorEntry {
  caf::actor handle;
  std::string name;
  std::string parent;    // the supervisor that started it; "" for a root
  std::string strategy;  // for display: "one_for_one", "one_for_all", ...
  int intensity = 0;
  absl::Duration period;
};

class ActorRegistry {
 public:
  // Called with the modules whose number of actors changed and their counts now (0 when the last
  // one exited), after a spawn or an exit, outside the registry lock. Calls never overlap and each
  // reads the counts when it runs, so the last call tells the truth; changes made while one call
  // runs are coalesced into the next.
  using CountsHook = std::function<void(const std::map<std::string, std::size_t>& counts)>;

  // Installs (or, with an empty hook, removes) the counts hook. Once it returns, the previous hook
  // is not running and will not be called again. The hook must not call set_counts_hook, nor
  // spawn or unregister actors of this registry.
  void set_counts_hook(CountsHook hook);

  // Spawns through `spawn(deferred)` under the registry lock and registers the result with its
  // `parent` (ActorEntry::parent); `deferred` is true while `module` is being reloaded. If `name`
  // is taken: AlreadyExists carrying ReloadError::kInvalidArgument (core/reload_error.h).
  absl::StatusOr<caf::actor> spawn_registered(
      const std::string& module, const std::string& behaviour, const std::string& name,
      const std::string& parent,
      const std::function<absl::StatusOr<caf::actor>(bool deferred)>& spawn);

  // Forgets an actor (called when it exits).
  void unregister(caf::actor_id id);

  caf::actor whereis(const std::string& name) const;
  std::vector<caf::actor> actors_of(const std::string& module) const;
  std::vector<ActorEntry> list() const;  // by actor id
  // Sends every registered actor an exit (user_shutdown); does not wait for them to go.
  void stop_all() const;

  // A slice of list(): at most `limit` actors with ids above `after` (0: from the start), of
  // `module` only unless it is empty; `more` when further actors match.
  struct Page {
    std::vector<ActorEntry> actors;
    bool more = false;
  };
  Page page(caf::actor_id after, std::size_t limit, const std::string& module) const;
  std::size_t count(const std::string& module) const;
  std::map<std::string, std::size_t> counts() const;  // module -> actors

  // Starts a reload of `module`: returns the actors running it now; spawns from here on are
  // deferred. FailedPrecondition if a reload of `module` is already open.
  absl::StatusOr<std::vector<caf::actor>> open_gate(const std::string& module);

  // Ends the reload of `module`: returns the actors admitted as deferred meanwhile.
  std::vector<caf::actor> close_gate(const std::string& module);

  bool gate_open(const std::string& module) const;

  std::string name_of(caf::actor_id id) const;  // "" if unnamed or unknown

  // -- Maintenance holds (actors/maintenance.h) ----------------------------------------------

  // Marks actor `id` as held for maintenance (suspended, or having its state replaced): until
  // unmark_held, open_gate refuses its module, so no reload touches the actor meanwhile.
  // NotFound if it is not registered, FailedPrecondition while a reload of its module runs.
  // Marking an actor marked already is not an error.
  absl::Status mark_held(caf::actor_id id);
  void unmark_held(caf::actor_id id);

  // -- Supervisors ----------------------------------------------------------------------------

  // A supervisor started (called on its own thread before it handles anything) and stopped.
  void register_supervisor(SupervisorEntry entry);
  void unregister_supervisor(caf::actor_id id);
  std::vector<SupervisorEntry> supervisors() const;  // by actor id

  // -- Restarts, per registered name (actors.statistics) --------------------------------------

  // A supervisor started its child registered as `name` again.
  void count_restart(const std::string& name);
  uint64_t restarts(const std::string& name) const;

  // Blocks until actor `id` is unregistered, or `timeout` passes; returns whether it was.
  bool await_gone(caf::actor_id id, absl::Duration timeout) const;

  // Blocks until no actor is registered as `name`, or `timeout` passes; returns whether none is.
  bool await_name_free(const std::string& name, absl::Duration timeout) const;

  // Blocks until `module` has exactly `n` actors, or `timeout` passes; returns whether it did.
  bool await_count(const std::string& module, std::size_t n, absl::Duration timeout) const;

  // Blocks until a reload of `module` is (or is not) running, or `timeout` passes.
  bool await_gate(const std::string& module, bool open, absl::Duration timeout) const;

 private:
  // Reports the modules marked in dirty_ to the counts hook.
  void report_counts();

  void drop_held(const std::string& module, caf::actor_id id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string name_or_id(caf::actor_id id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Serializes the counts hook's calls; taken before mu_, never inside it.
  absl::Mutex hook_mu_;
  CountsHook hook_ ABSL_GUARDED_BY(hook_mu_);
  mutable absl::Mutex mu_;
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);  // modules whose count the hook has not seen
  bool hooked_ ABSL_GUARDED_BY(mu_) = false;
  std::map<caf::actor_id, ActorEntry> actors_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, caf::actor_id> names_ ABSL_GUARDED_BY(mu_);
  // The actors of one module, as handles ready to copy (a reload of 100,000 actors takes its
  // snapshot without one lookup per actor); removal swaps the last one into the hole.
  struct ModuleActors {
    std::vector<caf::actor> handles;
    std::unordered_map<caf::actor_id, std::size_t> index;  // id -> position in handles
    std::size_t size() const { return handles.size(); }
    bool empty() const { return handles.empty(); }
    void insert(const caf::actor& a);
    caf::actor erase(caf::actor_id id);  // returns the handle, to be dropped outside the lock
  };
  std::map<std::string, ModuleActors> by_module_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<caf::actor>> gates_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::set<caf::actor_id>> held_ ABSL_GUARDED_BY(mu_);  // by module
  std::map<std::string, uint64_t> restarts_ ABSL_GUARDED_BY(mu_);             // by name
  std::map<caf::actor_id, SupervisorEntry> supervisors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lemon

#endif  // LEMON_ACTORS_REGISTRY_H_
