// A pair of memory fences for two sides of one handshake, one that runs on every turn of an actor
// (actors/turn_slots.h) and one that runs a few times per reload: together they order a store
// before a load on each side (as a full fence on both would), while the frequent side pays only a
// compiler barrier.
//
//   frequent side:  mark = actor;  light_fence();  read claimed
//   rare side:      claimed = 1;   heavy_fence();  read mark
//
// Either the frequent side sees the claim, or the rare side sees the mark (Dekker's handshake). The
// heavy fence is Linux's membarrier (MEMBARRIER_CMD_PRIVATE_EXPEDITED, Linux 4.14 or later): every
// thread of the process that is running at the time executes a full barrier before it returns, and
// the others pass one when they are next scheduled. Where the kernel refuses it (an older kernel, a
// sandbox, valgrind), both fences are full fences, which is correct and costs what it costs; the
// environment variable LEMON_FULL_FENCES=1 asks for that too (the tests run both ways).
#ifndef LEMON_ACTORS_ASYMMETRIC_FENCE_H_
#define LEMON_ACTORS_ASYMMETRIC_FENCE_H_

#include <atomic>

namespace lemon {

namespace internal {
// Set once, while the process starts (static initialization), if membarrier could be registered.
// Read before that, it is false: both fences are then full fences.
extern const bool membarrier_registered;
}  // namespace internal

// Whether light_fence() is only a compiler barrier (membarrier is registered for this process).
// Decided once, when the process starts.
inline bool asymmetric_fences() { return internal::membarrier_registered; }

// The frequent side's fence: orders its earlier stores before its later loads against a
// heavy_fence() on another thread.
inline void light_fence() {
  if (asymmetric_fences()) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// The rare side's fence: returns once every thread of the process has passed a full barrier
// (about a microsecond with membarrier). A full fence when membarrier is not available.
void heavy_fence();

}  // namespace lemon

#endif  // LEMON_ACTORS_ASYMMETRIC_FENCE_H_
