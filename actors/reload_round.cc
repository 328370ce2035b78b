#include "actors/reload_round.h"

#include <utility>

namespace lemon {

ReloadRound::ReloadRound(uint64_t id, ModuleRef next, std::string extra, std::size_t actors)
    : id_(id),
      next_(std::move(next)),
      extra_(std::move(extra)),
      size_(actors),
      slots_(new Slot[actors]),
      to_prepare_(actors),
      to_resume_(actors),
      gone_(new bool[actors]()) {}

void ReloadRound::describe(std::size_t index, caf::actor_id actor, std::string name) {
  absl::MutexLock lock(&mu_);
  slots_[index].actor = actor;
  slots_[index].name = std::move(name);
}

void ReloadRound::suspended(std::size_t index) {
  absl::MutexLock lock(&mu_);
  if (slots_[index].step == Step::kPending) slots_[index].step = Step::kSuspended;
}

void ReloadRound::prepared(std::size_t index, bool ok, std::string error) {
  absl::MutexLock lock(&mu_);
  Slot& s = slots_[index];
  if (s.step != Step::kPending && s.step != Step::kSuspended) return;
  s.step = ok ? Step::kMigrated : Step::kFailed;
  s.error = std::move(error);
  if (!gone_[index]) --to_prepare_;
}

void ReloadRound::resumed(std::size_t index, uint64_t pause_ns) {
  absl::MutexLock lock(&mu_);
  Slot& s = slots_[index];
  if (s.step == Step::kResumed) return;
  s.step = Step::kResumed;
  s.pause_ns = pause_ns;
  if (!gone_[index]) --to_resume_;
}

void ReloadRound::gone(std::size_t index) {
  absl::MutexLock lock(&mu_);
  if (gone_[index]) return;
  gone_[index] = true;
  const Step step = slots_[index].step;
  if (step == Step::kPending || step == Step::kSuspended) --to_prepare_;
  if (step != Step::kResumed) --to_resume_;
}

bool ReloadRound::await_prepared(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return to_prepare_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool ReloadRound::await_resumed(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return to_resume_ == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

std::vector<ReloadRound::Slot> ReloadRound::snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<Slot> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i) {
    if (!gone_[i]) out.push_back(slots_[i]);
  }
  return out;
}

}  // namespace lemon
