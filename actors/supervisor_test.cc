#include "actors/supervisor.h"

#include <algorithm>
#include <string>
#include <vector>

#include "actors/messages.h"
#include "actors/supervisor_test_fixture.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// A supervisor of `strategy` over the counters a, b and c that allows `intensity` restarts.
SupervisorSpec abc(Strategy strategy, int intensity = 10) {
  SupervisorSpec spec = supervisor(strategy, {child("a"), child("b"), child("c")});
  spec.intensity = intensity;
  return spec;
}

TEST_F(SupervisorTest, StartsChildrenInOrderUnderTheirNames) {
  caf::actor sup = start(supervisor(Strategy::kOneForOne, {child("a"), child("b")}));
  auto kids = children(sup);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].name, "a");
  EXPECT_EQ(kids[1].name, "b");
  EXPECT_EQ(registry_->whereis("a"), kids[0].handle);
  EXPECT_EQ(registry_->whereis("b"), kids[1].handle);
  EXPECT_LT(kids[0].handle.id(), kids[1].handle.id());
  EXPECT_EQ(ask<int64_t>(kids[1].handle, get_atom::value), 7);
}

TEST_F(SupervisorTest, OneForOneRestartsOnlyTheCrashedChild) {
  caf::actor sup = start(abc(Strategy::kOneForOne));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 3u);
  ASSERT_EQ(ask<int64_t>(before[1].handle, add_atom::value, int64_t{5}), 12);
  kill(before[1].handle);
  SupervisedChild report = next_report();
  EXPECT_EQ(report.name, "b");
  ASSERT_TRUE(report.handle);
  EXPECT_NE(report.handle, before[1].handle);
  EXPECT_EQ(ask<int64_t>(report.handle, get_atom::value), 7) << "a fresh child";
  EXPECT_EQ(registry_->whereis("b"), report.handle);
  auto after = children(sup);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].handle, before[0].handle);
  EXPECT_EQ(after[1].handle, report.handle);
  EXPECT_EQ(after[2].handle, before[2].handle);
  EXPECT_EQ(registry_->count("counter"), 3u);
}

TEST_F(SupervisorTest, OneForAllRestartsEveryChildWithoutCountingTheStopsAsCrashes) {
  // Intensity 1: the two stopped siblings would exceed it if they counted.
  caf::actor sup = start(abc(Strategy::kOneForAll, 1));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 3u);
  kill(before[1].handle);
  expect_all_restarted(before);
  auto after = children(sup);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_LT(after[0].handle.id(), after[1].handle.id());
  EXPECT_LT(after[1].handle.id(), after[2].handle.id());
  EXPECT_EQ(registry_->count("counter"), 3u);
}

TEST_F(SupervisorTest, SimultaneousCrashesAreHandledOneAfterTheOther) {
  // Intensity 1: both crashes are covered by one restart of all children.
  caf::actor sup = start(abc(Strategy::kOneForAll, 1));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 3u);
  kill(before[0].handle);
  kill(before[2].handle);
  expect_all_restarted(before);
  auto after = children(sup);  // answered: the supervisor is still running
  ASSERT_EQ(after.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_NE(after[i].handle, before[i].handle);

  // One for one: each crash is its own restart.
  caf::actor sup2 = start(supervisor(Strategy::kOneForOne, {child("x"), child("y")}));
  auto xy = children(sup2);
  ASSERT_EQ(xy.size(), 2u);
  kill(xy[0].handle);
  kill(xy[1].handle);
  std::vector<std::string> names = {next_report().name, next_report().name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(registry_->await_count("counter", 5, absl::Seconds(60)));
  for (const SupervisedChild& c : children(sup2)) {
    EXPECT_TRUE(c.handle);
    EXPECT_EQ(registry_->whereis(c.name), c.handle);
  }
}

TEST_F(SupervisorTest, RestForOneRestartsTheCrashedChildAndTheLaterOnes) {
  caf::actor sup = start(abc(Strategy::kRestForOne));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 3u);
  kill(before[1].handle);
  SupervisedChild b = next_report();
  SupervisedChild c = next_report();
  EXPECT_EQ(b.name, "b");
  EXPECT_EQ(c.name, "c");
  auto after = children(sup);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].handle, before[0].handle);
  EXPECT_EQ(after[1].handle, b.handle);
  EXPECT_EQ(after[2].handle, c.handle);
  EXPECT_NE(after[1].handle, before[1].handle);
  EXPECT_NE(after[2].handle, before[2].handle);
  EXPECT_EQ(registry_->count("counter"), 3u);
}

