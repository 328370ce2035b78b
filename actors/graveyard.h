// Where behaviours go that no actor runs any more, so that a reload does not spend its pause
// destroying them: a Graveyard collects them, a Reaper destroys them on a thread of its own.
//
//   Graveyard g;
//   g.bury(std::move(old_instance), std::move(old_handlers));  // the claim on the version goes now
//   reaper.bury(std::move(g));                                  // destroyed soon, elsewhere
//
// A buried behaviour no longer counts as an actor of its version (LoadedModule::actor_count, so
// soft_purge sees the truth at once), but keeps the version mapped until it is destroyed: its
// handlers first, then the behaviour (by the module's own destroy), then the reference.
#ifndef LEMON_ACTORS_GRAVEYARD_H_
#define LEMON_ACTORS_GRAVEYARD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "actors/instance.h"
#include "caf/message_handler.hpp"
#include "core/code_server.h"

namespace lemon {

class Graveyard {
 public:
  Graveyard() = default;
  Graveyard(Graveyard&&) noexcept = default;
  Graveyard& operator=(Graveyard&&) noexcept;
  ~Graveyard() { clear(); }

  // Takes `instance` (and the handlers it made) out of service; nothing happens to it until
  // clear() or the destructor. An empty instance is ignored.
  void bury(Instance&& instance, caf::message_handler&& handlers);

  // Makes room for `n` behaviours.
  void reserve(std::size_t n) { graves_.reserve(n); }

  // Destroys every buried behaviour, in burial order.
  void clear();

  std::size_t size() const { return graves_.size(); }
  bool empty() const { return graves_.empty(); }

 private:
  // Members are destroyed bottom-up: the handlers, then the behaviour, then the reference.
  struct Grave {
    ModuleRef version;  // destroyed last
    std::unique_ptr<Behaviour, BehaviourDeleter> behaviour;
    caf::message_handler handlers;  // destroyed first
  };
  std::vector<Grave> graves_;
};

// A thread that destroys the graveyards handed to it, in order, then asks for a heap trim
// (core/heap_trim.h). Thread-safe.
class Reaper {
 public:
  Reaper();
  // Destroys what is still waiting, then stops.
  ~Reaper();
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void bury(Graveyard&& graveyard);

  // Returns once everything handed over before the call is destroyed.
  void flush();

 private:
  void run();

  absl::Mutex mu_;
  std::vector<Graveyard> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t handed_ ABSL_GUARDED_BY(mu_) = 0;     // graveyards handed over
  uint64_t destroyed_ ABSL_GUARDED_BY(mu_) = 0;  // of which destroyed
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_GRAVEYARD_H_
