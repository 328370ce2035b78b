// The binary contract between the Lemon host and a module (a shared object holding actor
// behaviours): one `extern "C"` entry point returning a LemonModuleDescriptor.
//
// A module is written with actors/module.h, which fills the descriptor for you:
//
//   LEMON_MODULE("counter", "2", LEMON_BEHAVIOUR("counter", counter_v2::Counter))
//
// The host (core/code_server.h) dlopens a private copy, looks up kModuleEntrySymbol, and validates
// the descriptor before anything runs it: ABI version, struct size, fingerprint, name, version.
#ifndef LEMON_CORE_MODULE_ABI_H_
#define LEMON_CORE_MODULE_ABI_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/config.hpp"
#include "google/protobuf/stubs/common.h"

// Bump when LemonModuleDescriptor, LemonBehaviourDescriptor, lemon::StateHandoff, lemon::Message
// (actors/message.h) or the virtual interface of lemon::Behaviour / lemon::ActorContext
// (actors/behaviour.h) changes in any way: modules built against another ABI version are refused
// with `bad_abi`.
#define LEMON_MODULE_ABI_VERSION 5

#define LEMON_ABI_STR2(x) #x
#define LEMON_ABI_STR(x) LEMON_ABI_STR2(x)

#if defined(__SANITIZE_ADDRESS__)
#define LEMON_ABI_SANITIZER "asan"
#elif defined(__SANITIZE_THREAD__)
#define LEMON_ABI_SANITIZER "tsan"
#else
#define LEMON_ABI_SANITIZER "none"
#endif

// What must match between host and module, as one string of `key=value;` fields. Compiled into
// both sides from the same headers: equal strings mean the same ABI version, CAF version, compiler
// and libstdc++ ABI, sanitizer runtime and Protobuf runtime. Message types are not part of it: a
// module's messages are its own Protobuf types, carried as lemon::Message (actors/message.h).
#define LEMON_MODULE_FINGERPRINT \
  "abi=" LEMON_ABI_STR(LEMON_MODULE_ABI_VERSION) ";caf=" LEMON_ABI_STR(CAF_VERSION) \
  ";cxx=gcc-" LEMON_ABI_STR(__GNUC__) "." LEMON_ABI_STR(__GNUC_MINOR__)              \
  ";glibcxx_cxx11_abi=" LEMON_ABI_STR(_GLIBCXX_USE_CXX11_ABI)                        \
  ";sanitizer=" LEMON_ABI_SANITIZER ";protobuf=" LEMON_ABI_STR(GOOGLE_PROTOBUF_VERSION)

namespace lemon {

class Behaviour;  // actors/behaviour.h

// What a new version's code_change gets from the version it replaces.
struct StateHandoff {
  std::string old_version;
  std::string state_type;  // the old state's Protobuf type name ("" for a string state)
  std::string state;       // the old behaviour's export_state()
  std::string extra;       // the reload's `extra`
  bool downgrade = false;  // the old version is newer: a rollback
};

inline constexpr uint32_t kModuleAbiVersion = LEMON_MODULE_ABI_VERSION;
inline constexpr char kModuleEntrySymbol[] = "lemon_module_entry";
inline constexpr char kHostFingerprint[] = LEMON_MODULE_FINGERPRINT;

}  // namespace lemon

extern "C" {

// One actor type defined by a module. Functions never throw: errors come back in `*error`.
struct LemonBehaviourDescriptor {
  const char* name;
  // A fresh behaviour for a new actor; nullptr and *error set on failure.
  lemon::Behaviour* (*create)(const std::string& init_arg, std::string* error) noexcept;
  // The migration hook: a behaviour of this version built from the state the old version exported
  // (Behaviour::export_state). nullptr and *error set on failure.
  lemon::Behaviour* (*code_change)(const lemon::StateHandoff& from, std::string* error) noexcept;
  // Destroys a behaviour made by create or code_change (module code must free it).
  void (*destroy)(lemon::Behaviour* behaviour) noexcept;
};

struct LemonModuleDescriptor {
  uint32_t abi_version;  // LEMON_MODULE_ABI_VERSION the module was built with
  uint32_t struct_size;  // sizeof(LemonModuleDescriptor) in the module
  const char* name;
  const char* version;
  const char* fingerprint;  // LEMON_MODULE_FINGERPRINT the module was built with
  uint32_t behaviour_count;
  const LemonBehaviourDescriptor* behaviours;
  // The module's Protobuf schema: a serialized FileDescriptorSet of every .proto built into it
  // (with imports), or nullptr when it has none. The host builds its descriptors from it (JSON,
  // the compatibility gate); the module's own generated code is lite and registers nothing.
  void (*schema)(const char** data, size_t* size) noexcept;
  // Schema changes this version declares safe: "pkg.Message" or "pkg.Message.field" entries that
  // the compatibility gate lets through.
  uint32_t migration_count;
  const char* const* migrations;
};

// The entry point every module exports under kModuleEntrySymbol.
typedef const LemonModuleDescriptor* (*LemonModuleEntryFn)(void);

}  // extern "C"

#endif  // LEMON_CORE_MODULE_ABI_H_
