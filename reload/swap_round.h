// One all-or-nothing move of a module's actors to a new version, as ReloadManager runs it on a
// thread of its pool: hold and migrate every actor, commit or abort, release every actor, report.
//
//   RoundOutcome outcome;
//   SwapRound round(next, actors, options, registry, pool, outcome);
//   round.run([&] { return code_server.commit(next); });
//   // outcome.result: status, failures, pauses, timings; outcome.graveyards: for the reaper
//
// How: actors are claimed a group at a time, then one heavy fence and a snapshot of the running
// turns tell which of them still run (ReloadTarget::claim/hold, RunningTurns), and the others are
// migrated on the round's threads; a large round is shared among several threads of the pool. The
// actors that were busy are tried again on the round's own thread until the deadline. `commit`
// runs only if every actor migrated in time and the round was not abandoned; then every actor is
// released, on the new version or the old one with its untouched state.
#ifndef LEMON_RELOAD_SWAP_ROUND_H_
#define LEMON_RELOAD_SWAP_ROUND_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "actors/graveyard.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "actors/resume_tracker.h"
#include "actors/turn_slots.h"
#include "caf/actor.hpp"
#include "core/code_server.h"
#include "core/module_swapper.h"
#include "reload/thread_pool.h"

namespace lemon {

// How far a SwapRound got and what it produced, shared between the thread that runs it and the
// swap() that waits for it. swap() stops waiting if the round has not reached its commit point a
// grace period after its deadline (a code_change that does not return): the round then ends on its
// own, on the old version.
struct RoundOutcome {
  absl::Mutex mu;
  bool decided ABSL_GUARDED_BY(mu) = false;  // past the commit point (committed or not)
  bool done ABSL_GUARDED_BY(mu) = false;     // every actor released, gate closed
  // swap() stopped waiting: never commit. Set under mu (so the commit decision sees it), read
  // without it between two actors.
  std::atomic<bool> abandoned{false};
  std::atomic<caf::actor_id> migrating{0};  // whose code_change runs right now (0: none)
  SwapResult result;
  std::vector<Graveyard> graveyards;  // what the released actors no longer run, for the reaper
};

// Runs one round; one thread at a time (it hands work to the pool's threads itself).
class SwapRound {
 public:
  // Keeps references to every argument until run() returns. outcome.result's module and versions
  // are filled by the caller; run() fills the rest.
  SwapRound(const ModuleRef& next, const std::vector<caf::actor>& actors,
            const SwapOptions& options, const ActorRegistry& registry, ThreadPool& pool,
            RoundOutcome& outcome);
  SwapRound(const SwapRound&) = delete;
  SwapRound& operator=(const SwapRound&) = delete;

  // Runs the round once, phase by phase. Fills outcome.result and outcome.graveyards; sets
  // outcome.decided (under outcome.mu) at the commit point.
  void run(const std::function<absl::Status()>& commit);

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kNone = SIZE_MAX;  // no actor

  // Where each actor stands. kClaimed: claimed, not (yet) known to be held; released like a held
  // actor.
  enum class Mark : uint8_t { kWaiting, kClaimed, kHeld, kDraining, kGone };
  // What claim() leaves to do. kDone: the actor needs no more attempts (not reloadable, or gone);
  // kClaimed: hold it after the next snapshot; kLater: claim it again later (not started on a
  // version yet).
  enum class Claim { kDone, kClaimed, kLater };
  // What one thread found (merged afterwards; the threads never share an actor).
  struct Findings {
    std::vector<std::pair<std::size_t, absl::Status>> failed;  // code_change failures, in order
    std::size_t late = kNone;          // the first actor whose code_change ended past the deadline
    std::vector<std::size_t> waiting;  // not held yet
    Clock::time_point now = Clock::now();  // read once per migrated actor
  };

  // -- The phases, in the order run() calls them --------------------------------------------------

  // Holds and migrates every actor once, on up to workers_ threads of the pool, a group at a time;
  // leaves the failures, the first late actor and the actors still busy in the members below.
  void hold_and_migrate_all();
  // Tries the actors that were busy again, on this thread, until all are migrated, one fails, one
  // is late, the round is abandoned or the deadline passes.
  void retry_busy_until_deadline();
  // Sets result_.status and result_.failures from what the two phases above found.
  void report_failures();
  // The commit point: calls `commit` if every actor migrated in time and the round was not
  // abandoned. True if the new version is current.
  bool commit_or_abort(const std::function<absl::Status()>& commit);
  // Releases every actor held, on the new version (`committed`) or the old one, in chunks on the
  // pool; the behaviours they no longer run go to outcome_.graveyards.
  void release_all(bool committed);
  // The pauses (held -> released) of the actors that resumed, into result_.
  void collect_pauses();

  // -- One actor ----------------------------------------------------------------------------------

  // Claims actor i (ReloadTarget::claim).
  Claim claim(std::size_t i, Findings& f);
  // Actor i was claimed, and `running` was taken since: migrates it if it is held. True once i
  // needs no more attempts.
  bool attempt(std::size_t i, const RunningTurns& running, Findings& f);
  // Whether the round stops trying (an actor was late, or the round was abandoned).
  bool stop(const Findings& f);
  // Claims the actors `visit_each` hands to its callback, runs one heavy fence, then holds and
  // migrates those it claimed; the ones that need another attempt go to `later`. `claimed` is the
  // caller's scratch space.
  template <typename VisitEach>
  void claim_then_hold(Findings& f, std::vector<std::size_t>& claimed,
                       std::vector<std::size_t>& later, VisitEach&& visit_each);
  // hold_and_migrate_all() for actors [begin, end), on one thread.
  void hold_and_migrate_chunk(Findings& f, std::size_t begin, std::size_t end);

  const ModuleRef& next_;
  const std::vector<caf::actor>& actors_;
  const SwapOptions& options_;
  const ActorRegistry& registry_;
  ThreadPool& pool_;
  RoundOutcome& outcome_;
  SwapResult& result_;  // outcome_.result
  const std::size_t n_;
  const Clock::time_point started_;
  const Clock::time_point deadline_;
  const std::size_t workers_;  // threads that share the round's actors
  const std::size_t chunk_;    // actors a thread takes at a time (ThreadPool::for_each_chunk)
  const std::shared_ptr<ResumeTracker> resumes_;  // when each actor resumed, and its pause

  // Per actor, by index in actors_.
  std::vector<Mark> marks_;
  std::vector<ReloadTarget::Hold> last_;  // what the last claim or hold returned
  std::vector<ReloadTarget*> targets_;    // nullptr until looked up, or not reloadable
  std::atomic<bool> too_late_{false};     // some thread found an actor late

  // What hold_and_migrate_all() and retry_busy_until_deadline() found, in actor order.
  std::vector<std::pair<std::size_t, absl::Status>> failed_;
  std::size_t late_ = kNone;
  std::vector<std::size_t> waiting_;
};

}  // namespace lemon

#endif  // LEMON_RELOAD_SWAP_ROUND_H_
