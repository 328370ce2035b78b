// Supervisor trees (nested supervisors, escalation) and dynamic children (simple_one_for_one).
#include <map>
#include <string>
#include <vector>

#include "actors/messages.h"
#include "actors/supervisor.h"
#include "actors/supervisor_test_fixture.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "gtest/gtest.h"

namespace lemon {
namespace {

bool gave_up(const std::string& rendered) {
  return rendered.find(kMaxRestartIntensity) != std::string::npos;
}

class SupervisorTreeTest : public SupervisorTest {
 protected:
  std::map<std::string, std::string> parents() {
    std::map<std::string, std::string> out;
    for (const ActorEntry& e : registry_->list()) out[e.name] = e.parent;
    return out;
  }
};

TEST_F(SupervisorTreeTest, NestedSupervisorRestartsAsAWholeSubtreeUnderItsParentsStrategy) {
  SupervisorSpec mid = supervisor(Strategy::kOneForOne, {child("m1"), child("m2")}, "mid");
  caf::actor root = start(
      supervisor(Strategy::kOneForAll, {child("a"), supervisor_child(mid), child("b")}, "root"));
  auto top = children(root);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[1].name, "mid");
  EXPECT_TRUE(top[1].supervisor);
  EXPECT_FALSE(top[0].supervisor);
  auto under = children(top[1].handle);
  ASSERT_EQ(under.size(), 2u);
  EXPECT_EQ(under[0].name, "m1");
  EXPECT_LT(top[0].handle.id(), under[0].handle.id()) << "started depth first, in order";
  EXPECT_LT(under[0].handle.id(), under[1].handle.id());
  EXPECT_LT(under[1].handle.id(), top[2].handle.id());
  EXPECT_EQ(parents(), (std::map<std::string, std::string>{
                           {"a", "root"}, {"b", "root"}, {"m1", "mid"}, {"m2", "mid"}}));

  // One for all: the crash of `a` stops b and the mid subtree, then starts all three in order.
  (*self_)->monitor(top[1].handle);
  kill(top[0].handle);
  std::vector<SupervisedChild> reports = {next_report(), next_report(), next_report()};
  EXPECT_EQ(reports[0].name, "a");
  EXPECT_EQ(reports[1].name, "mid");
  EXPECT_EQ(reports[2].name, "b");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reports[i].handle) << i;
    EXPECT_NE(reports[i].handle, top[i].handle) << i;
  }
  EXPECT_EQ(await_down(top[1].handle), caf::exit_reason::user_shutdown)
      << "the mid supervisor was stopped, its children first";
  auto restarted = children(reports[1].handle);
  ASSERT_EQ(restarted.size(), 2u);
  EXPECT_LT(reports[0].handle.id(), restarted[0].handle.id());
  EXPECT_LT(restarted[1].handle.id(), reports[2].handle.id());
  for (int i = 0; i < 2; ++i) {
    EXPECT_NE(restarted[i].handle, under[i].handle);
    EXPECT_EQ(registry_->whereis(restarted[i].name), restarted[i].handle);
  }
  EXPECT_EQ(registry_->count("counter"), 4u);
}

TEST_F(SupervisorTreeTest, RunningSupervisorsAreRegisteredUnderTheirParentUntilTheyStop) {
  SupervisorSpec mid = supervisor(Strategy::kRestForOne, {child("m1")}, "mid");
  mid.intensity = 7;
  caf::actor root =
      start(supervisor(Strategy::kOneForAll, {child("a"), supervisor_child(mid)}, "root"));
  // A supervisor registers itself before it handles anything: once both have answered, both are
  // there.
  caf::actor mid_handle = children(root)[1].handle;
  ASSERT_EQ(children(mid_handle).size(), 1u);
  std::vector<SupervisorEntry> sups = registry_->supervisors();
  ASSERT_EQ(sups.size(), 2u);
  std::map<std::string, SupervisorEntry> by_name;
  for (SupervisorEntry& e : sups) by_name[e.name] = e;
  EXPECT_EQ(by_name["root"].handle, root);
  EXPECT_EQ(by_name["root"].parent, "");
  EXPECT_EQ(by_name["root"].strategy, "one_for_all");
  EXPECT_EQ(by_name["mid"].handle, mid_handle);
  EXPECT_EQ(by_name["mid"].parent, "root");
  EXPECT_EQ(by_name["mid"].strategy, "rest_for_one");
  EXPECT_EQ(by_name["mid"].intensity, 7);
  EXPECT_EQ(registry_->list().size(), 2u) << "supervisors are not actors of a module";

  (*self_)->monitor(mid_handle);
  (*self_)->monitor(root);
  caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
  EXPECT_EQ(await_down(root), caf::exit_reason::user_shutdown);
  EXPECT_EQ(await_down(mid_handle), caf::exit_reason::user_shutdown);
  EXPECT_TRUE(registry_->supervisors().empty()) << "a supervisor leaves before its down message";
}

