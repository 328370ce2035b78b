#include "actors/reloadable_actor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <typeinfo>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "actors/instance.h"
#include "actors/reloadable_actor_impl.h"
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

}  // namespace

namespace internal {

std::atomic<std::ptrdiff_t> responses_offset{0};

void schedule(caf::resumable* job, caf::execution_unit* eu, caf::actor_system& sys) {
  if (eu != nullptr) {
    eu->exec_later(job);
  } else {
    sys.scheduler().enqueue(job);
  }
}

ReloadableActor::ReloadableActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry,
                                 const CodeServer* code_server, SpawnSpec spec,
                                 std::shared_ptr<Instance> initial)
    : caf::event_based_actor(cfg),
      spec_(std::move(spec)),
      registry_(std::move(registry)),
      code_server_(code_server) {
  current_.instance = std::move(*initial);
  const std::ptrdiff_t responses = reinterpret_cast<const char*>(&awaited_responses_) -
                                   reinterpret_cast<const char*>(static_cast<ReloadTarget*>(this));
  if (responses_offset.load(std::memory_order_relaxed) != responses) {
    responses_offset.store(responses, std::memory_order_relaxed);  // once per process
  }
  // Deferred: waits for the version the running reload leaves current. Else not ready for a
  // reload until make_behavior (on a worker, later) has made the handlers.
  state_.store(current_ ? run::kStarting : run::kDeferred, std::memory_order_relaxed);
}

caf::behavior ReloadableActor::make_behavior() {
  const caf::actor_id id = this->id();
  std::weak_ptr<ActorRegistry> registry = registry_;
  attach_functor([registry, id] {
    if (auto r = registry.lock()) r->unregister(id);
  });
  system_ = system_handlers();
  set_default_handler(
      [this](caf::scheduled_actor*, caf::message_view& x) { return unmatched(x.content()); });
  route_exits();
  if (current_) {
    make_handlers(current_);
    current_changed();
    state_.store(run::kIdle, std::memory_order_release);  // nobody else moves kStarting
    started();
  }
  return caf::behavior{caf::behavior::impl_ptr{dispatch_}};
}

