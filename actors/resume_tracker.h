// Which actors of one reload have run again, and how long each was paused. Filled by the reload
// manager's threads as they release the actors (reload/swap_round.h), read by the manager.
//
//   auto tracker = std::make_shared<ResumeTracker>(actors.size());
//   // a thread releasing actor i:  tracker->resumed(i, pause_ns)  (or many at once:
//   //                              tracker->resumed({{i, pause_ns}, ...})); or tracker->gone(i)
//   // the manager:                 tracker->await_resumed(timeout); tracker->pauses_ns()
//
// Reporting moves the actor's own slot with one atomic operation and counts down; only the last
// report takes a lock (to wake a waiter). A report after the waiter gave up is harmless.
#ifndef LEMON_ACTORS_RESUME_TRACKER_H_
#define LEMON_ACTORS_RESUME_TRACKER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace lemon {

class ResumeTracker {
 public:
  explicit ResumeTracker(std::size_t actors);

  std::size_t size() const { return size_; }

  // Actor `index` runs again after a pause of `pause_ns`. Only the first report counts.
  void resumed(std::size_t index, uint64_t pause_ns);

  // The same for many actors at once, with one update of the count (for the manager, which
  // releases thousands of actors in a row).
  struct Resume {
    std::size_t index;
    uint64_t pause_ns;
  };
  void resumed(const std::vector<Resume>& resumes);

  // Actor `index` no longer counts (it exited, or was never paused). Thread-safe, idempotent.
  void gone(std::size_t index);

  // Waits until every actor resumed or is gone, or `timeout`; true if all did.
  bool await_resumed(absl::Duration timeout);

  // How many actors have still to resume (gone ones do not count).
  std::size_t to_resume() const { return to_resume_.load(std::memory_order_acquire); }

  // The indices of the actors that neither resumed nor are gone.
  std::vector<std::size_t> not_resumed() const;

  // The pauses of the actors that resumed and are not gone.
  std::vector<uint64_t> pauses_ns() const;

 private:
  static constexpr uint8_t kResumedBit = 0x1;
  static constexpr uint8_t kGoneBit = 0x2;

  // Sets `bit` in slot `index`; returns the slot's previous value.
  uint8_t mark(std::size_t index, uint8_t bit);
  // Records the pause of actor `index` and marks it resumed; true if that is its first report
  // (it then counts down, by the caller).
  bool mark_resumed(std::size_t index, uint64_t pause_ns);
  void count_down(std::size_t k = 1);

  const std::size_t size_;
  std::unique_ptr<std::atomic<uint8_t>[]> state_;      // kResumedBit | kGoneBit, per actor
  std::unique_ptr<std::atomic<uint64_t>[]> pause_ns_;  // per actor, written before kResumedBit
  std::atomic<std::size_t> to_resume_;
  // Wakes the manager when to_resume_ reaches zero.
  mutable absl::Mutex mu_;
  absl::CondVar zero_;
};

using ResumeTrackerPtr = std::shared_ptr<ResumeTracker>;

}  // namespace lemon

#endif  // LEMON_ACTORS_RESUME_TRACKER_H_
