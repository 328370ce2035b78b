// The release lifecycle on a real runtime with real modules: dry runs and the pre-flight before a
// reload, permanent versions booted after a restart, rollbacks told they are downgrades, and the
// reload history.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "actors/messages.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/reload_request.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/test_node.h"
#include "testing/testdata/ledger_v1/ledger.pb.h"

namespace lemon {
namespace {

using testing::runfile;

std::string counter_so(const std::string& v) {
  return runfile("extensions/counter/libcounter_v" + v + ".so");
}

class ReleaseTest : public testing::NodeTest {
 protected:
  void SetUp() override {
    NodeTest::SetUp();
    ASSERT_TRUE(rt_->telemetry()
                    .attach("count-suspends", {kActorSuspend},
                            [this](const TelemetryEvent&) { suspends_.fetch_add(1); })
                    .ok());
  }

  std::string version_of(const caf::actor& a) {
    return ask<ActorStatus>(a, sys_status_atom::value).version;
  }
  int64_t count_of(const caf::actor& a) { return ask<int64_t>(a, get_atom::value); }
  // Counter version 1, recorded permanent, then a provisional reload (permanent = false) to 2.
  void reload_provisionally() {
    install("counter", counter_so("1"));
    ASSERT_TRUE(
        rt_->reloader().releases()->record(*rt_->code_server().current("counter"), true).ok());
    install("counter", counter_so("2"), false);
    ReloadRequest req = ReloadRequest::module("counter");
    req.permanent = false;
    ASSERT_EQ(rt_->reloader().run(req).status, ReloadStatus::kOk);
  }
  // A new runtime on the same directories, as after a node restart.
  void restart() {
    self_.reset();
    rt_.reset();
    NodeTest::SetUp();
  }
  std::string current(const std::string& module) {
    ModuleRef m = rt_->code_server().current(module);
    return m ? m->version() : "none";
  }

