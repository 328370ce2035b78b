// A module written directly against core/module_abi.h, with compile-time knobs to make it wrong in
// one precise way each (for the code server's validation tests). It defines no behaviours.
#include "core/module_abi.h"

#ifndef RAW_NAME
#define RAW_NAME "raw"
#endif
#ifndef RAW_VERSION
#define RAW_VERSION "1"
#endif
#ifndef RAW_ABI
#define RAW_ABI LEMON_MODULE_ABI_VERSION
#endif
#ifndef RAW_FINGERPRINT
#define RAW_FINGERPRINT LEMON_MODULE_FINGERPRINT
#endif

#ifdef RAW_UNRESOLVED
extern "C" int lemon_symbol_nobody_defines(void);
extern "C" __attribute__((visibility("default"))) int raw_use_missing(void) {
  return lemon_symbol_nobody_defines();
}
#endif

#ifdef RAW_HANG
#include <unistd.h>
// A static initialiser that never returns: loading this module hangs.
namespace {
struct Hang {
  Hang() {
    for (;;) pause();
  }
} hang;
}  // namespace
#endif

#ifdef RAW_EXTRA_BYTES
extern "C" __attribute__((visibility("default"))) int raw_extra_bytes(void) { return 42; }
#endif

#ifndef RAW_NO_ENTRY
namespace {
const LemonModuleDescriptor descriptor = {
    RAW_ABI, sizeof(LemonModuleDescriptor), RAW_NAME, RAW_VERSION, RAW_FINGERPRINT, 0, nullptr};
}  // namespace

extern "C" __attribute__((visibility("default"))) const LemonModuleDescriptor* lemon_module_entry(
    void) {
  return &descriptor;
}
#else
extern "C" __attribute__((visibility("default"))) int not_a_lemon_module(void) { return 1; }
#endif
