#include "actors/reloadable_actor.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "actors/messages.h"
#include "actors/system_messages.h"
#include "actors/test_ask.h"
#include "actors/turn_slots.h"
#include "caf/all.hpp"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "testing/worker_gate.h"

namespace lemon {
namespace {

using namespace std::chrono_literals;

using testing::runfile;

class ReloadableActorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cs_ = std::move(CodeServer::create({dir_.path()}).value());
    v1_ = cs_->load(runfile("extensions/counter/libcounter_v1.so")).value();
  }
  void TearDown() override {
    registry_->stop_all();
    self_.reset();
    sys_.reset();
    cs_.reset();
  }

  caf::actor spawn_counter(const std::string& name) {
    auto a = spawn_reloadable(*sys_, registry_, *cs_, {"counter", "", name, "0"});
    EXPECT_TRUE(a.ok()) << a.status();
    return *a;
  }

  // Sends `a` ticks with sequence numbers first..last, from one sender.
  void send_ticks(const caf::actor& a, uint64_t first, uint64_t last) {
    for (uint64_t seq = first; seq <= last; ++seq) {
      (*self_)->send(a, tick_atom::value, uint64_t{1}, seq);
    }
  }

  template <class T, class... Ts>
  T ask(const caf::actor& a, Ts... xs) {
    return ask_reply<T>(*self_, caf::infinite, a, xs...);
  }

  testing::ScratchDir dir_;
  std::unique_ptr<CodeServer> cs_;
  ModuleRef v1_;
  std::shared_ptr<ActorRegistry> registry_ = std::make_shared<ActorRegistry>();
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_ = std::make_unique<caf::actor_system>(cfg_);
  std::unique_ptr<caf::scoped_actor> self_ = std::make_unique<caf::scoped_actor>(*sys_);
};

TEST_F(ReloadableActorTest, RunsTheModuleBehaviourAndRegistersByName) {
  caf::actor a = spawn_counter("c1");
  EXPECT_EQ(ask<int64_t>(a, add_atom::value, int64_t{5}), 5);
  EXPECT_EQ(registry_->whereis("c1"), a);
  EXPECT_EQ(registry_->count("counter"), 1u);
  EXPECT_EQ(v1_->actor_count(), 1);
  auto status = ask<ActorStatus>(a, sys_status_atom::value);
  EXPECT_EQ(status.name, "c1");
  EXPECT_EQ(status.version, "1");
  EXPECT_FALSE(status.suspended);
  EXPECT_NE(status.state.find("\"count\":5"), std::string::npos) << status.state;
  auto again = spawn_reloadable(*sys_, registry_, *cs_, {"counter", "", "c1", ""});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  auto unknown = spawn_reloadable(*sys_, registry_, *cs_, {"nope", "", "", ""});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Releases the held `target` as the reload manager does, reporting to `tracker` (slot 0); returns
// how many wake-ups the release sent (1 if the actor kept messages while held, else 0).
std::size_t release(ReloadTarget* target, bool commit, const ResumeTrackerPtr& tracker) {
  ReleaseBatch batch(tracker);
  target->release(commit, 0, batch);
  return batch.wake_ups();
}

// Holds `a` for the reload manager, waiting (with a deadline) while it is busy or starting.
ReloadTarget* hold(const caf::actor& a) {
  ReloadTarget* t = reload_target(a);
  if (t == nullptr) return nullptr;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    (void)t->claim(now_ns());  // no-op once claimed; not ready: claimed on a later try
    if (t->hold(RunningTurns::after_heavy_fence()) == ReloadTarget::Hold::kHeld) break;
    if (std::chrono::steady_clock::now() > deadline) return nullptr;
    std::this_thread::yield();
  }
  return t;
}

