// Spawning reloadable actors: CAF actors whose behaviour comes from a module version and can be
// swapped while they run (see reload/reload_manager.h).
//
//   auto a = spawn_reloadable(sys, registry, code_server,
//                             {.module = "counter", .name = "counter-1", .init_arg = "0"});
//   caf::anon_send(*a, lemon::add_atom::value, int64_t{5});
//
// The framework handles system messages (actors/system_messages.h): while the actor may run, after
// its module's handlers found no match (in CAF's default handler, which the framework owns); while
// it is held, instead of them. The reload manager moves an actor without a message round trip: it
// *holds* the actor between two of its turns (a claim and a fence shared by many actors; the actor
// is never interrupted inside a turn and pays no flag, fence or locked instruction per message,
// only a compiler barrier per turn), migrates its state on the manager's own thread, and releases
// it. While held, ordinary messages are kept in arrival order, neither handled nor dropped, and
// status requests are still answered; after the release kept messages run first, in order, on the
// (possibly new) code. The actor has one CAF behaviour for its whole life, so a reload builds no
// CAF behaviour and sends an actor at most one message (a wake-up, only if messages were kept while
// it was held).
#ifndef LEMON_ACTORS_RELOADABLE_ACTOR_H_
#define LEMON_ACTORS_RELOADABLE_ACTOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/front_of_queue.h"
#include "actors/graveyard.h"
#include "actors/registry.h"
#include "actors/resume_tracker.h"
#include "actors/turn_slots.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"

namespace lemon {

struct SpawnSpec {
  std::string module;
  std::string behaviour;  // defaults to the module name
  std::string name;       // registered name, optional
  std::string init_arg;   // passed to the behaviour's create
  std::string parent;     // who starts it (ActorEntry::parent): a supervisor's name, the name (or
                          // "#<id>") of the actor whose ctx.spawn started it, or "" for none
};

// What releasing a run of actors leaves to do, done once for all of them: the resumes are reported
// to the tracker together (one update of its count, at flush()), and the behaviours the actors
// stopped running are buried (actors/graveyard.h) to be destroyed off the reload's path.
// One thread at a time.
class ReleaseBatch {
 public:
  // `expected`: how many actors it will release (room is made for them up front).
  explicit ReleaseBatch(ResumeTrackerPtr tracker, std::size_t expected = 0);
  ~ReleaseBatch() { flush(); }
  ReleaseBatch(const ReleaseBatch&) = delete;
  ReleaseBatch& operator=(const ReleaseBatch&) = delete;

  const ResumeTrackerPtr& tracker() const { return tracker_; }

  // Actor `index` runs again after `pause_ns`: reported at the next flush().
  void resumed(std::size_t index, uint64_t pause_ns) { resumes_.push_back({index, pause_ns}); }

  // A released actor was sent a wake-up (it had kept messages while held); how many were.
  void woken() { ++wake_ups_; }
  std::size_t wake_ups() const { return wake_ups_; }

  // The steady clock in nanoseconds, read afresh every 16 calls (a pause is measured to within
  // the time it takes to release 16 actors).
  int64_t now_ns();
  // The wall clock in Unix milliseconds, read once per batch (when its actors were released).
  int64_t unix_ms();

  Graveyard& graveyard() { return graveyard_; }

  // Where the released actors that have messages to run go: the front of the scheduler's queues
  // (actors/front_of_queue.h), made on first use, handed over in batches and at flush().
  FrontOfQueue& front_of_queue(caf::actor_system& sys);

  // Schedules the actors collected so far and reports their resumes to the tracker.
  void flush();

