// What a module's behaviour descriptors (core/module_abi.h) are made of, for both ways of writing
// a behaviour: LEMON_BEHAVIOUR (actors/module.h, lemon::Behaviour) and LEMON_ACTOR
// (actors/proto_actor.h, lemon::ProtoActor). Not for module authors to use directly.
#ifndef LEMON_ACTORS_MODULE_ENTRY_H_
#define LEMON_ACTORS_MODULE_ENTRY_H_

#include <exception>
#include <memory>
#include <string>

#include "actors/behaviour.h"
#include "core/module_abi.h"

namespace lemon {
namespace module_detail {

// The behaviour `make` returns, handed over to the host across the C ABI: an exception or no
// behaviour becomes nullptr with *error set (`entry` names the entry point, e.g. "create").
template <class Make>
Behaviour* hand_over(const char* entry, std::string* error, Make make) noexcept {
  try {
    std::unique_ptr<Behaviour> b = make();
    if (!b) *error = std::string(entry) + " returned no behaviour";
    return b.release();
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = std::string(entry) + " threw a non-standard exception";
  }
  return nullptr;
}

inline void destroy(Behaviour* b) noexcept { delete b; }

}  // namespace module_detail
}  // namespace lemon

// One entry of LEMON_MODULE's behaviour list from its create and code_change entry points.
#define LEMON_BEHAVIOUR_ENTRY(name, create_fn, code_change_fn) \
  LemonBehaviourDescriptor { name, create_fn, code_change_fn, &::lemon::module_detail::destroy }

#endif  // LEMON_ACTORS_MODULE_ENTRY_H_
