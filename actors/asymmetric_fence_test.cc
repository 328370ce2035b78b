#include "actors/asymmetric_fence.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "actors/store_buffering_litmus.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// One side of a store-buffering round: stores k, passes `fence`, reports whether it saw k in
// `theirs`.
template <class Fence>
bool store_fence_load(std::atomic<uint32_t>& mine, std::atomic<uint32_t>& theirs, uint32_t k,
                      Fence fence) {
  mine.store(k, std::memory_order_relaxed);
  fence();
  return theirs.load(std::memory_order_relaxed) == k;
}

// Store buffering (Dekker's handshake) with light_fence() on one side and heavy_fence() on the
// other: at least one side sees the other's store, every round. A first run with compiler
// barriers only shows that the harness sees reorderings on this machine at this moment (where it
// cannot, say on a single core, the test is skipped rather than passed).
TEST(AsymmetricFenceTest, EitherSideSeesTheOthersStore) {
  struct alignas(64) Line {
    std::atomic<uint32_t> value{0};
  };
  Line frequent;  // the frequent side's store in round k: k
  Line rare;      // the rare side's store in round k: k
  auto compiler_barrier = [] { std::atomic_signal_fence(std::memory_order_seq_cst); };
  const LitmusResult unfenced = run_store_buffering_litmus(
      2000000, std::chrono::seconds(1),
      [&](uint32_t k) { return store_fence_load(frequent.value, rare.value, k, compiler_barrier); },
      [&](uint32_t k) {
        return store_fence_load(rare.value, frequent.value, k, compiler_barrier);
      });
  if (unfenced.both_missed == 0) {
    GTEST_SKIP() << "no reordering without fences in " << unfenced.rounds
                 << " rounds: this machine cannot show what the fences prevent right now";
  }
  frequent.value.store(0);
  rare.value.store(0);
  const LitmusResult fenced = run_store_buffering_litmus(
      2000000, std::chrono::seconds(3),
      [&](uint32_t k) { return store_fence_load(frequent.value, rare.value, k, light_fence); },
      [&](uint32_t k) { return store_fence_load(rare.value, frequent.value, k, heavy_fence); });
  EXPECT_EQ(fenced.both_missed, 0u)
      << "rounds where neither side saw the other's store, of " << fenced.rounds << " (without "
      << "fences: " << unfenced.both_missed << " of " << unfenced.rounds << ")";
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
