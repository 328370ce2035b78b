#include "actors/reloadable_actor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/instance.h"
#include "actors/system_messages.h"
#include "actors/turn_slots.h"
#include "caf/actor_cast.hpp"
#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/detail/behavior_impl.hpp"
#include "caf/error.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/execution_unit.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/make_counted.hpp"
#include "caf/message_handler.hpp"
#include "caf/message_view.hpp"
#include "caf/send.hpp"
#include "caf/system_messages.hpp"
#include "caf/type_erased_tuple.hpp"
#include "caf/type_nr.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// A behaviour installed in the actor: the module's instance and the handlers it made for it.
struct Installed {
  Instance instance;
  caf::message_handler handlers;  // may point into `instance` and the module's code

  explicit operator bool() const { return static_cast<bool>(instance); }
};

// Moves `x` to `graveyard`, which destroys it later in the same order as retire().
void bury(Installed& x, Graveyard& graveyard) {
  graveyard.bury(std::move(x.instance), std::move(x.handlers));
  x = Installed{};
}

// Drops `x`: the handlers (which may capture the behaviour, and whose code is the module's) first,
// then the behaviour, and only then the claim on the module version (assigning a whole Instance
// would release the version first).
void retire(Installed& x) {
  x.handlers = caf::message_handler{};
  x.instance.behaviour.reset();
  x.instance.use = ModuleUse{};
}

// Puts `job` in the scheduler's queues as CAF's enqueue would from `eu` (nullptr: from outside
// the scheduler).
void schedule(caf::resumable* job, caf::execution_unit* eu, caf::actor_system& sys) {
  if (eu != nullptr) {
    eu->exec_later(job);
  } else {
    sys.scheduler().enqueue(job);
  }
}

// Who may run the actor's behaviour: a run state in one atomic word (plus flags), which senders
// read on every message and which changes only around reloads, and the turn slot of the thread
// that runs the actor (actors/turn_slots.h), which marks the actor while its turn runs.
//
//   kIdle | kWakePending --(manager: claim)--> kClaimed
//   kClaimed --(manager: hold; no turn runs, no continuation is pending)--> kHeld
//   kClaimed --(manager: hold; no turn runs, continuations are pending)--> kDraining
//   kDraining --(manager: hold, to look again)--> kClaimed
//   kClaimed | kHeld | kDraining --(manager: release)--> kIdle, or kWakePending if messages were
//                                                        kept
//   kClaimed | kHeld --(sender: an ordinary message finds the actor waiting for one)--> + kParked
//   kClaimed | kHeld --(worker: the actor's turn comes)--> + kParked
//   kClaimed | kHeld --(sender: a message that must be served while held)--> + kServe
//   kWakePending --(actor: wake-up message)--> kIdle, kept messages flushed to run first
//   kDeferred --(actor: init message)--> kIdle
//   kStarting --(actor: make_behavior)--> kIdle
//
// Only the manager moves out of kClaimed/kHeld/kDraining. A turn is *open* (runs module handlers)
// if the run state is kIdle when it starts, after the turn has marked its thread's slot and passed
// a light fence, or once it becomes kIdle during the turn; an open turn runs module handlers to its
// end (at most kTurn messages), even if the actor is claimed meanwhile. After claiming actors and a
// heavy fence, the manager takes a snapshot of the slots: a turn that opened before the claim is in
// it (try again later), and a turn that starts after it sees the claim. So the actor pays one tail
// call per message for being reloadable (Dispatch), and a light fence (a compiler barrier) per
// turn. The turns of a claimed actor touch nothing of CAF's (they give the turn back, parked)
// until the manager, with no turn running, has looked at the actor's response handlers and
// decided: held, or draining (continuations of requests made by the old code run; nothing else
// does). A turn that is not open serves system messages and keeps the others: CAF keeps them, in
// arrival order, in its cache, and kKept makes the release wake the actor to run them. kExited is
// set by the actor's exit; if the manager had claimed it then, the manager cleans up on release.
//
// kParked: a held (or claimed) actor does not run for ordinary messages. One that a message would
// schedule is not put in the queues; one whose turn comes gives the turn back at once. Its
// messages wait in its mailbox as usual, and the release schedules it (at the front of the queues:
// it has waited longest). So a held actor costs the workers nothing and keeps nothing that would
// need a wake-up. Any other message (a status request, an exit, a response, a system message) sets
// kServe: a held actor is then scheduled and runs, serving that message and keeping the ordinary
// ones, until the release; a claimed one is scheduled once the manager has decided.
namespace run {
constexpr uint32_t kIdle = 0;
constexpr uint32_t kClaimed = 1;
constexpr uint32_t kHeld = 2;
constexpr uint32_t kDraining = 3;
constexpr uint32_t kWakePending = 4;
constexpr uint32_t kDeferred = 5;
constexpr uint32_t kStarting = 6;
constexpr uint32_t kMask = 0x7;
constexpr uint32_t kKept = 0x10;
constexpr uint32_t kExited = 0x20;
constexpr uint32_t kParked = 0x40;
constexpr uint32_t kServe = 0x80;
// Whether the actor's turns give themselves back (park): claimed and not decided yet, or held
// with nothing to serve; never once it exits.
constexpr bool parks(uint32_t s) {
  return (s & kExited) == 0 && ((s & kMask) == kClaimed || (s & (kMask | kServe)) == kHeld);
}
// The longest turn, in messages (CAF's scheduler.max-throughput, if that is lower, wins): a turn
// that opened before a claim runs to its end, so this bounds how long the manager waits for it.
// As lemon::Runtime's default for max-throughput.
constexpr std::size_t kTurn = 50;
// Whether messages to the actor go through enqueue_held().
constexpr bool claimed_or_held(uint32_t s) {
  return (s & kMask) == kClaimed || (s & kMask) == kHeld;
}
}  // namespace run

