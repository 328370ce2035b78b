#include "reload/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace lemon {

struct ThreadPool::State {
  explicit State(std::string n) : name(std::move(n)) {}

  struct Member {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> ended;  // set just before the thread returns
  };

  const std::string name;
  mutable absl::Mutex mu;
  struct Task {
    uint64_t id;
    std::function<void()> fn;
  };
  std::deque<Task> tasks ABSL_GUARDED_BY(mu);
  uint64_t next_id ABSL_GUARDED_BY(mu) = 0;
  std::size_t idle ABSL_GUARDED_BY(mu) = 0;  // threads waiting for a task
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::vector<Member> members ABSL_GUARDED_BY(mu);
};

namespace {

bool has_work_or_stops(ThreadPool::State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
  return s->stopping || !s->tasks.empty();
}

bool all_idle_gone(ThreadPool::State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
  return s->idle == 0 && s->tasks.empty();
}

// Idle threads kept however long they wait; more than this end after kIdleEnd without a task.
constexpr std::size_t kKeepIdle = 2;
constexpr absl::Duration kIdleEnd = absl::Seconds(2);

// A thread of the pool: runs tasks until the pool stops and none is left, or until it has waited
// kIdleEnd for one while kKeepIdle others wait too.
void serve(const std::shared_ptr<ThreadPool::State>& s,
           const std::shared_ptr<std::atomic<bool>>& ended) {
  pthread_setname_np(pthread_self(), s->name.substr(0, 15).c_str());
  absl::MutexLock lock(&s->mu);
  for (;;) {
    ++s->idle;
    const bool woken =
        s->mu.AwaitWithTimeout(absl::Condition(&has_work_or_stops, s.get()), kIdleEnd);
    --s->idle;
    if (!woken) {
      if (s->idle >= kKeepIdle) break;  // enough others wait: this one is not needed
      continue;
    }
    if (s->tasks.empty()) break;  // stopping
    std::function<void()> task = std::move(s->tasks.front().fn);
    s->tasks.pop_front();
    s->mu.Unlock();
    task();
    task = nullptr;  // what it holds goes before the thread waits again
    s->mu.Lock();
  }
  ended->store(true, std::memory_order_release);
}

}  // namespace

ThreadPool::ThreadPool(std::string name) : state_(std::make_shared<State>(std::move(name))) {}

ThreadPool::~ThreadPool() {
  std::vector<State::Member> members;
  {
    absl::MutexLock lock(&state_->mu);
    state_->stopping = true;
    // The idle threads end; tasks still queued are run first, by the threads they woke.
    state_->mu.Await(absl::Condition(&all_idle_gone, state_.get()));
    members = std::move(state_->members);
  }
  for (State::Member& m : members) {
    // Ended (or ending now): join. Still in a task that has not returned: let it end on its own.
    if (m.ended->load(std::memory_order_acquire) &&
        m.thread.get_id() != std::this_thread::get_id()) {
      m.thread.join();
    } else {
      m.thread.detach();
    }
  }
}

void ThreadPool::run(std::function<void()> task) { (void)enqueue(std::move(task)); }

uint64_t ThreadPool::enqueue(std::function<void()> task) {
  absl::MutexLock lock(&state_->mu);
  // Threads that ended (idle too long) are joined: each has only to return (it set its flag
  // under this lock, which it no longer holds).
  auto& members = state_->members;
  for (auto it = members.begin(); it != members.end();) {
    if (it->ended->load(std::memory_order_acquire)) {
      it->thread.join();
      it = members.erase(it);
    } else {
      ++it;
    }
  }
  const uint64_t id = state_->next_id++;
  state_->tasks.push_back({id, std::move(task)});
  if (state_->idle < state_->tasks.size()) {  // else an idle thread takes it
    auto ended = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<State> s = state_;
    state_->members.push_back({std::thread([s, ended] { serve(s, ended); }), ended});
  }
  return id;
}

bool ThreadPool::withdraw(uint64_t id) {
  absl::MutexLock lock(&state_->mu);
  auto& tasks = state_->tasks;
  auto it =
      std::find_if(tasks.begin(), tasks.end(), [id](const State::Task& t) { return t.id == id; });
  if (it == tasks.end()) return false;
  tasks.erase(it);
  return true;
}

std::size_t ThreadPool::threads() const {
  absl::MutexLock lock(&state_->mu);
  return static_cast<std::size_t>(
      std::count_if(state_->members.begin(), state_->members.end(),
                    [](const State::Member& m) { return !m.ended->load(); }));
}

void ThreadPool::for_each_chunk(std::size_t n, std::size_t workers, std::size_t chunk,
                                const ChunkFn& fn) {
  chunk = std::max<std::size_t>(1, chunk);
  workers = std::max<std::size_t>(1, std::min(workers, (n + chunk - 1) / chunk));
  // Shared with the helpers, which may start after this call returned (they then do nothing).
  struct Share {
    std::atomic<std::size_t> next{0};
    std::size_t n = 0;
    std::size_t chunk = 0;
    const ChunkFn* fn = nullptr;  // valid while some helper is kRunning (the caller waits)
    absl::Mutex mu;
    enum Step : uint8_t { kPending, kRunning, kDone, kCancelled };
    std::vector<Step> steps ABSL_GUARDED_BY(mu);

    static bool none_running(Share* sh) ABSL_EXCLUSIVE_LOCKS_REQUIRED(sh->mu) {
      return std::none_of(sh->steps.begin(), sh->steps.end(),
                          [](Step st) { return st == kRunning; });
    }
  };
  auto share = std::make_shared<Share>();
  share->n = n;
  share->chunk = chunk;
  share->fn = &fn;
  share->steps.assign(workers - 1, Share::kPending);
  auto work = [](Share& sh, std::size_t worker) {
    for (;;) {
      const std::size_t begin = sh.next.fetch_add(sh.chunk, std::memory_order_relaxed);
      if (begin >= sh.n) return;
      (*sh.fn)(worker, begin, std::min(sh.n, begin + sh.chunk));
    }
  };
  std::vector<uint64_t> helpers;
  for (std::size_t h = 0; h + 1 < workers; ++h) {
    helpers.push_back(enqueue([share, h, work] {
      {
        absl::MutexLock lock(&share->mu);
        if (share->steps[h] != Share::kPending) return;  // the caller did without it
        share->steps[h] = Share::kRunning;
      }
      work(*share, h);
      absl::MutexLock lock(&share->mu);
      share->steps[h] = Share::kDone;
    }));
  }
  work(*share, workers - 1);
  // Helpers no thread has taken yet are not needed any more: they must not keep a thread busy, nor
  // make the next call start a new one.
  for (uint64_t id : helpers) (void)withdraw(id);
  absl::MutexLock lock(&share->mu);
  for (auto& step : share->steps) {
    if (step == Share::kPending) step = Share::kCancelled;
  }
  share->mu.Await(absl::Condition(&Share::none_running, share.get()));
}

}  // namespace lemon
