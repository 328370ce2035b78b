// libFuzzer target: app manifest text into parse_app_manifest, which must answer every input with
// a manifest or kInvalidArgument, never crash; a parsed manifest keeps its promises (named apps,
// non-empty module lists, each module in one app only). Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "core/app_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto manifest = lemon::parse_app_manifest(text);
  if (!manifest.ok()) return 0;
  std::set<std::string> modules;
  for (const lemon::AppSpec& app : manifest->apps) {
    if (app.name.empty() || app.modules.empty()) std::abort();
    if (manifest->find(app.name) == nullptr) std::abort();
    for (const std::string& m : app.modules) {
      if (!modules.insert(m).second) std::abort();
    }
  }
  return 0;
}
