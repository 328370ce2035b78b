// One installed behaviour: the module version it comes from and the behaviour object it made.
//
// Member order matters: the behaviour is destroyed (by its module's own destroy function) before
// the ModuleUse releases the version, so module code is never unmapped under a live object.
#ifndef LEMON_ACTORS_INSTANCE_H_
#define LEMON_ACTORS_INSTANCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "actors/behaviour.h"
#include "core/code_server.h"

namespace lemon {

struct BehaviourDeleter {
  void (*destroy)(Behaviour*) noexcept = nullptr;
  void operator()(Behaviour* b) const {
    if (b != nullptr) destroy(b);
  }
};

struct Instance {
  ModuleUse use;  // first: destroyed last
  std::unique_ptr<Behaviour, BehaviourDeleter> behaviour;
  // Keeps `use`'s version mapped for the messages this behaviour makes: made by the first one.
  mutable CodeHold code;

  explicit operator bool() const { return behaviour != nullptr; }
  const std::string& version() const;
};

// A fresh behaviour `behaviour` of `module` made with its create(init_arg).
absl::StatusOr<Instance> make_instance(const ModuleRef& module, const std::string& behaviour,
                                       const std::string& init_arg);

// A behaviour `behaviour` of `next` made by its code_change from `handoff`.
absl::StatusOr<Instance> code_change_instance(const ModuleRef& next, const std::string& behaviour,
                                              const StateHandoff& handoff);

// A behaviour of `next` migrated by its code_change from the state `from` exports.
absl::StatusOr<Instance> migrate_instance(const Instance& from, const ModuleRef& next,
                                          const std::string& behaviour, const std::string& extra,
                                          bool downgrade = false);

}  // namespace lemon

#endif  // LEMON_ACTORS_INSTANCE_H_
