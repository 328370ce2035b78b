// The demo a lemond node runs with --demo_actors: the example modules and extension seeded at
// first start, counter actors (and three greeters) fed a steady stream of ticks, and metrics that
// show the stream lost nothing.
//
//   node_options.seeds = [](const NodeFiles& f) { return example_seeds({...}); };
//   DemoLoad::Deps deps{&runtime.system(), runtime.registry(), &runtime.code_server()};
//   std::unique_ptr<DemoLoad> demo = DemoLoad::start(deps, {2000, 20000});
//   metrics.add(demo->registry());
//   DemoLoad::Totals t = demo->stop();  // t.sent == t.processed: nothing was lost
#ifndef LEMON_DEMO_DEMO_LOAD_H_
#define LEMON_DEMO_DEMO_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "actors/registry.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"
#include "core/fs.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace lemon {

// Where the example files go; an empty directory gets none.
struct ExampleDirs {
  std::string examples_dir;    // counter v1-v3 builds and counter_v2.cc, replaced at each start
  std::string modules_dir;     // counter v1 as counter.so, unless one is there
  std::string extensions_dir;  // greeter.cc, unless one is there
};

// The example files, from this binary's runfiles (those it ships with; none when it runs without
// them).
std::vector<SeedFile> example_seeds(const ExampleDirs& dirs);

class DemoLoad {
 public:
  // Where the demo spawns its actors; each required, and each must outlive the DemoLoad.
  struct Deps {
    caf::actor_system* system = nullptr;
    std::shared_ptr<ActorRegistry> registry;
    const CodeServer* code_server = nullptr;
  };
  struct Options {
    int actors = 0;  // counter actors to spawn
    int rate = 0;    // ticks per second over all of them; <= 0: no stream
  };
  struct Totals {
    uint64_t sent = 0;
    int64_t processed = 0;  // the sum of the counter actors' counts
  };

  // Spawns the counter actors when the counter module is loaded, three greeter actors when the
  // greeter module is too, and the stream of ticks to the counters. Every 5 s it sets
  // lemon_demo_messages_processed from the actors' counts.
  static std::unique_ptr<DemoLoad> start(Deps deps, Options options);
  ~DemoLoad();  // stops as stop() does, without counting

  DemoLoad(const DemoLoad&) = delete;
  DemoLoad& operator=(const DemoLoad&) = delete;

  size_t actors() const { return actors_.size(); }  // counter actors
  int rate() const;                                 // ticks per second sent; 0: no stream
  // lemon_demo_messages_sent_total and lemon_demo_messages_processed.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Stops the stream and the gauge's refresh, then counts what the counter actors processed.
  Totals stop();

 private:
  class TickStream;

  explicit DemoLoad(Deps deps);
  // spawn_reloadable with the demo's deps; null when it fails.
  caf::actor spawn(const std::string& module, const std::string& name);
  void refresh_processed();
  void halt();  // stops the stream and the gauge's refresh

  const Deps deps_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& processed_metric_;
  std::vector<caf::actor> actors_;
  std::unique_ptr<TickStream> stream_;
  absl::Notification stopped_;
  std::thread refresher_;
};

}  // namespace lemon

#endif  // LEMON_DEMO_DEMO_LOAD_H_
