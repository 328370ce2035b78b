// A store-buffering (Dekker) litmus harness for the tests of the fences in asymmetric_fence.h and
// of the handshake built on them in turn_slots.h. Each side stores its own flag, fences and reads
// the other's; without the fences x86 lets both reads miss both stores (each store still sits in
// its core's store buffer), so "at least one side saw the other, every round" shows the fences
// work.
//
//   auto mine = [&](uint32_t k) { a.store(k); light_fence(); return b.load() == k; };
//   auto theirs = [&](uint32_t k) { b.store(k); heavy_fence(); return a.load() == k; };
//   LitmusResult r = run_store_buffering_litmus(2000000, std::chrono::seconds(3), mine, theirs);
//   EXPECT_EQ(r.both_missed, 0u);
//
// Both sides leave a barrier at about the same moment each round; then one of them, chosen per
// round, waits a pseudo-random number of compiler-barrier loops, so that over the rounds the two
// sides' store-fence-load sequences slide across each other, whichever side the machine favours.
// How often a reordering shows depends on the machine, its load and the optimisation level: the
// tests that use this are built with -O2 (actors/BUILD.bazel), as the code they check runs.
#ifndef LEMON_ACTORS_STORE_BUFFERING_LITMUS_H_
#define LEMON_ACTORS_STORE_BUFFERING_LITMUS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace lemon {

struct LitmusResult {
  uint32_t rounds = 0;       // rounds run
  uint32_t both_missed = 0;  // rounds in which neither side saw the other's store
};

namespace internal {
inline void litmus_delay(uint32_t loops) {
  for (uint32_t i = 0; i < loops; ++i) asm volatile("" ::: "memory");
}
}  // namespace internal

// Runs rounds of left(k) on a thread of its own against right(k) on the calling thread, k = 1, 2,
// ..., until `max_rounds` rounds have run or `budget` has passed; each returns whether it saw the
// other side's store of round k. Round k + 1 starts once both have returned from round k. A
// budget rather than a fixed count: a weakened fence makes rounds cheaper, so it gets more of
// them to show itself, while the correct fences stay within the test's time.
template <class Left, class Right>
LitmusResult run_store_buffering_litmus(uint32_t max_rounds, std::chrono::milliseconds budget,
                                        Left left, Right right) {
  struct alignas(64) Line {
    std::atomic<uint32_t> value{0};
  };
  Line ready;             // both sides start round k once it reaches 2k
  Line done;              // the left side finished round k
  Line stop;              // 1: the right side's last round, which neither side runs
  bool left_saw = false;  // the left side's answer in the current round (published by `done`)
  // Per round, pseudo-random: which side waits (bit 15) and how long, 0..255 loops at one of four
  // scales (so that short waits, where the reorderings are, come up as often as long ones).
  auto delay_of = [](uint32_t k) {
    const uint32_t h = (k * 2654435761u) >> 16;
    return (h & 0x8000) | ((h & 0xff) >> (2 * ((h >> 8) & 3)));
  };
  auto start = [&ready](uint32_t k) {
    ready.value.fetch_add(1, std::memory_order_acq_rel);
    for (int spins = 0; ready.value.load(std::memory_order_acquire) < 2 * k; ++spins) {
      if (spins > 1000) std::this_thread::yield();  // the other side is not running: let it
    }
  };
  std::thread t([&] {
    for (uint32_t k = 1;; ++k) {
      start(k);
      if (stop.value.load(std::memory_order_relaxed) != 0) break;  // ordered by `ready`
      if (delay_of(k) & 0x8000) internal::litmus_delay(delay_of(k) & 0xff);
      left_saw = left(k);
      done.value.store(k, std::memory_order_release);
    }
  });
  LitmusResult r;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (uint32_t k = 1;; ++k) {
    const bool last =
        k > max_rounds || (k % 1024 == 0 && std::chrono::steady_clock::now() > deadline);
    if (last) stop.value.store(1, std::memory_order_relaxed);
    start(k);
    if (last) break;
    r.rounds = k;
    if (!(delay_of(k) & 0x8000)) internal::litmus_delay(delay_of(k) & 0xff);
    const bool right_saw = right(k);
    for (int spins = 0; done.value.load(std::memory_order_acquire) != k; ++spins) {
      if (spins > 1000) std::this_thread::yield();
    }
    if (!left_saw && !right_saw) ++r.both_missed;
  }
  t.join();
  return r;
}

}  // namespace lemon

#endif  // LEMON_ACTORS_STORE_BUFFERING_LITMUS_H_
