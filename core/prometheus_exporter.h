// Turns Lemon's telemetry events into Prometheus metrics: reload counts, durations and failures,
// lock waits, actor pauses, loaded module versions and actors per module (a module's series go
// when it is purged and has no actors). Metric names and labels
// are stable (docs/metrics.md); the text exposition passes `promtool check metrics`.
//
//   Telemetry telemetry;
//   PrometheusExporter exporter(&telemetry, "node-a");   // node="node-a" on every series
//   exposer.RegisterCollectable(exporter.registry());    // or: exporter.serialize_text()
#ifndef LEMON_CORE_PROMETHEUS_EXPORTER_H_
#define LEMON_CORE_PROMETHEUS_EXPORTER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/telemetry.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace lemon {

class PrometheusExporter {
 public:
  // Bucket bounds, in seconds, of every duration histogram: 100 µs to 60 s.
  static const std::vector<double>& duration_buckets();

  // Attaches to `telemetry`, which must outlive the exporter. A non-empty `node_name` becomes the
  // constant label node="<node_name>" on every metric family.
  explicit PrometheusExporter(Telemetry* telemetry, std::string node_name = "");
  // Detaches from the telemetry; events emitted concurrently with destruction are undefined.
  ~PrometheusExporter();

  PrometheusExporter(const PrometheusExporter&) = delete;
  PrometheusExporter& operator=(const PrometheusExporter&) = delete;

  // The registry holding Lemon's metric families, e.g. for prometheus::Exposer. Thread-safe.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // The current metrics in the Prometheus text exposition format. Thread-safe.
  std::string serialize_text() const;

 private:
  void on_event(const TelemetryEvent& event);
  void on_reload_stop(const TelemetryEvent& event);
  void on_module_loaded(const TelemetryEvent& event);
  void on_module_purged(const TelemetryEvent& event);
  void on_actors_count(const std::string& module, double count);
  void remove_actors_series(const std::string& module) ABSL_EXCLUSIVE_LOCKS_REQUIRED(module_mu_);

  Telemetry* telemetry_;
  std::string handler_id_;
  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& reload_total_;
  prometheus::Family<prometheus::Histogram>& reload_duration_;
  prometheus::Family<prometheus::Counter>& reload_exceptions_;
  prometheus::Gauge& reload_in_progress_;
  prometheus::Histogram& lock_wait_;
  prometheus::Histogram& actor_suspend_;
  prometheus::Family<prometheus::Gauge>& module_info_;
  prometheus::Family<prometheus::Gauge>& actors_;

  // Serializes adding and removing module_info and actors series (Has, Add and Remove are separate
  // calls). A module's lemon_actors series goes once it has no loaded version and no actor.
  absl::Mutex module_mu_;
  std::map<std::string, std::set<std::string>> module_versions_ ABSL_GUARDED_BY(module_mu_);
  std::map<std::string, double> actor_counts_ ABSL_GUARDED_BY(module_mu_);  // last actors.count
};

}  // namespace lemon

#endif  // LEMON_CORE_PROMETHEUS_EXPORTER_H_
