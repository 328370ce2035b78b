// The framework's system messages: how the reload manager suspends, migrates, resumes and inspects
// reloadable actors. Invisible to module code; local to one node (they carry module handles).
//
// Protocol for one module reload (all sent with high priority, so they overtake queued work):
//   manager -> actor   (sys_suspend, reload_id, reply_to)        actor -> (suspended, id, actor_id)
//   manager -> actor   (sys_change, reload_id, next, extra, reply_to)
//                                                    actor -> (changed, id, actor_id, ok, error)
//   manager -> actor   (sys_commit | sys_abort, reload_id, reply_to)
//                                                    actor -> (resumed, id, actor_id, pause_ns)
// A deferred actor (spawned while its module was being reloaded) waits for (sys_init, module).
#ifndef LEMON_ACTORS_SYSTEM_MESSAGES_H_
#define LEMON_ACTORS_SYSTEM_MESSAGES_H_

#include <cstdint>
#include <string>

#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/atom.hpp"
#include "core/code_server.h"

namespace lemon {

using sys_suspend_atom = caf::atom_constant<caf::atom("lsuspend")>;
using sys_change_atom = caf::atom_constant<caf::atom("lchange")>;
using sys_commit_atom = caf::atom_constant<caf::atom("lcommit")>;
using sys_abort_atom = caf::atom_constant<caf::atom("labort")>;
using sys_init_atom = caf::atom_constant<caf::atom("linit")>;
using sys_status_atom = caf::atom_constant<caf::atom("lstatus")>;

using suspended_atom = caf::atom_constant<caf::atom("lsusp_ok")>;
using changed_atom = caf::atom_constant<caf::atom("lchg_ok")>;
using resumed_atom = caf::atom_constant<caf::atom("lres_ok")>;

// What `actors.list` shows of one actor.
struct ActorStatus {
  uint64_t id = 0;
  std::string name;
  std::string module;
  std::string behaviour;
  std::string version;  // "" while a deferred actor waits for its version
  bool suspended = false;
  uint64_t mailbox_size = 0;  // queued + kept while suspended
  std::string state;          // the behaviour's format_status() JSON
};

}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ModuleRef)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ActorStatus)

#endif  // LEMON_ACTORS_SYSTEM_MESSAGES_H_
