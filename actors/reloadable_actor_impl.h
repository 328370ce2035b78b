// ReloadableActor, the CAF actor behind spawn_reloadable (actors/reloadable_actor.h): its run
// states, its one CAF behaviour (Dispatch) and its members. Private to //actors:reloadable_actor,
// whose reloadable_actor.cc holds its turns, message delivery and system messages, and
// reload_target.cc what the reload manager calls (ReloadTarget).
#ifndef LEMON_ACTORS_RELOADABLE_ACTOR_IMPL_H_
#define LEMON_ACTORS_RELOADABLE_ACTOR_IMPL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "actors/instance.h"
#include "actors/reloadable_actor.h"
#include "actors/system_messages.h"
#include "actors/turn_slots.h"
#include "caf/actor_addr.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/detail/behavior_impl.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/execution_unit.hpp"
#include "caf/make_counted.hpp"
#include "caf/message_handler.hpp"
#include "caf/type_erased_tuple.hpp"
#include "core/code_server.h"

namespace lemon {
namespace internal {

// A behaviour installed in the actor: the module's instance and the handlers it made for it.
struct Installed {
  Instance instance;
  caf::message_handler handlers;  // may point into `instance` and the module's code
  // The behaviour's wants_after_upgrade(), asked while it is made: a release reads only the
  // actor's own memory, not the new behaviour's.
  bool wants_after_upgrade = false;
  // The behaviour, if it receives lemon::Messages directly (Behaviour::receives_messages).
  Behaviour* receiver = nullptr;

  explicit operator bool() const { return static_cast<bool>(instance); }
};

// Drops `x`: the handlers (which may capture the behaviour, and whose code is the module's) first,
// then the behaviour, and only then the claim on the module version (assigning a whole Instance
// would release the version first).
inline void retire(Installed& x) {
  x.handlers = caf::message_handler{};
  x.receiver = nullptr;
  x.instance.behaviour.reset();
  x.instance.use = ModuleUse{};
}

// Puts `job` in the scheduler's queues as CAF's enqueue would from `eu` (nullptr: from outside
// the scheduler).
void schedule(caf::resumable* job, caf::execution_unit* eu, caf::actor_system& sys);

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
// The run states, in the bits of kMask.
enum : uint32_t { kIdle, kClaimed, kHeld, kDraining, kWakePending, kDeferred, kStarting };
inline constexpr uint32_t kMask = 0x7;
static_assert(kStarting <= kMask, "every run state fits in kMask");
// Flags beside the run state.
inline constexpr uint32_t kKept = 0x10;
inline constexpr uint32_t kExited = 0x20;
inline constexpr uint32_t kParked = 0x40;
inline constexpr uint32_t kServe = 0x80;
// Whether the actor's turns give themselves back (park): claimed and not decided yet, or held
// with nothing to serve; never once it exits.
constexpr bool parks(uint32_t s) {
  return (s & kExited) == 0 && ((s & kMask) == kClaimed || (s & (kMask | kServe)) == kHeld);
}
// The longest turn, in messages (CAF's scheduler.max-throughput, if that is lower, wins): a turn
// that opened before a claim runs to its end, so this bounds how long the manager waits for it.
// As lemon::Runtime's default for max-throughput.
inline constexpr std::size_t kTurn = 50;
// Whether messages to the actor go through enqueue_held().
constexpr bool claimed_or_held(uint32_t s) {
  return (s & kMask) == kClaimed || (s & kMask) == kHeld;
}
}  // namespace run

class ReloadableActor;

// A down or exit message on its way to the behaviour (see ReloadableActor::route_exits).
struct ExitNote {
  caf::actor_addr who;
  std::string reason;  // "" for a normal exit
  bool down = false;   // a monitor's down message; else a link's exit
};

// Whether `xs` may be a system message (reloadable_actor.cc).
bool maybe_system(const caf::type_erased_tuple& xs);

// The actor's one and only CAF behaviour, built once at spawn. In an open turn it is the installed
// module handlers (a tail call: no frame of its own; a lemon::Message for a behaviour that
// receives Messages goes straight to its receive_message, past CAF's pattern matching, whose
// type_info compare costs a strcmp when the handler was built in a module), and a message none of
// them takes goes to CAF's default handler, where the framework serves system messages (status, a
// late wake-up). Otherwise it serves system messages (wake-up and init only move the run state;
// status takes the members' mutex, so it is answered even while the actor is held), and any other
// message is skipped (CAF keeps it, in arrival order, in its queue's cache). It allocates nothing
// per message.
class Dispatch final : public caf::detail::behavior_impl {
 public:
  explicit Dispatch(ReloadableActor* self) : self_(self) {}

