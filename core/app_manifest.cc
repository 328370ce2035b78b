#include "core/app_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/fs.h"
#include "core/module_name.h"
#include "core/reload_error.h"
#include "nlohmann/json.hpp"

namespace lemon {

const AppSpec* AppManifest::find(const std::string& name) const {
  for (const AppSpec& a : apps) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

absl::StatusOr<AppManifest> parse_app_manifest(const std::string& text) {
  auto bad = [](const std::string& why) {
    return reload_status(ReloadError::kInvalidArgument, absl::StrCat("app manifest: ", why));
  };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object() || !j.contains("apps") || !j["apps"].is_array()) {
    return bad("expected an object with an \"apps\" array");
  }
  AppManifest m;
  std::set<std::string> app_names, module_names;
  for (const auto& a : j["apps"]) {
    if (!a.is_object() || !a.contains("name") || !a["name"].is_string()) {
      return bad("every app needs a string \"name\"");
    }
    AppSpec spec;
    spec.name = a["name"].get<std::string>();
    if (spec.name.empty()) return bad("empty app name");
    if (!app_names.insert(spec.name).second) return bad(absl::StrCat("duplicate app ", spec.name));
    if (!a.contains("modules") || !a["modules"].is_array() || a["modules"].empty()) {
      return bad(absl::StrCat("app ", spec.name, " needs a non-empty \"modules\" array"));
    }
    for (const auto& mod : a["modules"]) {
      if (!mod.is_string() || mod.get<std::string>().empty()) {
        return bad(absl::StrCat("app ", spec.name, ": module names must be non-empty strings"));
      }
      std::string name = mod.get<std::string>();
      if (absl::Status s = check_module_name(name); !s.ok()) {
        return bad(absl::StrCat("app ", spec.name, ": ", s.message()));
      }
      if (!module_names.insert(name).second) {
        return bad(absl::StrCat("module ", name, " belongs to more than one app"));
      }
      spec.modules.push_back(std::move(name));
    }
    m.apps.push_back(std::move(spec));
  }
  return m;
}

absl::StatusOr<AppManifest> load_app_manifest(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) return AppManifest{};
  if (fd < 0) {
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot read app manifest ", path, ": ", errno_text(errno)));
  }
  absl::StatusOr<std::string> text = read_regular_file(fd, kMaxAppManifestBytes, path);
  close(fd);
  if (!text.ok()) return text.status();
  return parse_app_manifest(*text);
}

}  // namespace lemon
