// The framework's system messages to reloadable actors. Invisible to module code; local to one node
// (they carry module handles).
//
// A reload needs none of them in the common case: the reload manager holds each actor between two
// messages and migrates it on its own thread (actors/reloadable_actor.h, ReloadTarget). What is
// left travels as messages, with high priority so they overtake queued work:
//   (sys_wake)                after a release: run the messages kept while held, in order
//   (sys_init, module)        a deferred actor (spawned during a reload) starts on that version
//   (sys_status)              -> ActorStatus, answered even while the actor is held
//   (sys_snapshot)            -> StateSnapshot: the state a code_change would get (a pre-flight)
#ifndef LEMON_ACTORS_SYSTEM_MESSAGES_H_
#define LEMON_ACTORS_SYSTEM_MESSAGES_H_

#include <cstdint>
#include <string>

#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/atom.hpp"
#include "core/code_server.h"

namespace lemon {

using sys_wake_atom = caf::atom_constant<caf::atom("lwake")>;
using sys_init_atom = caf::atom_constant<caf::atom("linit")>;
using sys_status_atom = caf::atom_constant<caf::atom("lstatus")>;
using sys_snapshot_atom = caf::atom_constant<caf::atom("lsnapshot")>;

// What `actors.list` shows of one actor.
struct ActorStatus {
  uint64_t id = 0;
  std::string name;
  std::string module;
  std::string behaviour;
  std::string version;  // "" while a deferred actor waits for its version
  bool suspended = false;
  uint64_t mailbox_size = 0;      // queued + kept while suspended
  uint64_t pending_requests = 0;  // tracked requests whose continuation has not run yet
  std::string state;              // the behaviour's format_status() JSON
  // When format_status() is empty and the behaviour's state is a Protobuf message (ProtoActor):
  // its type and export_state(), which the host shows as JSON through the version's schema.
  std::string state_type;
  std::string state_bytes;
  // Counters for actors.statistics: messages its handlers were given (system messages aside),
  // the longest mailbox seen at the start of one of its turns, and when (Unix time, ms) a reload
  // last installed a version in it (0: never).
  uint64_t messages_handled = 0;
  uint64_t mailbox_high_water = 0;
  int64_t last_reload_unix_ms = 0;
};

// An actor's exported state and what a code_change needs beside it, taken on the actor's own
// thread between two of its messages.
struct StateSnapshot {
  uint64_t id = 0;
  std::string name;
  std::string behaviour;
  std::string version;     // "" while a deferred actor waits for its version
  std::string state_type;  // Behaviour::state_type()
  std::string state;       // Behaviour::export_state()
  std::string error;       // export_state threw (or there is no behaviour yet): why
};

}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ModuleRef)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::StateSnapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lemon::ActorStatus)

#endif  // LEMON_ACTORS_SYSTEM_MESSAGES_H_