TEST_F(ReloadableActorTest, MessagesSentWhileSuspendedRunInOrderOnTheNewVersion) {
  caf::actor a = spawn_counter("c1");
  ASSERT_EQ(ask<int64_t>(a, add_atom::value, int64_t{0}), 0);
  ModuleRef v2 = cs_->load(runfile("extensions/counter/libcounter_v2.so")).value();
  ReloadTarget* target = hold(a);
  ASSERT_NE(target, nullptr);
  ASSERT_TRUE(target->migrate(v2, "", false).ok());

  // The actor is held (migrated, waiting for commit): everything sent now is kept.
  constexpr uint64_t kMessages = 10000;
  send_ticks(a, 1, kMessages);
  // A request queued while suspended is answered after resume, by the new version.
  auto pong = (*self_)->request(a, caf::infinite, ping_atom::value, uint64_t{1});

  auto status = ask<ActorStatus>(a, sys_status_atom::value);  // system messages are still served
  EXPECT_TRUE(status.suspended);
  EXPECT_EQ(status.version, "1");
  EXPECT_GE(status.mailbox_size, kMessages);
  EXPECT_NE(status.state.find("\"count\":0"), std::string::npos) << "handled while suspended";

  auto tracker = std::make_shared<ResumeTracker>(1);
  EXPECT_EQ(release(target, true, tracker), 1u) << "serving the status request ran the held actor, "
                                                   "which kept the ticks: a wake-up flushes them";
  ASSERT_TRUE(tracker->await_resumed(absl::Seconds(60)));
  EXPECT_EQ(tracker->pauses_ns().size(), 1u);

  uint64_t pong_value = 0;
  pong.receive([&](uint64_t x) { pong_value = x; },
               [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  EXPECT_EQ(pong_value, 1000001u) << "the request was answered by version 1";

  EXPECT_EQ(ask<int64_t>(a, get_atom::value), static_cast<int64_t>(kMessages));
  status = ask<ActorStatus>(a, sys_status_atom::value);
  EXPECT_EQ(status.version, "2");
  EXPECT_FALSE(status.suspended);
  EXPECT_NE(status.state.find("\"order_violations\":0"), std::string::npos) << status.state;
  EXPECT_NE(status.state.find("\"upgrades\":1"), std::string::npos) << status.state;
  EXPECT_EQ(v1_->actor_count(), 0);
  EXPECT_EQ(v2->actor_count(), 1);
}

TEST_F(ReloadableActorTest, AbortKeepsTheOldVersionAndItsState) {
  caf::actor a = spawn_counter("c1");
  ASSERT_EQ(ask<int64_t>(a, add_atom::value, int64_t{41}), 41);
  auto prepared = cs_->prepare(runfile("extensions/counter/libcounter_v2.so"));
  ASSERT_TRUE(prepared.ok());
  ReloadTarget* target = hold(a);
  ASSERT_NE(target, nullptr);
  absl::Status migrated = target->migrate(*prepared, "fail", false);
  EXPECT_NE(migrated.message().find("failed as asked"), std::string::npos) << migrated;
  (*self_)->send(a, add_atom::value, int64_t{1});  // kept while held
  auto tracker = std::make_shared<ResumeTracker>(1);
  release(target, false, tracker);
  ASSERT_TRUE(tracker->await_resumed(absl::Seconds(60)));
  EXPECT_EQ(ask<int64_t>(a, get_atom::value), 42);
  EXPECT_EQ(ask<ActorStatus>(a, sys_status_atom::value).version, "1");
  tracker.reset();
  EXPECT_EQ((*prepared)->actor_count(), 0);
}

// Restarts the fixture's actor system with one scheduler worker, so that actors get their turns
// in the order they were scheduled, and a gate (testing/worker_gate.h) can keep that worker busy.
class OneWorkerTest : public ReloadableActorTest {
 protected:
  void SetUp() override {
    self_.reset();
    sys_.reset();
    cfg_.set("scheduler.max-threads", size_t{1});
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    ReloadableActorTest::SetUp();
  }
  void TearDown() override {
    gate_.open();
    ReloadableActorTest::TearDown();
  }

  WorkerGate gate_;
};

// A held actor is not run for ordinary messages (it is parked: they wait in its mailbox), so its
// release needs no wake-up: it counts as resumed at once, even while no worker is free to run it.
TEST_F(OneWorkerTest, AHeldActorIsNotRunForOrdinaryMessagesAndResumesWithoutAWakeUp) {
  caf::actor a = spawn_counter("a");
  caf::actor b = spawn_counter("b");
  ASSERT_EQ(ask<int64_t>(a, add_atom::value, int64_t{0}), 0);
  ASSERT_EQ(ask<int64_t>(b, add_atom::value, int64_t{0}), 0);
  ModuleRef v2 = cs_->load(runfile("extensions/counter/libcounter_v2.so")).value();
  ReloadTarget* target = hold(a);
  ASSERT_NE(target, nullptr);
  ASSERT_TRUE(target->migrate(v2, "", false).ok());
  send_ticks(a, 1, 100);
  // b was scheduled after a: once b has answered, a has had its turn, had it been scheduled.
  ASSERT_EQ(ask<int64_t>(b, add_atom::value, int64_t{0}), 0);

  ASSERT_TRUE(gate_.close(*sys_));
  auto tracker = std::make_shared<ResumeTracker>(1);
  EXPECT_EQ(release(target, true, tracker), 0u)
      << "the release sent a wake-up: the held actor ran and kept its messages";
  EXPECT_TRUE(tracker->await_resumed(absl::ZeroDuration()))
      << "the release does not count the actor as resumed at once";
  gate_.open();
  auto status = ask<ActorStatus>(a, sys_status_atom::value);
  EXPECT_EQ(status.version, "2");
  EXPECT_NE(status.state.find("\"count\":100"), std::string::npos) << status.state;
}

// An actor claimed while its turn runs a handler finishes that turn on the old code (the messages
// queued behind the handler run in it too, up to 50), and is held once the turn has ended, with
// nothing kept: its release needs no wake-up.
TEST_F(ReloadableActorTest, AnActorClaimedInItsTurnRunsTheTurnToItsEndThenIsHeld) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  auto spawned = spawn_reloadable(*sys_, registry_, *cs_, {"slow", "", "slow-1", ""});
  ASSERT_TRUE(spawned.ok()) << spawned.status();
  caf::actor a = *spawned;
  ReloadTarget* target = reload_target(a);
  ASSERT_NE(target, nullptr);
  ASSERT_EQ(ask<uint64_t>(a, ping_atom::value, uint64_t{0}), 1u);  // started on a version
  // One long handler, then three short ones queued behind it, in one turn.
  caf::anon_send(a, ping_atom::value, uint64_t{1000});
  for (int k = 0; k < 3; ++k) caf::anon_send(a, ping_atom::value, uint64_t{0});
  // Its turn has begun once a snapshot shows a turn running (it is the only reloadable actor).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (RunningTurns::after_heavy_fence().size() == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the actor's turn never began";
    std::this_thread::yield();
  }
  ASSERT_EQ(target->claim(now_ns()), ReloadTarget::Hold::kClaimed);
  EXPECT_EQ(target->hold(RunningTurns::after_heavy_fence()), ReloadTarget::Hold::kBusy)
      << "held while its handler ran";
  ReloadTarget::Hold h = ReloadTarget::Hold::kBusy;
  while ((h = target->hold(RunningTurns::after_heavy_fence())) == ReloadTarget::Hold::kBusy) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the turn never ended";
    std::this_thread::yield();
  }
  ASSERT_EQ(h, ReloadTarget::Hold::kHeld);
  auto status = ask<ActorStatus>(a, sys_status_atom::value);  // answered while held
  EXPECT_TRUE(status.suspended);
  EXPECT_NE(status.state.find("\"handled\":5"), std::string::npos)
      << "the turn did not run the messages behind the long handler: " << status.state;
  auto tracker = std::make_shared<ResumeTracker>(1);
  EXPECT_EQ(release(target, false, tracker), 0u) << "the actor kept messages: it needed a wake-up";
  EXPECT_EQ(ask<uint64_t>(a, ping_atom::value, uint64_t{0}), 6u);
}

