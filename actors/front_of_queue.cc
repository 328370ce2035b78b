#include "actors/front_of_queue.h"

#include <atomic>
#include <mutex>

#include "caf/actor_system.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"

namespace lemon {
namespace {

// Where the next FrontOfQueue starts, so that several (one per slice of a round) spread out.
std::atomic<std::size_t> first_worker{0};

}  // namespace

FrontOfQueue::FrontOfQueue(caf::actor_system& sys)
    : caf::execution_unit(&sys),
      stealing_(
          dynamic_cast<caf::scheduler::coordinator<caf::policy::work_stealing>*>(&sys.scheduler())),
      sharing_(
          dynamic_cast<caf::scheduler::coordinator<caf::policy::work_sharing>*>(&sys.scheduler())),
      next_(first_worker.fetch_add(1, std::memory_order_relaxed)) {
  if (stealing_ != nullptr && stealing_->num_workers() == 0) stealing_ = nullptr;
}

void FrontOfQueue::exec_later(caf::resumable* job) {
  if (sharing_ != nullptr) {
    auto& data = sharing_->data();
    caf::policy::work_sharing::queue_type one{job};  // allocated before the lock, as CAF does
    std::lock_guard<std::mutex> guard(data.lock);
    data.queue.splice(data.queue.begin(), one);
    data.cv.notify_one();
    return;
  }
  if (stealing_ == nullptr) {
    system().scheduler().enqueue(job);
    return;
  }
  auto& data = stealing_->worker_by_id(next_++ % stealing_->num_workers())->data();
  data.queue.prepend(job);  // the queue locks both of its ends for this
  // As CAF's own enqueue from outside a worker does: a worker that found its queue empty may be
  // asleep on its condition variable, which checks the queue under this lock.
  std::lock_guard<std::mutex> guard(data.waitdata.lock);
  if (data.waitdata.sleeping && !data.queue.empty()) data.waitdata.cv.notify_one();
}

}  // namespace lemon
