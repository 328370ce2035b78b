// The framework's system messages: how the reload manager suspends, migrates, resumes and inspects
// reloadable actors. Invisible to module code; local to one node (they carry module handles).
//
// Protocol for one module reload (sent with high priority, so they overtake queued work; actors
// answer through the shared ReloadRound, not by message):
//   (sys_suspend, round, index)  suspend, wait for tracked continuations, migrate the state with
//                                round->next()'s code_change, report prepared (ok or error)
//   (sys_commit, round, index)   install the migrated behaviour, resume, report resumed
//   (sys_abort, round, index)    drop it, resume on the old behaviour and state, report resumed
// A deferred actor (spawned while its module was being reloaded) waits for (sys_init, module).
#ifndef LEMON_ACTORS_SYSTEM_MESSAGES_H_
#define LEMON_ACTORS_SYSTEM_MESSAGES_H_

#include <cstdint>
#include <string>

#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/atom.hpp"
#include "actors/reload_round.h"
#include "core/code_server.h"

namespace lemon {

using sys_suspend_atom = caf::atom_constant<caf::atom("lsuspend")>;
using sys_commit_atom = caf::atom_constant<caf::atom("lcommit")>;
using sys_abort_atom = caf::atom_constant<caf::atom("labort")>;
using sys_init_atom = caf::atom_constant<caf::atom("linit")>;
using sys_status_atom = caf::atom_constant<caf::atom("lstatus")>;

// What `actors.list` shows of one actor.
struct ActorStatus {
  uint64_t id = 0;
  std::string name;
  std::string module;
  std::string behaviour;
  std::string version;  // "" while a deferred actor waits for its version
  bool suspended = false;
  uint64_t mailbox_size = 0;  // queued + kept while suspended
  uint64_t pending_requests = 0;  // tracked requests whose continuation has not run yet
  std::string state;          // the behaviour's format_status() JSON
};

}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ModuleRef)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ReloadRoundPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ActorStatus)

#endif  // LEMON_ACTORS_SYSTEM_MESSAGES_H_
