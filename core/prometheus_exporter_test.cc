#include "core/prometheus_exporter.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using Labels = std::map<std::string, std::string>;
// Series key (name{a="x",b="y"}, labels sorted) -> value.
using Series = std::map<std::string, double>;

std::string le_text(double le) {
  if (std::isinf(le)) return "+Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", le);
  return buf;
}

std::string key(const std::string& name, Labels labels) {
  auto it = labels.find("le");
  if (it != labels.end() && it->second != "+Inf") it->second = le_text(std::stod(it->second));
  if (labels.empty()) return name;
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(absl::StrCat(k, "=\"", v, "\""));
  return absl::StrCat(name, "{", absl::StrJoin(parts, ","), "}");
}

// Parses the sample lines of a text exposition; fails the test on a line it does not understand.
Series parse(const std::string& text) {
  Series series;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    size_t name_end = line.find_first_of("{ ");
    std::string name(line.substr(0, name_end));
    Labels labels;
    size_t pos = name_end;
    if (line[pos] == '{') {
      ++pos;
      while (line[pos] != '}') {
        size_t eq = line.find('=', pos);
        std::string label(line.substr(pos, eq - pos));
        pos = eq + 2;  // past ="
        std::string value;
        while (line[pos] != '"') {
          if (line[pos] == '\\') ++pos;
          value += line[pos++];
        }
        ++pos;
        if (line[pos] == ',') ++pos;
        labels[label] = value;
      }
      ++pos;
    }
    std::string value(absl::StripAsciiWhitespace(line.substr(pos)));
    double v = value == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(value);
    EXPECT_TRUE(series.emplace(key(name, labels), v).second) << "duplicate series: " << line;
  }
  return series;
}

void add_histogram(Series* s, const std::string& name, Labels labels,
                   const std::vector<double>& observations) {
  double sum = 0;
  for (double o : observations) sum += o;
  std::vector<double> bounds = PrometheusExporter::duration_buckets();
  bounds.push_back(std::numeric_limits<double>::infinity());
  for (double b : bounds) {
    Labels with_le = labels;
    with_le["le"] = le_text(b);
    int n = 0;
    for (double o : observations) n += o <= b ? 1 : 0;
    (*s)[key(name + "_bucket", with_le)] = n;
  }
  (*s)[key(name + "_sum", labels)] = sum;
  (*s)[key(name + "_count", labels)] = observations.size();
}

// What a fresh exporter shows: zeroed counters for every kind and status, no reload running, and
// empty lock-wait and suspend histograms.
Series initial_series(const Labels& node = {}) {
  Series s;
  for (const char* kind : {"module", "extension", "app", "system", "code_change", "purge"}) {
    Labels k = node;
    k["kind"] = kind;
    s[key("lemon_reload_exceptions_total", k)] = 0;
    for (const char* status : {"ok", "partial", "error"}) {
      Labels ks = k;
      ks["status"] = status;
      s[key("lemon_reload_total", ks)] = 0;
    }
  }
  s[key("lemon_reload_in_progress", node)] = 0;
  add_histogram(&s, "lemon_reload_lock_wait_seconds", node, {});
  add_histogram(&s, "lemon_actor_suspend_duration_seconds", node, {});
  return s;
}

void expect_series(const Series& got, const Series& want) {
  std::vector<std::string> got_keys, want_keys;
  for (const auto& [k, v] : got) got_keys.push_back(k);
  for (const auto& [k, v] : want) want_keys.push_back(k);
  ASSERT_THAT(got_keys, ::testing::ElementsAreArray(want_keys));
  for (const auto& [k, v] : want) {
    SCOPED_TRACE(k);
    EXPECT_NEAR(got.at(k), v, 1e-9);
  }
}

TelemetryEvent ev(const char* name, std::map<std::string, double> measurements,
                  std::map<std::string, std::string> metadata) {
  return TelemetryEvent{name, std::move(measurements), std::move(metadata)};
}

