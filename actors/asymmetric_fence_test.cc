#include "actors/asymmetric_fence.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace lemon {
namespace {

// Store buffering (Dekker's handshake): each side stores its own flag, fences, then loads the
// other's. Without fences x86 lets both loads miss both stores (each store still sits in its
// core's store buffer); with light_fence() on one side and heavy_fence() on the other, at least
// one side must see the other's store, every round.
TEST(AsymmetricFenceTest, EitherSideSeesTheOthersStore) {
  constexpr uint32_t kRounds = 20000;
  std::atomic<uint32_t> frequent{0};  // the frequent side's store in round k: k
  std::atomic<uint32_t> rare{0};      // the rare side's store in round k: k
  std::atomic<uint32_t> ready{0};     // both sides start round k once it reaches 2k
  std::atomic<uint32_t> done{0};      // the frequent side finished round k
  uint32_t frequent_saw = 0;          // what the frequent side loaded in the current round
  uint32_t both_missed = 0;
  auto start = [&ready](uint32_t k) {  // both sides leave it at about the same moment
    ready.fetch_add(1, std::memory_order_acq_rel);
    for (int spins = 0; ready.load(std::memory_order_acquire) < 2 * k; ++spins) {
      if (spins > 1000) std::this_thread::yield();  // the other side is not running: let it
    }
  };
  std::thread t([&] {
    for (uint32_t k = 1; k <= kRounds; ++k) {
      start(k);
      frequent.store(k, std::memory_order_relaxed);
      light_fence();
      frequent_saw = rare.load(std::memory_order_relaxed);
      done.store(k, std::memory_order_release);
    }
  });
  for (uint32_t k = 1; k <= kRounds; ++k) {
    start(k);
    rare.store(k, std::memory_order_relaxed);
    heavy_fence();
    const uint32_t rare_saw = frequent.load(std::memory_order_relaxed);
    for (int spins = 0; done.load(std::memory_order_acquire) != k; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
    if (frequent_saw != k && rare_saw != k) ++both_missed;
  }
  t.join();
  EXPECT_EQ(both_missed, 0u) << "rounds where neither side saw the other's store, of " << kRounds;
}

TEST(AsymmetricFenceTest, FullFencesWhenTheEnvironmentAsksForThem) {
  const char* full = std::getenv("LEMON_FULL_FENCES");
  if (full == nullptr || std::string(full) != "1") GTEST_SKIP() << "LEMON_FULL_FENCES is not 1";
  EXPECT_FALSE(asymmetric_fences());
}

TEST(AsymmetricFenceTest, TheChoiceIsMadeOnceForTheProcess) {
  const bool first = asymmetric_fences();
  heavy_fence();
  EXPECT_EQ(asymmetric_fences(), first);
}

}  // namespace
}  // namespace lemon