TEST_F(SupervisorTreeTest, GrandchildCrashingAfterAReloadRestartsOnTheNewVersion) {
  SupervisorSpec mid = supervisor(Strategy::kOneForOne, {child("w")}, "mid");
  caf::actor root = start(supervisor(Strategy::kOneForOne, {supervisor_child(mid)}, "root"));
  caf::actor mid_handle = children(root)[0].handle;
  ASSERT_TRUE(mid_handle);
  watch(mid_handle);
  caf::actor w = children(mid_handle)[0].handle;
  EXPECT_EQ(ask<ActorStatus>(w, sys_status_atom::value).version, "1");

  auto next = cs_->prepare(counter("2"));
  ASSERT_TRUE(next.ok()) << next.status();
  SwapResult swapped = manager_->swap(*next, {});
  ASSERT_TRUE(swapped.status.ok()) << swapped.status;
  EXPECT_EQ(swapped.actors, 1u);

  kill(w);
  SupervisedChild restarted = next_report();
  EXPECT_EQ(restarted.name, "w");
  ASSERT_TRUE(restarted.handle);
  EXPECT_NE(restarted.handle, w);
  ActorStatus status = ask<ActorStatus>(restarted.handle, sys_status_atom::value);
  EXPECT_EQ(status.version, "2");
  EXPECT_NE(status.state.find("\"upgrades\":0"), std::string::npos)
      << "started on version 2, not migrated: " << status.state;
  EXPECT_EQ(registry_->whereis("w"), restarted.handle);
  EXPECT_EQ(children(root)[0].handle, mid_handle) << "the mid supervisor absorbed the crash";
}

TEST_F(SupervisorTreeTest, EscalationClimbsTheTreeUntilTheRootGivesUp) {
  SupervisorSpec mid = supervisor(Strategy::kOneForOne, {child("w")}, "mid");
  mid.intensity = 1;
  SupervisorSpec spec =
      supervisor(Strategy::kOneForOne, {supervisor_child(mid), child("r")}, "root");
  spec.intensity = 1;
  caf::actor root = start(spec);
  (*self_)->monitor(root);
  const caf::actor r = children(root)[1].handle;

  // Two crashes of its worker within the period: the mid supervisor gives up, the root restarts
  // it (the root's first restart), then it gives up again (the root's second: one too many).
  caf::actor mid_handle = children(root)[0].handle;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    ASSERT_TRUE(mid_handle);
    (*self_)->monitor(mid_handle);
    watch(mid_handle);
    kill(children(mid_handle)[0].handle);
    SupervisedChild w = next_report();
    EXPECT_EQ(w.name, "w");
    ASSERT_TRUE(w.handle);
    kill(w.handle);
    const std::string reason = render(await_down(mid_handle));
    EXPECT_TRUE(gave_up(reason)) << reason;
    if (round == 1) break;
    SupervisedChild restarted = next_report();
    EXPECT_EQ(restarted.name, "mid");
    ASSERT_TRUE(restarted.handle);
    EXPECT_NE(restarted.handle, mid_handle);
    auto top = children(root);
    EXPECT_EQ(top[0].handle, restarted.handle);
    EXPECT_EQ(top[1].handle, r) << "one for one: the sibling stays";
    mid_handle = restarted.handle;
  }
  const std::string reason = render(await_down(root));
  EXPECT_TRUE(gave_up(reason)) << reason;
  EXPECT_NE(reason.find("child mid exited"), std::string::npos) << reason;
  EXPECT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
}