// A parked actor still serves what must not wait for the release: a status request, an exit.
TEST_F(OneWorkerTest, AParkedActorAnswersStatusAndCanBeKilled) {
  caf::actor a = spawn_counter("a");
  ASSERT_EQ(ask<int64_t>(a, add_atom::value, int64_t{0}), 0);
  ReloadTarget* target = hold(a);
  ASSERT_NE(target, nullptr);
  send_ticks(a, 1, 10);
  auto status = ask<ActorStatus>(a, sys_status_atom::value);
  EXPECT_TRUE(status.suspended);
  EXPECT_GE(status.mailbox_size, 10u);
  send_ticks(a, 11, 20);
  (*self_)->monitor(a);
  (*self_)->send_exit(a, caf::exit_reason::kill);
  bool down = false;
  (*self_)->receive([&](caf::down_msg&) { down = true; },
                    caf::after(std::chrono::seconds(60)) >> [] {});
  EXPECT_TRUE(down) << "the kill waited for the release";
  EXPECT_EQ(target->hold(RunningTurns::after_heavy_fence()), ReloadTarget::Hold::kExited);
  auto tracker = std::make_shared<ResumeTracker>(1);
  release(target, true, tracker);
  EXPECT_EQ(v1_->actor_count(), 0);
}

// An actor that exits while the manager holds it is cleaned up by the release (its version is
// let go) and counts as gone, not as resumed.
TEST_F(ReloadableActorTest, AnActorKilledWhileHeldIsCleanedUpOnRelease) {
  caf::actor a = spawn_counter("c1");
  ASSERT_EQ(ask<int64_t>(a, get_atom::value), 0);
  ModuleRef v2 = cs_->load(runfile("extensions/counter/libcounter_v2.so")).value();
  ReloadTarget* target = hold(a);
  ASSERT_NE(target, nullptr);
  ASSERT_TRUE(target->migrate(v2, "", false).ok());
  (*self_)->monitor(a);
  (*self_)->send_exit(a, caf::exit_reason::kill);
  (*self_)->receive([](caf::down_msg&) {});
  EXPECT_EQ(target->hold(RunningTurns::after_heavy_fence()), ReloadTarget::Hold::kExited);
  EXPECT_EQ(v1_->actor_count(), 1) << "held: the manager owns its behaviours until release";
  auto tracker = std::make_shared<ResumeTracker>(1);
  release(target, true, tracker);
  EXPECT_TRUE(tracker->await_resumed(absl::ZeroDuration()));
  EXPECT_TRUE(tracker->pauses_ns().empty());
  EXPECT_EQ(v1_->actor_count(), 0);
  EXPECT_EQ(v2->actor_count(), 0);
}

