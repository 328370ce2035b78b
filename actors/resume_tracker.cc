#include "actors/resume_tracker.h"

namespace lemon {

ResumeTracker::ResumeTracker(std::size_t actors)
    : size_(actors),
      state_(new std::atomic<uint8_t>[actors]()),
      pause_ns_(new std::atomic<uint64_t>[actors]()),
      to_resume_(actors) {}

uint8_t ResumeTracker::mark(std::size_t index, uint8_t bit) {
  return state_[index].fetch_or(bit, std::memory_order_acq_rel);
}

void ResumeTracker::count_down(std::size_t k) {
  if (k == 0 || to_resume_.fetch_sub(k, std::memory_order_acq_rel) != k) return;
  // The last one wakes the manager; taking the lock orders this after the manager's check.
  absl::MutexLock lock(&mu_);
  zero_.SignalAll();
}

bool ResumeTracker::mark_resumed(std::size_t index, uint64_t pause_ns) {
  if ((state_[index].load(std::memory_order_acquire) & kResumedBit) != 0) return false;
  // Published to the manager by the fetch_or (acq_rel) that follows.
  pause_ns_[index].store(pause_ns, std::memory_order_relaxed);
  return mark(index, kResumedBit) == 0;  // neither resumed nor gone before
}

void ResumeTracker::resumed(std::size_t index, uint64_t pause_ns) {
  if (mark_resumed(index, pause_ns)) count_down();
}

void ResumeTracker::resumed(const std::vector<Resume>& resumes) {
  std::size_t first = 0;
  for (const Resume& r : resumes) first += mark_resumed(r.index, r.pause_ns) ? 1 : 0;
  count_down(first);
}

void ResumeTracker::gone(std::size_t index) {
  const uint8_t before = mark(index, kGoneBit);
  if (before == 0) count_down();
}

bool ResumeTracker::await_resumed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (to_resume_.load(std::memory_order_acquire) != 0) {
    if (zero_.WaitWithDeadline(&mu_, deadline)) {
      return to_resume_.load(std::memory_order_acquire) == 0;
    }
  }
  return true;
}

std::vector<std::size_t> ResumeTracker::not_resumed() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < size_; ++i) {
    if (state_[i].load(std::memory_order_acquire) == 0) out.push_back(i);
  }
  return out;
}

std::vector<uint64_t> ResumeTracker::pauses_ns() const {
  std::vector<uint64_t> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i) {
    if (state_[i].load(std::memory_order_acquire) == kResumedBit) {
      out.push_back(pause_ns_[i].load(std::memory_order_relaxed));
    }
  }
  return out;
}

}  // namespace lemon