class ReloadableActor;

// Whether `xs` may be a system message (below).
bool maybe_system(const caf::type_erased_tuple& xs);

// The actor's one and only CAF behaviour, built once at spawn. In an open turn it is the installed
// module handlers (a tail call: no frame of its own), and a message none of them takes goes to
// CAF's default handler, where the framework serves system messages (status, a late wake-up).
// Otherwise it serves system messages (wake-up and init only move the run state; status takes the
// members' mutex, so it is answered even while the actor is held), and any other message is
// skipped (CAF keeps it, in arrival order, in its queue's cache). It allocates nothing per message.
class Dispatch final : public caf::detail::behavior_impl {
 public:
  explicit Dispatch(ReloadableActor* self) : self_(self) {}

  using caf::detail::behavior_impl::invoke;
  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override {
    if (open_) return module_->invoke(f, xs);
    return closed(f, xs);
  }

  // Whether the turn runs module handlers (see run states above). Set by the actor's own thread,
  // at the start of each turn and when a closed turn opens.
  void set_open(bool open) { open_ = open; }

  // The installed module handlers, kept here so that the common case reads one line: set by
  // whoever changes the actor's behaviour (the actor, or the manager that holds it; the run
  // state's release and acquire publish it to the next turn).
  void set_module(caf::detail::behavior_impl* module) { module_ = module; }

 private:
  // The turn is not open: system messages are served, the rest kept, unless the actor may run
  // handlers by now (released, woken or started meanwhile): the turn opens, and `xs` runs.
  [[gnu::noinline]] caf::match_case::result closed(caf::detail::invoke_result_visitor& f,
                                                   caf::type_erased_tuple& xs);

  ReloadableActor* self_;
  bool open_ = false;
  caf::detail::behavior_impl* module_ = nullptr;
};

