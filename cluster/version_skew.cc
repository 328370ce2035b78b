#include "cluster/version_skew.h"

#include <algorithm>
#include <map>

namespace lemon {
namespace {

bool by_module(const VersionSkew& a, const VersionSkew& b) { return a.module < b.module; }

}  // namespace

std::vector<VersionSkew> behind(const std::vector<ClusterRelease>& local,
                                const std::vector<ClusterRelease>& peer) {
  std::map<std::string, const ClusterRelease*> theirs;
  for (const ClusterRelease& r : peer) theirs[r.module] = &r;
  std::vector<VersionSkew> out;
  for (const ClusterRelease& mine : local) {
    auto it = theirs.find(mine.module);
    if (it == theirs.end()) continue;
    const ClusterRelease& cluster = *it->second;
    if (cluster.cluster_seq <= mine.cluster_seq || cluster.checksum == mine.checksum) continue;
    out.push_back({mine.module, mine.version, mine.checksum, mine.cluster_seq, cluster.version,
                   cluster.checksum, cluster.cluster_seq});
  }
  std::sort(out.begin(), out.end(), by_module);
  return out;
}

bool in_line(const VersionSkew& skew, const ClusterRelease& now) {
  return now.checksum == skew.cluster_checksum || now.cluster_seq >= skew.cluster_seq;
}

void note_skew(std::vector<VersionSkew>& skews, const VersionSkew& gap) {
  auto it = std::find_if(skews.begin(), skews.end(),
                         [&gap](const VersionSkew& s) { return s.module == gap.module; });
  if (it == skews.end()) {
    skews.push_back(gap);
    std::sort(skews.begin(), skews.end(), by_module);
  } else if (gap.cluster_seq >= it->cluster_seq) {
    *it = gap;
  }
}

}  // namespace lemon
