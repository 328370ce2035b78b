// ReloadManager: the ModuleSwapper of core/module_swapper.h on CAF; moves every actor of a module
// to a new version, OTP-style (suspend, change_code, resume), all or nothing.
//
//   ReloadManager manager(sys, registry, code_server);
//   ModuleRef next = code_server.prepare("libcounter_v2.so").value();
//   SwapResult r = manager.swap(next, {.extra = ""});
//   if (!r.status.ok()) { /* every actor still runs the old version with its old state */ }
//
// How (reload/swap_round.h; actors/reloadable_actor.h, ReloadTarget): the manager holds every actor
// of the module between two of its turns (an actor whose turn runs is tried again until the
// deadline; one with continuations of requests pending runs only those until none is left) and, on
// its own thread, migrates its state with the new version's code_change, keeping the old behaviour
// and state untouched. If every actor migrated, it makes the version current in the code server and
// releases every actor on it; at the first failure or at the deadline it releases every actor on
// the old behaviour and state, and the new version is dropped with the caller's last reference.
// Messages that arrived meanwhile were kept and run first, in order; an actor that kept any gets
// one wake-up message, so a reload costs no message at all for an actor that received none. An
// actor that exits during the round stops counting.
// swap() blocks its caller; it is thread-safe, and reloads of different modules may overlap.
#ifndef LEMON_RELOAD_RELOAD_MANAGER_H_
#define LEMON_RELOAD_RELOAD_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "actors/graveyard.h"
#include "actors/registry.h"
#include "caf/fwd.hpp"
#include "core/code_server.h"
#include "core/module_swapper.h"
#include "reload/thread_pool.h"

namespace lemon {

struct RoundOutcome;  // reload/swap_round.h

class ReloadManager : public ModuleSwapper {
 public:
  ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                CodeServer& code_server);
  // Waits up to 10 s for rounds that swap() abandoned (a code_change that did not return) to end.
  ~ReloadManager() override;

  // Makes `next` (from CodeServer::prepare) the current version of its module and moves every
  // actor running that module to it, or leaves everything as it was and reports why.
  SwapResult swap(const ModuleRef& next, const SwapOptions& options) override;

  // Runs the current version's code_change on one actor (OTP's sys:change_code without a new
  // version), e.g. to migrate its state with `extra`; all or nothing for that actor.
  SwapResult change_code(const std::string& actor_name, const SwapOptions& options) override;

  // Takes a snapshot of each actor's state (sys_snapshot, answered between two of its messages:
  // no actor is held) and runs `next`'s code_change on it on a thread of the pool; what that
  // makes is destroyed at once. A code_change still running a grace second past the deadline is
  // left to end on its own and reported as kSuspendTimeout.
  SwapResult preflight(const ModuleRef& next, const SwapOptions& options,
                       std::size_t sample) override;

  // Kills the actors running `version` (hard purge) and waits until they are gone.
  int stop_actors(const ModuleRef& version, absl::Duration timeout) override;

  std::map<std::string, std::size_t> actor_counts() const override;

  // Returns once the behaviours that actors stopped running in the reloads so far are destroyed
  // (they are destroyed on a thread of the manager's, after each reload; their versions stay
  // mapped until then, though they no longer count as in use).
  void await_retired() { reaper_.flush(); }

 private:
  // Runs the round (reload/swap_round.h) on a thread of the pool, so that a
  // code_change that never returns cannot hold the caller: past the deadline (plus a grace
  // second) the round is abandoned and ends on its own, on `before`, when the code_change returns.
  // Closes the module's gate: actors spawned meanwhile start on the winning version.
  void run_guarded(const ModuleRef& next, const ModuleRef& before, std::vector<caf::actor> actors,
                   const SwapOptions& options, SwapResult& result);

  // Stops waiting for `outcome`, whose round is past its deadline and not decided: keeps it until
  // it ends, and reports in `result` that the reload is abandoned.
  void abandon(std::shared_ptr<RoundOutcome> outcome, const SwapOptions& options,
               SwapResult& result);

  struct Abandoned;  // a round whose swap() stopped waiting, still running (reload_manager.cc)

  caf::actor_system& sys_;
  std::shared_ptr<ActorRegistry> registry_;
  CodeServer& code_server_;
  Reaper reaper_;  // destroys the behaviours the actors no longer run, after each round
  // Runs the rounds, and shares each round's actors among its threads (reload/thread_pool.h).
  std::shared_ptr<ThreadPool> pool_;
  absl::Mutex abandoned_mu_;
  std::vector<std::unique_ptr<Abandoned>> abandoned_ ABSL_GUARDED_BY(abandoned_mu_);
};

}  // namespace lemon

#endif  // LEMON_RELOAD_RELOAD_MANAGER_H_