  std::atomic<int> suspends_{0};
};

TEST_F(ReleaseTest, DryRunReportsTheActorsThatWouldFailAndChangesNothing) {
  install("counter", counter_so("1"));
  auto actors = spawn("counter", 50);
  install("counter", counter_so("2"), false);
  ReloadRequest req = ReloadRequest::module("counter");
  req.dry_run = true;
  req.extra = "fail-on-count:7";
  ReloadReport r = rt_->reloader().run(req);
  EXPECT_EQ(r.status, ReloadStatus::kError);
  EXPECT_EQ(r.metadata["dry_run"], "true");
  EXPECT_EQ(r.metadata["preflight_actors"], "50");
  EXPECT_EQ(r.metadata["preflight_failed"], "1");
  bool named = false;
  for (const ErrorItem& e : r.errors) named = named || e.target == "counter/counter-7";
  EXPECT_TRUE(named) << "the failing actor is named";

  req.extra = "";
  req.sample = 10;
  ReloadReport clean = rt_->reloader().run(req);
  EXPECT_EQ(clean.status, ReloadStatus::kOk);
  EXPECT_EQ(clean.metadata["preflight_actors"], "10") << "sample: N checks N actors";
  EXPECT_TRUE(clean.reloaded.empty());

  EXPECT_EQ(current("counter"), "1");
  EXPECT_FALSE(rt_->code_server().old("counter")) << "the candidate was dropped";
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(version_of(actors[i]), "1");
    EXPECT_EQ(count_of(actors[i]), i);
  }
  EXPECT_EQ(suspends_.load(), 0) << "no actor was held";
}

TEST_F(ReleaseTest, AReloadOneStateInAThousandWouldFailIsRefusedBeforeAnyActorIsHeld) {
  install("counter", counter_so("1"));
  auto actors = spawn("counter", 1000);
  install("counter", counter_so("2"), false);
  ReloadRequest req = ReloadRequest::module("counter");
  req.extra = "fail-on-count:500";
  ReloadReport r = rt_->reloader().run(req);
  EXPECT_EQ(r.status, ReloadStatus::kError);
  EXPECT_EQ(r.metadata["preflight_failed"], "1");
  EXPECT_EQ(r.metadata.count("swap_ms"), 0u) << "no swap was attempted";
  EXPECT_EQ(suspends_.load(), 0) << "no actor paused";
  EXPECT_EQ(current("counter"), "1");
  EXPECT_EQ(version_of(actors[500]), "1");

  req.extra = "";
  EXPECT_EQ(rt_->reloader().run(req).status, ReloadStatus::kOk);
  EXPECT_EQ(suspends_.load(), 1000) << "the real reload holds each actor once";
}

TEST_F(ReleaseTest, ARestartBootsThePermanentVersionNotAFileWhoseReloadFailed) {
  install("counter", counter_so("1"));
  ASSERT_TRUE(
      rt_->reloader().releases()->record(*rt_->code_server().current("counter"), true).ok());
  spawn("counter", 3);
  ASSERT_EQ(install_and_reload("counter", counter_so("2")).status, ReloadStatus::kOk);
  ASSERT_EQ(install_and_reload("counter", counter_so("2_fail")).status, ReloadStatus::kError);
  restart();
  auto booted = rt_->reloader().boot_module("counter", dir_.file("modules/counter.so"));
  ASSERT_TRUE(booted.ok()) << booted.status();
  EXPECT_EQ((*booted)->version(), "2") << "the last successful reload, from its private copy";
}

TEST_F(ReleaseTest, AProvisionalVersionBootsOnlyOnceMadePermanent) {
  ASSERT_NO_FATAL_FAILURE(reload_provisionally());
  EXPECT_EQ(current("counter"), "2");
  restart();
  auto booted = rt_->reloader().boot_module("counter", dir_.file("modules/counter.so"));
  ASSERT_TRUE(booted.ok()) << booted.status();
  EXPECT_EQ((*booted)->version(), "1") << "provisional: the permanent version boots";

  ASSERT_EQ(rt_->reloader().run(ReloadRequest::module("counter")).status, ReloadStatus::kOk);
  restart();
  ASSERT_TRUE(rt_->reloader().boot_module("counter", "").ok());
  EXPECT_EQ(current("counter"), "2");
}

TEST_F(ReleaseTest, MakePermanentRecordsTheProvisionalVersion) {
  ASSERT_NO_FATAL_FAILURE(reload_provisionally());
  ASSERT_TRUE(rt_->reloader().make_permanent({"counter"}).ok());
  EXPECT_FALSE(rt_->reloader().make_permanent({"counter"}).ok()) << "nothing provisional left";
  restart();
  ASSERT_TRUE(rt_->reloader().boot_module("counter", "").ok());
  EXPECT_EQ(current("counter"), "2");
}

TEST_F(ReleaseTest, RollbackReturnsToThePreviousVersionAsADowngrade) {
  install("ledger", runfile("testing/testdata/libledger_v1.so"));
  ASSERT_TRUE(rt_->reloader().releases()->record(*rt_->code_server().current("ledger"), true).ok());
  auto ledgers = spawn("ledger", 3);
  ASSERT_EQ(install_and_reload("ledger", runfile("testing/testdata/libledger_v2.so")).status,
            ReloadStatus::kOk);
  ASSERT_EQ(version_of(ledgers[0]), "2");

  ReloadReport r = rt_->reloader().run(ReloadRequest::rollback("ledger"));
  ASSERT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(current("ledger"), "1");
  for (const caf::actor& a : ledgers) {
    ActorStatus s = ask<ActorStatus>(a, sys_status_atom::value);
    EXPECT_EQ(s.version, "1");
    ledgertest::LedgerState state;
    ASSERT_TRUE(state.ParseFromString(s.state_bytes));
    EXPECT_EQ(state.downgraded_from(), "2") << "code_change was told it is a downgrade";
  }
  EXPECT_EQ(rt_->reloader().releases()->permanent("ledger")->version, "1")
      << "the rolled-back version is permanent";
}

TEST_F(ReleaseTest, RollbackAfterARestartLoadsThePreviousVersionFromItsCopy) {
  install("counter", counter_so("1"));
  ASSERT_TRUE(
      rt_->reloader().releases()->record(*rt_->code_server().current("counter"), true).ok());
  ASSERT_EQ(install_and_reload("counter", counter_so("2")).status, ReloadStatus::kOk);
  restart();
  ASSERT_TRUE(rt_->reloader().boot_module("counter", "").ok());
  auto actors = spawn("counter", 4);
  ReloadReport r = rt_->reloader().run(ReloadRequest::rollback("counter"));
  ASSERT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(current("counter"), "1");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(count_of(actors[i]), i);
}

TEST_F(ReleaseTest, RollbackWithNoPreviousVersionChangesNothing) {
  install("counter", counter_so("1"));
  ReloadReport r = rt_->reloader().run(ReloadRequest::rollback("counter"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  EXPECT_EQ(current("counter"), "1");
}

TEST_F(ReleaseTest, TheHistoryNamesWhoAskedAndSurvivesARestart) {
  install("counter", counter_so("1"));
  install("counter", counter_so("2"), false);
  ReloadRequest req = ReloadRequest::module("counter");
  req.dry_run = true;
  rt_->reloader().run(req);
  req.dry_run = false;
  req.requested_by = "token:abc";
  rt_->reloader().run(req);
  restart();
  std::vector<HistoryEntry> h = rt_->reloader().history()->last(10, "counter");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].requested_by, "token:abc");
  EXPECT_EQ(h[0].status, "ok");
  EXPECT_EQ(h[0].params.at("dry_run"), "false");
  EXPECT_EQ(h[1].requested_by, "local");
  EXPECT_EQ(h[1].params.at("dry_run"), "true");
  EXPECT_GT(h[1].time_unix_ms, 0);
}

}  // namespace
}  // namespace lemon