 private:
  ResumeTrackerPtr tracker_;
  std::vector<ResumeTracker::Resume> resumes_;
  Graveyard graveyard_;
  std::unique_ptr<FrontOfQueue> front_;
  int64_t now_ns_ = 0;
  unsigned clock_uses_ = 0;
  int64_t unix_ms_ = 0;
  std::size_t wake_ups_ = 0;
};

namespace internal {
// Where a reloadable actor's CAF response handlers lie relative to its ReloadTarget: the same for
// every one, set by the first (0 before: prefetch() then asks for its first line twice).
extern std::atomic<std::ptrdiff_t> responses_offset;
}  // namespace internal

// What the reload manager sees of one reloadable actor while it moves it to another version.
// Not thread-safe by itself: one manager at a time (the registry's module gate ensures it).
class ReloadTarget {
 public:
  enum class Hold {
    kHeld,      // held: no handler runs until release(); migrate() may be called
    kClaimed,   // claim() took it: no turn opens from now on; hold() tells when it is held
    kBusy,      // in a turn that opened before the claim (or not claimed yet): try again
    kDraining,  // held, but continuations of requests made by the old code (ctx.request or CAF's
                // then/await) are still pending: they run (nothing else does); try again
    kNotReady,  // spawned during a reload and not started on a version yet: claim again later
    kExited,    // the actor is gone (or going): leave it out
  };

  // Holding an actor takes two steps, so that the actor pays no flag or fence per message: claim()
  // stops it from opening another turn (one atomic operation), and hold(running), where `running`
  // is a snapshot of the turns in progress taken after the claim
  // (RunningTurns::after_heavy_fence(), actors/turn_slots.h), tells whether a turn that opened
  // before it still runs. One snapshot serves any number of claims.
  //
  // claim(): the actor's pause starts at `now_ns` (steady clock). Returns kClaimed once the actor
  // is claimed (also when it already was), kNotReady or kExited if it cannot be claimed. An actor
  // in a turn is claimed too: it runs the turn to its end (at most 50 messages) and then gives
  // its turns back until the release.
  virtual Hold claim(int64_t now_ns) = 0;

  // After claim() and a snapshot taken since: kHeld once no turn runs and no continuation is
  // pending (migrate() may be called), kBusy while a turn that opened before the claim still runs,
  // kDraining while continuations are pending (they run, nothing else does; it is claimed again to
  // look once more after the next snapshot), kExited if it exited after the claim (release()
  // cleans it up). Calling it on a held actor returns kHeld.
  virtual Hold hold(const RunningTurns& running) = 0;

  // Held only: builds `next`'s behaviour from the current state (export_state, code_change,
  // handlers) and stages it; the current behaviour and state are untouched. Errors carry
  // ReloadError::kCodeChangeFailed with the module's message.
  virtual absl::Status migrate(const ModuleRef& next, const std::string& extra, bool downgrade) = 0;

  // Claimed (held, draining, or still busy after an aborted round) only: installs the staged
  // behaviour (`commit`) or drops it, and lets the actor run again; the behaviour it no longer runs
  // goes to `batch`'s graveyard. The actor's slot `index` in the batch's tracker reports resumed
  // with its pause (held -> released), through the batch; an actor that kept messages meanwhile
  // also gets a wake-up, which its next turn runs before anything else, and then what it kept. An
  // actor that exited while held is cleaned up here and reported gone.
  virtual void release(bool commit, std::size_t index, ReleaseBatch& batch) = 0;

  // Held only: replaces the state of the behaviour it runs with `bytes` (Behaviour::replace_state),
  // if it still runs `version`. kFailedPrecondition if it runs another version (or none);
  // kInvalidArgument with the behaviour's message if the behaviour refuses.
  virtual absl::Status replace_state(const std::string& version, const std::string& bytes) = 0;

  // A hint for the CPU to bring in the cache lines right after this interface, where the actor
  // keeps what hold/migrate/release touch: the manager calls it a few actors ahead of the one it
  // works on. Changes nothing, reads nothing.
  void prefetch() const {
    const char* p = reinterpret_cast<const char*>(this);
    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
    __builtin_prefetch(p + 256);
    // And what hold() reads in CAF's part of the actor (its response handlers), at an offset that
    // is the same for every reloadable actor: no load from the actor, whose lines are still cold.
    const char* responses = p + internal::responses_offset.load(std::memory_order_relaxed);
    __builtin_prefetch(responses);
    __builtin_prefetch(responses + 24);  // the 24 bytes it reads may straddle two lines
  }

 protected:
  ~ReloadTarget() = default;
};

// The reload interface of `actor`, or nullptr if it is not a reloadable actor. Valid as long as
// the caller holds `actor`.
ReloadTarget* reload_target(const caf::actor& actor);

// A hint for the CPU to bring in the first cache line of `actor` (what reload_target reads).
void prefetch_actor(const caf::actor& actor);

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
