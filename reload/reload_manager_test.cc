#include "reload/reload_manager.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "actors/messages.h"
#include "actors/reloadable_actor.h"
#include "actors/system_messages.h"
#include "actors/test_ask.h"
#include "caf/all.hpp"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "testing/worker_gate.h"

namespace lemon {
namespace {

using testing::runfile;

std::string counter(const std::string& v) {
  return runfile("extensions/counter/libcounter_v" + v + ".so");
}

class ReloadManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CodeServer::Options o;
    o.copy_dir = dir_.path();
    o.unmap_grace = unmap_grace_;
    cs_ = std::move(CodeServer::create(o).value());
    // As lemon::Runtime does: flooded actors must not delay suspensions for long.
    cfg_.set("scheduler.max-throughput", size_t{50});
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    self_ = std::make_unique<caf::scoped_actor>(*sys_);
    manager_ = std::make_unique<ReloadManager>(*sys_, registry_, *cs_);
  }
  void TearDown() override {
    registry_->stop_all();
    self_.reset();
    manager_.reset();
    sys_.reset();
    cs_.reset();
  }

  std::vector<caf::actor> spawn_many(const std::string& module, int n) {
    std::vector<caf::actor> out;
    for (int i = 0; i < n; ++i) {
      auto a = spawn_reloadable(*sys_, registry_, *cs_,
                                {module, "", module + "-" + std::to_string(i), std::to_string(i)});
      EXPECT_TRUE(a.ok()) << a.status();
      out.push_back(*a);
    }
    return out;
  }

  // Prepares the module file `so` and swaps it in: the swap's result, or, when the prepare fails
  // (a test failure), its status.
  SwapResult swap_to(const std::string& so, const SwapOptions& options = {}) {
    absl::StatusOr<ModuleRef> next = cs_->prepare(so);
    EXPECT_TRUE(next.ok()) << next.status();
    if (next.ok()) return manager_->swap(*next, options);
    SwapResult failed;
    failed.status = next.status();
    return failed;
  }

  template <class T, class... Ts>
  T ask(const caf::actor& a, Ts... xs) {
    return ask_reply<T>(*self_, std::chrono::seconds(120), a, xs...);
  }

  absl::Duration unmap_grace_ = absl::ZeroDuration();  // for the code server, set before SetUp
  testing::ScratchDir dir_;
  std::unique_ptr<CodeServer> cs_;
  std::shared_ptr<ActorRegistry> registry_ = std::make_shared<ActorRegistry>();
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::unique_ptr<ReloadManager> manager_;
};

TEST_F(ReloadManagerTest, SwapUnderLoadMovesEveryActorAndLosesNothing) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  constexpr int kActors = 200;
  auto actors = spawn_many("counter", kActors);
  // A sender keeps a steady stream going to every actor, before, during and after the swap.
  std::atomic<bool> stop{false};
  std::vector<uint64_t> sent(kActors, 0);
  std::atomic<int> rounds{0};
  std::thread sender([&] {
    caf::scoped_actor s{*sys_};
    while (!stop.load()) {
      for (int i = 0; i < kActors; ++i)
        s->send(actors[i], tick_atom::value, uint64_t{9}, ++sent[i]);
      ++rounds;
    }
  });
  // The stream is flowing before the swap starts (a loaded machine may start the thread late).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (rounds.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GT(rounds.load(), 0) << "the sender never sent";
  SwapResult r = swap_to(counter("2"));
  stop = true;
  sender.join();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.actors, static_cast<size_t>(kActors));
  EXPECT_EQ(r.pause_seconds.size(), static_cast<size_t>(kActors));
  EXPECT_EQ(r.from_version, "1");
  EXPECT_EQ(cs_->current("counter")->version(), "2");
  EXPECT_EQ(cs_->old("counter")->actor_count(), 0);
  uint64_t total_sent = 0;
  for (int i = 0; i < kActors; ++i) {
    SCOPED_TRACE(i);
    total_sent += sent[i];
    // Each actor started at count i and received sent[i] ticks, none lost.
    EXPECT_EQ(ask<int64_t>(actors[i], get_atom::value), static_cast<int64_t>(i + sent[i]));
    auto st = ask<ActorStatus>(actors[i], sys_status_atom::value);
    EXPECT_EQ(st.version, "2");
    EXPECT_NE(st.state.find("\"order_violations\":0"), std::string::npos) << st.state;
  }
  EXPECT_GT(total_sent, 0u);
  EXPECT_TRUE(cs_->soft_purge("counter").ok());
}