  using caf::detail::behavior_impl::invoke;
  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override {
    if (open_) return run(f, xs);
    return closed(f, xs);
  }

  // Messages given to the module handlers so far (actors.statistics); the actor's own thread.
  uint64_t handled() const { return handled_; }

  // A message counted by invoke was a system message, served by the framework.
  void uncount() { --handled_; }

  // Whether the turn runs module handlers (see run states above). Set by the actor's own thread,
  // at the start of each turn and when a closed turn opens.
  void set_open(bool open) { open_ = open; }

  // The installed module handlers, kept here so that the common case reads one line: set by
  // whoever changes the actor's behaviour (the actor, or the manager that holds it; the run
  // state's release and acquire publish it to the next turn).
  // `receiver`: the behaviour, if it takes lemon::Messages directly (else nullptr).
  void set_module(caf::detail::behavior_impl* module, Behaviour* receiver) {
    module_ = module;
    receiver_ = receiver;
  }

 private:
  // The turn is not open: system messages are served, the rest kept, unless the actor may run
  // handlers by now (released, woken or started meanwhile): the turn opens, and `xs` runs.
  [[gnu::noinline]] caf::match_case::result closed(caf::detail::invoke_result_visitor& f,
                                                   caf::type_erased_tuple& xs);

  // A message of an open turn, counted: a lemon::Message to the behaviour's receive_message if it
  // takes them directly, anything else to the module handlers.
  caf::match_case::result run(caf::detail::invoke_result_visitor& f, caf::type_erased_tuple& xs) {
    ++handled_;
    if (receiver_ != nullptr && xs.size() == 1 && xs.match_element<Message>(0)) {
      return receive(f, *static_cast<const Message*>(xs.get(0)));
    }
    return module_->invoke(f, xs);
  }

  // A lemon::Message for the behaviour's receive_message; its reply goes where CAF would send a
  // handler's result.
  caf::match_case::result receive(caf::detail::invoke_result_visitor& f, const Message& m);

  ReloadableActor* self_;
  bool open_ = false;
  caf::detail::behavior_impl* module_ = nullptr;
  Behaviour* receiver_ = nullptr;
  uint64_t handled_ = 0;  // a plain counter: only the actor's own thread touches it
};

// The CAF actor hosting one Behaviour. Its members are touched by its own thread in its turns, by
// the reload manager while it holds the actor (no turn runs module code then), and by a status
// request under mu_ (which the manager also takes when it reads or swaps the behaviour).
class ReloadableActor final : public caf::event_based_actor,
                              public ActorContext,
                              public ReloadTarget {
 public:
  ReloadableActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry,
                  const CodeServer* code_server, SpawnSpec spec, std::shared_ptr<Instance> initial);

  caf::behavior make_behavior() override;

  void on_exit() override;

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
  [[gnu::noinline]] void enqueue_held(caf::mailbox_element_ptr ptr, caf::execution_unit* eu);

  // CAF's resume, within a turn mark (actors/turn_slots.h), at most kTurn messages long. The turn
  // opens if the actor may run handlers; a held or claimed actor gives its turn back (parks)
  // instead, unless it has something to serve.
  resume_result resume(caf::execution_unit* eu, std::size_t max_throughput) override;

  // -- ActorContext -----------------------------------------------------------

  caf::event_based_actor* self() override { return this; }
  const std::string& registered_name() const override { return spec_.name; }
  caf::actor self_handle() override;
  CodeHold code() const override;
  void send_message(const caf::actor& to, Message m, std::chrono::nanoseconds delay) override;
  void request_message(const caf::actor& to, Message m, std::chrono::nanoseconds timeout,
                       std::function<void(const Message*, const std::string&)> done) override;
  caf::message reply_message(Message m) override;
  bool reply_wanted() override;
  caf::message error_reply(const std::string& text) override;
  void monitor_actor(const caf::actor& other) override;
  void demonitor_actor(const caf::actor& other) override;
  void link_actor(const caf::actor& other) override;
  caf::actor spawn_child(const std::string& module, const std::string& behaviour,
                         const std::string& name, const std::string& init_arg,
                         std::string* error) override;
  caf::actor whereis(const std::string& name) override { return registry_->whereis(name); }
  void stop_actor(const std::string& reason) override;

