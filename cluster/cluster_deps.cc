#include "cluster/cluster_deps.h"

namespace lemon {

Cluster::Deps cluster_deps(Runtime& runtime) {
  const Runtime::Options& o = runtime.options();
  Cluster::Deps deps;
  deps.system = &runtime.system();
  deps.reload_service = runtime.reload_service();
  deps.reloader = &runtime.reloader();
  deps.lock = &runtime.lock();
  deps.code_server = &runtime.code_server();
  deps.metrics = runtime.exporter().registry().get();
  deps.metrics_node = o.node_name;
  deps.modules_dir = o.modules_dir;
  deps.state_dir = o.state_dir;
  if (!o.extension_dirs.empty()) deps.extension_root = o.extension_dirs.front();
  return deps;
}

}  // namespace lemon