// The killed supervisor's workers stop on their own time (here one is busy in a handler): the
// subtree is started again once their names are free, at the first attempt.
TEST_F(SupervisorTreeTest, KilledNestedSupervisorIsRestartedWithItsSubtree) {
  ASSERT_TRUE(cs_->load(testing::runfile("actors/testdata/libslow_v1.so")).ok());
  ChildSpec busy;
  busy.spawn = {"slow", "", "busy", ""};
  SupervisorSpec mid = supervisor(Strategy::kOneForOne, {child("w1"), busy}, "mid");
  SupervisorSpec spec = supervisor(Strategy::kOneForOne, {supervisor_child(mid)}, "root");
  spec.intensity = 1;  // a restart that failed on a taken name would make the root give up
  caf::actor root = start(spec);
  (*self_)->monitor(root);
  caf::actor before = children(root)[0].handle;
  caf::anon_send(children(before)[1].handle, ping_atom::value, uint64_t{500});
  kill(before);
  SupervisedChild restarted = next_report();
  EXPECT_EQ(restarted.name, "mid");
  ASSERT_TRUE(restarted.handle);
  EXPECT_NE(restarted.handle, before);
  for (const SupervisedChild& c : children(restarted.handle)) {
    EXPECT_TRUE(c.handle) << c.name;
    EXPECT_EQ(registry_->whereis(c.name), c.handle) << c.name;
  }
  EXPECT_EQ(registry_->count("counter"), 1u);
  EXPECT_EQ(registry_->count("slow"), 1u);
  EXPECT_EQ(children(root)[0].handle, restarted.handle) << "the root still runs";
}

TEST_F(SupervisorTreeTest, SimpleOneForOneStartsAndTerminatesChildrenFromItsTemplate) {
  caf::actor pool =
      start(supervisor(Strategy::kSimpleOneForOne, {child("unused", Restart::kTransient)}, "pool"));
  EXPECT_TRUE(children(pool).empty());
  auto a = start_child(*sys_, pool, "1", "p-1");
  auto b = start_child(*sys_, pool, "2", "p-2");
  auto c = start_child(*sys_, pool, "3");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ask<int64_t>(*b, get_atom::value), 2);
  EXPECT_EQ(start_child(*sys_, pool, "4", "p-1").status().code(), absl::StatusCode::kAlreadyExists);
  auto kids = children(pool);
  ASSERT_EQ(kids.size(), 3u);
  EXPECT_EQ(kids[0].name, "p-1");
  EXPECT_EQ(kids[0].handle, *a);
  EXPECT_EQ(kids[1].handle, *b);
  EXPECT_EQ(kids[2].name, "");
  EXPECT_EQ(kids[2].handle, *c);
  EXPECT_EQ(parents()["p-1"], "pool");

  // Transient: a crash restarts it from its own init_arg; a normal exit forgets it.
  kill(*a);
  SupervisedChild p1 = next_report();
  EXPECT_EQ(p1.name, "p-1");
  ASSERT_TRUE(p1.handle);
  EXPECT_EQ(ask<int64_t>(p1.handle, get_atom::value), 1);
  caf::anon_send_exit(*b, caf::exit_reason::user_shutdown);
  SupervisedChild p2 = next_report();
  EXPECT_EQ(p2.name, "p-2");
  EXPECT_FALSE(p2.handle);
  kids = children(pool);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].handle, p1.handle);
  EXPECT_EQ(kids[1].handle, *c);

  EXPECT_TRUE(terminate_child(*sys_, pool, "p-1").ok());
  EXPECT_TRUE(terminate_child(*sys_, pool, *c).ok());
  EXPECT_TRUE(children(pool).empty());
  EXPECT_EQ(terminate_child(*sys_, pool, "p-1").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(start_child(*sys_, pool, "8").ok());
  EXPECT_EQ(terminate_child(*sys_, pool, "").code(), absl::StatusCode::kNotFound)
      << "an unnamed child is known by its handle only";
  EXPECT_EQ(children(pool).size(), 1u);
  EXPECT_TRUE(registry_->await_count("counter", 1, absl::Seconds(60)));
}

