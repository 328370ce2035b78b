#include "cluster/cluster_messages.h"

#include <vector>

#include "caf/actor_system_config.hpp"
#include "cluster/auth_messages.h"

namespace lemon {

void configure_cluster(caf::actor_system_config& cfg, const cluster::TlsOptions& tls) {
  cfg.add_message_type<ClusterCall>("lemon.ClusterCall");
  cfg.add_message_type<ClusterStepReply>("lemon.ClusterStepReply");
  cfg.add_message_type<ClusterModule>("lemon.ClusterModule");
  cfg.add_message_type<std::vector<ClusterModule>>("lemon.ClusterModules");
  cfg.add_message_type<ClusterRelease>("lemon.ClusterRelease");
  cfg.add_message_type<std::vector<ClusterRelease>>("lemon.ClusterReleases");
  cluster::add_auth_message_types(cfg);
  if (tls.enabled()) cluster::configure_tls(cfg, tls);
}

}  // namespace lemon
