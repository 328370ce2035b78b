// One reload of one module as the actors see it: what to migrate to, and where each actor reports
// its progress. Shared (by shared_ptr) between the reload manager and the actors of the module.
//
//   auto round = std::make_shared<ReloadRound>(id, next, extra, actors.size());
//   // actor i, on its own thread:   round->suspended(i); ...; round->prepared(i, true, "");
//   // the manager:                  if (round->await_prepared(absl::Seconds(10))) { ... }
//
// Actors report by moving their own slot forward with one atomic operation and counting down, not
// by sending messages back: the manager's cost per actor is two sends and nothing else, and an
// actor takes no lock unless it is the last to report (which wakes the manager) or it failed
// (its error text is kept under a lock: cold path). A slot written after the manager stopped
// waiting is harmless: the round outlives every message.
#ifndef LEMON_ACTORS_RELOAD_ROUND_H_
#define LEMON_ACTORS_RELOAD_ROUND_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/code_server.h"

namespace lemon {

class ReloadRound {
 public:
  enum class Step : uint8_t {
    kPending = 0,    // suspension not acknowledged yet
    kSuspended = 1,  // suspended, migration not finished (e.g. waiting for continuations)
    kMigrated = 2,   // new behaviour staged, waiting for commit or abort
    kFailed = 3,     // code_change failed; see error
    kResumed = 4,    // running again (on new code after commit, old code after abort)
  };

  // One actor's progress, as snapshot() reports it.
  struct Slot {
    std::size_t index = 0;  // the actor's position in the round
    Step step = Step::kPending;
    std::string error;  // why it failed (kFailed only)
    uint64_t pause_ns = 0;  // suspended -> resumed (kResumed only)
  };

  ReloadRound(uint64_t id, ModuleRef next, std::string extra, std::size_t actors);

  uint64_t id() const { return id_; }
  const ModuleRef& next() const { return next_; }
  const std::string& extra() const { return extra_; }
  std::size_t size() const { return size_; }

  // Called by actor `index`, from the actor. Each moves the slot forward only (a late or repeated
  // report is ignored).
  void suspended(std::size_t index);
  void prepared(std::size_t index, bool ok, std::string error);
  void resumed(std::size_t index, uint64_t pause_ns);

  // An actor that exited during the reload no longer counts. Thread-safe, idempotent.
  void gone(std::size_t index);

  // Wait until every actor prepared (or failed), or `timeout`; true if all answered.
  bool await_prepared(absl::Duration timeout);
  // Wait until every actor resumed, or `timeout`; true if all did.
  bool await_resumed(absl::Duration timeout);

  // How many actors have still to prepare / to resume (gone ones do not count).
  std::size_t to_prepare() const { return to_prepare_.load(std::memory_order_acquire); }
  std::size_t to_resume() const { return to_resume_.load(std::memory_order_acquire); }

  // How many actors reported a failed migration.
  std::size_t failed() const { return failed_.load(std::memory_order_acquire); }

  // The pauses (suspended -> resumed) of the actors that resumed and are not gone.
  std::vector<uint64_t> pauses_ns() const;

  // The indices of the actors (not gone) that have not prepared yet, or not resumed yet.
  std::vector<std::size_t> not_prepared() const;
  std::vector<std::size_t> not_resumed() const;

  // The slots of the actors that are not gone, for reporting.
  std::vector<Slot> snapshot() const;

 private:
  static constexpr uint8_t kStepMask = 0x7;
  static constexpr uint8_t kGoneBit = 0x8;
  static Step step_of(uint8_t state) { return static_cast<Step>(state & kStepMask); }

  // Moves slot `index` to `to` if its step is one of `from` (a bit set of steps); returns the state
  // it had, or nothing (as `moved` = false) if the step did not allow the move.
  uint8_t advance(std::size_t index, unsigned from, Step to, bool& moved);
  void count_down(std::atomic<std::size_t>& counter);
  bool await_zero(const std::atomic<std::size_t>& counter, absl::Duration timeout);
  std::vector<std::size_t> unfinished(unsigned steps) const;

  const uint64_t id_;
  const ModuleRef next_;
  const std::string extra_;
  const std::size_t size_;
  std::unique_ptr<std::atomic<uint8_t>[]> state_;      // step | kGoneBit, per actor
  std::unique_ptr<std::atomic<uint64_t>[]> pause_ns_;  // per actor, written before kResumed
  std::atomic<std::size_t> to_prepare_;
  std::atomic<std::size_t> to_resume_;
  std::atomic<std::size_t> failed_{0};
  // Wakes the manager when a counter reaches zero.
  mutable absl::Mutex mu_;
  absl::CondVar zero_;
  std::map<std::size_t, std::string> errors_ ABSL_GUARDED_BY(mu_);  // failed actors only
};

using ReloadRoundPtr = std::shared_ptr<ReloadRound>;

}  // namespace lemon

#endif  // LEMON_ACTORS_RELOAD_ROUND_H_
