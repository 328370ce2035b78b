// Reload of N live actors of bench_counter (state=caf) and of proto_counter, its ProtoActor twin
// (state=proto, bench/proto_counter.cc), under load, printed line by line in the format of
// bench/otp_upgrade_bench.escript (Erlang/OTP's release_handler upgrade of N gen_servers), so that
// the two can be set side by side as ratios (docs/benchmarks.md):
//
//   bazel run -c opt //bench:reload_bench -- 1 1000 10000 100000
//   lemon N=10000 upgrade_ms=... pause_ms=... per_actor_us=... lost=0 msg_ns=... ...
//
// upgrade_ms covers what the OTP script's window covers: loading the new version (copy, ELF
// check, probe, dlopen, validation) and moving every actor to it (suspend, code_change, resume).
// pause_ms is the longest time any one actor was suspended. A sender thread sends to every actor
// throughout; afterwards every actor's count is checked against what was sent: lost must be 0.
// cpu_ms is the CPU time the whole process (sender included) spent during the upgrade: less
// sensitive than wall time to how much of a shared machine the run got. retire_ms is how long
// destroying the old behaviours took afterwards, in the background (actors/graveyard.h); the next
// upgrade starts once that and the heap trim that follows it are done, so that no upgrade shares
// the cores with the previous one's cleanup.
// The last lines compare the steady-state throughput of a reloadable actor with a plain CAF actor
// doing the same work, in the same run: counter v1 with CAF messages, and proto_counter with
// lemon::pack'ed Protobuf messages against host structs (bench/steady_state_proto.h).
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/instance.h"
#include "actors/message.h"
#include "actors/messages.h"
#include "actors/pack.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "bench/measure.h"
#include "bench/steady_state_proto.h"
#include "caf/all.hpp"
#include "core/code_server.h"
#include "core/heap_trim.h"
#include "core/malloc_tuning.h"
#include "core/runfiles.h"
#include "core/test_support.h"
#include "reload/reload_manager.h"

