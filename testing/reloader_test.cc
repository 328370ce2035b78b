// The reload operations end to end on a real runtime: code server, reloadable actors, reload
// manager, extension compiler, lock, telemetry and Prometheus metrics.
#include "core/reloader.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "actors/messages.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/test_node.h"

namespace lemon {
namespace {

using testing::copy_file;
using testing::runfile;
using testing::write_file;

std::string counter_so(const std::string& v) {
  return runfile("extensions/counter/libcounter_v" + v + ".so");
}

std::string app_so(const std::string& m, const std::string& v) {
  return runfile("testing/testdata/libapp_" + m + "_v" + v + ".so");
}

// How many items the control plane's summary counts as reloaded: each report's own list, over the
// whole tree (control_plane/report_proto.cc).
std::size_t reloaded_items(const ReloadReport& r) {
  std::size_t n = r.reloaded.size();
  for (const ReloadReport& child : r.results) n += reloaded_items(child);
  return n;
}

std::string first_error(const ReloadReport& r) {
  if (!r.errors.empty()) return r.errors[0].message;
  for (const ReloadReport& child : r.results) {
    if (!child.errors.empty()) return child.errors[0].message;
  }
  return "";
}

class ReloaderTest : public testing::NodeTest {
 protected:
  ActorStatus status_of(const caf::actor& a) { return ask<ActorStatus>(a, sys_status_atom::value); }
  int64_t count_of(const caf::actor& a) { return ask<int64_t>(a, get_atom::value); }
};

TEST_F(ReloaderTest, ReloadModuleMovesEveryActorAndReportsOk) {
  install("counter", counter_so("1"));
  auto actors = spawn("counter", 10);
  install("counter", counter_so("2"), false);
  const auto called = std::chrono::steady_clock::now();
  ReloadReport r = rt_->reloader().run(ReloadRequest::module("counter"));
  const double call_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - called).count();
  EXPECT_EQ(r.status, ReloadStatus::kOk);
  EXPECT_EQ(r.kind, ReloadKind::kModule);
  EXPECT_EQ(r.reloaded, std::vector<std::string>{"counter"});
  EXPECT_EQ(r.metadata["from_version"], "1");
  EXPECT_EQ(r.metadata["to_version"], "2");
  EXPECT_EQ(r.metadata["actors"], "10");
  EXPECT_GT(r.duration_ms, 0) << "the reload's own time, measured";
  EXPECT_LE(r.duration_ms, call_ms) << "no more than the call took";
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(status_of(actors[i]).version, "2");
    EXPECT_EQ(count_of(actors[i]), i);
  }
}

TEST_F(ReloaderTest, UnchangedModuleIsSkippedAndTheReportIsPartial) {
  install("counter", counter_so("1"));
  ReloadReport r = rt_->reloader().run(ReloadRequest::module("counter"));
  EXPECT_EQ(r.status, ReloadStatus::kPartial);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].reason, ReloadError::kUnchanged);
}

TEST_F(ReloaderTest, BadTargetsAreErrorsWithAReason) {
  struct Case {
    std::string what;
    ReloadReport report;
    ReloadError reason;
  };
  Reloader& r = rt_->reloader();
  std::vector<Case> cases;
  cases.push_back({"unknown module", r.run(ReloadRequest::module("nope")), ReloadError::kNotFound});
  cases.push_back(
      {"empty module", r.run(ReloadRequest::module("")), ReloadError::kInvalidArgument});
  cases.push_back({"module name with a slash", r.run(ReloadRequest::module("../x")),
                   ReloadError::kInvalidArgument});
  cases.push_back({"unknown app", r.run(ReloadRequest::app("nope")), ReloadError::kNotFound});
  cases.push_back({"missing extension", r.run(ReloadRequest::extension(dir_.file("ext/none.cc"))),
                   ReloadError::kNotFound});
  cases.push_back(
      {"empty extension path", r.run(ReloadRequest::extension("")), ReloadError::kInvalidArgument});
  cases.push_back({"extension outside the roots", r.run(ReloadRequest::extension("/etc/passwd")),
                   ReloadError::kPathNotAllowed});
  cases.push_back({"purge of an unknown module", r.run(ReloadRequest::soft_purge("nope")),
                   ReloadError::kNotFound});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(c.report.status, ReloadStatus::kError);
    ASSERT_FALSE(c.report.errors.empty());
    EXPECT_EQ(c.report.errors[0].reason, c.reason) << c.report.errors[0].message;
    EXPECT_FALSE(c.report.errors[0].message.empty());
  }
}

