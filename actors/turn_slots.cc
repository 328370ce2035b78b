#include "actors/turn_slots.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace lemon {
namespace internal {
namespace {

// Slots live in one static array, so that a snapshot reads them without a lock; pages that no
// thread ever used are never touched. 65,536 threads running turns at once is far more than a
// process gets.
constexpr std::size_t kSlots = 1 << 16;
TurnSlot slots[kSlots];
// Slots [0, used) have been handed out at some time; a snapshot reads those.
std::atomic<std::size_t> used{0};

std::mutex& free_mu() {
  static std::mutex* mu = new std::mutex;  // never destroyed: threads exit after static teardown
  return *mu;
}
std::vector<std::size_t>& free_slots() {
  static auto* v = new std::vector<std::size_t>;
  return *v;
}
std::atomic<std::size_t> in_use{0};

// Gives the thread's slot back when the thread exits.
struct SlotOwner {
  std::size_t index = kSlots;
  ~SlotOwner() {
    if (index == kSlots) return;
    slots[index].actor.store(nullptr, std::memory_order_release);
    this_thread_slot = nullptr;
    in_use.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(free_mu());
    free_slots().push_back(index);
  }
};
thread_local SlotOwner owner;

}  // namespace

TurnSlot* acquire_turn_slot() {
  std::size_t index = kSlots;
  {
    std::lock_guard<std::mutex> lock(free_mu());
    if (!free_slots().empty()) {
      index = free_slots().back();
      free_slots().pop_back();
    }
  }
  if (index == kSlots) {
    // seq_cst: a snapshot that does not count this slot comes before it in the total order, so
    // its claims (made before the snapshot's fence) are seen by this thread's turns.
    index = used.fetch_add(1, std::memory_order_seq_cst);
    if (index >= kSlots) {
      std::fprintf(stderr, "lemon: more than %zu threads run actor turns at once\n", kSlots);
      std::abort();
    }
  }
  owner.index = index;
  in_use.fetch_add(1, std::memory_order_relaxed);
  this_thread_slot = &slots[index];
  return this_thread_slot;
}

std::size_t turn_slots_in_use() { return in_use.load(std::memory_order_relaxed); }

}  // namespace internal

RunningTurns RunningTurns::after_heavy_fence() {
  heavy_fence();
  RunningTurns r;
  const std::size_t n = internal::used.load(std::memory_order_seq_cst);
  for (std::size_t i = 0; i < n; ++i) {
    const void* a = internal::slots[i].actor.load(std::memory_order_acquire);
    if (a != nullptr) r.running_.push_back(a);
  }
  return r;
}

void back_off(int attempt) {
  if (attempt < 8) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::min(1000, 10 << std::min(attempt - 8, 7))));
  }
}

}  // namespace lemon