TEST_F(ReloadManagerTest, OneFailingCodeChangeRollsBackEveryActor) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  auto actors = spawn_many("counter", 40);  // counts 0..39: odd ones fail with "fail-on-odd"
  auto next = cs_->prepare(counter("2"));
  ASSERT_TRUE(next.ok());
  SwapOptions options;
  options.extra = "fail-on-odd";
  SwapResult r = manager_->swap(*next, options);
  EXPECT_EQ(reload_error_of(r.status), ReloadError::kCodeChangeFailed) << r.status;
  EXPECT_EQ(r.failures.size(), 20u);
  EXPECT_NE(r.status.message().find("odd count"), absl::string_view::npos) << r.status;
  EXPECT_EQ(cs_->current("counter")->version(), "1");
  EXPECT_EQ(cs_->old("counter"), nullptr);
  for (int i = 0; i < 40; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ask<int64_t>(actors[i], get_atom::value), i) << "old state kept";
    EXPECT_EQ(ask<ActorStatus>(actors[i], sys_status_atom::value).version, "1");
  }
  EXPECT_EQ((*next)->actor_count(), 0);
}

TEST_F(ReloadManagerTest, AnActorStuckInAHandlerTimesOutAndNothingChanges) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  auto actors = spawn_many("slow", 5);
  // actors[0] is busy for 3 s; the deadline is 200 ms.
  (*self_)->send(actors[0], ping_atom::value, uint64_t{3000});
  SwapOptions options;
  options.suspend_timeout = absl::Milliseconds(200);
  SwapResult r = swap_to(runfile("actors/testdata/libslow_v2.so"), options);
  EXPECT_EQ(reload_error_of(r.status), ReloadError::kSuspendTimeout) << r.status;
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].actor_name, "slow-0");
  EXPECT_EQ(cs_->current("slow")->version(), "1");
  for (auto& a : actors) EXPECT_EQ(ask<ActorStatus>(a, sys_status_atom::value).version, "1");
  // The stuck actor finished its work and answers on the old version, still running.
  EXPECT_EQ(ask<uint64_t>(actors[0], ping_atom::value, uint64_t{0}), 2u);
}

// Actors killed just before a reload either are not part of it or leave it while it runs (their
// suspension is never handled): either way the reload succeeds for the others, long before its
// deadline would have made it fail.
TEST_F(ReloadManagerTest, ActorsThatExitDuringAReloadDoNotHoldIt) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  auto actors = spawn_many("counter", 600);
  for (int i = 0; i < 600; i += 100) (*self_)->send_exit(actors[i], caf::exit_reason::kill);
  SwapResult r = swap_to(counter("2"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(cs_->current("counter")->version(), "2");
  EXPECT_EQ(r.pause_seconds.size(), 594u) << "every live actor resumed, and only those";
  for (int i = 1; i < 600; i += 7) {
    if (i % 100 == 0) continue;
    EXPECT_EQ(ask<ActorStatus>(actors[i], sys_status_atom::value).version, "2");
  }
}

TEST_F(ReloadManagerTest, ActorSpawnedDuringAReloadStartsOnTheWinningVersion) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  auto actors = spawn_many("slow", 2);
  (*self_)->send(actors[0], ping_atom::value, uint64_t{1500});  // keeps the reload open a while
  auto next = cs_->prepare(runfile("actors/testdata/libslow_v2.so"));
  ASSERT_TRUE(next.ok());
  SwapResult r;
  std::thread reload([&] { r = manager_->swap(*next, {}); });
  ASSERT_TRUE(registry_->await_gate("slow", true, absl::Seconds(60)));
  auto late = spawn_reloadable(*sys_, registry_, *cs_, {"slow", "", "late", ""});
  ASSERT_TRUE(late.ok()) << late.status();
  (*self_)->send(*late, ping_atom::value, uint64_t{0});  // kept until it has a version
  reload.join();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.deferred, 1u);
  auto st = ask<ActorStatus>(*late, sys_status_atom::value);
  EXPECT_EQ(st.version, "2");
  EXPECT_EQ(ask<uint64_t>(*late, ping_atom::value, uint64_t{0}), 2u) << "first ping was lost";
}

