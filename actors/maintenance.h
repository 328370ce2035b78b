// Operator access to one live reloadable actor, as OTP's sys:suspend, sys:resume and
// sys:replace_state: an actor is held between two of its messages by the machinery a reload uses
// (ReloadTarget claim/hold/release, actors/reloadable_actor.h), so messages that arrive while it
// is held are kept in arrival order and run after the release, first and in order.
//
//   ActorMaintenance maintenance(registry);
//   maintenance.suspend(actor, absl::Seconds(30));      // resumes on its own after 30 s
//   maintenance.replace_state(actor, "2", bytes);       // served while suspended
//   maintenance.resume(actor);                          // idempotent
//
// A held actor is marked in the registry (ActorRegistry::mark_held): a reload of its module is
// refused (kReloadInProgress, naming the actor) until it resumes, and an actor is not suspended
// while a reload of its module runs. Neither waits for the other, so neither can deadlock.
// Thread-safe; operations run one at a time (holding an actor waits for its current turn, at most
// kHoldTimeout).
#ifndef LEMON_ACTORS_MAINTENANCE_H_
#define LEMON_ACTORS_MAINTENANCE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "caf/actor.hpp"

namespace lemon {

class ActorMaintenance {
 public:
  // A suspension without a timeout lasts kDefaultSuspend; longer than kMaxSuspend is refused.
  static constexpr absl::Duration kDefaultSuspend = absl::Seconds(60);
  static constexpr absl::Duration kMaxSuspend = absl::Minutes(10);
  // How long holding an actor may wait for its turn to end and its pending continuations to run.
  static constexpr absl::Duration kHoldTimeout = absl::Seconds(5);

  explicit ActorMaintenance(std::shared_ptr<ActorRegistry> registry);
  // Resumes every actor still suspended.
  ~ActorMaintenance();
  ActorMaintenance(const ActorMaintenance&) = delete;
  ActorMaintenance& operator=(const ActorMaintenance&) = delete;

  // Holds `actor` until resume() or until `timeout` (zero: kDefaultSuspend) has passed, whichever
  // comes first; on a suspended actor, sets its deadline anew. Errors (ReloadError):
  // kInvalidArgument for a timeout above kMaxSuspend or an actor that is not reloadable,
  // kNotFound for an actor that is gone, kReloadInProgress while its module is being reloaded,
  // kSuspendTimeout if it could not be held within kHoldTimeout.
  absl::Status suspend(const caf::actor& actor, absl::Duration timeout);

  // Lets a suspended actor run again; whether it was suspended (false: nothing to do).
  bool resume(const caf::actor& actor);

  bool suspended(const caf::actor& actor) const;

  // Replaces the state of `actor`, which must run `version`, with `bytes` (a serialized state of
  // the behaviour's state_type), between two of its messages: at once if it is suspended, else
  // holding it for just that. Errors as suspend(), and ReloadTarget::replace_state's.
  absl::Status replace_state(const caf::actor& actor, const std::string& version,
                             const std::string& bytes);

 private:
  struct Suspended {
    caf::actor handle;  // keeps the actor (and its ReloadTarget) alive while it is held
    ReloadTarget* target;
    absl::Time deadline;
  };

  // Marks `actor` held in the registry and holds it (ReloadTarget claim and hold); on failure,
  // leaves it neither marked nor claimed.
  absl::Status hold(const caf::actor& actor, ReloadTarget* target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lets a held actor run again and removes its mark.
  void release(const caf::actor& actor, ReloadTarget* target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Resumes the suspensions whose deadline has passed, until the destructor stops it.
  void expire_loop();

  std::shared_ptr<ActorRegistry> registry_;
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a deadline changed, or stopping_
  std::map<caf::actor_id, Suspended> suspended_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread expiry_;  // last: starts once the members above exist
};

}  // namespace lemon

#endif  // LEMON_ACTORS_MAINTENANCE_H_
