// module_probe: loads a module in a throw-away process, so that a shared object that crashes the
// dynamic loader (a corrupted hash table makes ld.so assert) or throws from a static constructor
// (std::terminate) takes this process down instead of the node. Used by core/code_server.cc.
//
//   module_probe <path>   exit 0: dlopen and the entry point worked; else a reason on stderr
#include <dlfcn.h>

#include <cstdio>

#include "core/module_abi.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: module_probe <shared object>\n");
    return 2;
  }
  void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    std::fprintf(stderr, "%s\n", why ? why : "dlopen failed");
    return 3;
  }
  auto entry = reinterpret_cast<LemonModuleEntryFn>(dlsym(handle, lemon::kModuleEntrySymbol));
  if (entry != nullptr && entry() == nullptr) {
    std::fprintf(stderr, "the entry point returned null\n");
    return 4;
  }
  return 0;  // no dlclose: the process ends here
}