// Sends ticks to every actor from `senders` threads until stopped; each sender numbers its own
// stream per actor, so order can be checked per sender.
class Load {
 public:
  Load(caf::actor_system& sys, const std::vector<caf::actor>& actors, int senders)
      : sent_(senders, std::vector<uint64_t>(actors.size(), 0)) {
    for (int s = 0; s < senders; ++s) {
      threads_.emplace_back([this, &sys, &actors, s] {
        caf::scoped_actor self{sys};
        while (!stop_.load()) {
          for (size_t i = 0; i < actors.size(); ++i) {
            self->send(actors[i], tick_atom::value, uint64_t(s + 1), ++sent_[s][i]);
          }
          rounds_.fetch_add(1);
        }
      });
    }
  }
  void wait_rounds(uint64_t n) {
    const uint64_t target = rounds_.load() + n;
    while (rounds_.load() < target) std::this_thread::yield();
  }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  ~Load() { stop(); }
  uint64_t sent_to(size_t actor) const {
    uint64_t n = 0;
    for (const auto& per_sender : sent_) n += per_sender[actor];
    return n;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};
  std::vector<std::vector<uint64_t>> sent_;
  std::vector<std::thread> threads_;
};

TEST_F(ReloadManagerTest, ThousandActorsUnderLoadGoFromV1ToV2ToV3LosingNothing) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  constexpr int kActors = 1000;
  auto actors = spawn_many("counter", kActors);
  Load load(*sys_, actors, 2);
  load.wait_rounds(2);
  for (const std::string v : {"2", "3"}) {
    SCOPED_TRACE(v);
    SwapResult r = swap_to(counter(v));
    ASSERT_TRUE(r.status.ok()) << r.status;
    EXPECT_EQ(r.actors, static_cast<size_t>(kActors));
    ASSERT_TRUE(cs_->soft_purge("counter").ok());
    load.wait_rounds(2);
  }
  load.stop();
  for (int i = 0; i < kActors; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ask<int64_t>(actors[i], get_atom::value), static_cast<int64_t>(i + load.sent_to(i)));
    auto st = ask<ActorStatus>(actors[i], sys_status_atom::value);
    EXPECT_EQ(st.version, "3");
    EXPECT_NE(st.state.find("\"order_violations\":0"), std::string::npos) << st.state;
    if (HasFailure()) break;
  }
}

TEST_F(ReloadManagerTest, CodeChangeThrowingInOneOfAThousandActorsKeepsAllOnV1) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  constexpr int kActors = 1000;
  auto actors = spawn_many("counter", kActors);  // actor i starts with count i
  SwapOptions options;
  options.extra = "fail-on-count:500";
  SwapResult r = swap_to(counter("2"), options);
  EXPECT_EQ(reload_error_of(r.status), ReloadError::kCodeChangeFailed) << r.status;
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].actor_name, "counter-500");
  EXPECT_NE(r.status.message().find("counter-500"), absl::string_view::npos) << r.status;
  EXPECT_EQ(cs_->current("counter")->version(), "1");
  // Every actor kept its exact state and keeps processing on v1.
  for (int i = 0; i < kActors; ++i) (*self_)->send(actors[i], add_atom::value, int64_t{1});
  for (int i = 0; i < kActors; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(ask<int64_t>(actors[i], get_atom::value), i + 1);
    EXPECT_EQ(ask<ActorStatus>(actors[i], sys_status_atom::value).version, "1");
    if (HasFailure()) break;
  }
}