TEST_F(ReloaderTest, AnOldVersionStillInUseIsSkippedWithInUse) {
  install("counter", counter_so("1"));
  ModuleUse state_from_v1(rt_->code_server().current("counter"));  // e.g. a live state object
  ASSERT_EQ(install_and_reload("counter", counter_so("2")).status, ReloadStatus::kOk);
  ReloadReport r = install_and_reload("counter", counter_so("2_fail"));
  EXPECT_EQ(r.status, ReloadStatus::kPartial);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].reason, ReloadError::kInUse);
  EXPECT_NE(r.skipped[0].message.find("1 actor(s)"), std::string::npos) << r.skipped[0].message;
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "2");
}

TEST_F(ReloaderTest, FailingCodeChangeLeavesEveryActorOnTheOldVersionAndNamesThem) {
  install("counter", counter_so("1"));
  auto actors = spawn("counter", 8);
  ReloadReport r = install_and_reload("counter", counter_so("2_fail"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  ASSERT_GE(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].reason, ReloadError::kCodeChangeFailed);
  EXPECT_NE(r.errors[1].target.find("counter/counter-"), std::string::npos) << r.errors[1].target;
  EXPECT_NE(r.errors[1].message.find("refuses on purpose"), std::string::npos);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(status_of(actors[i]).version, "1");
    EXPECT_EQ(count_of(actors[i]), i);
  }
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "1");
}

TEST_F(ReloaderTest, ExtensionCompileErrorComesBackAsDiagnosticsThenTheFixedSourceLoads) {
  const std::string path = dir_.file("ext/counter.cc");
  write_file(path, "#include \"actors/module.h\"\nint broken(  {\n");
  ReloadReport bad = rt_->reloader().run(ReloadRequest::extension(path));
  EXPECT_EQ(bad.status, ReloadStatus::kError);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].reason, ReloadError::kCompileFailed);
  ASSERT_FALSE(bad.errors[0].diagnostics.empty());
  EXPECT_EQ(bad.errors[0].diagnostics[0].file, path);
  EXPECT_EQ(bad.errors[0].diagnostics[0].line, 2);
  EXPECT_TRUE(rt_->code_server().list().empty()) << "a failed compile changed nothing";

  copy_file(runfile("extensions/counter/counter_v1.cc"), path);
  ReloadReport good = rt_->reloader().run(ReloadRequest::extension(path));
  EXPECT_EQ(good.status, ReloadStatus::kOk) << (good.errors.empty() ? "" : good.errors[0].message);
  EXPECT_EQ(good.metadata["module"], "counter");
  ASSERT_NE(rt_->code_server().current("counter"), nullptr);
  ReloadReport again = rt_->reloader().run(ReloadRequest::extension(path));
  EXPECT_EQ(again.status, ReloadStatus::kPartial);
  EXPECT_EQ(again.metadata["cached"], "true");
}