// A node's life in events: two reloads, a crash, one still running, modules loaded and purged.
void emit_representative_events(Telemetry* t) {
  t->emit(ev(kReloadStart, {}, {{"kind", "module"}, {"target", "counter"}}));
  t->emit(ev(kLockWait, {{"wait_seconds", 0.002}}, {{"owner", "rpc"}, {"outcome", "acquired"}}));
  t->emit(
      ev(kActorSuspend, {{"duration_seconds", 0.003}}, {{"actor", "c1"}, {"module", "counter"}}));
  t->emit(ev(kActorSuspend, {{"duration_seconds", 0.2}}, {{"actor", "c2"}, {"module", "counter"}}));
  t->emit(ev(kModuleLoaded, {}, {{"module", "counter"}, {"version", "1.0.0"}}));
  t->emit(ev(kReloadStop, {{"duration_seconds", 0.15}},
             {{"kind", "module"}, {"target", "counter"}, {"status", "ok"}}));
  t->emit(ev(kReloadStart, {}, {{"kind", "app"}, {"target", "demo"}}));
  t->emit(ev(kReloadException, {{"duration_seconds", 0.01}},
             {{"kind", "app"}, {"target", "demo"}, {"reason", "internal"}}));
  t->emit(ev(kReloadStart, {}, {{"kind", "module"}, {"target", "counter"}}));
  t->emit(ev(kReloadStop, {{"duration_seconds", 2.0}},
             {{"kind", "module"}, {"target", "counter"}, {"status", "error"}}));
  t->emit(ev(kLockWait, {{"wait_seconds", 12.0}}, {{"owner", "cli"}, {"outcome", "timeout"}}));
  t->emit(ev(kReloadStart, {}, {{"kind", "extension"}, {"target", "greeter.cc"}}));
  t->emit(ev(kModuleLoaded, {}, {{"module", "counter"}, {"version", "2.0.0"}}));
  t->emit(ev(kModuleLoaded, {}, {{"module", "greeter"}, {"version", "0.1"}}));
  t->emit(ev(kModulePurged, {}, {{"module", "counter"}, {"version", "1.0.0"}}));
  t->emit(ev(kActorsCount, {{"count", 3}}, {{"module", "counter"}}));
  t->emit(ev(kActorsCount, {{"count", 0}}, {{"module", "greeter"}}));
  t->emit(ev(kActorsCount, {{"count", 5}}, {{"module", "greeter"}}));
}

Series representative_series(const Labels& node = {}) {
  auto with = [&](Labels l) {
    l.insert(node.begin(), node.end());
    return l;
  };
  Series s = initial_series(node);
  s[key("lemon_reload_total", with({{"kind", "module"}, {"status", "ok"}}))] = 1;
  s[key("lemon_reload_total", with({{"kind", "module"}, {"status", "error"}}))] = 1;
  s[key("lemon_reload_exceptions_total", with({{"kind", "app"}}))] = 1;
  s[key("lemon_reload_in_progress", node)] = 1;
  add_histogram(&s, "lemon_reload_duration_seconds", with({{"kind", "module"}}), {0.15, 2.0});
  add_histogram(&s, "lemon_reload_lock_wait_seconds", node, {0.002, 12.0});
  add_histogram(&s, "lemon_actor_suspend_duration_seconds", node, {0.003, 0.2});
  s[key("lemon_module_info", with({{"module", "counter"}, {"version", "2.0.0"}}))] = 1;
  s[key("lemon_module_info", with({{"module", "greeter"}, {"version", "0.1"}}))] = 1;
  s[key("lemon_actors", with({{"module", "counter"}}))] = 3;
  s[key("lemon_actors", with({{"module", "greeter"}}))] = 5;
  return s;
}

TEST(PrometheusExporterTest, FreshExporterShowsZeroedSeries) {
  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry);
  expect_series(parse(exporter.serialize_text()), initial_series());
}

TEST(PrometheusExporterTest, EventsProduceExactSeries) {
  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry);
  emit_representative_events(&telemetry);
  const std::string text = exporter.serialize_text();
  SCOPED_TRACE(text);
  expect_series(parse(text), representative_series());
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE lemon_reload_total counter"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE lemon_reload_duration_seconds histogram"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE lemon_module_info gauge"));
}

TEST(PrometheusExporterTest, NodeNameLabelsEverySeries) {
  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry, "node-a");
  emit_representative_events(&telemetry);
  expect_series(parse(exporter.serialize_text()), representative_series({{"node", "node-a"}}));
}

TEST(PrometheusExporterTest, PurgeWithoutVersionRemovesEveryVersion) {
  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry);
  telemetry.emit(ev(kModuleLoaded, {}, {{"module", "counter"}, {"version", "1"}}));
  telemetry.emit(ev(kModuleLoaded, {}, {{"module", "counter"}, {"version", "2"}}));
  telemetry.emit(ev(kModuleLoaded, {}, {{"module", "other"}, {"version", "1"}}));
  telemetry.emit(ev(kModulePurged, {}, {{"module", "counter"}}));
  telemetry.emit(ev(kModulePurged, {}, {{"module", "never-loaded"}, {"version", "1"}}));
  Series want = initial_series();
  want[key("lemon_module_info", {{"module", "other"}, {"version", "1"}})] = 1;
  expect_series(parse(exporter.serialize_text()), want);
}

