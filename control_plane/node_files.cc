#include "control_plane/node_files.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/fs.h"
#include "core/reload_error.h"

namespace lemon {

absl::StatusOr<NodeFiles> resolve_node_files(NodeFiles given) {
  NodeFiles files = std::move(given);
  files.default_modules = files.modules_dir.empty();
  files.default_extensions = files.extensions_dir.empty();
  if (!files.default_modules && !files.default_extensions && !files.state_dir.empty() &&
      !files.token_file.empty()) {
    return files;
  }
  absl::StatusOr<std::string> home = home_directory();
  if (!home.ok()) {
    return reload_status(ReloadError::kNotFound,
                         absl::StrCat(home.status().message(),
                                      "; pass --modules_dir, --extensions_dir, --state_dir and "
                                      "--token_file"));
  }
  const std::string base = *home + "/.lemon";
  if (files.default_modules) {
    files.modules_dir = base + "/modules";
    files.examples_dir = base + "/examples";
  }
  if (files.default_extensions) files.extensions_dir = base + "/extensions";
  if (files.state_dir.empty()) files.state_dir = base + "/state";
  if (files.token_file.empty()) files.token_file = base + "/token";
  return files;
}

absl::Status prepare_node_files(const NodeFiles& files, const std::vector<SeedFile>& seeds) {
  for (const std::string& dir :
       {files.modules_dir, files.examples_dir, files.extensions_dir, files.state_dir}) {
    if (dir.empty()) continue;
    if (absl::Status s = make_dirs(dir, 0700); !s.ok()) return s;
    if (absl::Status s = check_trusted_path(dir, PathKind::kDirectory); !s.ok()) return s;
    if (absl::StatusOr<int> swept = sweep_unlocked(dir, is_temp_name); !swept.ok()) {
      return swept.status();
    }
  }
  for (const SeedFile& seed : seeds) {
    absl::StatusOr<bool> copied = copy_file_atomic(seed.from, seed.to, 0644, seed.replace);
    if (!copied.ok()) {
      return reload_status(reload_error_of(copied.status()),
                           absl::StrCat("cannot seed ", seed.to, ": ", copied.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace lemon
