// A gate that keeps a scheduler worker busy, for tests that need to know what runs when: close()
// starts a plain CAF actor whose handler waits at the gate, and returns once a worker has entered
// it; open() lets it go (also done when the gate is destroyed, so close() it only on a system that
// outlives it, or open() it before the system goes).
//
//   WorkerGate gate;
//   gate.close(sys);   // with scheduler.max-threads = 1, no actor runs from here...
//   ...
//   gate.open();       // ...to here
#ifndef LEMON_TESTING_WORKER_GATE_H_
#define LEMON_TESTING_WORKER_GATE_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

namespace lemon {

class WorkerGate {
 public:
  WorkerGate() = default;
  ~WorkerGate() { open(); }
  WorkerGate(const WorkerGate&) = delete;
  WorkerGate& operator=(const WorkerGate&) = delete;

  // Returns true once a worker waits at the gate; false if none did within a minute.
  bool close(caf::actor_system& sys) {
    using enter_atom = caf::atom_constant<caf::atom("enter")>;
    caf::actor waiter = sys.spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](enter_atom) {
        std::unique_lock<std::mutex> lock(mu_);
        entered_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::seconds(120), [this] { return open_; });
      }};
    });
    caf::anon_send(waiter, enter_atom::value);
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [this] { return entered_; });
  }

  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

}  // namespace lemon

#endif  // LEMON_TESTING_WORKER_GATE_H_