TEST(PrometheusExporterTest, ActorsSeriesGoesWhenTheModuleIsPurgedAndHasNoActors) {
  struct Case {
    const char* name;
    std::vector<TelemetryEvent> events;
    bool counter_series_left;
  };
  const TelemetryEvent loaded = ev(kModuleLoaded, {}, {{"module", "counter"}, {"version", "1"}});
  const TelemetryEvent purged = ev(kModulePurged, {}, {{"module", "counter"}, {"version", "1"}});
  auto count = [](double n) { return ev(kActorsCount, {{"count", n}}, {{"module", "counter"}}); };
  const Case cases[] = {
      {"last actor exits, then purge", {loaded, count(2), count(0), purged}, false},
      {"purge while actors run, then they exit", {loaded, count(2), purged, count(0)}, false},
      {"purge while actors still run", {loaded, count(2), purged}, true},
      {"no actors, still loaded", {loaded, count(2), count(0)}, true},
      {"purge of all versions",
       {loaded, count(0), ev(kModulePurged, {}, {{"module", "counter"}})},
       false},
      {"loaded again after the purge", {loaded, count(0), purged, loaded, count(1)}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Telemetry telemetry;
    PrometheusExporter exporter(&telemetry);
    telemetry.emit(ev(kModuleLoaded, {}, {{"module", "other"}, {"version", "1"}}));
    telemetry.emit(ev(kActorsCount, {{"count", 0}}, {{"module", "other"}}));
    for (const TelemetryEvent& e : c.events) telemetry.emit(e);
    const Series got = parse(exporter.serialize_text());
    EXPECT_EQ(got.count(key("lemon_actors", {{"module", "counter"}})) == 1, c.counter_series_left);
    EXPECT_EQ(got.count(key("lemon_actors", {{"module", "other"}})), 1u);
  }
}

TEST(PrometheusExporterTest, MalformedEventsAreCountedAsUnknownOrIgnored) {
  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry);
  telemetry.emit(ev(kReloadStart, {}, {}));
  telemetry.emit(ev(kReloadStop, {{"duration_seconds", -1}}, {}));
  telemetry.emit(ev(kActorSuspend, {{"duration_seconds", std::nan("")}}, {}));
  telemetry.emit(ev(kLockWait, {}, {}));
  telemetry.emit(ev(kActorsCount, {}, {{"module", "counter"}}));
  Series want = initial_series();
  want[key("lemon_reload_total", {{"kind", "unknown"}, {"status", "unknown"}})] = 1;
  expect_series(parse(exporter.serialize_text()), want);
  EXPECT_EQ(telemetry.handler_ids().size(), 1u);  // still attached
}

TEST(PrometheusExporterTest, DestructorDetaches) {
  Telemetry telemetry;
  {
    PrometheusExporter a(&telemetry);
    PrometheusExporter b(&telemetry, "other");
    EXPECT_EQ(telemetry.handler_ids().size(), 2u);
  }
  EXPECT_TRUE(telemetry.handler_ids().empty());
  telemetry.emit(ev(kReloadStart, {}, {}));
}

// promtool is the judge of the exposition format; CI installs it (Debian package `prometheus`),
// so a missing promtool is a failure, not a skip.
TEST(PrometheusExporterTest, PassesPromtoolCheckMetrics) {
  const char* env = std::getenv("LEMON_PROMTOOL");
  const std::string promtool = env != nullptr ? env : "/usr/bin/promtool";
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0)
      << promtool << " not found: install Debian's `prometheus` package (or set LEMON_PROMTOOL)";

  Telemetry telemetry;
  PrometheusExporter exporter(&telemetry, "node-a");
  emit_representative_events(&telemetry);
  const testing::ScratchDir dir;
  const std::string path = dir.file("lemon_metrics.txt");
  testing::write_file(path, exporter.serialize_text());

  const std::string command = absl::StrCat(promtool, " check metrics < ", path, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_EQ(output, "") << "promtool found problems:\n" << output;
}

}  // namespace
}  // namespace lemon