TEST_F(SupervisorTreeTest, DynamicChildrenFollowTheirRestartType) {
  caf::actor permanent =
      start(supervisor(Strategy::kSimpleOneForOne, {child("", Restart::kPermanent)}, "perm"));
  caf::actor temporary =
      start(supervisor(Strategy::kSimpleOneForOne, {child("", Restart::kTemporary)}, "temp"));
  auto p = start_child(*sys_, permanent, "5", "p");
  auto t = start_child(*sys_, temporary, "6", "t");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(t.ok()) << t.status();

  caf::anon_send_exit(*p, caf::exit_reason::user_shutdown);
  SupervisedChild again = next_report();
  EXPECT_EQ(again.name, "p");
  ASSERT_TRUE(again.handle) << "a permanent child comes back even after a normal exit";
  EXPECT_EQ(children(permanent).size(), 1u);

  kill(*t);
  SupervisedChild gone = next_report();
  EXPECT_EQ(gone.name, "t");
  EXPECT_FALSE(gone.handle);
  EXPECT_TRUE(children(temporary).empty());

  (*self_)->monitor(temporary);
  caf::anon_send_exit(temporary, caf::exit_reason::user_shutdown);
  EXPECT_EQ(await_down(temporary), caf::exit_reason::user_shutdown);
  EXPECT_EQ(start_child(*sys_, temporary, "7").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SupervisorTreeTest, TerminateChildStopsAStaticChildOrSubtreeWithoutARestart) {
  SupervisorSpec mid = supervisor(Strategy::kOneForOne, {child("m1")}, "mid");
  caf::actor root =
      start(supervisor(Strategy::kOneForOne, {child("a"), supervisor_child(mid), child("b")}));
  auto before = children(root);
  EXPECT_TRUE(terminate_child(*sys_, root, "a").ok());
  EXPECT_TRUE(terminate_child(*sys_, root, before[1].handle).ok());
  auto after = children(root);
  ASSERT_EQ(after.size(), 3u) << "static children stay listed";
  EXPECT_FALSE(after[0].handle);
  EXPECT_FALSE(after[1].handle);
  EXPECT_EQ(after[2].handle, before[2].handle);
  EXPECT_TRUE(registry_->await_count("counter", 1, absl::Seconds(60)));
  EXPECT_EQ(start_child(*sys_, root, "1").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SupervisorTreeTest, BadSpecAnywhereInTheTreeIsRefusedBeforeAnythingStarts) {
  SupervisorSpec bad_mid = supervisor(Strategy::kOneForOne, {child("m")}, "mid");
  bad_mid.intensity = -1;
  auto nested =
      spawn_supervisor(*sys_, registry_, *cs_,
                       supervisor(Strategy::kOneForOne, {child("a"), supervisor_child(bad_mid)}));
  EXPECT_EQ(nested.status().code(), absl::StatusCode::kInvalidArgument) << nested.status();
  EXPECT_NE(nested.status().message().find("mid"), absl::string_view::npos);

  SupervisorSpec two = supervisor(Strategy::kSimpleOneForOne, {child("x"), child("y")});
  EXPECT_EQ(spawn_supervisor(*sys_, registry_, *cs_, two).status().code(),
            absl::StatusCode::kInvalidArgument);
  SupervisorSpec nested_template = supervisor(
      Strategy::kSimpleOneForOne, {supervisor_child(supervisor(Strategy::kOneForOne, {}))});
  EXPECT_EQ(spawn_supervisor(*sys_, registry_, *cs_, nested_template).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->count("counter"), 0u);

  // A grandchild that cannot start fails the whole spawn; what started is stopped.
  SupervisorSpec broken = supervisor(Strategy::kOneForOne, {child("m")}, "mid");
  broken.children.push_back({{"no-such-module", "", "x", ""}});
  auto failed =
      spawn_supervisor(*sys_, registry_, *cs_,
                       supervisor(Strategy::kOneForOne, {child("a"), supervisor_child(broken)}));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound) << failed.status();
  EXPECT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
}

}  // namespace
}  // namespace lemon