  // -- ReloadTarget -----------------------------------------------------------

  Hold claim(int64_t now_ns) override;

  Hold hold(const RunningTurns& running) override;

  absl::Status migrate(const ModuleRef& next, const std::string& extra, bool downgrade) override;

  void release(bool commit, std::size_t index, ReleaseBatch& batch) override;

  absl::Status replace_state(const std::string& version, const std::string& bytes) override;

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
  static bool parkable(caf::mailbox_element& x);

  // Parks the actor if its turns still give themselves back (run::parks); false otherwise (it must
  // be scheduled). The caller owns the scheduler's reference, which the parking keeps.
  bool park();

  // Parks the actor whose turn has come (inside resume, before CAF touches anything): takes a
  // reference of its own for the release, as CAF does when it schedules an actor. The parking is
  // the last thing this turn does with the actor: from then on, release or unpark may schedule it
  // on another worker.
  bool park_turn();

  // Marks a held or claimed actor as having something to serve: a held one runs (keeping ordinary
  // messages) until the release; a claimed one once the manager has decided (hold()).
  void serve();

  // Schedules a parked actor now (it has a message to serve), unless it is claimed: hold()
  // schedules it once the manager has decided, and release() in any case.
  void unpark(caf::execution_unit* eu);

  // CAF's default handler: a message that no module handler took in an open turn. System messages
  // are served here (status requests, a late wake-up); any other is unexpected, as CAF's default.
  caf::result<caf::message> unmatched(caf::type_erased_tuple& xs);

  uint64_t paused_ns(int64_t now) const {
    return static_cast<uint64_t>(
        std::max<int64_t>(0, now - held_at_ns_.load(std::memory_order_relaxed)));
  }

  // Asks x's behaviour for its handlers and how it takes messages (may throw: module code).
  void make_handlers(Installed& x) {
    Behaviour& b = *x.instance.behaviour;
    x.handlers = b.handlers(*this);
    x.wants_after_upgrade = b.wants_after_upgrade();
    x.receiver = b.receives_messages() ? &b : nullptr;
  }

  // current_ has new handlers: the dispatch jumps to them from the next turn on (whoever changed
  // current_ publishes it with the run state, as for current_ itself).
  void current_changed() {
    dispatch_->set_module(current_.handlers.as_behavior_impl().get(), current_.receiver);
  }

  // Answered whatever the run state: wake-up and init only move it, status takes mu_.
  caf::message_handler system_handlers();

  // Runs what was kept while held: flushed to the front of the queues, in arrival order (without
  // the flush it would wait for the next new message, which would then overtake it).
  void flush_kept() {
    get_normal_queue().flush_cache();
    get_urgent_queue().flush_cache();
  }

  // Raises the mailbox high-water mark to the mailbox's length now. Its own thread, in a turn;
  // the length takes in what senders pushed, as the turn would do first anyway.
  void note_mailbox() {
    mailbox_high_water_ = std::max<uint64_t>(mailbox_high_water_, mailbox().size());
  }

  // After a release: runs what the actor kept while held. If a newer reload has held it again
  // before this wake-up ran, there is nothing to do here: that reload's release wakes it.
  void wake();

  void init(const ModuleRef& version);

  // Runs the installed behaviour's after_start hook; a hook that throws stops the actor.
  void started();

  // Down and exit messages: CAF hands them to handlers outside the behaviour, even while the
  // actor is held. They come back to the actor as an ordinary ExitNote (kept while held, in
  // order) and reach the behaviour that runs when their turn comes.
  void route_exits();
  void exit_note(const ExitNote& note);

  ActorStatus status();
  StateSnapshot snapshot();

  // The behaviour's last words and the release of its module version; called once, by whoever
  // owns the members when the actor exits (the actor, or the manager that held it).
  void clean_up();

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
  const CodeServer* code_server_;    // for children (spawn_child); outlives the actor
  std::string upgraded_from_;        // set by a release that installed a version wanting the hook
  int64_t last_reload_unix_ms_ = 0;  // when a release last installed a version; under mu_
  uint64_t mailbox_high_water_ = 0;  // the longest mailbox an open turn started with; own thread
};

}  // namespace internal
}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::internal::ExitNote)

#endif  // LEMON_ACTORS_RELOADABLE_ACTOR_IMPL_H_
