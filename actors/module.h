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

#include <exception>
#include <memory>
#include <string>

#include "actors/behaviour.h"
#include "core/module_abi.h"

namespace lemon {
namespace module_detail {

template <class T>
Behaviour* create(const std::string& init_arg, std::string* error) noexcept {
  try {
    std::unique_ptr<Behaviour> b = T::create(init_arg);
    if (!b) *error = "create returned no behaviour";
    return b.release();
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "create threw a non-standard exception";
  }
  return nullptr;
}

template <class T>
Behaviour* code_change(const std::string& old_version, const std::string& old_state,
                       const std::string& extra, std::string* error) noexcept {
  try {
    std::unique_ptr<Behaviour> b = T::code_change(old_version, old_state, extra);
    if (!b) *error = "code_change returned no behaviour";
    return b.release();
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "code_change threw a non-standard exception";
  }
  return nullptr;
}

inline void destroy(Behaviour* b) noexcept { delete b; }

}  // namespace module_detail
}  // namespace lemon

// One entry of LEMON_MODULE's behaviour list: actor type `name` implemented by class `T`.
#define LEMON_BEHAVIOUR(name, T)                                                       \
  LemonBehaviourDescriptor {                                                           \
    name, &::lemon::module_detail::create<T>, &::lemon::module_detail::code_change<T>, \
        &::lemon::module_detail::destroy                                               \
  }

// Exports the module's descriptor: its name, version string and behaviours.
#define LEMON_MODULE(module_name, module_version, ...)                                            \
  namespace {                                                                                     \
  const LemonBehaviourDescriptor lemon_module_behaviours_[] = {__VA_ARGS__};                      \
  const LemonModuleDescriptor lemon_module_descriptor_ = {                                        \
      LEMON_MODULE_ABI_VERSION,                                                                   \
      static_cast<uint32_t>(sizeof(LemonModuleDescriptor)),                                       \
      module_name,                                                                                \
      module_version,                                                                             \
      LEMON_MODULE_FINGERPRINT,                                                                   \
      static_cast<uint32_t>(sizeof(lemon_module_behaviours_) / sizeof(LemonBehaviourDescriptor)), \
      lemon_module_behaviours_};                                                                  \
  }                                                                                               \
  extern "C" __attribute__((visibility("default"))) const LemonModuleDescriptor*                  \
  lemon_module_entry(void) {                                                                      \
    return &lemon_module_descriptor_;                                                             \
  }

#endif  // LEMON_ACTORS_MODULE_H_