TEST_F(ReloaderTest, AppReloadWhereTheThirdOfFourModulesFailsLeavesAllFourOnTheirOldVersions) {
  write_file(dir_.file("modules/apps.json"),
             R"({"apps": [{"name": "shop", "modules": ["app_a", "app_b", "app_c", "app_d"]}]})");
  std::vector<caf::actor> actors;
  for (std::string m : {"a", "b", "c", "d"}) {
    install("app_" + m, runfile("testing/testdata/libapp_" + m + "_v1.so"));
    for (auto& a : spawn("app_" + m, 3)) actors.push_back(a);
  }
  for (std::string m : {"a", "b", "c", "d"}) {
    install("app_" + m, runfile("testing/testdata/libapp_" + m + "_v2.so"), false);
  }
  ReloadReport r = rt_->reloader().run(ReloadRequest::app("shop"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  // Every module was prepared and pre-flighted before any moved: c's migration fails there, so
  // a and b are not committed and d is never attempted.
  ASSERT_EQ(r.results.size(), 4u);
  EXPECT_TRUE(r.results[0].rolled_back);
  EXPECT_TRUE(r.results[1].rolled_back);
  EXPECT_EQ(r.results[2].status, ReloadStatus::kError);
  EXPECT_FALSE(r.results[3].rolled_back);
  ASSERT_EQ(r.results[3].skipped.size(), 1u);
  EXPECT_EQ(r.results[3].skipped[0].message, "not attempted: app_c failed (code_change_failed)");
  EXPECT_TRUE(r.reloaded.empty());
  for (std::string m : {"a", "b", "c", "d"}) {
    EXPECT_EQ(rt_->code_server().current("app_" + m)->version(), "1") << m;
  }
  for (auto& a : actors) EXPECT_EQ(status_of(a).version, "1");
  // A file holding another module under app_c's name is refused, and nothing moves either.
  install("app_c", runfile("testing/testdata/libapp_a_v2.so"), false);
  ReloadReport wrong = rt_->reloader().run(ReloadRequest::app("shop"));
  EXPECT_EQ(wrong.status, ReloadStatus::kError);
  for (std::string m : {"a", "b", "c", "d"}) {
    EXPECT_EQ(rt_->code_server().current("app_" + m)->version(), "1") << m;
  }
}

TEST_F(ReloaderTest, SixteenConcurrentReloadsNeverOverlapAndAllComplete) {
  install("counter", counter_so("1"));
  spawn("counter", 20);
  install("counter", counter_so("2"), false);
  std::atomic<int> inside{0}, max_inside{0}, stops{0};
  ASSERT_TRUE(rt_->telemetry()
                  .attach("overlap", {kLockWait, kReloadStop},
                          [&](const TelemetryEvent& e) {
                            if (e.name == kLockWait && e.metadata.at("outcome") == "acquired") {
                              int now = ++inside;
                              int seen = max_inside.load();
                              while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
                              }
                            } else if (e.name == kReloadStop && e.metadata.count("lock_token")) {
                              --inside;
                              ++stops;
                            }
                          })
                  .ok());
  std::vector<std::thread> threads;
  std::vector<ReloadReport> reports(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      ReloadRequest o = i % 2 ? ReloadRequest::module("counter") : ReloadRequest::system();
      o.lock_timeout_ms = 120000;
      o.owner = "thread-" + std::to_string(i);
      reports[i] = rt_->reloader().run(o);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside.load(), 1);
  EXPECT_EQ(stops.load(), 16);
  int reloaded = 0;
  for (const auto& r : reports) {
    EXPECT_NE(r.status, ReloadStatus::kError) << (r.errors.empty() ? "" : r.errors[0].message);
    reloaded += r.all_reloaded().empty() ? 0 : 1;
  }
  EXPECT_EQ(reloaded, 1) << "exactly one reload saw new bytes";
}

TEST_F(ReloaderTest, ReloadsFailWithReloadInProgressWhileTheLockIsHeld) {
  install("counter", counter_so("1"));
  install("counter", counter_so("2"), false);
  auto held = rt_->lock().acquire("operator-maintenance", absl::Seconds(1));
  ASSERT_TRUE(held.ok());
  std::vector<std::thread> threads;
  std::vector<ReloadReport> reports(16);
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      ReloadRequest o = ReloadRequest::module("counter");
      o.lock_timeout_ms = 100;
      reports[i] = rt_->reloader().run(o);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : reports) {
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].reason, ReloadError::kReloadInProgress);
    EXPECT_NE(r.errors[0].message.find("operator-maintenance"), std::string::npos);
  }
  *held = LockService::Guard();
  EXPECT_EQ(rt_->reloader().run(ReloadRequest::module("counter")).status, ReloadStatus::kOk);
}