TEST_F(ReloadManagerTest, SuspensionWaitsForContinuationsMadeByOldCode) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libasker_v1.so")).ok());
  caf::actor responder = spawn_many("slow", 1)[0];
  caf::actor asker = spawn_many("asker", 1)[0];
  // The asker (v1) asks the responder, which stays busy for 2 s before it answers.
  (*self_)->send(asker, ping_atom::value, responder, uint64_t{2000});
  ASSERT_EQ(ask<int64_t>(asker, get_atom::value), 0);
  ASSERT_EQ(ask<ActorStatus>(asker, sys_status_atom::value).pending_requests, 1u);
  SwapResult r = swap_to(runfile("actors/testdata/libasker_v2.so"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  // The continuation ran on v1 before its state was exported, so v2 has the answer.
  auto st = ask<ActorStatus>(asker, sys_status_atom::value);
  EXPECT_EQ(st.version, "2");
  EXPECT_EQ(st.pending_requests, 0u);
  EXPECT_EQ(ask<int64_t>(asker, get_atom::value), 1);
}

// The same for a continuation CAF tracks but the framework does not (self()->request(...).then):
// a reload holds the actor only once no response handler at all is pending.
TEST_F(ReloadManagerTest, ReloadWaitsForUntrackedContinuationsToo) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libasker_v1.so")).ok());
  caf::actor responder = spawn_many("slow", 1)[0];
  auto raw = spawn_reloadable(*sys_, registry_, *cs_, {"asker", "raw_asker", "raw", ""});
  ASSERT_TRUE(raw.ok()) << raw.status();
  (*self_)->send(*raw, ping_atom::value, responder, uint64_t{1500});
  ASSERT_EQ(ask<int64_t>(*raw, get_atom::value), 0);
  SwapResult r = swap_to(runfile("actors/testdata/libasker_v2.so"));
  ASSERT_TRUE(r.status.ok()) << r.status;
  auto st = ask<ActorStatus>(*raw, sys_status_atom::value);
  EXPECT_EQ(st.version, "2");
  EXPECT_EQ(ask<int64_t>(*raw, get_atom::value), 1) << "the answer ran on v1 before migration";
}

// An actor killed while the manager holds it to let its old continuations run: the reload goes on
// for the others, and the killed actor's claim on the old version is let go.
TEST_F(ReloadManagerTest, AnActorKilledWhileDrainingContinuationsLetsItsVersionGo) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libasker_v1.so")).ok());
  caf::actor responder = spawn_many("slow", 1)[0];
  auto askers = spawn_many("asker", 2);
  (*self_)->send(askers[0], ping_atom::value, responder, uint64_t{3000});
  ASSERT_EQ(ask<ActorStatus>(askers[0], sys_status_atom::value).pending_requests, 1u);
  auto next = cs_->prepare(runfile("actors/testdata/libasker_v2.so"));
  ASSERT_TRUE(next.ok());
  SwapResult r;
  std::thread reload([&] { r = manager_->swap(*next, {}); });
  // Status is answered while held: wait until askers[0] is held, draining its continuation.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ask<ActorStatus>(askers[0], sys_status_atom::value).suspended &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  (*self_)->send_exit(askers[0], caf::exit_reason::kill);
  reload.join();
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(ask<ActorStatus>(askers[1], sys_status_atom::value).version, "2");
  ASSERT_TRUE(registry_->await_count("asker", 1, absl::Seconds(60)));
  // Not purged here: the killed actor's request, a message built by version 1's code, still waits
  // in the busy responder's mailbox (docs/modules.md, "What may cross versions").
  EXPECT_EQ(cs_->old("asker")->actor_count(), 0) << "the killed actor still holds version 1";
}

