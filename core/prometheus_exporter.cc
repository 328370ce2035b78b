#include "core/prometheus_exporter.h"

#include <atomic>
#include <cmath>
#include <utility>

#include "core/reload_report.h"
#include "prometheus/text_serializer.h"

namespace lemon {
namespace {

constexpr char kUnknown[] = "unknown";

prometheus::Labels const_labels(const std::string& node_name) {
  if (node_name.empty()) return {};
  return {{"node", node_name}};
}

template <typename Builder>
auto& family(Builder builder, const char* name, const char* help, prometheus::Registry& registry,
             const std::string& node_name) {
  return builder.Name(name).Help(help).Labels(const_labels(node_name)).Register(registry);
}

std::string metadata(const TelemetryEvent& event, const char* key) {
  auto it = event.metadata.find(key);
  return it == event.metadata.end() || it->second.empty() ? kUnknown : it->second;
}

// The measurement if present, finite and not negative: a malformed event is ignored, not recorded.
bool measurement(const TelemetryEvent& event, const char* key, double* value) {
  auto it = event.measurements.find(key);
  if (it == event.measurements.end() || !std::isfinite(it->second) || it->second < 0) return false;
  *value = it->second;
  return true;
}

std::string next_handler_id() {
  static std::atomic<unsigned long long> next{0};
  return "lemon.prometheus_exporter." + std::to_string(next.fetch_add(1));
}

}  // namespace

const std::vector<double>& PrometheusExporter::duration_buckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10,    30,     60};
  return buckets;
}

PrometheusExporter::PrometheusExporter(Telemetry* telemetry, std::string node_name)
    : telemetry_(telemetry),
      handler_id_(next_handler_id()),
      registry_(std::make_shared<prometheus::Registry>()),
      reload_total_(family(prometheus::BuildCounter(), "lemon_reload_total",
                           "Reload operations that returned a report, by kind and status.",
                           *registry_, node_name)),
      reload_duration_(family(prometheus::BuildHistogram(), "lemon_reload_duration_seconds",
                              "Duration of reload operations that returned a report, by kind.",
                              *registry_, node_name)),
      reload_exceptions_(family(prometheus::BuildCounter(), "lemon_reload_exceptions_total",
                                "Reload operations that ended without a report, by kind.",
                                *registry_, node_name)),
      reload_in_progress_(family(prometheus::BuildGauge(), "lemon_reload_in_progress",
                                 "Reload operations running now.", *registry_, node_name)
                              .Add({})),
      lock_wait_(family(prometheus::BuildHistogram(), "lemon_reload_lock_wait_seconds",
                        "Time spent waiting for the reload lock, acquired or timed out.",
                        *registry_, node_name)
                     .Add({}, duration_buckets())),
      actor_suspend_(family(prometheus::BuildHistogram(), "lemon_actor_suspend_duration_seconds",
                            "Time one actor's mailbox stayed suspended during a reload.",
                            *registry_, node_name)
                         .Add({}, duration_buckets())),
      module_info_(family(prometheus::BuildGauge(), "lemon_module_info",
                          "Loaded module versions; always 1.", *registry_, node_name)),
      actors_(family(prometheus::BuildGauge(), "lemon_actors", "Actors running each module.",
                     *registry_, node_name)) {
  // Counters start at zero for every known kind and status, so rate() sees the first reload.
  for (int k = 0; k <= static_cast<int>(ReloadKind::kPurge); ++k) {
    const std::string kind = to_string(static_cast<ReloadKind>(k));
    reload_exceptions_.Add({{"kind", kind}});
    for (ReloadStatus s : {ReloadStatus::kOk, ReloadStatus::kPartial, ReloadStatus::kError}) {
      reload_total_.Add({{"kind", kind}, {"status", to_string(s)}});
    }
  }
  // Cannot fail: the id is unique to this exporter.
  telemetry_
      ->attach(handler_id_,
               {kReloadStart, kReloadStop, kReloadException, kActorSuspend, kLockWait,
                kModuleLoaded, kModulePurged, kActorsCount},
               [this](const TelemetryEvent& event) { on_event(event); })
      .IgnoreError();
}

PrometheusExporter::~PrometheusExporter() { telemetry_->detach(handler_id_); }

std::string PrometheusExporter::serialize_text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void PrometheusExporter::on_event(const TelemetryEvent& event) {
  double value = 0;
  if (event.name == kReloadStart) {
    reload_in_progress_.Increment();
  } else if (event.name == kReloadStop) {
    on_reload_stop(event);
  } else if (event.name == kReloadException) {
    reload_in_progress_.Decrement();
    reload_exceptions_.Add({{"kind", metadata(event, "kind")}}).Increment();
  } else if (event.name == kActorSuspend) {
    if (measurement(event, "duration_seconds", &value)) actor_suspend_.Observe(value);
  } else if (event.name == kLockWait) {
    if (measurement(event, "wait_seconds", &value)) lock_wait_.Observe(value);
  } else if (event.name == kModuleLoaded) {
    on_module_loaded(event);
  } else if (event.name == kModulePurged) {
    on_module_purged(event);
  } else if (event.name == kActorsCount) {
    if (measurement(event, "count", &value)) on_actors_count(metadata(event, "module"), value);
  }
}

void PrometheusExporter::on_actors_count(const std::string& module, double count) {
  absl::MutexLock lock(&module_mu_);
  actor_counts_[module] = count;
  if (count == 0 && module_versions_.count(module) == 0) {
    remove_actors_series(module);
  } else {
    actors_.Add({{"module", module}}).Set(count);
  }
}

void PrometheusExporter::remove_actors_series(const std::string& module) {
  const prometheus::Labels labels = {{"module", module}};
  if (actors_.Has(labels)) actors_.Remove(&actors_.Add(labels));
  actor_counts_.erase(module);
}

void PrometheusExporter::on_reload_stop(const TelemetryEvent& event) {
  reload_in_progress_.Decrement();
  const std::string kind = metadata(event, "kind");
  reload_total_.Add({{"kind", kind}, {"status", metadata(event, "status")}}).Increment();
  double seconds = 0;
  if (measurement(event, "duration_seconds", &seconds)) {
    reload_duration_.Add({{"kind", kind}}, duration_buckets()).Observe(seconds);
  }
}

void PrometheusExporter::on_module_loaded(const TelemetryEvent& event) {
  const std::string module = metadata(event, "module");
  const std::string version = metadata(event, "version");
  absl::MutexLock lock(&module_mu_);
  module_info_.Add({{"module", module}, {"version", version}}).Set(1);
  module_versions_[module].insert(version);
}

void PrometheusExporter::on_module_purged(const TelemetryEvent& event) {
  const std::string module = metadata(event, "module");
  auto version = event.metadata.find("version");
  absl::MutexLock lock(&module_mu_);
  auto it = module_versions_.find(module);
  if (it == module_versions_.end()) return;
  std::set<std::string>& versions = it->second;
  for (auto v = versions.begin(); v != versions.end();) {
    if (version != event.metadata.end() && !version->second.empty() && *v != version->second) {
      ++v;
      continue;
    }
    module_info_.Remove(&module_info_.Add({{"module", module}, {"version", *v}}));
    v = versions.erase(v);
  }
  if (!versions.empty()) return;
  module_versions_.erase(it);
  // The module is gone: its actor count goes with it once no actor runs it (else with the
  // actors.count event that says 0).
  auto count = actor_counts_.find(module);
  if (count == actor_counts_.end() || count->second == 0) remove_actors_series(module);
}

}  // namespace lemon
