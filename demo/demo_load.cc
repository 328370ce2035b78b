#include "demo/demo_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "actors/messages.h"
#include "actors/reloadable_actor.h"
#include "caf/all.hpp"
#include "core/runfiles.h"
#include "prometheus/counter.h"

namespace lemon {
namespace {

// Sum of the counter actors' counts: messages processed.
int64_t processed(caf::actor_system& sys, const std::vector<caf::actor>& actors) {
  caf::scoped_actor self{sys};
  int64_t total = 0;
  for (const auto& a : actors) {
    self->request(a, std::chrono::seconds(30), get_atom::value)
        .receive([&](int64_t c) { total += c; }, [](caf::error&) {});
  }
  return total;
}

}  // namespace

std::vector<SeedFile> example_seeds(const ExampleDirs& dirs) {
  std::vector<SeedFile> seeds;
  auto add = [&seeds](const std::string& runfile, std::string to, bool replace) {
    std::string from = find_runfile(runfile);
    if (!from.empty()) seeds.push_back({std::move(from), std::move(to), replace});
  };
  const std::string root = "extensions/counter/";
  if (!dirs.examples_dir.empty()) {
    for (const char* v : {"1", "2", "3"}) {
      add(root + "libcounter_v" + v + ".so", dirs.examples_dir + "/counter_v" + v + ".so", true);
    }
    add(root + "counter_v2.cc", dirs.examples_dir + "/counter_v2.cc", true);
  }
  if (!dirs.modules_dir.empty()) {
    add(root + "libcounter_v1.so", dirs.modules_dir + "/counter.so", false);
  }
  if (!dirs.extensions_dir.empty()) {
    add("extensions/greeter/greeter.cc", dirs.extensions_dir + "/greeter.cc", false);
  }
  return seeds;
}

// Sends ticks to the demo actors at a steady rate; each actor gets its own sequence numbers, so
// it can check order, and the totals show that a reload lost nothing.
class DemoLoad::TickStream {
 public:
  TickStream(caf::actor_system& sys, std::vector<caf::actor> actors, int rate,
             prometheus::Counter& sent_metric)
      : sys_(sys), actors_(std::move(actors)), rate_(rate), sent_metric_(sent_metric) {
    thread_ = std::thread([this] { run(); });
  }
  ~TickStream() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t sent() const { return sent_.load(); }
  int rate() const { return rate_; }

 private:
  void run() {
    caf::scoped_actor self{sys_};
    std::vector<uint64_t> seq(actors_.size(), 0);
    const auto batch = std::chrono::milliseconds(10);
    const int per_batch = std::max(1, rate_ / 100);
    size_t next = 0;
    auto when = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      for (int k = 0; k < per_batch; ++k) {
        self->send(actors_[next], tick_atom::value, uint64_t{1}, ++seq[next]);
        next = (next + 1) % actors_.size();
      }
      sent_ += per_batch;
      sent_metric_.Increment(per_batch);
      when += batch;
      std::this_thread::sleep_until(when);  // pacing the generator, not waiting for a result
    }
  }

  caf::actor_system& sys_;
  std::vector<caf::actor> actors_;
  const int rate_;
  prometheus::Counter& sent_metric_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

DemoLoad::DemoLoad(Deps deps)
    : deps_(std::move(deps)),
      registry_(std::make_shared<prometheus::Registry>()),
      processed_metric_(prometheus::BuildGauge()
                            .Name("lemon_demo_messages_processed")
                            .Help("Messages the demo actors have processed (sum of counts).")
                            .Register(*registry_)
                            .Add({})) {}

caf::actor DemoLoad::spawn(const std::string& module, const std::string& name) {
  absl::StatusOr<caf::actor> a =
      spawn_reloadable(*deps_.system, deps_.registry, *deps_.code_server, {module, "", name, ""});
  return a.ok() ? *a : caf::actor{};
}

std::unique_ptr<DemoLoad> DemoLoad::start(Deps deps, Options options) {
  const CodeServer& code_server = *deps.code_server;
  std::unique_ptr<DemoLoad> demo(new DemoLoad(std::move(deps)));
  auto& sent_metric = prometheus::BuildCounter()
                          .Name("lemon_demo_messages_sent_total")
                          .Help("Messages the demo generator sent to demo actors.")
                          .Register(*demo->registry_)
                          .Add({});
  if (options.actors > 0 && code_server.current("counter")) {
    for (int i = 0; i < options.actors; ++i) {
      if (caf::actor a = demo->spawn("counter", absl::StrCat("counter-", i))) {
        demo->actors_.push_back(a);
      }
    }
    if (code_server.current("greeter")) {
      for (int i = 0; i < 3; ++i) demo->spawn("greeter", absl::StrCat("greeter-", i));
    }
    if (!demo->actors_.empty() && options.rate > 0) {
      demo->stream_ = std::make_unique<TickStream>(*demo->deps_.system, demo->actors_, options.rate,
                                                   sent_metric);
    }
  }
  demo->refresher_ = std::thread([d = demo.get()] { d->refresh_processed(); });
  return demo;
}

DemoLoad::~DemoLoad() { halt(); }

void DemoLoad::halt() {
  if (!stopped_.HasBeenNotified()) stopped_.Notify();
  if (refresher_.joinable()) refresher_.join();
  if (stream_) stream_->stop();
}

int DemoLoad::rate() const { return stream_ ? stream_->rate() : 0; }

void DemoLoad::refresh_processed() {
  while (!stopped_.WaitForNotificationWithTimeout(absl::Seconds(5))) {
    if (!actors_.empty()) {
      processed_metric_.Set(static_cast<double>(processed(*deps_.system, actors_)));
    }
  }
}

DemoLoad::Totals DemoLoad::stop() {
  halt();
  Totals totals;
  if (stream_) totals.sent = stream_->sent();
  totals.processed = processed(*deps_.system, actors_);
  return totals;
}

}  // namespace lemon