// A release batch reports what it collected when flushed (here: at its end), all at once.
TEST(ReleaseBatchTest, ReportsItsResumesWhenFlushed) {
  auto tracker = std::make_shared<ResumeTracker>(2);
  {
    ReleaseBatch batch(tracker, 2);
    batch.resumed(0, 5);
    batch.resumed(1, 6);
    EXPECT_EQ(tracker->to_resume(), 2u) << "nothing reported before the flush";
  }
  EXPECT_TRUE(tracker->await_resumed(absl::ZeroDuration()));
}

TEST_F(ReloadableActorTest, ExitUnregistersAndReleasesTheVersion) {
  caf::actor a = spawn_counter("c1");
  ASSERT_EQ(ask<int64_t>(a, get_atom::value), 0);
  (*self_)->monitor(a);
  (*self_)->send_exit(a, caf::exit_reason::user_shutdown);
  (*self_)->receive([](caf::down_msg&) {});
  a = caf::actor{};
  // The registry entry goes when the actor's cleanup has run.
  ASSERT_TRUE(registry_->await_count("counter", 0, absl::Seconds(60)));
  EXPECT_EQ(registry_->whereis("c1"), caf::actor{});
  EXPECT_EQ(v1_->actor_count(), 0);
}

}  // namespace
}  // namespace lemon