TEST_F(SupervisorTest, TemporaryAndNormallyEndedTransientChildrenStayDown) {
  caf::actor sup =
      start(supervisor(Strategy::kOneForOne,
                       {child("temp", Restart::kTemporary), child("trans", Restart::kTransient),
                        child("crashy", Restart::kTransient), child("perm")}));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 4u);

  kill(before[0].handle);
  SupervisedChild temp = next_report();
  EXPECT_EQ(temp.name, "temp");
  EXPECT_FALSE(temp.handle) << "a temporary child is never restarted";

  caf::anon_send_exit(before[1].handle, caf::exit_reason::user_shutdown);
  SupervisedChild trans = next_report();
  EXPECT_EQ(trans.name, "trans");
  EXPECT_FALSE(trans.handle) << "a transient child that ended normally is not restarted";

  kill(before[2].handle);
  SupervisedChild crashy = next_report();
  EXPECT_EQ(crashy.name, "crashy");
  EXPECT_TRUE(crashy.handle) << "a transient child that crashed is restarted";

  auto after = children(sup);
  ASSERT_EQ(after.size(), 4u);
  EXPECT_FALSE(after[0].handle);
  EXPECT_FALSE(after[1].handle);
  EXPECT_EQ(after[2].handle, crashy.handle);
  EXPECT_EQ(after[3].handle, before[3].handle);
  ASSERT_TRUE(registry_->await_count("counter", 2, absl::Seconds(60)));
  EXPECT_EQ(registry_->whereis("temp"), caf::actor{});
}

TEST_F(SupervisorTest, ExceedingTheIntensityStopsTheChildrenAndTheSupervisor) {
  SupervisorSpec spec = supervisor(Strategy::kOneForOne, {child("a"), child("b")});
  spec.intensity = 1;
  caf::actor sup = start(spec);
  (*self_)->monitor(sup);
  kill(children(sup)[0].handle);
  SupervisedChild a = next_report();
  ASSERT_TRUE(a.handle);
  kill(a.handle);  // the second restart within the period is one too many
  caf::error reason;
  (*self_)->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                    caf::after(kDeadline) >> [] { ADD_FAILURE() << "the supervisor still runs"; });
  ASSERT_TRUE(reason);
  EXPECT_NE(sys_->render(reason).find(kMaxRestartIntensity), std::string::npos)
      << sys_->render(reason);
  EXPECT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
}

TEST_F(SupervisorTest, ShutdownStopsEveryChildWithoutRestarts) {
  caf::actor sup = start(supervisor(Strategy::kOneForAll, {child("a"), child("b"), child("c")}));
  (*self_)->monitor(sup);
  (*self_)->send_exit(sup, caf::exit_reason::user_shutdown);
  caf::error reason;
  (*self_)->receive([&](caf::down_msg& dm) { reason = dm.reason; },
                    caf::after(kDeadline) >> [] { ADD_FAILURE() << "the supervisor still runs"; });
  EXPECT_EQ(reason, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
}

TEST_F(SupervisorTest, KilledSupervisorTakesItsChildrenWithIt) {
  caf::actor sup = start(supervisor(Strategy::kOneForOne, {child("a"), child("b")}));
  ASSERT_EQ(children(sup).size(), 2u);
  ASSERT_TRUE(registry_->await_count("counter", 2, absl::Seconds(60)));
  kill(sup);
  EXPECT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
}

TEST_F(SupervisorTest, ChildThatCannotStartFailsTheSpawnAndStopsTheOthers) {
  SupervisorSpec spec = supervisor(Strategy::kOneForOne, {child("a")});
  spec.children.push_back({{"no-such-module", "", "x", ""}, Restart::kPermanent});
  auto sup = spawn_supervisor(*sys_, registry_, *cs_, spec);
  EXPECT_EQ(sup.status().code(), absl::StatusCode::kNotFound) << sup.status();
  EXPECT_EQ(registry_->count("counter"), 0u);

  spec.children.pop_back();
  spec.intensity = -1;
  EXPECT_EQ(spawn_supervisor(*sys_, registry_, *cs_, spec).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SupervisorTest, ChildCrashingAfterAReloadRestartsOnTheNewVersion) {
  caf::actor sup = start(supervisor(Strategy::kOneForOne, {child("c-0"), child("c-1")}));
  auto before = children(sup);
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(ask<ActorStatus>(before[0].handle, sys_status_atom::value).version, "1");

  auto next = cs_->prepare(counter("2"));
  ASSERT_TRUE(next.ok()) << next.status();
  SwapResult swapped = manager_->swap(*next, {});
  ASSERT_TRUE(swapped.status.ok()) << swapped.status;
  EXPECT_EQ(swapped.actors, 2u);

  kill(before[0].handle);
  SupervisedChild restarted = next_report();
  EXPECT_EQ(restarted.name, "c-0");
  ASSERT_TRUE(restarted.handle);
  ActorStatus status = ask<ActorStatus>(restarted.handle, sys_status_atom::value);
  EXPECT_EQ(status.version, "2");
  EXPECT_EQ(status.name, "c-0");
  EXPECT_NE(status.state.find("\"upgrades\":0"), std::string::npos)
      << "started on version 2, not migrated: " << status.state;
  EXPECT_EQ(registry_->whereis("c-0"), restarted.handle);
  EXPECT_EQ(ask<ActorStatus>(before[1].handle, sys_status_atom::value).version, "2");
  EXPECT_TRUE(cs_->soft_purge("counter").ok()) << "nothing runs version 1 any more";
}

}  // namespace
}  // namespace lemon
