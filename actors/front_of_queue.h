// Scheduling an actor ahead of the work already waiting in CAF's scheduler: an execution unit
// (CAF's hook for "run this job later") that puts the jobs it is given at the front of a worker's
// queue instead of the back.
//
//   FrontOfQueue front(sys);
//   actor->enqueue(caf::make_mailbox_element(...), &front);  // if this unblocks the actor, it
//                                                             // runs next on some worker
//   front.exec_later(actor_ptr);  // an actor whose turn the caller holds (see reloadable_actor.cc)
//   front.flush();                // (or when `front` goes)
//
// The jobs are handed over in batches (every 64, at flush(), and when the FrontOfQueue is
// destroyed): one lock of the scheduler's queue and one wake-up of the workers per batch instead
// of per job. Under work stealing a batch is also one entry of a worker's queue, a job that runs
// its jobs in turn: CAF steals the last entry of a queue by walking the whole queue under its
// locks, so thousands of released actors queued one by one would make every steal slow and stall
// the queue's owner.
//
// A reload releases the actors it held this way (the parked ones, and those that need a wake-up),
// so that under load their pause ends when a worker is next free, not after every actor queued
// before them. Works with CAF's two schedulers, work stealing (the front of each worker's queue in
// turn) and work sharing (the front of the one queue); with any other, the jobs go where CAF would
// put them (the back). One thread at a time per FrontOfQueue; any thread.
#ifndef LEMON_ACTORS_FRONT_OF_QUEUE_H_
#define LEMON_ACTORS_FRONT_OF_QUEUE_H_

#include <cstddef>
#include <vector>

#include "caf/execution_unit.hpp"
#include "caf/fwd.hpp"
#include "caf/policy/work_sharing.hpp"
#include "caf/policy/work_stealing.hpp"
#include "caf/scheduler/coordinator.hpp"

namespace lemon {

class FrontOfQueue final : public caf::execution_unit {
 public:
  explicit FrontOfQueue(caf::actor_system& sys);
  ~FrontOfQueue() override { flush(); }
  FrontOfQueue(const FrontOfQueue&) = delete;
  FrontOfQueue& operator=(const FrontOfQueue&) = delete;

  // Puts `job` at the front of a queue the workers take jobs from (with the batch it is part of),
  // and wakes workers that sleep.
  void exec_later(caf::resumable* job) override;

  // Hands over the jobs collected so far.
  void flush();

  // Whether jobs really go to the front (false: neither of CAF's schedulers).
  bool at_front() const { return stealing_ != nullptr || sharing_ != nullptr; }

 private:
  caf::scheduler::coordinator<caf::policy::work_stealing>* stealing_;
  caf::scheduler::coordinator<caf::policy::work_sharing>* sharing_;
  std::size_t next_;
  std::vector<caf::resumable*> pending_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_FRONT_OF_QUEUE_H_
