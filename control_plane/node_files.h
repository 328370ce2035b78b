// Where a lemond node keeps its files and what it does with them before it starts: the defaults
// under `<home>/.lemon`, the trust check of every directory it uses (core/fs.h), the removal of
// temporary files a killed node left, and the seeding of the examples at first start.
//
//   NodeFiles files = resolve_node_files({.modules_dir = flag_value}).value();
//   absl::Status ready = prepare_node_files(files, {{runfile, files.modules_dir + "/counter.so"}});
#ifndef LEMON_CONTROL_PLANE_NODE_FILES_H_
#define LEMON_CONTROL_PLANE_NODE_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/fs.h"

namespace lemon {

struct NodeFiles {
  std::string modules_dir;     // <name>.so files
  std::string extensions_dir;  // the extension root
  std::string state_dir;       // private module copies, compiled extensions
  std::string token_file;      // the control plane's bearer token
  // With the default modules_dir: `<home>/.lemon/examples`, where the example builds are seeded;
  // empty otherwise.
  std::string examples_dir;
  bool default_modules = false;     // modules_dir is the default: seed the example modules
  bool default_extensions = false;  // extensions_dir is the default: seed the example extension
};

// `given` with each empty path set to its default under `<home>/.lemon`, the home from
// home_directory() (core/fs.h), the same for every default. kNotFound naming the flags to pass when
// a default is needed and there is no home directory.
absl::StatusOr<NodeFiles> resolve_node_files(NodeFiles given);

// Makes `files` ready for a node: creates its missing directories (0700), refuses one that is not
// trusted (check_trusted_path: kPathNotAllowed naming it and what is wrong), removes temporary
// files of a killed node from them, then seeds `seeds` (SeedFile, core/fs.h). The token file is
// left to load_or_create_token (control_plane/auth.h), which checks it the same way. Errors name
// the path.
absl::Status prepare_node_files(const NodeFiles& files, const std::vector<SeedFile>& seeds);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_NODE_FILES_H_
