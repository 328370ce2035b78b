#include "actors/front_of_queue.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "caf/actor_system.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"

namespace lemon {
namespace {

// Where the next FrontOfQueue starts, so that several (one per chunk of a round) spread out.
std::atomic<std::size_t> first_worker{0};

// Jobs handed over at once.
constexpr std::size_t kBatch = 64;

}  // namespace

FrontOfQueue::FrontOfQueue(caf::actor_system& sys)
    : caf::execution_unit(&sys),
      stealing_(
          dynamic_cast<caf::scheduler::coordinator<caf::policy::work_stealing>*>(&sys.scheduler())),
      sharing_(
          dynamic_cast<caf::scheduler::coordinator<caf::policy::work_sharing>*>(&sys.scheduler())),
      next_(first_worker.fetch_add(1, std::memory_order_relaxed)) {
  if (stealing_ != nullptr && stealing_->num_workers() == 0) stealing_ = nullptr;
  pending_.reserve(kBatch);
}

void FrontOfQueue::exec_later(caf::resumable* job) {
  pending_.push_back(job);
  if (pending_.size() >= kBatch) flush();
}

void FrontOfQueue::flush() {
  if (pending_.empty()) return;
  if (sharing_ != nullptr) {
    auto& data = sharing_->data();
    // Allocated before the lock, as CAF's own enqueue does.
    caf::policy::work_sharing::queue_type jobs(pending_.begin(), pending_.end());
    {
      std::lock_guard<std::mutex> guard(data.lock);
      data.queue.splice(data.queue.begin(), jobs);
    }
    data.cv.notify_all();
  } else if (stealing_ != nullptr) {
    const std::size_t workers = stealing_->num_workers();
    const std::size_t first = next_;
    for (caf::resumable* job : pending_) {
      stealing_->worker_by_id(next_++ % workers)->data().queue.prepend(job);  // locks both ends
    }
    // As CAF's own enqueue from outside a worker does: a worker that found its queue empty may be
    // asleep on its condition variable, which checks the queue under this lock.
    for (std::size_t k = 0; k < std::min(workers, pending_.size()); ++k) {
      auto& data = stealing_->worker_by_id((first + k) % workers)->data();
      std::lock_guard<std::mutex> guard(data.waitdata.lock);
      if (data.waitdata.sleeping && !data.queue.empty()) data.waitdata.cv.notify_one();
    }
  } else {
    for (caf::resumable* job : pending_) system().scheduler().enqueue(job);
  }
  pending_.clear();
}

}  // namespace lemon
