#include "actors/turn_slots.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "actors/store_buffering_litmus.h"
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
// snapshot sees the turn. A snapshot taken without the heavy fence makes this count misses.
TEST(TurnSlotsTest, EitherTheTurnSeesTheClaimOrTheSnapshotSeesTheTurn) {
  struct alignas(64) Line {
    std::atomic<uint32_t> value{0};
  };
  Line claim;    // the manager's claim in round k: k
  Line snapped;  // the manager took round k's snapshot
  const LitmusResult r = run_store_buffering_litmus(
      2000000, std::chrono::seconds(3),
      [&](uint32_t k) {
        bool saw_claim = false;
        {
          TurnMark mark(&actor_a);
          saw_claim = claim.value.load(std::memory_order_relaxed) == k;
          // A turn lasts until the snapshot was taken (else it could end before, unseen by right).
          for (int spins = 0; snapped.value.load(std::memory_order_acquire) != k; ++spins) {
            if (spins > 1000) std::this_thread::yield();
          }
        }
        return saw_claim;
      },
      [&](uint32_t k) {
        claim.value.store(k, std::memory_order_relaxed);
        const bool saw_turn = RunningTurns::after_heavy_fence().contains(&actor_a);
        snapped.value.store(k, std::memory_order_release);
        return saw_turn;
      });
  EXPECT_EQ(r.both_missed, 0u) << "rounds where neither side saw the other, of " << r.rounds;
}

}  // namespace
}  // namespace lemon
