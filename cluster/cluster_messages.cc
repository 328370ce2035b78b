#include "cluster/cluster_messages.h"

#include <vector>

#include "caf/actor_system_config.hpp"
#include "cluster/auth_messages.h"
#include "core/code_server.h"

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

std::vector<ClusterModule> local_modules(const CodeServer& code_server) {
  std::vector<ClusterModule> out;
  for (const ModuleStatus& m : code_server.list()) {
    ClusterModule c;
    c.name = m.name;
    c.current_version = m.current->version();
    c.checksum = m.current->checksum();
    c.actors_current = static_cast<int32_t>(m.current->actor_count());
    c.path = m.current->source_path();
    if (m.old) {
      c.old_version = m.old->version();
      c.actors_old = static_cast<int32_t>(m.old->actor_count());
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace lemon
