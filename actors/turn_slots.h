// Which actors are in a turn right now. Every thread that runs reloadable actors marks, in a slot
// of its own, the actor whose turn it runs (a store and a light fence, no locked instruction);
// after a heavy fence, a snapshot of all slots tells which actors may still be running:
//
//   turn:     slot = actor;  light_fence();  read the actor's run state   ...   slot = none
//   manager:  claim the actor (run state);  RunningTurns::after_heavy_fence();  contains(actor)?
//
// Either the turn sees the claim, or the snapshot sees the turn (Dekker's handshake, with the
// fences of actors/asymmetric_fence.h). A turn that ended before the snapshot was taken is not in
// it, and what it wrote is visible to the thread that took it.
#ifndef LEMON_ACTORS_TURN_SLOTS_H_
#define LEMON_ACTORS_TURN_SLOTS_H_

#include <atomic>
#include <cstddef>
#include <vector>

#include "actors/asymmetric_fence.h"

namespace lemon {

namespace internal {
// A thread's slot: the actor whose turn it runs, or nullptr. One cache line each.
struct alignas(64) TurnSlot {
  std::atomic<const void*> actor{nullptr};
};
// The calling thread's slot, taken on its first turn and given back when the thread exits.
TurnSlot* acquire_turn_slot();
inline thread_local TurnSlot* this_thread_slot = nullptr;
// How many slots are handed out now (one per live thread that has run a turn).
std::size_t turn_slots_in_use();
}  // namespace internal

// Marks the calling thread as running `actor`'s turn, from construction until destruction.
// Turns do not nest on one thread (CAF runs one actor at a time on a thread).
class TurnMark {
 public:
  explicit TurnMark(const void* actor) {
    internal::TurnSlot* slot = internal::this_thread_slot;
    if (slot == nullptr) slot = internal::acquire_turn_slot();
    slot_ = slot;
    // Release: a snapshot that reads this sees everything the thread's earlier turns wrote.
    slot->actor.store(actor, std::memory_order_release);
    light_fence();  // the mark before whatever the turn reads next
  }
  ~TurnMark() { slot_->actor.store(nullptr, std::memory_order_release); }
  TurnMark(const TurnMark&) = delete;
  TurnMark& operator=(const TurnMark&) = delete;

 private:
  internal::TurnSlot* slot_;
};

// The actors that were in a turn when the snapshot was taken, after a heavy fence.
class RunningTurns {
 public:
  // Runs heavy_fence(), then reads every thread's slot.
  static RunningTurns after_heavy_fence();

  bool contains(const void* actor) const {
    for (const void* a : running_) {
      if (a == actor) return true;
    }
    return false;
  }
  std::size_t size() const { return running_.size(); }

 private:
  std::vector<const void*> running_;
};

// Waits between two attempts to hold an actor whose turn still ran: yields a few times (a turn
// usually ends within microseconds), then sleeps, longer each attempt, up to 1 ms.
void back_off(int attempt);

}  // namespace lemon

#endif  // LEMON_ACTORS_TURN_SLOTS_H_