// A swapper that throws: the reload's holder dies with an exception.
class ThrowingSwapper : public ModuleSwapper {
 public:
  SwapResult swap(const ModuleRef&, const SwapOptions&) override {
    throw std::runtime_error("swapper exploded");
  }
  SwapResult change_code(const std::string&, const SwapOptions&) override {
    throw std::runtime_error("swapper exploded");
  }
  SwapResult preflight(const ModuleRef&, const SwapOptions&, std::size_t) override { return {}; }
  int stop_actors(const ModuleRef&, absl::Duration) override { return 0; }
  std::map<std::string, std::size_t> actor_counts() const override { return {}; }
};

TEST_F(ReloaderTest, AReloadWhoseHolderThrowsReleasesTheLock) {
  install("counter", counter_so("1"));
  install("counter", counter_so("2"), false);
  ThrowingSwapper throwing;
  Reloader::Deps deps{&rt_->code_server(), &throwing, nullptr, &rt_->lock(), &rt_->telemetry()};
  Reloader doomed(deps, rt_->reloader().layout());
  ReloadReport r = doomed.run(ReloadRequest::module("counter"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors[0].message.find("swapper exploded"), std::string::npos);
  EXPECT_FALSE(rt_->lock().holder().has_value());
  // The code server is back to normal for the real reloader (its purge hook too).
  Reloader::Deps real{&rt_->code_server(), &rt_->reload_manager(), nullptr, &rt_->lock(),
                      &rt_->telemetry()};
  Reloader next(real, rt_->reloader().layout());
  EXPECT_EQ(next.run(ReloadRequest::module("counter")).status, ReloadStatus::kOk);
  const std::string metrics = rt_->exporter().serialize_text();
  EXPECT_NE(metrics.find("lemon_reload_exceptions_total{kind=\"module\"} 1"), std::string::npos)
      << metrics;
}

TEST_F(ReloaderTest, MetricsCountReloadsAndPassPromtool) {
  install("counter", counter_so("1"));
  spawn("counter", 5);
  ASSERT_EQ(install_and_reload("counter", counter_so("2")).status, ReloadStatus::kOk);
  ASSERT_EQ(rt_->reloader().run(ReloadRequest::module("nope")).status, ReloadStatus::kError);
  ASSERT_EQ(rt_->reloader().run(ReloadRequest::soft_purge("counter")).status, ReloadStatus::kOk);
  const std::string m = rt_->exporter().serialize_text();
  EXPECT_NE(m.find("lemon_reload_total{kind=\"module\",status=\"ok\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("lemon_reload_total{kind=\"module\",status=\"error\"} 1"), std::string::npos);
  EXPECT_NE(m.find("lemon_actor_suspend_duration_seconds_count 5"), std::string::npos);
  EXPECT_NE(m.find("lemon_module_info{module=\"counter\",version=\"2\"} 1"), std::string::npos);
  EXPECT_EQ(m.find("lemon_module_info{module=\"counter\",version=\"1\"}"), std::string::npos)
      << "purged version still reported";
  EXPECT_NE(m.find("lemon_actors{module=\"counter\"} 5"), std::string::npos);
  EXPECT_NE(m.find("lemon_reload_in_progress 0"), std::string::npos);
  const std::string file = dir_.file("metrics.txt");
  write_file(file, m);
  const std::string cmd = "/usr/bin/promtool check metrics < '" + file + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out, "") << out;
}

TEST_F(ReloaderTest, CodeChangeTargetMigratesOneActorWithItsExtra) {
  install("counter", counter_so("2"));
  auto actors = spawn("counter", 3);
  // counter v2's code_change honours "fail"
  ReloadReport failed = rt_->reloader().run(ReloadRequest::code_change("counter-1", "fail"));
  EXPECT_EQ(failed.status, ReloadStatus::kError);
  EXPECT_EQ(failed.kind, ReloadKind::kCodeChange);
  EXPECT_EQ(failed.errors.at(0).reason, ReloadError::kCodeChangeFailed);
  EXPECT_EQ(count_of(actors[1]), 1) << "state untouched";
  ReloadReport ok = rt_->reloader().run(ReloadRequest::code_change("counter-1"));
  EXPECT_EQ(ok.status, ReloadStatus::kOk);
  EXPECT_EQ(ok.reloaded, std::vector<std::string>{"counter-1"});
  EXPECT_EQ(count_of(actors[1]), 1);
  EXPECT_EQ(status_of(actors[1]).version, "2");
  EXPECT_EQ(rt_->reloader().run(ReloadRequest::code_change("nobody")).errors.at(0).reason,
            ReloadError::kNotFound);
}

TEST_F(ReloaderTest, SystemReloadTakesEverythingThatChangedInOneOrchestration) {
  install("counter", counter_so("1"));
  write_file(dir_.file("modules/apps.json"),
             R"({"apps": [{"name": "shop", "modules": ["app_a", "app_b"]}]})");
  install("app_a", runfile("testing/testdata/libapp_a_v1.so"));
  install("app_b", runfile("testing/testdata/libapp_b_v1.so"));
  spawn("app_a", 2);
  install("counter", counter_so("2"), false);
  install("app_b", runfile("testing/testdata/libapp_b_v2.so"), false);
  ReloadReport r = rt_->reloader().run(ReloadRequest::system());
  EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(r.kind, ReloadKind::kSystem);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].kind, ReloadKind::kApp);
  EXPECT_EQ(r.results[0].metadata["unchanged"], "app_a");
  EXPECT_EQ(r.results[1].target, "counter");
  EXPECT_EQ(rt_->code_server().current("app_b")->version(), "2");
  EXPECT_EQ(rt_->code_server().current("app_a")->version(), "1");
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "2");
  // A parent does not repeat its children's `reloaded`: each module is counted once.
  EXPECT_TRUE(r.reloaded.empty());
  EXPECT_TRUE(r.results[0].reloaded.empty());
  EXPECT_EQ(r.all_reloaded(), (std::vector<std::string>{"app_b", "counter"}));
  EXPECT_EQ(reloaded_items(r), 2u);
  ReloadReport nothing = rt_->reloader().run(ReloadRequest::system());
  EXPECT_EQ(nothing.status, ReloadStatus::kOk);
  EXPECT_TRUE(nothing.results.empty());
}

