// The seam between reload operations (core/reloader.h) and the actors that run module code: moving
// every actor of a module to a new version, and stopping the actors of a version.
//
// Implemented by reload/reload_manager.h on CAF; core stays free of CAF.
#ifndef LEMON_CORE_MODULE_SWAPPER_H_
#define LEMON_CORE_MODULE_SWAPPER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/code_server.h"

namespace lemon {

struct SwapOptions {
  std::string extra;                                   // passed to every code_change
  absl::Duration suspend_timeout = absl::Seconds(10);  // all actors suspended and migrated by then
  bool downgrade = false;  // the new version is older: a rollback (StateHandoff::downgrade)
};

struct ActorFailure {
  uint64_t actor_id = 0;
  std::string actor_name;
  std::string message;
};

struct SwapResult {
  absl::Status status;  // kSuspendTimeout, kCodeChangeFailed, kInUse, kReloadInProgress or OK
  std::string module;
  std::string from_version;  // "" if the module was not loaded before
  std::string to_version;
  std::size_t actors = 0;    // actors moved (or rolled back)
  std::size_t deferred = 0;  // actors spawned during the swap, started on the winning version
  std::vector<ActorFailure> failures;
  std::vector<double> pause_seconds;  // per actor: suspended -> resumed
  double duration_ms = 0;
  double prepare_ms = 0;  // until every actor suspended and migrated (or the deadline)
  double resume_ms = 0;   // from the commit or abort until every actor resumed
};

class ModuleSwapper {
 public:
  virtual ~ModuleSwapper() = default;

  // Makes `next` (from CodeServer::prepare) current and moves every actor of its module to it, all
  // or nothing. Blocks the caller.
  virtual SwapResult swap(const ModuleRef& next, const SwapOptions& options) = 0;

  // Runs the current version's code_change(current, state, extra) on the actor named
  // `actor_name` (a code_change target: state migration without a new version).
  virtual SwapResult change_code(const std::string& actor_name, const SwapOptions& options) = 0;

  // The pre-flight: runs `next`'s code_change on a snapshot of the state of each actor of its
  // module (the first `sample` of them; 0: all), holding and changing no one, and drops what it
  // made. `actors` is how many were checked; each failure names the actor and why; status is
  // kCodeChangeFailed when any failed. Snapshots not taken by options.suspend_timeout fail.
  virtual SwapResult preflight(const ModuleRef& next, const SwapOptions& options,
                               std::size_t sample) = 0;

  // Stops every actor running `version` and waits until they are gone; returns how many.
  virtual int stop_actors(const ModuleRef& version, absl::Duration timeout) = 0;

  // Actors per module.
  virtual std::map<std::string, std::size_t> actor_counts() const = 0;
};

}  // namespace lemon

#endif  // LEMON_CORE_MODULE_SWAPPER_H_
