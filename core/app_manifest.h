// Apps: named, ordered sets of modules, declared in a JSON manifest.
//
//   {"apps": [{"name": "demo", "modules": ["counter", "kv"]},
//             {"name": "billing", "modules": ["ledger"]}]}
//
//   auto apps = load_app_manifest("/etc/lemon/apps.json");   // StatusOr<AppManifest>
//   const AppSpec* demo = apps->find("demo");
//
// Module order is the reload order. A module may belong to one app only, and module names follow
// core/module_name.h.
#ifndef LEMON_CORE_APP_MANIFEST_H_
#define LEMON_CORE_APP_MANIFEST_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace lemon {

struct AppSpec {
  std::string name;
  std::vector<std::string> modules;
};

struct AppManifest {
  std::vector<AppSpec> apps;
  const AppSpec* find(const std::string& name) const;
};

// The largest manifest file load_app_manifest reads.
constexpr std::size_t kMaxAppManifestBytes = 1 << 20;

// Parses manifest text; kInvalidArgument naming what is wrong (bad JSON, missing name, duplicate
// app or module, empty module list, a module name check_module_name refuses).
absl::StatusOr<AppManifest> parse_app_manifest(const std::string& json);

// Reads and parses a manifest file; a missing file is an empty manifest. kInvalidArgument for a
// file that is not a regular one or is larger than kMaxAppManifestBytes, kIoError when it cannot
// be read.
absl::StatusOr<AppManifest> load_app_manifest(const std::string& path);

}  // namespace lemon

#endif  // LEMON_CORE_APP_MANIFEST_H_
