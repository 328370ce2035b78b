#include "actors/front_of_queue.h"

#include <atomic>
#include <mutex>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/ref_counted.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"
#include "caf/scheduler/worker.hpp"

namespace lemon {
namespace {

// Where the next FrontOfQueue starts, so that several (one per chunk of a round) spread out.
std::atomic<std::size_t> first_worker{0};

// Jobs handed over at once.
constexpr std::size_t kBatch = 64;

using StealingWorker = caf::scheduler::worker<caf::policy::work_stealing>;

// One job of CAF's scheduler that runs a batch of jobs in turn, each as a worker runs a job: what
// a batch is under work stealing (front_of_queue.h says why).
class JobBatch final : public caf::resumable, public caf::ref_counted {
 public:
  explicit JobBatch(std::vector<caf::resumable*> jobs) : jobs_(std::move(jobs)) {}
  JobBatch(const JobBatch&) = delete;
  JobBatch& operator=(const JobBatch&) = delete;

  // Jobs it never ran (the scheduler stopped first) are cleaned up as CAF cleans up its own.
  ~JobBatch() override {
    for (std::size_t i = next_; i < jobs_.size(); ++i) {
      caf::scheduler::abstract_coordinator::cleanup_and_release(jobs_[i]);
    }
  }

  resume_result resume(caf::execution_unit* eu, std::size_t max_throughput) override {
    auto* worker = dynamic_cast<StealingWorker*>(eu);
    while (next_ < jobs_.size()) {
      caf::resumable* job = jobs_[next_++];
      switch (job->resume(eu, max_throughput)) {
        case resume_later:  // to the back of this worker's queue, as CAF's worker puts it
          if (worker != nullptr) {
            worker->data().queue.append(job);
          } else {
            eu->exec_later(job);
          }
          break;
        default:  // done or waiting for a message: the scheduler's reference goes
          caf::intrusive_ptr_release(job);
          break;
      }
    }
    return done;
  }

  void intrusive_ptr_add_ref_impl() override { ref(); }
  void intrusive_ptr_release_impl() override { deref(); }

 private:
  std::vector<caf::resumable*> jobs_;
  std::size_t next_ = 0;
};

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
    caf::resumable* job = pending_.front();
    if (pending_.size() > 1) {
      job = new JobBatch(std::move(pending_));  // the queue's reference is the one it starts with
      pending_ = std::vector<caf::resumable*>();
      pending_.reserve(kBatch);
    }
    auto& data = stealing_->worker_by_id(next_++ % stealing_->num_workers())->data();
    data.queue.prepend(job);  // locks both ends
    // As CAF's own enqueue from outside a worker does: a worker that found its queue empty may be
    // asleep on its condition variable, which checks the queue under this lock.
    std::lock_guard<std::mutex> guard(data.waitdata.lock);
    if (data.waitdata.sleeping && !data.queue.empty()) data.waitdata.cv.notify_one();
  } else {
    for (caf::resumable* job : pending_) system().scheduler().enqueue(job);
  }
  pending_.clear();
}

}  // namespace lemon
