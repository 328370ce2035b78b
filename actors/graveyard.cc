#include "actors/graveyard.h"

#include <pthread.h>

#include <utility>

#include "core/heap_trim.h"

namespace lemon {

Graveyard& Graveyard::operator=(Graveyard&& other) noexcept {
  if (this != &other) {
    clear();
    graves_ = std::move(other.graves_);
    other.graves_.clear();
  }
  return *this;
}

void Graveyard::bury(Instance&& instance, caf::message_handler&& handlers) {
  if (!instance && !handlers) return;
  Grave g;
  g.handlers = std::move(handlers);
  g.behaviour = std::move(instance.behaviour);
  g.version = std::move(instance.use).drop_claim();
  graves_.push_back(std::move(g));
}

void Graveyard::clear() { graves_.clear(); }  // each Grave in its members' order (graveyard.h)

Reaper::Reaper() : thread_([this] { run(); }) {}

Reaper::~Reaper() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void Reaper::bury(Graveyard&& graveyard) {
  if (graveyard.empty()) return;
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(graveyard));
  ++handed_;
}

void Reaper::flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = handed_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return destroyed_ >= target; };
  mu_.Await(absl::Condition(&done));
}

void Reaper::run() {
  pthread_setname_np(pthread_self(), "lemon-reaper");
  absl::MutexLock lock(&mu_);
  for (;;) {
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
    mu_.Await(absl::Condition(&ready));
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<Graveyard> batch = std::move(queue_);
    queue_.clear();
    mu_.Unlock();
    for (Graveyard& g : batch) g.clear();
    batch.clear();
    // Off the reload's path, the memory the old behaviours used goes back to the kernel, as the
    // reload's own trim does for the messages kept meanwhile (core/heap_trim.h).
    request_heap_trim();
    mu_.Lock();
    destroyed_ = handed_ - queue_.size();  // everything not waiting in the queue is gone
  }
}

}  // namespace lemon