// The CAF actor hosting one Behaviour. Its members are touched by its own thread in its turns, by
// the reload manager while it holds the actor (no turn runs module code then), and by a status
// request under mu_ (which the manager also takes when it reads or swaps the behaviour).
class ReloadableActor : public caf::event_based_actor, public ActorContext, public ReloadTarget {
 public:
  ReloadableActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry, SpawnSpec spec,
                  std::shared_ptr<Instance> initial)
      : caf::event_based_actor(cfg), spec_(std::move(spec)), registry_(std::move(registry)) {
    current_.instance = std::move(*initial);
    const std::ptrdiff_t responses =
        reinterpret_cast<const char*>(&awaited_responses_) -
        reinterpret_cast<const char*>(static_cast<ReloadTarget*>(this));
    if (internal::responses_offset.load(std::memory_order_relaxed) != responses) {
      internal::responses_offset.store(responses, std::memory_order_relaxed);  // once per process
    }
    // Deferred: waits for the version the running reload leaves current. Else not ready for a
    // reload until make_behavior (on a worker, later) has made the handlers.
    state_.store(current_ ? run::kStarting : run::kDeferred, std::memory_order_relaxed);
  }

  caf::behavior make_behavior() override {
    const caf::actor_id id = this->id();
    std::weak_ptr<ActorRegistry> registry = registry_;
    attach_functor([registry, id] {
      if (auto r = registry.lock()) r->unregister(id);
    });
    system_ = system_handlers();
    set_default_handler(
        [this](caf::scheduled_actor*, caf::message_view& x) { return unmatched(x.content()); });
    if (current_) {
      current_.handlers = current_.instance.behaviour->handlers(*this);
      current_changed();
      state_.store(run::kIdle, std::memory_order_release);  // nobody else moves kStarting
    }
    return caf::behavior{caf::behavior::impl_ptr{dispatch_}};
  }

  void on_exit() override {
    // Continuations of requests still pending are module code: drop them while it is mapped (on
    // this thread, in the actor's turn: CAF's own members).
    awaited_responses_.clear();
    multiplexed_responses_.clear();
    uint32_t s = state_.load(std::memory_order_acquire);
    while (!state_.compare_exchange_weak(s, s | run::kExited, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
    }
    const uint32_t r = s & run::kMask;
    // Claimed: the manager cleans up on release. Waiting for a wake-up: the manager finds it gone
    // from the registry while it waits for the round's resumes.
    if (r == run::kClaimed || r == run::kHeld || r == run::kDraining) return;
    clean_up();
  }

  // -- Message delivery -------------------------------------------------------

  // CAF's enqueue, except that an ordinary message that would schedule a held (or claimed) actor
  // parks it (above). Outside a reload this costs one atomic load.
  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    if (!run::claimed_or_held(state_.load(std::memory_order_acquire))) {
      caf::event_based_actor::enqueue(std::move(ptr), eu);
      return;
    }
    enqueue_held(std::move(ptr), eu);
  }

  // The rest of enqueue, out of line so that the common case above stays a few instructions.
  [[gnu::noinline]] void enqueue_held(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) {
    if (!parkable(*ptr)) {
      serve();  // before the message is in: its turn must not be given back
      caf::event_based_actor::enqueue(std::move(ptr), eu);
      unpark(eu);  // the actor may be parked with its mailbox open: it would not run for this
      return;
    }
    Parking parking(this, eu);
    caf::event_based_actor::enqueue(std::move(ptr), &parking);
  }

  // CAF's resume, within a turn mark (actors/turn_slots.h), at most kTurn messages long. The turn
  // opens if the actor may run handlers; a held or claimed actor gives its turn back (parks)
  // instead, unless it has something to serve.
  resume_result resume(caf::execution_unit* eu, std::size_t max_throughput) override {
    const TurnMark mark(this);  // until the turn ends, the manager's snapshots see it running
    const uint32_t s = state_.load(std::memory_order_acquire);
    const bool open = s == run::kIdle;
    dispatch_->set_open(open);
    if (!open && run::parks(s) && park_turn()) {
      return resumable::awaiting_message;  // the worker drops its reference; ours stays
    }
    return caf::event_based_actor::resume(eu, std::min(max_throughput, run::kTurn));
  }

  // -- ActorContext -----------------------------------------------------------

  caf::event_based_actor* self() override { return this; }
  const std::string& registered_name() const override { return spec_.name; }

  // -- ReloadTarget -----------------------------------------------------------

  Hold claim(int64_t now_ns) override {
    uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s & run::kExited) != 0) return Hold::kExited;
      const uint32_t r = s & run::kMask;
      if (r == run::kDeferred || r == run::kStarting) return Hold::kNotReady;
      if (r == run::kClaimed || r == run::kHeld || r == run::kDraining) return Hold::kClaimed;
      // kIdle, or kWakePending: its cache still holds what it kept, keep the flag.
      held_at_ns_.store(now_ns, std::memory_order_relaxed);
      const uint32_t next =
          run::kClaimed | (r == run::kWakePending || (s & run::kKept) != 0 ? run::kKept : 0u);
      if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return Hold::kClaimed;
      }
    }
  }

  Hold hold(const RunningTurns& running) override {
    uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s & run::kExited) != 0) return Hold::kExited;
      const uint32_t r = s & run::kMask;
      if (r == run::kDeferred || r == run::kStarting) return Hold::kNotReady;
      if (r == run::kHeld) return Hold::kHeld;
      if (r == run::kDraining) {
        // Continuations may have run meanwhile: stop the actor's turns (claimed again) and look
        // after the next fence.
        if (state_.compare_exchange_weak(s, (s & ~run::kMask) | run::kClaimed,
                                         std::memory_order_acq_rel, std::memory_order_acquire)) {
          return Hold::kDraining;
        }
        continue;
      }
      if (r != run::kClaimed) return Hold::kBusy;  // not claimed
      // A turn that opened before the claim still runs: it runs module handlers to its end.
      if (running.contains(this)) return Hold::kBusy;
      // No turn runs, and none touches CAF's state while the actor is claimed: its response
      // handlers are read here, on the manager's thread (the turns that wrote them ended before
      // the snapshot, which read their marks' release).
      const bool pending = !awaited_responses_.empty() || !multiplexed_responses_.empty();
      // Draining, or held with a message to serve: a parked actor is scheduled to run (its turn's
      // reference is ours).
      const bool run_it = (s & run::kParked) != 0 && (pending || (s & run::kServe) != 0);
      const uint32_t next = (s & ~(run::kMask | (run_it ? run::kParked : 0u))) |
                            (pending ? run::kDraining : run::kHeld);
      if (state_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        if (run_it) schedule(this, nullptr, home_system());
        return pending ? Hold::kDraining : Hold::kHeld;
      }
    }
  }

  absl::Status migrate(const ModuleRef& next, const std::string& extra) override {
    Installed staged;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!current_) {
        return reload_status(ReloadError::kCodeChangeFailed, "actor has no behaviour to migrate");
      }
      auto migrated = migrate_instance(current_.instance, next, spec_.behaviour, extra);
      if (!migrated.ok()) return migrated.status();
      staged.instance = std::move(*migrated);
    }
    try {
      staged.handlers = staged.instance.behaviour->handlers(*this);
    } catch (const std::exception& e) {
      retire(staged);
      return reload_status(ReloadError::kCodeChangeFailed,
                           absl::StrCat("handlers of the new version threw: ", e.what()));
    } catch (...) {
      retire(staged);
      return reload_status(ReloadError::kCodeChangeFailed, "handlers of the new version threw");
    }
    retire(staged_);
    staged_ = std::move(staged);
    return absl::OkStatus();
  }

  void release(bool commit, std::size_t index, ReleaseBatch& batch) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (commit && staged_) {
        bury(current_, batch.graveyard());  // the old module's behaviour goes before it resumes
        current_ = std::move(staged_);
        current_changed();
      }
      if (staged_) bury(staged_, batch.graveyard());
    }
    const ResumeTrackerPtr& tracker = batch.tracker();
    uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if ((s & run::kExited) != 0) {
        clean_up();
        if (tracker) tracker->gone(index);
        return;
      }
      const bool kept = (s & run::kKept) != 0;
      if (state_.compare_exchange_weak(s, kept ? run::kWakePending : run::kIdle,
                                       std::memory_order_acq_rel, std::memory_order_acquire)) {
        // Parked: messages arrived meanwhile and CAF has handed the actor's turn to us (with the
        // reference it takes for a scheduled actor): schedule it, ahead of the actors waiting.
        if ((s & run::kParked) != 0) batch.front_of_queue(home_system()).exec_later(this);
        if (kept) {
          // To the front of a worker's queue, as an urgent message: the actor's next turn runs it
          // before anything else in its mailbox, and then what it kept, in order.
          enqueue(
              caf::make_mailbox_element(nullptr, caf::make_message_id(caf::message_priority::high),
                                        {}, sys_wake_atom::value),
              &batch.front_of_queue(home_system()));
          batch.woken();
        }
        // Resumed from here on, whether its next turn starts with a wake-up or not: it is on its
        // new (or old) version and scheduled at the front of the queues, and nothing the
        // framework does holds it any longer. Waiting for the wake-up to run would measure how
        // soon a worker gets to it, which under load is the other actors' time, not the reload's.
        if (tracker) batch.resumed(index, paused_ns(batch.now_ns()));
        return;
      }
    }
  }

  // -- Dispatch ---------------------------------------------------------------

  // The turn was not open: opens it if the actor may run handlers by now (kIdle). The turn's mark
  // has been up since it started, so the manager cannot have seen the actor idle meanwhile.
  bool reopen() {
    if (state_.load(std::memory_order_acquire) != run::kIdle) return false;
    dispatch_->set_open(true);
    return true;
  }

  // A message a closed turn did not run is kept: marks the run state kKept, so that the release
  // wakes the actor. False if the actor may run handlers again by now: reopen() instead.
  bool keep() {
    uint32_t s = state_.load(std::memory_order_acquire);
    for (;;) {
      if (s == run::kIdle) return false;
      if ((s & run::kKept) != 0) return true;
      if (state_.compare_exchange_weak(s, s | run::kKept, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
  }

  // The system messages, served whatever the run state.
  const caf::message_handler& system() const { return system_; }

 protected:
  void request_started() override { ++pending_requests_; }
  void request_finished() override { --pending_requests_; }

 private:
  // Where CAF puts the actor when a message makes it runnable while it is held or claimed: nowhere,
  // if its turns still give themselves back (parked), else where CAF would have put it.
  class Parking final : public caf::execution_unit {
   public:
    Parking(ReloadableActor* self, caf::execution_unit* eu)
        : caf::execution_unit(&self->home_system()), self_(self), eu_(eu) {}
    void exec_later(caf::resumable* job) override {
      if (job == static_cast<caf::resumable*>(self_) && self_->park()) return;
      schedule(job, eu_, system());
    }

   private:
    ReloadableActor* self_;
    caf::execution_unit* eu_;
  };

  // Whether a message may wait, unseen, until the release: an ordinary message is kept anyway;
  // responses, urgent messages (wake-up, init), status requests and CAF's own messages (exit,
  // down, errors, timeouts) are not.
  static bool parkable(caf::mailbox_element& x) {
    if (x.mid.is_response() || x.mid.is_urgent_message()) return false;
    const caf::type_erased_tuple& c = x.content();
    if (c.empty()) return true;
    return !(c.match_element<sys_status_atom>(0) || c.match_element<caf::exit_msg>(0) ||
             c.match_element<caf::down_msg>(0) || c.match_element<caf::error>(0) ||
             c.match_element<caf::timeout_msg>(0) || c.match_element<caf::group_down_msg>(0));
  }

  // Parks the actor if its turns still give themselves back (run::parks); false otherwise (it must
  // be scheduled). The caller owns the scheduler's reference, which the parking keeps.
  bool park() {
    uint32_t s = state_.load(std::memory_order_acquire);
    while (run::parks(s)) {
      if (state_.compare_exchange_weak(s, s | run::kParked, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
    return false;
  }

  // Parks the actor whose turn has come (inside resume, before CAF touches anything): takes a
  // reference of its own for the release, as CAF does when it schedules an actor. The parking is
  // the last thing this turn does with the actor: from then on, release or unpark may schedule it
  // on another worker.
  bool park_turn() {
    caf::intrusive_ptr_add_ref(ctrl());
    if (park()) return true;
    caf::intrusive_ptr_release(ctrl());
    return false;
  }

  // Marks a held or claimed actor as having something to serve: a held one runs (keeping ordinary
  // messages) until the release; a claimed one once the manager has decided (hold()).
  void serve() {
    uint32_t s = state_.load(std::memory_order_acquire);
    while (run::claimed_or_held(s) && (s & run::kServe) == 0) {
      if (state_.compare_exchange_weak(s, s | run::kServe, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return;
      }
    }
  }

  // Schedules a parked actor now (it has a message to serve), unless it is claimed: hold()
  // schedules it once the manager has decided, and release() in any case.
  void unpark(caf::execution_unit* eu) {
    uint32_t s = state_.load(std::memory_order_acquire);
    while ((s & run::kParked) != 0 && (s & run::kMask) != run::kClaimed) {
      if (state_.compare_exchange_weak(s, s & ~run::kParked, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        schedule(this, eu, home_system());
        return;
      }
    }
  }

  // CAF's default handler: a message that no module handler took in an open turn. System messages
  // are served here (status requests, a late wake-up); any other is unexpected, as CAF's default.
  caf::result<caf::message> unmatched(caf::type_erased_tuple& xs) {
    if (maybe_system(xs)) {
      if (auto r = system_.as_behavior_impl()->invoke(xs)) return std::move(*r);
    }
    return caf::sec::unexpected_message;
  }

  uint64_t paused_ns(int64_t now) const {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, now - held_at_ns_.load(std::memory_order_relaxed)));
  }

  // current_ has new handlers: the dispatch jumps to them from the next turn on (whoever changed
  // current_ publishes it with the run state, as for current_ itself).
  void current_changed() { dispatch_->set_module(current_.handlers.as_behavior_impl().get()); }

  // Answered whatever the run state: wake-up and init only move it, status takes mu_.
  caf::message_handler system_handlers() {
    return {
        [this](sys_wake_atom) { wake(); },
        [this](sys_init_atom, const ModuleRef& version) { init(version); },
        [this](sys_status_atom) { return status(); },
    };
  }

  // Runs what was kept while held: flushed to the front of the queues, in arrival order (without
  // the flush it would wait for the next new message, which would then overtake it).
  void flush_kept() {
    get_normal_queue().flush_cache();
    get_urgent_queue().flush_cache();
  }

  // After a release: runs what the actor kept while held. If a newer reload has held it again
  // before this wake-up ran, there is nothing to do here: that reload's release wakes it.
  void wake() {
    uint32_t s = state_.load(std::memory_order_acquire);
    while ((s & run::kMask) == run::kWakePending) {
      if (state_.compare_exchange_weak(s, run::kIdle, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        flush_kept();
        return;
      }
    }
  }

  void init(const ModuleRef& version) {
    if ((state_.load(std::memory_order_acquire) & run::kMask) != run::kDeferred) return;
    auto made = make_instance(version, spec_.behaviour, spec_.init_arg);
    if (!made.ok()) {
      quit(caf::make_error(caf::sec::runtime_error, std::string(made.status().message())));
      return;
    }
    Installed fresh;
    fresh.instance = std::move(*made);
    fresh.handlers = fresh.instance.behaviour->handlers(*this);
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = std::move(fresh);
      current_changed();
    }
    state_.store(run::kIdle, std::memory_order_release);  // nobody else moves kDeferred
    flush_kept();
  }

  ActorStatus status() {
    ActorStatus s;
    s.id = id();
    s.name = spec_.name;
    s.module = spec_.module;
    s.behaviour = spec_.behaviour;
    const uint32_t r = state_.load(std::memory_order_acquire) & run::kMask;
    s.suspended = r != run::kIdle;
    s.pending_requests = static_cast<uint64_t>(pending_requests_);
    s.mailbox_size = mailbox().size() + get_normal_queue().cache().total_task_size() +
                     get_urgent_queue().cache().total_task_size();
    std::lock_guard<std::mutex> lock(mu_);
    s.version = current_.instance.version();
    if (current_) {
      try {
        s.state = current_.instance.behaviour->format_status();
      } catch (const std::exception& e) {
        s.state = absl::StrCat("{\"format_status_error\":\"", e.what(), "\"}");
      }
    }
    return s;
  }

  // The behaviour's last words and the release of its module version; called once, by whoever
  // owns the members when the actor exits (the actor, or the manager that held it).
  void clean_up() {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_) {
      try {
        current_.instance.behaviour->terminate(to_string(fail_state()));
      } catch (...) {
        // terminate is best effort; the actor is going away either way
      }
    }
    retire(staged_);
    retire(current_);
  }

  // What a reload touches comes first, right after the ReloadTarget base, in the lines that
  // ReloadTarget::prefetch() brings in. The run state is read by every sender and written only
  // around reloads; what the actor's own thread writes starts 64 bytes after it, so the two never
  // share a cache line (without over-aligning the actor, which would change how it is allocated).
  std::atomic<uint32_t> state_{run::kIdle};
  std::atomic<int64_t> held_at_ns_{0};  // when the manager last claimed it
  std::mutex mu_;                       // current_ and staged_ against status and the manager
  char apart_[64 - sizeof(std::atomic<int64_t>) - sizeof(std::mutex) - 8] = {};
  int pending_requests_ = 0;  // tracked requests (ActorContext::request), for status; own thread
  Installed current_;
  Installed staged_;             // the migrated behaviour, installed on commit
  caf::message_handler system_;  // system_handlers(), made once in make_behavior
  // The actor's CAF behaviour (made here so that the first turn can set it open).
  caf::intrusive_ptr<Dispatch> dispatch_ = caf::make_counted<Dispatch>(this);
  SpawnSpec spec_;
  std::shared_ptr<ActorRegistry> registry_;
};

// Whether `xs` may be a system message: (sys_wake), (sys_status) or (sys_init, ModuleRef). Nearly
// every other message is told apart by its type token alone (one virtual call), instead of being
// tried against each system handler in turn.
bool maybe_system(const caf::type_erased_tuple& xs) {
  constexpr uint32_t kAtom = caf::make_type_token<caf::atom_value>();
  constexpr uint32_t kAtomAndModule = caf::make_type_token<caf::atom_value, ModuleRef>();
  const uint32_t token = xs.type_token();
  if (token != kAtom && token != kAtomAndModule) return false;
  const caf::atom_value a = *static_cast<const caf::atom_value*>(xs.get(0));
  return a == sys_wake_atom::value || a == sys_init_atom::value || a == sys_status_atom::value;
}

caf::match_case::result Dispatch::closed(caf::detail::invoke_result_visitor& f,
                                         caf::type_erased_tuple& xs) {
  for (;;) {
    if (maybe_system(xs)) {  // system messages are served while held
      const caf::match_case::result r = self_->system().as_behavior_impl()->invoke(f, xs);
      if (r != caf::match_case::no_match) return r;
    }
    if (self_->keep()) return caf::match_case::skip;
    if (self_->reopen()) return module_->invoke(f, xs);
  }
}

}  // namespace

namespace internal {
std::atomic<std::ptrdiff_t> responses_offset{0};
}  // namespace internal

ReleaseBatch::ReleaseBatch(ResumeTrackerPtr tracker, std::size_t expected)
    : tracker_(std::move(tracker)) {
  resumes_.reserve(expected);
  graveyard_.reserve(expected);
}

int64_t ReleaseBatch::now_ns() {
  if (clock_uses_++ % 16 == 0) now_ns_ = lemon::now_ns();
  return now_ns_;
}

FrontOfQueue& ReleaseBatch::front_of_queue(caf::actor_system& sys) {
  if (!front_) front_ = std::make_unique<FrontOfQueue>(sys);
  return *front_;
}

void ReleaseBatch::flush() {
  if (front_) front_->flush();
  if (tracker_ && !resumes_.empty()) tracker_->resumed(resumes_);
  resumes_.clear();
}

ReloadTarget* reload_target(const caf::actor& actor) {
  if (!actor) return nullptr;
  auto* base = caf::actor_cast<caf::abstract_actor*>(actor);
  return dynamic_cast<ReloadableActor*>(base);
}

void prefetch_actor(const caf::actor& actor) {
  if (actor) __builtin_prefetch(caf::actor_cast<caf::abstract_actor*>(actor));
}

absl::StatusOr<caf::actor> spawn_reloadable(caf::actor_system& sys,
                                            const std::shared_ptr<ActorRegistry>& registry,
                                            const CodeServer& code_server, SpawnSpec spec) {
  if (spec.module.empty()) return reload_status(ReloadError::kInvalidArgument, "empty module name");
  if (spec.behaviour.empty()) spec.behaviour = spec.module;
  return registry->spawn_registered(
      spec.module, spec.behaviour, spec.name, [&](bool deferred) -> absl::StatusOr<caf::actor> {
        auto initial = std::make_shared<Instance>();
        if (!deferred) {
          ModuleRef module = code_server.current(spec.module);
          if (!module) {
            return reload_status(ReloadError::kNotFound, absl::StrCat("no module ", spec.module));
          }
          auto made = make_instance(module, spec.behaviour, spec.init_arg);
          if (!made.ok()) return made.status();
          *initial = std::move(*made);
        }
        return sys.spawn<ReloadableActor>(registry, spec, initial);
      });
}

}  // namespace lemon