class ReloadManagerOneWorkerTest : public ReloadManagerTest {
 protected:
  ReloadManagerOneWorkerTest() { cfg_.set("scheduler.max-threads", size_t{1}); }
};

// The reload manager moves actors on threads of its own: a reload needs no free scheduler worker,
// and meets its deadline while every worker is inside a long handler.
TEST_F(ReloadManagerOneWorkerTest, AReloadMeetsItsDeadlineWhileTheOnlyWorkerIsInALongHandler) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  auto actors = spawn_many("counter", 600);
  for (auto& a : actors) ASSERT_EQ(ask<ActorStatus>(a, sys_status_atom::value).version, "1");
  WorkerGate gate;
  ASSERT_TRUE(gate.close(*sys_));  // the only worker is taken until the gate opens

  SwapOptions options;
  options.suspend_timeout = absl::Seconds(5);
  SwapResult r = swap_to(counter("2"), options);
  gate.open();
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(cs_->current("counter")->version(), "2");
  for (auto& a : actors) EXPECT_EQ(ask<ActorStatus>(a, sys_status_atom::value).version, "2");
}

class ReloadManagerUnmapGraceTest : public ReloadManagerTest {
 protected:
  ReloadManagerUnmapGraceTest() { unmap_grace_ = absl::Seconds(120); }
};

// A message built by old code, still waiting when its version is purged: the killed asker's
// request (built by asker v1) is held by the responder for 5 s. Purged at once after v2 went in,
// v1 stays mapped for its grace, so the responder can still finish with that message and drop it
// (its destructor is v1's code). Without the grace the node crashes here (docs/modules.md).
TEST_F(ReloadManagerUnmapGraceTest, PurgingWhileOldCodesMessagesWaitDoesNotCrashTheNode) {
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libslow_v1.so")).ok());
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libasker_v1.so")).ok());
  caf::actor responder = spawn_many("slow", 1)[0];
  caf::actor asker = spawn_many("asker", 1)[0];
  const auto sent = std::chrono::steady_clock::now();
  (*self_)->send(asker, ping_atom::value, responder, uint64_t{5000});
  ASSERT_EQ(ask<ActorStatus>(asker, sys_status_atom::value).pending_requests, 1u);
  (*self_)->send_exit(asker, caf::exit_reason::kill);
  asker = caf::actor{};
  ASSERT_TRUE(registry_->await_count("asker", 0, absl::Seconds(60)));
  ModuleRef v1 = cs_->current("asker");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (v1->actor_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const std::string v1_copy = v1->copy_path();
  v1 = nullptr;
  ASSERT_TRUE(cs_->load(runfile("actors/testdata/libasker_v2.so")).ok());
  ASSERT_TRUE(cs_->soft_purge("asker").ok());
  const auto purged = std::chrono::steady_clock::now();
  EXPECT_EQ(cs_->lingering(), 1u);
  // The responder finishes its 5 s handler, answers a dead asker and drops the request.
  auto st = ask<ActorStatus>(responder, sys_status_atom::value);
  EXPECT_EQ(st.version, "1");
  EXPECT_LT(purged - sent, std::chrono::seconds(5)) << "purged only after the responder was done:"
                                                       " the hazard was not exercised";
  EXPECT_EQ(cs_->unmap_lingering(), 1u);
  // The killed asker's thread may still be dropping its own reference to v1 (its count went to 0
  // just before): wait for the copy to go.
  struct stat info;
  const auto gone_by = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (stat(v1_copy.c_str(), &info) == 0 && std::chrono::steady_clock::now() < gone_by) {
    std::this_thread::yield();
  }
  EXPECT_NE(stat(v1_copy.c_str(), &info), 0) << "v1's copy not removed once let go";
}

TEST_F(ReloadManagerTest, ModuleWithoutActorsIsCommittedDirectly) {
  ASSERT_TRUE(cs_->load(counter("1")).ok());
  SwapResult r = swap_to(counter("2"));
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.actors, 0u);
  EXPECT_EQ(cs_->current("counter")->version(), "2");
}

}  // namespace
}  // namespace lemon
