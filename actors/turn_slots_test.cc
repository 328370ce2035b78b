#include "actors/turn_slots.h"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace lemon {
namespace {

int actor_a = 0;  // stand-ins for actors: only their addresses are marked
int actor_b = 0;

TEST(TurnSlotsTest, ASnapshotSeesTheTurnsInProgressOnly) {
  EXPECT_FALSE(RunningTurns::after_heavy_fence().contains(&actor_a));
  std::atomic<int> step{0};  // 1: the turn is marked; 2: the snapshot was taken; 3: it ended
  std::thread t([&] {
    {
      TurnMark mark(&actor_a);
      step.store(1, std::memory_order_release);
      while (step.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    }
    step.store(3, std::memory_order_release);
  });
  while (step.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  const RunningTurns during = RunningTurns::after_heavy_fence();
  EXPECT_TRUE(during.contains(&actor_a));
  EXPECT_FALSE(during.contains(&actor_b));
  step.store(2, std::memory_order_release);
  while (step.load(std::memory_order_acquire) != 3) std::this_thread::yield();
  EXPECT_FALSE(RunningTurns::after_heavy_fence().contains(&actor_a));
  t.join();
}

TEST(TurnSlotsTest, ThreadsThatExitGiveTheirSlotBack) {
  const std::size_t before = internal::turn_slots_in_use();
  for (int k = 0; k < 200; ++k) {
    std::thread t([] { TurnMark mark(&actor_b); });
    t.join();
  }
  EXPECT_EQ(internal::turn_slots_in_use(), before);
  // Eight threads at once hold eight slots.
  std::atomic<int> marked{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int k = 0; k < 8; ++k) {
    ts.emplace_back([&] {
      TurnMark mark(&actor_b);
      marked.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
    });
  }
  while (marked.load() != 8) std::this_thread::yield();
  EXPECT_EQ(internal::turn_slots_in_use(), before + 8);
  go = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(internal::turn_slots_in_use(), before);
}

// The handshake the reload manager relies on: a turn marks its slot and then reads a claim; the
// manager claims and then takes a snapshot. In every round, the turn sees the claim or the
// snapshot sees the turn. (On the machines tried, this test also passes with the heavy fence taken
// out: the snapshot's own work before it reads the slots outlasts the turn's store in the store
// buffer. That the fence pair orders a store before a load is asymmetric_fence_test's to show; this
// one checks the slots, the marks and the snapshot together.)
TEST(TurnSlotsTest, EitherTheTurnSeesTheClaimOrTheSnapshotSeesTheTurn) {
  constexpr uint32_t kRounds = 20000;
  std::atomic<uint32_t> claim{0};    // the manager's claim in round k: k
  std::atomic<uint32_t> ready{0};    // both sides start round k once it reaches 2k
  std::atomic<uint32_t> snapped{0};  // the manager took round k's snapshot
  std::atomic<uint32_t> done{0};     // the turn side finished round k
  uint32_t turn_saw = 0;             // the claim the turn read in the current round
  uint32_t both_missed = 0;
  auto start = [&ready](uint32_t k) {
    ready.fetch_add(1, std::memory_order_acq_rel);
    for (int spins = 0; ready.load(std::memory_order_acquire) < 2 * k; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
  };
  std::thread turns([&] {
    for (uint32_t k = 1; k <= kRounds; ++k) {
      start(k);
      {
        TurnMark mark(&actor_a);
        turn_saw = claim.load(std::memory_order_relaxed);
        // A turn lasts until the snapshot was taken (else it could end before, unseen by right).
        for (int spins = 0; snapped.load(std::memory_order_acquire) != k; ++spins) {
          if (spins > 1000) std::this_thread::yield();
        }
      }
      done.store(k, std::memory_order_release);
    }
  });
  for (uint32_t k = 1; k <= kRounds; ++k) {
    start(k);
    claim.store(k, std::memory_order_relaxed);
    const bool saw_turn = RunningTurns::after_heavy_fence().contains(&actor_a);
    snapped.store(k, std::memory_order_release);
    for (int spins = 0; done.load(std::memory_order_acquire) != k; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
    if (turn_saw != k && !saw_turn) ++both_missed;
  }
  turns.join();
  EXPECT_EQ(both_missed, 0u) << "rounds where neither side saw the other, of " << kRounds;
}

}  // namespace
}  // namespace lemon
