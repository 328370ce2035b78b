// How the control plane shows an actor's state (actors.list, actors.get_state) and reads a new one
// (actors.replace_state): through the schema of the module version the actor runs.
#ifndef LEMON_CONTROL_PLANE_ACTOR_STATE_H_
#define LEMON_CONTROL_PLANE_ACTOR_STATE_H_

#include <string>

#include "absl/status/statusor.h"
#include "actors/system_messages.h"
#include "core/code_server.h"

namespace lemon {

// Version `version` of `module` while it is loaded (current or old); kNotFound otherwise.
absl::StatusOr<ModuleRef> loaded_version(const CodeServer& cs, const std::string& module,
                                         const std::string& version);

// The state in `s` as JSON: its format_status(), or a Protobuf state through the schema of the
// version it runs. kNotFound if that version is no longer loaded or declares no schema.
absl::StatusOr<std::string> state_json(const CodeServer& cs, const ActorStatus& s);

// `json` as a serialized `s.state_type`, read with the schema of the version in `s`:
// kInvalidArgument naming the field for an unknown field or a value of the wrong type, or when
// the state is not a Protobuf message.
absl::StatusOr<std::string> state_bytes(const CodeServer& cs, const ActorStatus& s,
                                        const std::string& json);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_ACTOR_STATE_H_