void ReloadableActor::on_exit() {
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

void ReloadableActor::enqueue_held(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) {
  if (!parkable(*ptr)) {
    serve();  // before the message is in: its turn must not be given back
    caf::event_based_actor::enqueue(std::move(ptr), eu);
    unpark(eu);  // the actor may be parked with its mailbox open: it would not run for this
    return;
  }
  Parking parking(this, eu);
  caf::event_based_actor::enqueue(std::move(ptr), &parking);
}

caf::resumable::resume_result ReloadableActor::resume(caf::execution_unit* eu,
                                                      std::size_t max_throughput) {
  const TurnMark mark(this);  // until the turn ends, the manager's snapshots see it running
  const uint32_t s = state_.load(std::memory_order_acquire);
  const bool open = s == run::kIdle;
  dispatch_->set_open(open);
  if (!open && run::parks(s) && park_turn()) {
    return resumable::awaiting_message;  // the worker drops its reference; ours stays
  }
  // Once per turn, and only in an open one: a claimed actor's turns touch nothing of CAF's.
  if (open) note_mailbox();
  return caf::event_based_actor::resume(eu, std::min(max_throughput, run::kTurn));
}

bool ReloadableActor::parkable(caf::mailbox_element& x) {
  if (x.mid.is_response() || x.mid.is_urgent_message()) return false;
  const caf::type_erased_tuple& c = x.content();
  if (c.empty()) return true;
  return !(c.match_element<sys_status_atom>(0) || c.match_element<caf::exit_msg>(0) ||
           c.match_element<caf::down_msg>(0) || c.match_element<caf::error>(0) ||
           c.match_element<caf::timeout_msg>(0) || c.match_element<caf::group_down_msg>(0));
}

bool ReloadableActor::park() {
  uint32_t s = state_.load(std::memory_order_acquire);
  while (run::parks(s)) {
    if (state_.compare_exchange_weak(s, s | run::kParked, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return true;
    }
  }
  return false;
}

bool ReloadableActor::park_turn() {
  caf::intrusive_ptr_add_ref(ctrl());
  if (park()) return true;
  caf::intrusive_ptr_release(ctrl());
  return false;
}

void ReloadableActor::serve() {
  uint32_t s = state_.load(std::memory_order_acquire);
  while (run::claimed_or_held(s) && (s & run::kServe) == 0) {
    if (state_.compare_exchange_weak(s, s | run::kServe, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return;
    }
  }
}

void ReloadableActor::unpark(caf::execution_unit* eu) {
  uint32_t s = state_.load(std::memory_order_acquire);
  while ((s & run::kParked) != 0 && (s & run::kMask) != run::kClaimed) {
    if (state_.compare_exchange_weak(s, s & ~run::kParked, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      schedule(this, eu, home_system());
      return;
    }
  }
}

caf::result<caf::message> ReloadableActor::unmatched(caf::type_erased_tuple& xs) {
  if (maybe_system(xs)) {
    dispatch_->uncount();  // before a status request reads the count
    if (auto r = system_.as_behavior_impl()->invoke(xs)) return std::move(*r);
  }
  if (xs.size() == 1 && xs.match_element<ExitNote>(0)) {
    exit_note(*static_cast<const ExitNote*>(xs.get(0)));
    return caf::message{};
  }
  return caf::sec::unexpected_message;
}

caf::message_handler ReloadableActor::system_handlers() {
  return {
      [this](sys_wake_atom) { wake(); },
      [this](sys_init_atom, const ModuleRef& version) { init(version); },
      [this](sys_status_atom) { return status(); },
      [this](sys_snapshot_atom) { return snapshot(); },
  };
}

void ReloadableActor::wake() {
  uint32_t s = state_.load(std::memory_order_acquire);
  while ((s & run::kMask) == run::kWakePending) {
    if (state_.compare_exchange_weak(s, run::kIdle, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      if (!upgraded_from_.empty()) {
        const std::string from = std::move(upgraded_from_);
        upgraded_from_.clear();
        try {
          current_.instance.behaviour->after_upgrade(*this, from);
        } catch (const std::exception& e) {
          quit(caf::make_error(caf::sec::runtime_error,
                               std::string("upgraded hook threw: ") + e.what()));
        }
      }
      flush_kept();
      note_mailbox();  // what it kept while held is in its mailbox again
      return;
    }
  }
}

void ReloadableActor::init(const ModuleRef& version) {
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
  started();
  flush_kept();
}

ActorStatus ReloadableActor::status() {
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
  s.messages_handled = dispatch_->handled();
  s.mailbox_high_water = mailbox_high_water_;
  std::lock_guard<std::mutex> lock(mu_);
  s.last_reload_unix_ms = last_reload_unix_ms_;
  s.version = current_.instance.version();
  if (current_) {
    try {
      s.state = current_.instance.behaviour->format_status();
      if (s.state.empty()) s.state_type = current_.instance.behaviour->state_type();
      if (!s.state_type.empty()) s.state_bytes = current_.instance.behaviour->export_state();
    } catch (const std::exception& e) {
      s.state = absl::StrCat("{\"format_status_error\":\"", e.what(), "\"}");
    }
  }
  return s;
}

StateSnapshot ReloadableActor::snapshot() {
  StateSnapshot s;
  s.id = id();
  s.name = spec_.name;
  s.behaviour = spec_.behaviour;
  std::lock_guard<std::mutex> lock(mu_);
  s.version = current_.instance.version();
  if (!current_) {
    s.error = "the actor runs no version yet";
    return s;
  }
  try {
    s.state_type = current_.instance.behaviour->state_type();
    s.state = current_.instance.behaviour->export_state();
  } catch (const std::exception& e) {
    s.error = absl::StrCat("export_state of version ", s.version, " threw: ", e.what());
  } catch (...) {
    s.error = absl::StrCat("export_state of version ", s.version, " threw");
  }
  return s;
}

void ReloadableActor::clean_up() {
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

// Whether `xs` may be a system message: (sys_wake), (sys_status), (sys_snapshot) or (sys_init,
// ModuleRef). Nearly every other message is told apart by its type token alone (one virtual
// call), instead of being tried against each system handler in turn.
bool maybe_system(const caf::type_erased_tuple& xs) {
  constexpr uint32_t kAtom = caf::make_type_token<caf::atom_value>();
  constexpr uint32_t kAtomAndModule = caf::make_type_token<caf::atom_value, ModuleRef>();
  const uint32_t token = xs.type_token();
  if (token != kAtom && token != kAtomAndModule) return false;
  const caf::atom_value a = *static_cast<const caf::atom_value*>(xs.get(0));
  return a == sys_wake_atom::value || a == sys_init_atom::value || a == sys_status_atom::value ||
         a == sys_snapshot_atom::value;
}

caf::match_case::result Dispatch::receive(caf::detail::invoke_result_visitor& f, const Message& m) {
  caf::message reply = receiver_->receive_message(*self_, m);
  if (reply.empty() && !self_->reply_wanted()) {
    f();  // nobody to answer: no response promise made
  } else {
    f(reply);
  }
  return caf::match_case::match;
}

caf::match_case::result Dispatch::closed(caf::detail::invoke_result_visitor& f,
                                         caf::type_erased_tuple& xs) {
  for (;;) {
    if (maybe_system(xs)) {  // system messages are served while held
      const caf::match_case::result r = self_->system().as_behavior_impl()->invoke(f, xs);
      if (r != caf::match_case::no_match) return r;
    }
    if (self_->keep()) return caf::match_case::skip;
    if (self_->reopen()) return run(f, xs);
  }
}

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

int64_t ReleaseBatch::unix_ms() {
  if (unix_ms_ == 0) unix_ms_ = absl::ToUnixMillis(absl::Now());
  return unix_ms_;
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
  // ReloadableActor is final: comparing the dynamic type is exact, and cheaper than dynamic_cast.
  if (typeid(*base) != typeid(internal::ReloadableActor)) return nullptr;
  return static_cast<internal::ReloadableActor*>(base);
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
      spec.module, spec.behaviour, spec.name, spec.parent,
      [&](bool deferred) -> absl::StatusOr<caf::actor> {
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
        return sys.spawn<internal::ReloadableActor>(registry, &code_server, spec, initial);
      });
}

}  // namespace lemon
