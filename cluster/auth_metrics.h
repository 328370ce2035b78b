// lemon_cluster_auth_failures_total{reason}: the messages and handshakes a node refused, by
// AuthFailure (a fixed label set, every value present from the start).
//
//   AuthFailureCounter failures(*runtime.exporter().registry(), "node-a");
//   NodeAuthenticator::Options o;
//   o.on_failure = [&failures](AuthFailure r) { failures.count(r); };
#ifndef LEMON_CLUSTER_AUTH_METRICS_H_
#define LEMON_CLUSTER_AUTH_METRICS_H_

#include <string>
#include <vector>

#include "cluster/peer_auth.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace lemon {
namespace cluster {

class AuthFailureCounter {
 public:
  // Registers the family in `registry` (which must outlive this), with the constant label
  // node="<node_name>" when it is not empty, as every Lemon metric has.
  AuthFailureCounter(prometheus::Registry& registry, const std::string& node_name);
  // Adds one refusal. Thread-safe.
  void count(AuthFailure reason);
  // Refusals counted for `reason`. Thread-safe.
  double value(AuthFailure reason) const;

 private:
  std::vector<prometheus::Counter*> by_reason_;
};

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_AUTH_METRICS_H_
