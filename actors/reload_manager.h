// The reload manager: moves every actor of a module to a new version, OTP-style (suspend,
// change_code, resume), all or nothing.
//
//   ReloadManager manager(sys, registry, code_server);
//   ModuleRef next = code_server.prepare("libcounter_v2.so").value();
//   SwapResult r = manager.swap(next, {.extra = ""});
//   if (!r.status.ok()) { /* every actor still runs the old version with its old state */ }
//
// Protocol (actors/system_messages.h): ask all actors of the module, in parallel, to suspend and
// migrate their state with the new version's code_change, and wait until every one reported
// (deadline). If all succeeded, make the version current in the code server and commit every
// actor; else abort every actor (they resume on the old version with their untouched old state)
// and the new version is dropped with the caller's last reference. Actors then resume; messages
// that arrived meanwhile were kept and run first, in order. Actors report through a shared
// ReloadRound (actors/reload_round.h), not per-actor request/response: the manager's cost is two
// sends per actor. An actor that exits during the round stops counting (checked against the
// registry when the round stalls), so it does not hold the round until its deadline.
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
#include "actors/reload_round.h"
#include "caf/fwd.hpp"
#include "core/code_server.h"
#include "core/module_swapper.h"

namespace lemon {

class ReloadManager : public ModuleSwapper {
 public:
  ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                CodeServer& code_server);

  // Makes `next` (from CodeServer::prepare) the current version of its module and moves every
  // actor running that module to it, or leaves everything as it was and reports why.
  SwapResult swap(const ModuleRef& next, const SwapOptions& options) override;

  // Runs the current version's code_change on one actor (OTP's sys:change_code without a new
  // version), e.g. to migrate its state with `extra`; all or nothing for that actor.
  SwapResult change_code(const std::string& actor_name, const SwapOptions& options) override;

  // Kills the actors running `version` (hard purge) and waits until they are gone.
  int stop_actors(const ModuleRef& version, absl::Duration timeout) override;

  std::map<std::string, std::size_t> actor_counts() const override;

 private:
  // Suspends and migrates `actors` to `next`, commits `next` in the code server if all succeeded,
  // resumes everyone; fills `result` (status, failures, pauses, phase times).
  void run_round(const ModuleRef& next, const std::vector<caf::actor>& actors,
                 const SwapOptions& options, SwapResult& result);

  // After a failed or late prepare phase: the failures and the status (cold path).
  void report_failures(const ReloadRound& round, const std::vector<caf::actor>& actors,
                       const SwapOptions& options, SwapResult& result);

  caf::actor_system& sys_;
  std::shared_ptr<ActorRegistry> registry_;
  CodeServer& code_server_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_RELOAD_MANAGER_H_
