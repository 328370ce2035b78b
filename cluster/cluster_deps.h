// The parts of a Runtime a Cluster uses, for starting one on a whole node:
//
//   auto cluster = Cluster::start(cluster_deps(runtime), options);
#ifndef LEMON_CLUSTER_CLUSTER_DEPS_H_
#define LEMON_CLUSTER_CLUSTER_DEPS_H_

#include "cluster/cluster.h"
#include "node/runtime.h"

namespace lemon {

// Every part of Cluster::Deps from `runtime`, which must outlive the Cluster (and was created
// with load_middleman).
Cluster::Deps cluster_deps(Runtime& runtime);

}  // namespace lemon

#endif  // LEMON_CLUSTER_CLUSTER_DEPS_H_
