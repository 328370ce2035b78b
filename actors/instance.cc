#include "actors/instance.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {

const std::string& Instance::version() const {
  static const std::string none;
  return use ? use.module()->version() : none;
}

absl::StatusOr<Instance> make_instance(const ModuleRef& module, const std::string& behaviour,
                                       const std::string& init_arg) {
  const LemonBehaviourDescriptor* d = module->behaviour(behaviour);
  if (d == nullptr) {
    return reload_status(ReloadError::kNotFound,
                         absl::StrCat("module ", module->name(), " version ", module->version(),
                                      " has no behaviour ", behaviour));
  }
  std::string error;
  Behaviour* b = d->create(init_arg, &error);
  if (b == nullptr) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat(module->name(), " create failed: ", error));
  }
  Instance out;
  out.use = ModuleUse(module);
  out.behaviour = std::unique_ptr<Behaviour, BehaviourDeleter>(b, BehaviourDeleter{d->destroy});
  return out;
}

namespace {

// code_change_instance with next's descriptor of the behaviour (nullptr: it has none) looked up.
absl::StatusOr<Instance> code_change_with(const LemonBehaviourDescriptor* d, const ModuleRef& next,
                                          const std::string& behaviour,
                                          const StateHandoff& handoff) {
  if (d == nullptr) {
    return reload_status(ReloadError::kCodeChangeFailed,
                         absl::StrCat(next->name(), " version ", next->version(),
                                      " no longer defines behaviour ", behaviour));
  }
  std::string error;
  Behaviour* b = d->code_change(handoff, &error);
  if (b == nullptr) {
    return reload_status(ReloadError::kCodeChangeFailed,
                         absl::StrCat("code_change(", handoff.old_version, " -> ", next->version(),
                                      ") failed: ", error));
  }
  Instance out;
  out.use = ModuleUse(next);
  out.behaviour = std::unique_ptr<Behaviour, BehaviourDeleter>(b, BehaviourDeleter{d->destroy});
  return out;
}

}  // namespace

absl::StatusOr<Instance> code_change_instance(const ModuleRef& next, const std::string& behaviour,
                                              const StateHandoff& handoff) {
  return code_change_with(next->behaviour(behaviour), next, behaviour, handoff);
}

absl::StatusOr<Instance> migrate_instance(const Instance& from, const ModuleRef& next,
                                          const std::string& behaviour, const std::string& extra,
                                          bool downgrade) {
  const LemonBehaviourDescriptor* d = next->behaviour(behaviour);
  if (d == nullptr) return code_change_with(d, next, behaviour, {});
  StateHandoff handoff;
  try {
    handoff.state = from.behaviour->export_state();
  } catch (const std::exception& e) {
    return reload_status(
        ReloadError::kCodeChangeFailed,
        absl::StrCat("export_state of version ", from.version(), " threw: ", e.what()));
  } catch (...) {
    return reload_status(ReloadError::kCodeChangeFailed,
                         absl::StrCat("export_state of version ", from.version(), " threw"));
  }
  handoff.old_version = from.version();
  handoff.state_type = from.behaviour->state_type();
  handoff.extra = extra;
  handoff.downgrade = downgrade;
  return code_change_with(d, next, behaviour, handoff);
}

}  // namespace lemon
