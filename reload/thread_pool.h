// A thread pool for the reload manager's work. Its threads are kept from one reload to the next,
// so that a reload does not wait for new threads to start (on a loaded machine a new thread queues
// behind the busy ones for milliseconds), and so that work split between threads is shared out in
// chunks to whichever thread is free: one that starts late or is preempted takes fewer chunks
// instead of holding the others up.
//
//   ThreadPool pool("lemon-reload");
//   pool.run([job] { ... });   // on an idle thread of the pool, or a new one if none is idle
//   pool.for_each_chunk(n, 2, 512, [&](std::size_t worker, std::size_t begin, std::size_t end) {
//     // [begin, end) of [0, n), on this thread (worker 1) or a pool thread (worker 0)
//   });
//
// A task that never returns keeps its thread; later work gets other threads. Thread-safe.
#ifndef LEMON_RELOAD_THREAD_POOL_H_
#define LEMON_RELOAD_THREAD_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lemon {

class ThreadPool {
 public:
  // `name`: what `top` and profilers call the pool's threads (at most 15 characters).
  explicit ThreadPool(std::string name);
  // Lets the idle threads go, and joins them; a thread still running a task is detached (it ends
  // when its task returns).
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs `task` on an idle thread of the pool, or on a new one; returns at once.
  void run(std::function<void()> task);

  // Calls fn(worker, begin, end) for consecutive chunks of `chunk` indices that cover [0, n) once
  // each, on up to `workers` threads: this one (worker `workers - 1`) and pool threads (workers
  // 0 .. workers - 2). A thread takes the next chunk when it is done with one. Returns when every
  // chunk is done; a pool thread that had not started by then is not waited for (it does nothing).
  // Calls on one worker never overlap.
  using ChunkFn = std::function<void(std::size_t worker, std::size_t begin, std::size_t end)>;
  void for_each_chunk(std::size_t n, std::size_t workers, std::size_t chunk, const ChunkFn& fn);

  // How many threads the pool has now. Idle ones beyond two end after two seconds without a task
  // (a call may start a thread while another is about to be free: so the pool does not grow with
  // the calls, only with how many run at once).
  std::size_t threads() const;

  struct State;  // thread_pool.cc

 private:
  // run(), returning an id for withdraw().
  uint64_t enqueue(std::function<void()> task);
  // Takes back a task no thread has taken yet; false if one has.
  bool withdraw(uint64_t id);

  std::shared_ptr<State> state_;  // shared with the threads, which may outlive the pool
};

}  // namespace lemon

#endif  // LEMON_RELOAD_THREAD_POOL_H_
