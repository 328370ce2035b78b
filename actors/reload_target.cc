// ReloadableActor's side of a reload: what the reload manager calls through ReloadTarget.
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/reloadable_actor_impl.h"
#include "caf/mailbox_element.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace internal {
namespace {

// Moves `x` to `graveyard`, which destroys it later in the same order as retire().
void bury(Installed& x, Graveyard& graveyard) {
  graveyard.bury(std::move(x.instance), std::move(x.handlers));
  x = Installed{};
}

}  // namespace

ReloadTarget::Hold ReloadableActor::claim(int64_t now_ns) {
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

ReloadTarget::Hold ReloadableActor::hold(const RunningTurns& running) {
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

absl::Status ReloadableActor::migrate(const ModuleRef& next, const std::string& extra,
                                      bool downgrade) {
  Installed staged;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!current_) {
      return reload_status(ReloadError::kCodeChangeFailed, "actor has no behaviour to migrate");
    }
    auto migrated = migrate_instance(current_.instance, next, spec_.behaviour, extra, downgrade);
    if (!migrated.ok()) return migrated.status();
    staged.instance = std::move(*migrated);
  }
  try {
    make_handlers(staged);
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

void ReloadableActor::release(bool commit, std::size_t index, ReleaseBatch& batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (commit && staged_) {
      // The hook runs in the actor's next turn: the wake-up below brings it.
      if (staged_.wants_after_upgrade) upgraded_from_ = current_.instance.version();
      bury(current_, batch.graveyard());  // the old module's behaviour goes before it resumes
      current_ = std::move(staged_);
      current_changed();
      last_reload_unix_ms_ = batch.unix_ms();
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
    const bool kept = (s & run::kKept) != 0 || !upgraded_from_.empty();
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

absl::Status ReloadableActor::replace_state(const std::string& version, const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!current_ || current_.instance.version() != version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the actor runs version \"", current_.instance.version(), "\", not \"", version, "\""));
  }
  std::string error;
  bool replaced = false;
  try {
    replaced = current_.instance.behaviour->replace_state(bytes, &error);
  } catch (const std::exception& e) {
    error = absl::StrCat("replace_state threw: ", e.what());
  } catch (...) {
    error = "replace_state threw";
  }
  if (!replaced) return reload_status(ReloadError::kInvalidArgument, error);
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace lemon
