#include "control_plane/actor_state.h"

#include "absl/strings/str_cat.h"
#include "core/module_schema.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

// The schema of the version `s` runs, with that version (which keeps the schema alive).
absl::StatusOr<ModuleRef> schema_version(const CodeServer& cs, const ActorStatus& s) {
  absl::StatusOr<ModuleRef> version = loaded_version(cs, s.module, s.version);
  if (!version.ok()) return version.status();
  if ((*version)->schema() == nullptr) {
    return reload_status(ReloadError::kNotFound, "the module declares no schema");
  }
  return version;
}

}  // namespace

absl::StatusOr<ModuleRef> loaded_version(const CodeServer& cs, const std::string& module,
                                         const std::string& version) {
  for (ModuleRef v : {cs.current(module), cs.old(module)}) {
    if (v && v->version() == version) return v;
  }
  return reload_status(ReloadError::kNotFound, "the actor's version is no longer loaded");
}

absl::StatusOr<std::string> state_json(const CodeServer& cs, const ActorStatus& s) {
  if (!s.state.empty() || s.state_type.empty()) return s.state;
  absl::StatusOr<ModuleRef> version = schema_version(cs, s);
  if (!version.ok()) return version.status();
  return (*version)->schema()->to_json(s.state_type, s.state_bytes);
}

absl::StatusOr<std::string> state_bytes(const CodeServer& cs, const ActorStatus& s,
                                        const std::string& json) {
  if (s.state_type.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("the state of ", s.module, " ", s.version,
                                      " is not a Protobuf message: it cannot be replaced"));
  }
  absl::StatusOr<ModuleRef> version = schema_version(cs, s);
  if (!version.ok()) return version.status();
  return (*version)->schema()->from_json(s.state_type, json);
}

}  // namespace lemon
