#include "actors/maintenance.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "actors/turn_slots.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The registry's refusal as the ReloadError callers report.
absl::Status marking_failed(const absl::Status& s) {
  return reload_status(
      absl::IsNotFound(s) ? ReloadError::kNotFound : ReloadError::kReloadInProgress, s.message());
}

}  // namespace

ActorMaintenance::ActorMaintenance(std::shared_ptr<ActorRegistry> registry)
    : registry_(std::move(registry)), expiry_([this] { expire_loop(); }) {}

ActorMaintenance::~ActorMaintenance() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.Signal();
  }
  expiry_.join();
  absl::MutexLock lock(&mu_);
  for (auto& [id, s] : suspended_) release(s.handle, s.target);
  suspended_.clear();
}

absl::Status ActorMaintenance::suspend(const caf::actor& actor, absl::Duration timeout) {
  if (timeout > kMaxSuspend) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("a suspension lasts at most ", absl::FormatDuration(kMaxSuspend),
                     "; asked for ", absl::FormatDuration(timeout)));
  }
  if (timeout <= absl::ZeroDuration()) timeout = kDefaultSuspend;
  ReloadTarget* target = reload_target(actor);
  if (target == nullptr) {
    return reload_status(ReloadError::kInvalidArgument, "not a reloadable actor");
  }
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  if (auto it = suspended_.find(actor.id()); it != suspended_.end()) {
    it->second.deadline = deadline;
  } else {
    if (absl::Status s = hold(actor, target); !s.ok()) return s;
    suspended_.emplace(actor.id(), Suspended{actor, target, deadline});
  }
  changed_.Signal();
  return absl::OkStatus();
}

bool ActorMaintenance::resume(const caf::actor& actor) {
  absl::MutexLock lock(&mu_);
  auto it = suspended_.find(actor.id());
  if (it == suspended_.end()) return false;
  release(it->second.handle, it->second.target);
  suspended_.erase(it);
  changed_.Signal();
  return true;
}

bool ActorMaintenance::suspended(const caf::actor& actor) const {
  absl::MutexLock lock(&mu_);
  return suspended_.count(actor.id()) > 0;
}

absl::Status ActorMaintenance::replace_state(const caf::actor& actor, const std::string& version,
                                             const std::string& bytes) {
  ReloadTarget* target = reload_target(actor);
  if (target == nullptr) {
    return reload_status(ReloadError::kInvalidArgument, "not a reloadable actor");
  }
  absl::MutexLock lock(&mu_);
  if (suspended_.count(actor.id()) > 0) return target->replace_state(version, bytes);
  if (absl::Status s = hold(actor, target); !s.ok()) return s;
  absl::Status replaced = target->replace_state(version, bytes);
  release(actor, target);
  return replaced;
}

absl::Status ActorMaintenance::hold(const caf::actor& actor, ReloadTarget* target) {
  if (absl::Status s = registry_->mark_held(actor.id()); !s.ok()) return marking_failed(s);
  const absl::Time deadline = absl::Now() + kHoldTimeout;
  bool claimed = false;
  ReloadTarget::Hold h = ReloadTarget::Hold::kBusy;
  for (int attempt = 0;; ++attempt) {
    h = target->claim(steady_ns());
    if (h == ReloadTarget::Hold::kClaimed) {
      claimed = true;
      // From here on the actor opens no turn; the snapshot tells whether one still runs.
      h = target->hold(RunningTurns::after_heavy_fence());
      if (h == ReloadTarget::Hold::kHeld) return absl::OkStatus();
    }
    // kExited: gone; kBusy (a turn runs), kDraining (continuations run), kNotReady (starting):
    // again, until the deadline.
    if (h == ReloadTarget::Hold::kExited || absl::Now() > deadline) break;
    back_off(attempt);
  }
  if (claimed) {
    release(actor, target);
  } else {
    registry_->unmark_held(actor.id());
  }
  if (h == ReloadTarget::Hold::kExited) {
    return reload_status(ReloadError::kNotFound, absl::StrCat("actor #", actor.id(), " exited"));
  }
  return reload_status(
      ReloadError::kSuspendTimeout,
      absl::StrCat("actor #", actor.id(), " was not between two messages within ",
                   absl::FormatDuration(kHoldTimeout),
                   h == ReloadTarget::Hold::kDraining ? " (continuations of its requests pending)"
                                                      : " (busy in a handler)"));
}

void ActorMaintenance::release(const caf::actor& actor, ReloadTarget* target) {
  {
    ReleaseBatch batch(nullptr, 1);  // no tracker: nobody waits for the resume
    target->release(/*commit=*/false, 0, batch);
  }  // flushed: scheduled, with its kept messages first
  registry_->unmark_held(actor.id());
}

void ActorMaintenance::expire_loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto it = suspended_.begin(); it != suspended_.end();) {
      if (it->second.deadline <= now) {
        release(it->second.handle, it->second.target);
        it = suspended_.erase(it);
      } else {
        next = std::min(next, it->second.deadline);
        ++it;
      }
    }
    changed_.WaitWithDeadline(&mu_, next);
  }
}

}  // namespace lemon