TEST_F(ReloaderTest, ExtensionWhoseOldVersionIsInUseIsSkippedWithInUseAndForceReloadsIt) {
  ASSERT_TRUE(rt_->code_server().load(counter_so("2")).ok());
  auto actors = spawn("counter", 2);
  // Loaded without a swap: the actors stay on 2, now the old version, still in use.
  ASSERT_TRUE(rt_->code_server().load(counter_so("2_fail")).ok());
  const std::string path = dir_.file("ext/counter.cc");
  copy_file(runfile("extensions/counter/counter_v1.cc"), path);

  ReloadReport refused = rt_->reloader().run(ReloadRequest::extension(path));
  EXPECT_EQ(refused.status, ReloadStatus::kPartial);
  ASSERT_EQ(refused.skipped.size(), 1u);
  EXPECT_EQ(refused.skipped[0].reason, ReloadError::kInUse) << refused.skipped[0].message;
  EXPECT_NE(refused.skipped[0].message.find("2 actor(s)"), std::string::npos)
      << refused.skipped[0].message;
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "2-fail");

  // A system reload reports the skipped extension as a child instead of dropping it.
  ReloadReport system = rt_->reloader().run(ReloadRequest::system());
  EXPECT_EQ(system.status, ReloadStatus::kPartial);
  ASSERT_EQ(system.results.size(), 1u);
  EXPECT_EQ(system.results[0].kind, ReloadKind::kExtension);
  EXPECT_EQ(system.results[0].target, path);
  ASSERT_EQ(system.results[0].skipped.size(), 1u);
  EXPECT_EQ(system.results[0].skipped[0].reason, ReloadError::kInUse);

  ReloadRequest force = ReloadRequest::extension(path);
  force.force = true;
  ReloadReport forced = rt_->reloader().run(force);
  EXPECT_EQ(forced.status, ReloadStatus::kOk) << first_error(forced);
  EXPECT_EQ(forced.reloaded, std::vector<std::string>{"counter"});
  EXPECT_EQ(forced.metadata["module"], "counter");
  EXPECT_EQ(forced.metadata["purged_actors"], "2");
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "1");
  EXPECT_TRUE(rt_->registry()->await_count("counter", 0, absl::Seconds(30)));
}