namespace lemon {
namespace {

// The module a reload line upgrades and the traffic it sends: bench_counter, whose state is its
// own string and whose messages are CAF tuples, or proto_counter, whose state and messages are
// Protobuf (lemon::pack from the host).
struct Workload {
  const char* state;  // the lines' `state=`
  const char* module;
  const char* v1;  // runfiles of the two versions
  const char* v2;
  // Sends one message that adds 1 to the count (`seq`: the sender's sequence number for `to`).
  void (*send)(caf::scoped_actor& self, const caf::actor& to, uint64_t seq);
  // Asks `a` for its count (-1 on error).
  int64_t (*count)(caf::scoped_actor& self, const caf::actor& a);
};

int64_t caf_count(caf::scoped_actor& self, const caf::actor& a) {
  int64_t count = -1;
  self->request(a, caf::infinite, get_atom::value)
      .receive([&](int64_t c) { count = c; }, [](caf::error&) {});
  return count;
}

const Workload kCafState{"caf",
                         "bench_counter",
                         "bench/libbench_counter_v1.so",
                         "bench/libbench_counter_v2.so",
                         [](caf::scoped_actor& self, const caf::actor& to, uint64_t seq) {
                           self->send(to, tick_atom::value, uint64_t{1}, seq);
                         },
                         caf_count};

const Workload kProtoState{
    "proto",        "proto_counter", "bench/libproto_counter_v1.so", "bench/libproto_counter_v2.so",
    send_proto_add, proto_count};

// Sends `count` messages to each actor, then waits for every actor's count.
void send_and_drain(const Workload& w, caf::scoped_actor& self,
                    const std::vector<caf::actor>& actors, uint64_t count,
                    std::vector<uint64_t>& sent) {
  for (size_t i = 0; i < actors.size(); ++i) {
    for (uint64_t k = 0; k < count; ++k) w.send(self, actors[i], ++sent[i]);
  }
  for (const auto& a : actors) (void)w.count(self, a);
}

bool no_load_flag = false;
bool sharing_flag = false;  // --sharing: CAF's work-sharing scheduler (default: work stealing)
double rate_flag = 0;       // --rate=M: the load in messages per second (0: half of the capacity)
int repeat_flag = 1;

// CPU time of the whole process (every thread) so far: on a shared machine, a measure of the work
// an upgrade costs that does not depend on how much of the machine this process got.
double process_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

struct Upgrade {
  SwapResult result;
  double upgrade_ms = 0;
  double cpu_ms = 0;     // process CPU time during the upgrade (the sender's included)
  double load_ms = 0;    // CodeServer::prepare: copy, checks, probe, dlopen (part of upgrade_ms)
  double retire_ms = 0;  // destroying the old behaviours afterwards, in the background
  bool purged = false;
};

// One timed upgrade of `module` to the module file `file` (from the runfiles), then its soft purge
// and the retirement of the old behaviours. Exits the process when the file cannot be prepared.
Upgrade upgrade(CodeServer& cs, ReloadManager& manager, const char* file, const char* module) {
  Upgrade u;
  const double cpu0 = process_cpu_ms();
  auto u0 = Clock::now();
  auto next = cs.prepare(find_runfile(file));
  u.load_ms = ms_since(u0);
  if (!next.ok()) {
    std::fprintf(stderr, "prepare %s: %s\n", file, std::string(next.status().message()).c_str());
    std::exit(1);
  }
  u.result = manager.swap(*next, {});
  u.upgrade_ms = ms_since(u0);
  u.cpu_ms = process_cpu_ms() - cpu0;
  next = ModuleRef();
  u.purged = cs.soft_purge(module).ok();
  // The old behaviours are destroyed in the background after each upgrade: let that finish
  // before the next one, so that no upgrade is measured while sharing the cores with it.
  const auto r0 = Clock::now();
  manager.await_retired();
  u.retire_ms = ms_since(r0);
  (void)await_heap_trims(absl::Seconds(30));
  return u;
}

// One function: the sender thread, the upgrades and the printed lines share the load's counters.
void run(caf::actor_system& sys, const Workload& w, int n) {
  const testing::ScratchDir dir;
  auto cs = std::move(CodeServer::create({dir.path()}).value());
  auto registry = std::make_shared<ActorRegistry>();
  ReloadManager manager(sys, registry, *cs);
  if (!cs->load(find_runfile(w.v1)).ok()) {
    std::fprintf(stderr, "cannot load %s from the runfiles\n", w.v1);
    std::exit(1);
  }
  std::vector<caf::actor> actors;
  actors.reserve(n);
  for (int i = 0; i < n; ++i) {
    actors.push_back(*spawn_reloadable(sys, registry, *cs, {w.module}));
  }
  std::vector<uint64_t> sent(n, 0);
  caf::scoped_actor self{sys};

  // Message cost, as the OTP script measures it: a burst to every actor, then one call each.
  const uint64_t casts = std::max<uint64_t>(1, 1000000 / n);
  auto t0 = Clock::now();
  send_and_drain(w, self, actors, casts, sent);
  const double msg_ns = ms_since(t0) * 1e6 / static_cast<double>(casts * n);
  // The burst leaves up to a million freed mailbox elements in malloc's fast bins, which glibc
  // merges only at the next large allocation: trim once here, as after every upgrade, so that the
  // first upgrade does not pay for cleaning up after the setup.
  request_heap_trim();
  (void)await_heap_trims(absl::Seconds(30));

  // Steady load during the upgrade: half of the measured capacity (1e9 / msg_ns messages per
  // second), paced in batches, so that the machine is loaded but not saturated; an unpaced thread
  // would grow every mailbox without bound and the upgrade would measure the backlog instead.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rounds{0};
  const bool no_load = no_load_flag;
  uint64_t sent_before_load = 0;
  for (uint64_t x : sent) sent_before_load += x;
  const auto load_started = Clock::now();
  const double rate = rate_flag > 0 ? rate_flag : 0.5e9 / std::max(msg_ns, 1.0);
  std::thread sender([&] {
    caf::scoped_actor s{sys};
    constexpr int kBatch = 500;
    const auto batch_time = std::chrono::nanoseconds(static_cast<int64_t>(kBatch * 1e9 / rate));
    auto next_batch = Clock::now();
    int in_batch = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (no_load) {  // idle, without spinning on one of the cores the upgrade needs
        rounds.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      for (int i = 0; i < n && !stop.load(std::memory_order_relaxed); ++i) {
        w.send(s, actors[i], ++sent[i]);
        if (++in_batch == kBatch) {
          in_batch = 0;
          next_batch += batch_time;
          std::this_thread::sleep_until(next_batch);  // pacing, not waiting for a result
        }
      }
      rounds.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (rounds.load() < 2) std::this_thread::yield();

  // The upgrade (v1 -> v2), then with --repeat=K further ones back and forth (v2 -> v1 -> v2 ...).
  std::vector<Upgrade> upgrades;
  for (int k = 0; k < repeat_flag; ++k) {
    upgrades.push_back(upgrade(*cs, manager, k % 2 == 0 ? w.v2 : w.v1, w.module));
  }
  const uint64_t rounds_before_stop = rounds.load();
  while (rounds.load() < rounds_before_stop + 1) std::this_thread::yield();
  stop = true;
  sender.join();
  // What the sender reached, against its target (load_msgs_per_s): below it, the sender could not
  // keep up and the machine was saturated rather than half loaded.
  uint64_t sent_during_load = 0;
  for (uint64_t x : sent) sent_during_load += x;
  sent_during_load -= sent_before_load;
  const double achieved = static_cast<double>(sent_during_load) / (ms_since(load_started) / 1e3);

  int64_t lost = 0;
  for (int i = 0; i < n; ++i) lost += static_cast<int64_t>(sent[i]) - w.count(self, actors[i]);
  for (const Upgrade& u : upgrades) {
    const SwapResult& r = u.result;
    std::vector<double> pauses = r.pause_seconds;
    std::sort(pauses.begin(), pauses.end());
    const double pause_ms = pauses.empty() ? 0 : pauses.back() * 1e3;
    const double pause_p50_ms = pauses.empty() ? 0 : pauses[pauses.size() / 2] * 1e3;
    std::printf(
        "lemon N=%d upgrade_ms=%.3f pause_ms=%.3f per_actor_us=%.3f lost=%lld msg_ns=%.1f "
        "soft_purge=%s rounds_during=%llu load_msgs_per_s=%.0f status=%s swap_ms=%.3f "
        "prepare_ms=%.3f resume_ms=%.3f cpu_ms=%.3f retire_ms=%.3f load_ms=%.3f "
        "load_achieved_msgs_per_s=%.0f pause_p50_ms=%.3f scheduler=%s state=%s\n",
        n, u.upgrade_ms, pause_ms, u.upgrade_ms * 1000.0 / n, static_cast<long long>(lost), msg_ns,
        u.purged ? "true" : "false", static_cast<unsigned long long>(rounds_before_stop),
        no_load_flag ? 0.0 : rate, r.status.ok() ? "ok" : std::string(r.status.message()).c_str(),
        r.duration_ms, r.prepare_ms, r.resume_ms, u.cpu_ms, u.retire_ms, u.load_ms,
        no_load_flag ? 0.0 : achieved, pause_p50_ms, sharing_flag ? "sharing" : "stealing",
        w.state);
  }
  std::fflush(stdout);
  for (auto& a : actors) self->send_exit(a, caf::exit_reason::kill);
  registry->await_count(w.module, 0, absl::Seconds(120));
  actors.clear();
  cs.reset();
}

// Counter v1's own handlers (the module's code, from its shared object) in a plain CAF actor: no
// framework in front of them. Against it, a reloadable actor shows what the framework alone costs.
class ModuleInPlainActor final : public caf::event_based_actor, public ActorContext {
 public:
  ModuleInPlainActor(caf::actor_config& cfg, Instance instance)
      : caf::event_based_actor(cfg), instance_(std::move(instance)) {}
  caf::behavior make_behavior() override { return instance_.behaviour->handlers(*this); }
  caf::event_based_actor* self() override { return this; }
  const std::string& registered_name() const override { return name_; }
  // The rest of ActorContext, which counter v1's handlers never use.
  caf::actor self_handle() override { return caf::actor_cast<caf::actor>(this); }
  CodeHold code() const override { return {}; }
  void send_message(const caf::actor& to, Message m, std::chrono::nanoseconds) override {
    send(to, std::move(m));
  }
  void request_message(const caf::actor&, Message, std::chrono::nanoseconds,
                       std::function<void(const Message*, const std::string&)> done) override {
    done(nullptr, "not supported by the benchmark's plain actor");
  }
  caf::message reply_message(Message m) override { return caf::make_message(std::move(m)); }
  caf::message error_reply(const std::string& text) override {
    return caf::make_message(caf::make_error(caf::sec::runtime_error, text));
  }
  void monitor_actor(const caf::actor& other) override { monitor(other); }
  void demonitor_actor(const caf::actor& other) override { demonitor(other); }
  void link_actor(const caf::actor& other) override { link_to(other); }
  caf::actor spawn_child(const std::string&, const std::string&, const std::string&,
                         const std::string&, std::string* error) override {
    *error = "not supported by the benchmark's plain actor";
    return caf::actor{};
  }
  caf::actor whereis(const std::string&) override { return caf::actor{}; }
  void stop_actor(const std::string&) override { quit(); }

 protected:
  void request_started() override {}
  void request_finished() override {}

 private:
  Instance instance_;  // outlives the CAF behaviour (destroyed with the actor)
  std::string name_;
};

// The same work as counter v1's tick handler, in a plain CAF actor compiled into the host.
caf::behavior plain_counter(caf::event_based_actor*) {
  auto count = std::make_shared<int64_t>(0);
  auto violations = std::make_shared<int64_t>(0);
  auto last = std::make_shared<std::map<uint64_t, uint64_t>>();
  return {
      [=](tick_atom, uint64_t sender, uint64_t seq) {
        uint64_t& l = (*last)[sender];
        if (seq != l + 1) ++*violations;
        l = seq;
        ++*count;
      },
      [=](get_atom) { return *count; },
  };
}

void send_tick(caf::scoped_actor& self, const caf::actor& a, uint64_t seq) {
  self->send(a, tick_atom::value, uint64_t{1}, seq);
}

int steady_repeats_flag = 11;       // pairs of pipeline runs
uint64_t pipelined_flag = 2000000;  // messages per pipeline run
int drain_pairs_flag = 201;         // pairs of drains
uint64_t drained_flag = 20000;      // messages per drain
bool drain_only_flag = false;       // steady state: the drain measure only

// One function: its three measures share with_actor and the code server its actors come from.
void steady_state(caf::actor_system& sys) {
  const testing::ScratchDir dir;
  auto cs = std::move(CodeServer::create({dir.path()}).value());
  auto registry = std::make_shared<ActorRegistry>();
  (void)cs->load(find_runfile("extensions/counter/libcounter_v1.so"));
  const int repeats = steady_repeats_flag;
  // A fresh actor of `kind` on `on`, measured by `f`, then killed.
  enum class Kind { kPlain, kModuleInPlain, kReloadable };
  auto with_actor = [&](caf::actor_system& on, Kind kind, auto f) {
    caf::actor a;
    switch (kind) {
      case Kind::kPlain:
        a = on.spawn(plain_counter);
        break;
      case Kind::kModuleInPlain:
        a = on.spawn<ModuleInPlainActor>(*make_instance(cs->current("counter"), "counter", ""));
        break;
      case Kind::kReloadable:
        a = *spawn_reloadable(on, registry, *cs, {"counter"});
        break;
    }
    auto result = f(on, a);
    caf::anon_send_exit(a, caf::exit_reason::kill);
    return result;
  };

  // Through the pipeline: a sending thread and the actor on the bench's system.
  if (!drain_only_flag && repeats > 0) {
    const PairSummary s = summarize(in_pairs<double>(repeats, [&](bool kind) {
      return with_actor(sys, kind ? Kind::kPlain : Kind::kReloadable,
                        [](caf::actor_system& on, const caf::actor& a) {
                          return throughput(on, a, pipelined_flag, send_tick, caf_count);
                        });
    }));
    std::printf(
        "lemon steady_state plain_msgs_per_s=%.0f reloadable_msgs_per_s=%.0f ratio=%.3f "
        "pairs=%d pair_ratio_p25=%.3f pair_ratio_p50=%.3f pair_ratio_p75=%.3f\n",
        s.plain, s.other, s.other / s.plain, repeats, s.ratio.p25, s.ratio.p50, s.ratio.p75);
  }

  // The same work, each side of the mailbox measured alone (drain()), on a system of its own with
  // one worker: far less noise than the pipeline above, where sender and actor share two cores.
  caf::actor_system_config one_cfg;
  one_cfg.set("scheduler.max-threads", size_t{1});
  one_cfg.set("scheduler.max-throughput", size_t{50});
  caf::actor_system one{one_cfg};
  const uint64_t drained = drained_flag;
  // `base` against a reloadable actor, in pairs; prints one line headed `label`.
  auto drain_against = [&](Kind base, const char* label, const char* base_name) {
    std::vector<double> send_base, send_reloadable, run_base, run_reloadable, run_ratio;
    for (const auto& [db, dq] : in_pairs<Drain>(drain_pairs_flag, [&](bool is_base) {
           return with_actor(one, is_base ? base : Kind::kReloadable,
                             [&](caf::actor_system& on, const caf::actor& a) {
                               return drain(on, a, drained, send_tick, caf_count);
                             });
         })) {
      send_base.push_back(db.send_ns);
      send_reloadable.push_back(dq.send_ns);
      run_base.push_back(db.run_ns);
      run_reloadable.push_back(dq.run_ns);
      run_ratio.push_back(db.run_ns / dq.run_ns);  // throughput ratio: reloadable / base
    }
    const double rb = quantile(run_base, 0.5), rq = quantile(run_reloadable, 0.5);
    const Quartiles r = quartiles(run_ratio);
    std::printf(
        "lemon %s %s_run_ns=%.1f reloadable_run_ns=%.1f ratio=%.3f pairs=%d "
        "pair_ratio_p25=%.3f pair_ratio_p50=%.3f pair_ratio_p75=%.3f %s_send_ns=%.1f "
        "reloadable_send_ns=%.1f\n",
        label, base_name, rb, rq, rb / rq, drain_pairs_flag, r.p25, r.p50, r.p75, base_name,
        quantile(send_base, 0.5), quantile(send_reloadable, 0.5));
    std::fflush(stdout);
  };
  // Against a plain actor compiled into the host (the target), then against the module's own
  // handlers in a plain actor (what the framework alone costs).
  drain_against(Kind::kPlain, "steady_state_drain", "plain");
  drain_against(Kind::kModuleInPlain, "steady_state_drain_module", "module_plain");
  // The same two measures for a ProtoActor module, against a plain actor with host structs.
  steady_state_proto(
      sys, {drain_only_flag ? 0 : repeats, pipelined_flag, drain_pairs_flag, drained_flag});
  registry->await_count("counter", 0, absl::Seconds(60));
  cs.reset();
}

}  // namespace
}  // namespace lemon

// Flags: N... (actor counts), --no_steady_state, --no_load (no sender during the upgrade),
// --sharing (CAF's work-sharing scheduler), --max_throughput=K (default 50, as lemon::Runtime),
// --repeat=K (K upgrades per N, back and forth between v2 and v1, one line each), --rate=M (the
// sender's load in messages per second; default half of the measured capacity, msg_ns),
// --steady_repeats=K (pairs of pipeline runs, default 11, 0: none), --pipelined=M (messages per
// pipeline run, default 2,000,000: the sender outruns the actor, so most of them wait in its
// mailbox), --drain_pairs=K (pairs of drains, default 201), --drained=M (messages per drain,
// default 20,000), --drain_only (the drain alone), --state=caf|proto|both (which modules the
// reload lines upgrade: bench_counter, proto_counter or both, default both), --proto_only
// (the steady_state_proto lines alone).
int main(int argc, char** argv) {
  (void)lemon::raise_fast_bin_limit();  // as lemon::Runtime does, for every line alike
  std::vector<int> ns;
  std::vector<const lemon::Workload*> workloads = {&lemon::kCafState, &lemon::kProtoState};
  bool proto_only = false;
  bool steady = true;
  size_t max_throughput = 50;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no_steady_state") {
      steady = false;
    } else if (arg == "--no_load") {
      lemon::no_load_flag = true;
    } else if (arg == "--sharing") {
      lemon::sharing_flag = true;
    } else if (arg.rfind("--rate=", 0) == 0) {
      lemon::rate_flag = std::atof(arg.c_str() + 7);
    } else if (arg.rfind("--repeat=", 0) == 0) {
      lemon::repeat_flag = std::max(1, std::atoi(arg.c_str() + 9));
    } else if (arg.rfind("--steady_repeats=", 0) == 0) {
      lemon::steady_repeats_flag = std::max(0, std::atoi(arg.c_str() + 17));
    } else if (arg.rfind("--pipelined=", 0) == 0) {
      lemon::pipelined_flag = std::max<uint64_t>(1, std::strtoull(arg.c_str() + 12, nullptr, 10));
    } else if (arg.rfind("--drain_pairs=", 0) == 0) {
      lemon::drain_pairs_flag = std::max(1, std::atoi(arg.c_str() + 14));
    } else if (arg.rfind("--drained=", 0) == 0) {
      lemon::drained_flag = std::max<uint64_t>(1, std::strtoull(arg.c_str() + 10, nullptr, 10));
    } else if (arg == "--drain_only") {
      lemon::drain_only_flag = true;
    } else if (arg == "--proto_only") {
      proto_only = true;
    } else if (arg == "--state=both") {
      workloads = {&lemon::kCafState, &lemon::kProtoState};
    } else if (arg == "--state=caf") {
      workloads = {&lemon::kCafState};
    } else if (arg == "--state=proto") {
      workloads = {&lemon::kProtoState};
    } else if (arg.rfind("--max_throughput=", 0) == 0) {
      max_throughput = static_cast<size_t>(std::atol(arg.c_str() + 17));
    } else if (!arg.empty() && arg[0] != '-') {
      ns.push_back(std::atoi(arg.c_str()));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  if (ns.empty()) ns = {1, 1000, 10000, 100000};
  caf::actor_system_config cfg;
  lemon::add_plain_counter_types(cfg);
  if (lemon::sharing_flag) cfg.set("scheduler.policy", caf::atom("sharing"));
  if (max_throughput > 0) cfg.set("scheduler.max-throughput", max_throughput);
  caf::actor_system sys{cfg};
  if (proto_only) {
    lemon::steady_state_proto(sys, {lemon::steady_repeats_flag, lemon::pipelined_flag,
                                    lemon::drain_pairs_flag, lemon::drained_flag});
    return 0;
  }
  if (!lemon::drain_only_flag) {
    for (const lemon::Workload* w : workloads) {
      for (int n : ns) lemon::run(sys, *w, n);
    }
  }
  if (steady) lemon::steady_state(sys);
  return 0;
}
