// The header a module includes: the Behaviour interface plus LEMON_MODULE, which exports the
// descriptor of core/module_abi.h so that the module needs no other boilerplate.
//
//   namespace counter_v2 {  // a per-version namespace keeps private types apart across versions
//   class Counter : public lemon::Behaviour {
//    public:
//     static std::unique_ptr<Counter> create(const std::string& init_arg);
//     static std::unique_ptr<Counter> code_change(const std::string& old_version,
//                                                 const std::string& old_state,
//                                                 const std::string& extra);  // may throw
//     ...
//   };
//   }  // namespace counter_v2
//   LEMON_MODULE("counter", "2", LEMON_BEHAVIOUR("counter", counter_v2::Counter))
//
// create and code_change may throw any std::exception: the host gets its what() as the error.
// Build modules with the flags in tools/lemon_module.bzl (-fvisibility=hidden -fno-gnu-unique) so
// that the host can really unmap them.
#ifndef LEMON_ACTORS_MODULE_H_
#define LEMON_ACTORS_MODULE_H_

#include <memory>
#include <string>

#include "actors/behaviour.h"
#include "actors/local_schemas.h"
#include "actors/module_entry.h"
#include "core/module_abi.h"

namespace lemon {
namespace module_detail {

template <class T>
Behaviour* create(const std::string& init_arg, std::string* error) noexcept {
  return hand_over("create", error, [&] { return T::create(init_arg); });
}

// Classic behaviours declare code_change(old_version, old_state, extra); ProtoActor behaviours
// (actors/proto_actor.h) take the whole handoff.
template <class T>
auto call_code_change(const StateHandoff& from, int)
    -> decltype(T::code_change(from.old_version, from.state, from.extra)) {
  return T::code_change(from.old_version, from.state, from.extra);
}
template <class T>
auto call_code_change(const StateHandoff& from, long) -> decltype(T::code_change(from)) {
  return T::code_change(from);
}

template <class T>
Behaviour* code_change(const StateHandoff& from, std::string* error) noexcept {
  return hand_over("code_change", error, [&] { return call_code_change<T>(from, 0); });
}

// The module's schema: what its lemon_proto_library targets registered (nullptr if none).
inline void schema(const char** data, size_t* size) noexcept {
  LocalSchemas& schemas = LocalSchemas::get();
  if (schemas.empty()) {
    *data = nullptr;
    *size = 0;
    return;
  }
  const std::string& bytes = schemas.schema();
  *data = bytes.data();
  *size = bytes.size();
}

// The migrations a module declares with LEMON_MIGRATIONS (none by default).
struct Migrations {
  static constexpr const char* const* list = nullptr;
  static constexpr uint32_t count = 0;
};

}  // namespace module_detail
}  // namespace lemon

// One entry of LEMON_MODULE's behaviour list: actor type `name` implemented by class `T`.
#define LEMON_BEHAVIOUR(name, T)                                  \
  LEMON_BEHAVIOUR_ENTRY(name, &::lemon::module_detail::create<T>, \
                        &::lemon::module_detail::code_change<T>)

// Schema changes this version declares safe (the compatibility gate lets them through), as
// "pkg.Message.field" (a field changed type or meaning) or "pkg.Message" (the type changed or is
// gone). At most once per module, before LEMON_MODULE:
//   LEMON_MIGRATIONS("bank.Account.balance")
#define LEMON_MIGRATIONS(...)                                                    \
  namespace {                                                                    \
  const char* const lemon_module_migrations_[] = {__VA_ARGS__};                  \
  struct LemonModuleMigrations {                                                 \
    static constexpr const char* const* list = lemon_module_migrations_;         \
    static constexpr uint32_t count =                                            \
        static_cast<uint32_t>(sizeof(lemon_module_migrations_) / sizeof(char*)); \
  };                                                                             \
  }

namespace lemon_module_scope {
using LemonModuleMigrations = ::lemon::module_detail::Migrations;
}  // namespace lemon_module_scope

// Exports the module's descriptor: its name, version string and behaviours.
#define LEMON_MODULE(module_name, module_version, ...)                                            \
  namespace {                                                                                     \
  using namespace ::lemon_module_scope;                                                           \
  const LemonBehaviourDescriptor lemon_module_behaviours_[] = {__VA_ARGS__};                      \
  const LemonModuleDescriptor lemon_module_descriptor_ = {                                        \
      LEMON_MODULE_ABI_VERSION,                                                                   \
      static_cast<uint32_t>(sizeof(LemonModuleDescriptor)),                                       \
      module_name,                                                                                \
      module_version,                                                                             \
      LEMON_MODULE_FINGERPRINT,                                                                   \
      static_cast<uint32_t>(sizeof(lemon_module_behaviours_) / sizeof(LemonBehaviourDescriptor)), \
      lemon_module_behaviours_,                                                                   \
      &::lemon::module_detail::schema,                                                            \
      LemonModuleMigrations::count,                                                               \
      LemonModuleMigrations::list};                                                               \
  }                                                                                               \
  extern "C" __attribute__((visibility("default"))) const LemonModuleDescriptor*                  \
  lemon_module_entry(void) {                                                                      \
    return &lemon_module_descriptor_;                                                             \
  }

#endif  // LEMON_ACTORS_MODULE_H_
