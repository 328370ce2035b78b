// One reload of one module as the actors see it: what to migrate to, and where each actor reports
// its progress. Shared (by shared_ptr) between the reload manager and the actors of the module.
//
// Actors report by writing their own slot and counting down, not by sending messages back, so the
// manager's cost per actor is two sends and nothing else; it waits on a condition with a deadline.
// A slot written after the manager stopped waiting is harmless: the round outlives every message.
#ifndef LEMON_ACTORS_RELOAD_ROUND_H_
#define LEMON_ACTORS_RELOAD_ROUND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "caf/actor.hpp"
#include "core/code_server.h"

namespace lemon {

class ReloadRound {
 public:
  enum class Step : int {
    kPending = 0,    // suspension not acknowledged yet
    kSuspended = 1,  // suspended, migration not finished (e.g. waiting for continuations)
    kMigrated = 2,   // new behaviour staged, waiting for commit or abort
    kFailed = 3,     // code_change failed; see error
    kResumed = 4,    // running again (on new code after commit, old code after abort)
  };

  struct Slot {
    caf::actor_id actor = 0;
    std::string name;
    Step step = Step::kPending;  // guarded by the round's mutex
    std::string error;
    uint64_t pause_ns = 0;
  };

  ReloadRound(uint64_t id, ModuleRef next, std::string extra, std::size_t actors);

  uint64_t id() const { return id_; }
  const ModuleRef& next() const { return next_; }
  const std::string& extra() const { return extra_; }
  std::size_t size() const { return size_; }

  // Called by actor `index`, from the actor.
  void suspended(std::size_t index);
  void prepared(std::size_t index, bool ok, std::string error);
  void resumed(std::size_t index, uint64_t pause_ns);

  // Called by the manager before sending anything.
  void describe(std::size_t index, caf::actor_id actor, std::string name);
  // An actor that exited during the reload no longer counts.
  void gone(std::size_t index);

  // Wait until every actor prepared (or failed), or `timeout`; true if all answered.
  bool await_prepared(absl::Duration timeout);
  // Wait until every actor resumed, or `timeout`; true if all did.
  bool await_resumed(absl::Duration timeout);

  // A copy of the slots, for reporting.
  std::vector<Slot> snapshot() const;

 private:
  const uint64_t id_;
  const ModuleRef next_;
  const std::string extra_;
  const std::size_t size_;
  mutable absl::Mutex mu_;
  std::unique_ptr<Slot[]> slots_ ABSL_GUARDED_BY(mu_);
  std::size_t to_prepare_ ABSL_GUARDED_BY(mu_);
  std::size_t to_resume_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<bool[]> gone_ ABSL_GUARDED_BY(mu_);
};

using ReloadRoundPtr = std::shared_ptr<ReloadRound>;

}  // namespace lemon

#endif  // LEMON_ACTORS_RELOAD_ROUND_H_