TEST_F(ReloaderTest, AppReloadUnloadsAModuleItLoadedFirstWhenALaterModuleFails) {
  write_file(dir_.file("modules/apps.json"),
             R"({"apps": [{"name": "shop", "modules": ["app_a", "app_b", "app_c"]}]})");
  install("app_a", app_so("a", "1"), /*load=*/false);  // not loaded yet: a first load
  install("app_b", app_so("b", "1"));
  install("app_c", app_so("c", "1"));
  auto b_actors = spawn("app_b", 2);
  spawn("app_c", 2);
  install("app_b", app_so("b", "2"), false);
  install("app_c", app_so("c", "2"), false);  // its code_change fails
  ReloadReport r = rt_->reloader().run(ReloadRequest::app("shop"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].target, "app_a");
  EXPECT_TRUE(r.results[0].rolled_back);
  EXPECT_TRUE(r.results[0].reloaded.empty());
  ASSERT_FALSE(r.results[0].skipped.empty());
  EXPECT_EQ(r.results[0].skipped.back().reason, ReloadError::kRolledBack);
  EXPECT_NE(r.results[0].skipped.back().message.find("app_c failed"), std::string::npos)
      << r.results[0].skipped.back().message;
  EXPECT_TRUE(r.results[1].rolled_back);
  EXPECT_EQ(r.results[2].status, ReloadStatus::kError);
  EXPECT_EQ(r.metadata["stopped_by"], "app_c");
  EXPECT_TRUE(r.all_reloaded().empty());
  EXPECT_EQ(rt_->code_server().current("app_a"), nullptr) << "the first load was not undone";
  EXPECT_EQ(rt_->code_server().current("app_b")->version(), "1");
  EXPECT_EQ(rt_->code_server().current("app_c")->version(), "1");
  for (auto& a : b_actors) EXPECT_EQ(status_of(a).version, "1");
}

TEST_F(ReloaderTest, AppReloadStopsAtAModuleSkippedInUseAndRollsBackTheOthers) {
  write_file(dir_.file("modules/apps.json"),
             R"({"apps": [{"name": "shop", "modules": ["app_a", "app_b", "app_c"]}]})");
  install("app_a", app_so("a", "1"));
  install("app_b", app_so("b", "1"));
  install("app_c", app_so("c", "1"));
  auto a_actors = spawn("app_a", 2);
  ModuleUse b_v1(rt_->code_server().current("app_b"));  // keeps app_b 1 in use once it is old
  ASSERT_EQ(install_and_reload("app_b", app_so("b", "2")).status, ReloadStatus::kOk);
  install("app_a", app_so("a", "2"), false);
  install("app_b", app_so("b", "1"), false);  // other bytes than current 2: prepare says in_use
  install("app_c", app_so("c", "2"), false);  // no actors: would load if attempted
  ReloadReport r = rt_->reloader().run(ReloadRequest::app("shop"));
  EXPECT_EQ(r.status, ReloadStatus::kPartial) << first_error(r);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].target, "app_a");
  EXPECT_TRUE(r.results[0].rolled_back);
  EXPECT_EQ(r.results[1].target, "app_b");
  ASSERT_EQ(r.results[1].skipped.size(), 1u);
  EXPECT_EQ(r.results[1].skipped[0].reason, ReloadError::kInUse);
  EXPECT_EQ(r.metadata["stopped_by"], "app_b");
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].target, "app_c");
  EXPECT_EQ(r.skipped[0].reason, ReloadError::kRolledBack);
  EXPECT_EQ(r.skipped[0].message, "not attempted: app_b was skipped (in_use)");
  EXPECT_TRUE(r.all_reloaded().empty());
  EXPECT_EQ(rt_->code_server().current("app_a")->version(), "1");
  EXPECT_EQ(rt_->code_server().current("app_b")->version(), "2");
  EXPECT_EQ(rt_->code_server().current("app_c")->version(), "1");
  for (auto& a : a_actors) EXPECT_EQ(status_of(a).version, "1");
}

