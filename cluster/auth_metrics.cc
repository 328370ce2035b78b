#include "cluster/auth_metrics.h"

#include "prometheus/family.h"

namespace lemon {
namespace cluster {

AuthFailureCounter::AuthFailureCounter(prometheus::Registry& registry,
                                       const std::string& node_name) {
  prometheus::Labels constant;
  if (!node_name.empty()) constant["node"] = node_name;
  auto& family = prometheus::BuildCounter()
                     .Name("lemon_cluster_auth_failures_total")
                     .Help("Messages and handshakes the cluster port refused, by reason.")
                     .Labels(constant)
                     .Register(registry);
  for (int r = 0; r < static_cast<int>(AuthFailure::kCount); ++r) {
    by_reason_.push_back(&family.Add({{"reason", to_string(static_cast<AuthFailure>(r))}}));
  }
}

void AuthFailureCounter::count(AuthFailure reason) {
  const auto r = static_cast<size_t>(reason);
  if (r < by_reason_.size()) by_reason_[r]->Increment();
}

double AuthFailureCounter::value(AuthFailure reason) const {
  const auto r = static_cast<size_t>(reason);
  return r < by_reason_.size() ? by_reason_[r]->Value() : 0;
}

}  // namespace cluster
}  // namespace lemon
