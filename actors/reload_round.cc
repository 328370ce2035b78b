#include "actors/reload_round.h"

#include <utility>

namespace lemon {
namespace {

constexpr unsigned bit(ReloadRound::Step s) { return 1u << static_cast<unsigned>(s); }

constexpr unsigned kNotPrepared =
    bit(ReloadRound::Step::kPending) | bit(ReloadRound::Step::kSuspended);
constexpr unsigned kNotResumed = ~bit(ReloadRound::Step::kResumed);

}  // namespace

ReloadRound::ReloadRound(uint64_t id, ModuleRef next, std::string extra, std::size_t actors)
    : id_(id),
      next_(std::move(next)),
      extra_(std::move(extra)),
      size_(actors),
      state_(new std::atomic<uint8_t>[actors]()),
      pause_ns_(new std::atomic<uint64_t>[actors]()),
      to_prepare_(actors),
      to_resume_(actors) {}

uint8_t ReloadRound::advance(std::size_t index, unsigned from, Step to, bool& moved) {
  std::atomic<uint8_t>& state = state_[index];
  uint8_t s = state.load(std::memory_order_relaxed);
  do {
    if ((from & bit(step_of(s))) == 0) {
      moved = false;
      return s;
    }
  } while (!state.compare_exchange_weak(
      s, static_cast<uint8_t>((s & kGoneBit) | static_cast<uint8_t>(to)),
      std::memory_order_acq_rel, std::memory_order_relaxed));
  moved = true;
  return s;
}

void ReloadRound::count_down(std::atomic<std::size_t>& counter) {
  if (counter.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // The last one wakes the manager; taking the lock orders this after the manager's check.
  absl::MutexLock lock(&mu_);
  zero_.SignalAll();
}

bool ReloadRound::await_zero(const std::atomic<std::size_t>& counter, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (counter.load(std::memory_order_acquire) != 0) {
    if (zero_.WaitWithDeadline(&mu_, deadline)) {
      return counter.load(std::memory_order_acquire) == 0;
    }
  }
  return true;
}

void ReloadRound::suspended(std::size_t index) {
  bool moved;
  advance(index, bit(Step::kPending), Step::kSuspended, moved);
}

void ReloadRound::prepared(std::size_t index, bool ok, std::string error) {
  if (!ok) {
    absl::MutexLock lock(&mu_);
    errors_[index] = std::move(error);
  }
  bool moved;
  const uint8_t before =
      advance(index, kNotPrepared, ok ? Step::kMigrated : Step::kFailed, moved);
  if (!moved) return;
  if (!ok) failed_.fetch_add(1, std::memory_order_acq_rel);
  if ((before & kGoneBit) == 0) count_down(to_prepare_);
}

void ReloadRound::resumed(std::size_t index, uint64_t pause_ns) {
  bool moved;
  const uint8_t before = advance(index, kNotResumed, Step::kResumed, moved);
  if (!moved) return;
  // Published to the manager by the count-down (acq_rel) that follows.
  pause_ns_[index].store(pause_ns, std::memory_order_relaxed);
  if ((before & kGoneBit) == 0) count_down(to_resume_);
}

void ReloadRound::gone(std::size_t index) {
  std::atomic<uint8_t>& state = state_[index];
  uint8_t s = state.load(std::memory_order_relaxed);
  do {
    if ((s & kGoneBit) != 0) return;
  } while (!state.compare_exchange_weak(s, static_cast<uint8_t>(s | kGoneBit),
                                        std::memory_order_acq_rel, std::memory_order_relaxed));
  const Step step = step_of(s);
  if ((kNotPrepared & bit(step)) != 0) count_down(to_prepare_);
  if (step != Step::kResumed) count_down(to_resume_);
}

bool ReloadRound::await_prepared(absl::Duration timeout) { return await_zero(to_prepare_, timeout); }

bool ReloadRound::await_resumed(absl::Duration timeout) { return await_zero(to_resume_, timeout); }

std::vector<std::size_t> ReloadRound::unfinished(unsigned steps) const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < size_; ++i) {
    const uint8_t s = state_[i].load(std::memory_order_acquire);
    if ((s & kGoneBit) == 0 && (steps & bit(step_of(s))) != 0) out.push_back(i);
  }
  return out;
}

std::vector<std::size_t> ReloadRound::not_prepared() const { return unfinished(kNotPrepared); }

std::vector<std::size_t> ReloadRound::not_resumed() const { return unfinished(kNotResumed); }

std::vector<uint64_t> ReloadRound::pauses_ns() const {
  std::vector<uint64_t> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i) {
    if (state_[i].load(std::memory_order_acquire) == static_cast<uint8_t>(Step::kResumed)) {
      out.push_back(pause_ns_[i].load(std::memory_order_relaxed));
    }
  }
  return out;
}

std::vector<ReloadRound::Slot> ReloadRound::snapshot() const {
  std::vector<Slot> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i) {
    const uint8_t s = state_[i].load(std::memory_order_acquire);
    if ((s & kGoneBit) != 0) continue;
    Slot slot;
    slot.index = i;
    slot.step = step_of(s);
    if (slot.step == Step::kResumed) slot.pause_ns = pause_ns_[i].load(std::memory_order_relaxed);
    out.push_back(std::move(slot));
  }
  absl::MutexLock lock(&mu_);
  for (Slot& slot : out) {
    if (slot.step != Step::kFailed) continue;
    auto e = errors_.find(slot.index);
    if (e != errors_.end()) slot.error = e->second;
  }
  return out;
}

}  // namespace lemon