TEST_F(ReloaderTest, ActorsGaugeFollowsSpawnsAndExitsWithoutAReload) {
  install("counter", counter_so("1"));
  absl::Mutex mu;
  std::map<std::string, double> last;  // module -> last actors.count
  ASSERT_TRUE(rt_->telemetry()
                  .attach("counts", {kActorsCount},
                          [&](const TelemetryEvent& e) {
                            absl::MutexLock lock(&mu);
                            last[e.metadata.at("module")] = e.measurements.at("count");
                          })
                  .ok());
  auto counted = [&](double n) {
    absl::MutexLock lock(&mu);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      auto it = last.find("counter");
      return it != last.end() && it->second == n;
    };
    return mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(30));
  };
  auto actors = spawn("counter", 3);
  ASSERT_TRUE(counted(3));
  EXPECT_NE(rt_->exporter().serialize_text().find("lemon_actors{module=\"counter\"} 3"),
            std::string::npos)
      << rt_->exporter().serialize_text();
  caf::anon_send_exit(actors[0], caf::exit_reason::user_shutdown);
  ASSERT_TRUE(counted(2));
  EXPECT_NE(rt_->exporter().serialize_text().find("lemon_actors{module=\"counter\"} 2"),
            std::string::npos);
  for (std::size_t i = 1; i < actors.size(); ++i) {
    caf::anon_send_exit(actors[i], caf::exit_reason::user_shutdown);
  }
  ASSERT_TRUE(counted(0));
  EXPECT_NE(rt_->exporter().serialize_text().find("lemon_actors{module=\"counter\"} 0"),
            std::string::npos);
  rt_->telemetry().detach("counts");
}

TEST_F(ReloaderTest, ATakenActorNameIsAlreadyExistsWithInvalidArgument) {
  install("counter", counter_so("1"));
  ASSERT_TRUE(rt_->spawn({"counter", "", "only", "0"}).ok());
  auto again = rt_->spawn({"counter", "", "only", "0"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reload_error_of(again.status()), ReloadError::kInvalidArgument);
  EXPECT_NE(again.status().message().find("only"), std::string::npos);
}

TEST_F(ReloaderTest, ActorSuspendEventsCarryTheModule) {
  install("counter", counter_so("1"));
  spawn("counter", 4);
  install("counter", counter_so("2"), false);
  absl::Mutex mu;
  std::vector<TelemetryEvent> events;
  ASSERT_TRUE(rt_->telemetry()
                  .attach("suspends", {kActorSuspend},
                          [&](const TelemetryEvent& e) {
                            absl::MutexLock lock(&mu);
                            events.push_back(e);
                          })
                  .ok());
  const ReloadReport r = rt_->reloader().run(ReloadRequest::module("counter"));
  ASSERT_EQ(r.status, ReloadStatus::kOk);
  rt_->telemetry().detach("suspends");
  absl::MutexLock lock(&mu);
  ASSERT_EQ(events.size(), 4u);
  for (const TelemetryEvent& e : events) {
    EXPECT_EQ(e.metadata.at("module"), "counter");
    // Each actor's pause, measured: some time, within the reload's.
    EXPECT_GT(e.measurements.at("duration_seconds"), 0);
    EXPECT_LE(e.measurements.at("duration_seconds"), r.duration_ms / 1000);
  }
}

}  // namespace
}  // namespace lemon
