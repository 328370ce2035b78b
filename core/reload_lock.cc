#include "core/reload_lock.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {

LockService::Guard::Guard(Guard&& other) noexcept
    : service_(std::exchange(other.service_, nullptr)),
      owner_(std::move(other.owner_)),
      token_(std::exchange(other.token_, 0)) {}

LockService::Guard& LockService::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    release();
    service_ = std::exchange(other.service_, nullptr);
    owner_ = std::move(other.owner_);
    token_ = std::exchange(other.token_, 0);
  }
  return *this;
}

void LockService::Guard::release() noexcept {
  if (service_ == nullptr) return;
  std::exchange(service_, nullptr)->release(token_);
}

absl::StatusOr<ReloadLock::Guard> ReloadLock::acquire(std::string owner, absl::Duration timeout) {
  const absl::Time start = absl::Now();
  uint64_t token = 0;
  std::string refusal;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t ticket = next_ticket_++;
    queue_.push_back(ticket);
    auto my_turn = [this, ticket]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !holder_.has_value() && queue_.front() == ticket;
    };
    if (mu_.AwaitWithDeadline(absl::Condition(&my_turn), start + timeout)) {
      queue_.pop_front();
      token = ++last_token_;
      holder_ = HolderInfo{owner, token, absl::Now()};
    } else {
      // Leave the queue so that later callers do not wait behind a ticket nobody will take.
      queue_.erase(std::find(queue_.begin(), queue_.end(), ticket));
      if (holder_.has_value()) {
        refusal = absl::StrCat(
            holder_->owner, " holds the reload lock since ",
            absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", holder_->since, absl::UTCTimeZone()),
            " (token ", holder_->token, "); ", owner, " waited ",
            absl::FormatDuration(absl::Now() - start));
      } else {
        refusal = absl::StrCat("the reload lock is being handed to an earlier waiter; ", owner,
                               " waited ", absl::FormatDuration(absl::Now() - start));
      }
    }
  }
  const absl::Duration waited = absl::Now() - start;
  if (token == 0) {
    emit_wait(owner, waited, "timeout", 0);
    return reload_status(ReloadError::kReloadInProgress, refusal);
  }
  emit_wait(owner, waited, "acquired", token);
  return make_guard(std::move(owner), token);
}

void ReloadLock::release(uint64_t token) noexcept {
  absl::MutexLock lock(&mu_);
  if (holder_.has_value() && holder_->token == token) holder_.reset();
}

std::optional<HolderInfo> ReloadLock::holder() const {
  absl::MutexLock lock(&mu_);
  return holder_;
}

size_t ReloadLock::waiting() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool ReloadLock::await_waiting(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void ReloadLock::emit_wait(const std::string& owner, absl::Duration waited, const char* outcome,
                           uint64_t token) {
  if (telemetry_ == nullptr) return;
  TelemetryEvent event{kLockWait,
                       {{"wait_seconds", absl::ToDoubleSeconds(waited)}},
                       {{"owner", owner}, {"outcome", outcome}}};
  if (token != 0) event.metadata["token"] = absl::StrCat(token);
  telemetry_->emit(event);
}

}  // namespace lemon
