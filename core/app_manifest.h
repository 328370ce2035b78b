// Apps: named, ordered sets of modules, declared in a JSON manifest.
//
//   {"apps": [{"name": "demo", "modules": ["counter", "kv"]},
//             {"name": "billing", "modules": ["ledger"]}]}
//
//   auto apps = load_app_manifest("/etc/lemon/apps.json");   // StatusOr<AppManifest>
//   const AppSpec* demo = apps->find("demo");
//
// Module order is the reload order. A module may belong to one app only.
#ifndef LEMON_CORE_APP_MANIFEST_H_
#define LEMON_CORE_APP_MANIFEST_H_

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

// Parses manifest text; kInvalidArgument naming what is wrong (bad JSON, missing name, duplicate
// app or module, empty module list).
absl::StatusOr<AppManifest> parse_app_manifest(const std::string& json);

// Reads and parses a manifest file; a missing file is an empty manifest.
absl::StatusOr<AppManifest> load_app_manifest(const std::string& path);

}  // namespace lemon

#endif  // LEMON_CORE_APP_MANIFEST_H_
