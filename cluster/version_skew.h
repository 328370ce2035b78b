// Which modules a cluster node is behind on, and whether it still is: pure functions over the
// permanent releases (core/release_store.h) of this node and of a peer.
//
//   std::vector<VersionSkew> gaps = behind(local_releases, peer_releases);
//   for (const VersionSkew& g : gaps) { /* catch up with g.cluster_checksum, or report it */ }
//   bool fine = in_line(gap, *store->permanent(gap.module));
//
// A node is behind on a module when a peer's permanent version of it came from a later cluster
// commit (a higher cluster_seq, a logical clock every cluster commit raises) and has other bytes.
// Version strings are never compared: they are arbitrary. A module only one side has is no gap.
#ifndef LEMON_CLUSTER_VERSION_SKEW_H_
#define LEMON_CLUSTER_VERSION_SKEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"

namespace lemon {

// One module's permanent version on a node, as it tells its peers.
struct ClusterRelease {
  std::string module;
  std::string version;
  std::string checksum;  // sha256 of the bytes, hex
  uint64_t cluster_seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterRelease& x) {
  return f(caf::meta::type_name("lemon.ClusterRelease"), x.module, x.version, x.checksum,
           x.cluster_seq);
}

// A module on which this node's permanent version is older than the cluster's.
struct VersionSkew {
  std::string module;
  std::string local_version;
  std::string local_checksum;
  uint64_t local_seq = 0;
  std::string cluster_version;
  std::string cluster_checksum;
  uint64_t cluster_seq = 0;
};

// The modules `local` is behind `peer` on, by module name.
std::vector<VersionSkew> behind(const std::vector<ClusterRelease>& local,
                                const std::vector<ClusterRelease>& peer);

// True when `now` (this node's permanent release of skew.module) has caught up with the cluster
// version `skew` names: the same bytes, or a release of a cluster commit at least as late.
bool in_line(const VersionSkew& skew, const ClusterRelease& now);

// Adds `gap` to `skews` (by module), keeping the later cluster version of a module named twice.
void note_skew(std::vector<VersionSkew>& skews, const VersionSkew& gap);

}  // namespace lemon

#endif  // LEMON_CLUSTER_VERSION_SKEW_H_
