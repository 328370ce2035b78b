// The reload manager: moves every actor of a module to a new version, OTP-style (suspend,
// change_code, resume), all or nothing.
//
//   ReloadManager manager(sys, registry, code_server);
//   ModuleRef next = code_server.prepare("libcounter_v2.so").value();
//   SwapResult r = manager.swap(next, {.extra = ""});
//   if (!r.status.ok()) { /* every actor still runs the old version with its old state */ }
//
// Protocol (actors/system_messages.h): suspend all actors of the module in parallel and wait for
// every acknowledgement (deadline); ask each to migrate its state with the new version's
// code_change (deadline); if all succeeded, make the version current in the code server and commit
// every actor, else abort every actor (they resume on the old version with their untouched old
// state) and drop the new version. Actors then resume; messages that arrived meanwhile were kept
// and run first, in order. Acknowledgements are plain messages counted by a scoped actor: no
// per-actor request/response, so cost stays linear in the number of actors.
// swap() blocks its caller; it is thread-safe, and reloads of different modules may overlap.
#ifndef LEMON_ACTORS_RELOAD_MANAGER_H_
#define LEMON_ACTORS_RELOAD_MANAGER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "actors/registry.h"
#include "caf/fwd.hpp"
#include "core/code_server.h"

namespace lemon {

struct SwapOptions {
  std::string extra;                                   // passed to every code_change
  absl::Duration suspend_timeout = absl::Seconds(10);  // for all suspension acknowledgements
  absl::Duration change_timeout = absl::Seconds(30);   // for all code_change replies
};

struct ActorFailure {
  uint64_t actor_id = 0;
  std::string actor_name;
  std::string message;
};

struct SwapResult {
  absl::Status status;  // kSuspendTimeout, kCodeChangeFailed, kInUse, ... or OK
  std::string module;
  std::string from_version;  // "" if the module was not loaded before
  std::string to_version;
  std::size_t actors = 0;   // actors moved (or rolled back)
  std::size_t deferred = 0; // actors spawned during the swap, started on the winning version
  std::vector<ActorFailure> failures;
  std::vector<double> pause_seconds;  // per actor: suspended -> resumed
  double duration_ms = 0;
};

class ReloadManager {
 public:
  ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                CodeServer& code_server);

  // Makes `next` (from CodeServer::prepare) the current version of its module and moves every
  // actor running that module to it, or leaves everything as it was and reports why.
  SwapResult swap(const ModuleRef& next, const SwapOptions& options);

 private:
  caf::actor_system& sys_;
  std::shared_ptr<ActorRegistry> registry_;
  CodeServer& code_server_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_RELOAD_MANAGER_H_
