#include "bench/steady_state_proto.h"

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "actors/message.h"
#include "actors/pack.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "bench/measure.h"
#include "bench/proto_counter.pb.h"
#include "caf/all.hpp"
#include "core/code_server.h"
#include "core/runfiles.h"
#include "core/test_support.h"

namespace lemon {
namespace {

// proto_counter's messages as C++ structs of the host, for the plain actor.
struct PlainAdd {
  int64_t amount = 0;
};
struct PlainGet {};
struct PlainTotal {
  int64_t value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlainAdd& x) {
  return f(caf::meta::type_name("PlainAdd"), x.amount);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlainGet&) {
  return f(caf::meta::type_name("PlainGet"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlainTotal& x) {
  return f(caf::meta::type_name("PlainTotal"), x.value);
}

// proto_counter version 1's work in a plain CAF actor compiled into the host.
caf::behavior plain_counter(caf::event_based_actor*) {
  auto count = std::make_shared<int64_t>(0);
  return {
      [=](const PlainAdd& a) {
        *count += a.amount;
        return PlainTotal{*count};
      },
      [=](const PlainGet&) { return PlainTotal{*count}; },
  };
}

// The plain relay: passes each PlainAdd on to `target` and drops the PlainTotals that come back.
caf::behavior plain_relay(caf::event_based_actor* self, const caf::actor& target) {
  return {
      [=](const PlainAdd& a) { self->send(target, a); },
      [](const PlainTotal&) {},
  };
}

void send_plain_add(caf::scoped_actor&, const caf::actor& to, uint64_t) {
  caf::anon_send(to, PlainAdd{1});
}

int64_t plain_count(caf::scoped_actor& self, const caf::actor& a) {
  int64_t count = -1;
  self->request(a, caf::infinite, PlainGet{})
      .receive([&](const PlainTotal& t) { count = t.value; }, [](caf::error&) {});
  return count;
}

}  // namespace

void add_plain_counter_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<PlainAdd>("lemon.bench.PlainAdd");
  cfg.add_message_type<PlainGet>("lemon.bench.PlainGet");
  cfg.add_message_type<PlainTotal>("lemon.bench.PlainTotal");
}

void send_proto_add(caf::scoped_actor&, const caf::actor& to, uint64_t) {
  benchproto::Add add;
  add.set_amount(1);
  send(to, std::move(add));
}

int64_t proto_count(caf::scoped_actor& self, const caf::actor& a) {
  int64_t count = -1;
  self->request(a, caf::infinite, pack(benchproto::Get()))
      .receive(
          [&](const Message& m) {
            benchproto::Total t;
            if (unpack(m, &t)) count = t.value();
          },
          [](caf::error&) {});
  return count;
}

// Messages per second through `relay` to `counter`: `messages` sends to the relay from a sending
// thread, until `count` of the counter says all of them arrived (asked every millisecond); 0,
// said on stderr, if they have not after two minutes.
template <class Send, class Count>
double relayed(caf::actor_system& sys, const caf::actor& relay, const caf::actor& counter,
               uint64_t messages, Send send, Count count) {
  caf::scoped_actor self{sys};
  auto t0 = Clock::now();
  for (uint64_t k = 1; k <= messages; ++k) send(self, relay, k);
  const auto deadline = Clock::now() + std::chrono::minutes(2);
  while (count(self, counter) < static_cast<int64_t>(messages)) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "steady_state_proto_relay: %lld of %llu messages arrived in 2 min\n",
                   static_cast<long long>(count(self, counter)),
                   static_cast<unsigned long long>(messages));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return static_cast<double>(messages) / (ms_since(t0) / 1e3);
}

void steady_state_proto(caf::actor_system& sys, const ProtoSteadyState& how) {
  const testing::ScratchDir dir;
  auto cs = std::move(CodeServer::create({dir.path()}).value());
  auto registry = std::make_shared<ActorRegistry>();
  if (!cs->load(find_runfile("bench/libproto_counter_v1.so")).ok()) {
    std::fprintf(stderr, "cannot load bench/libproto_counter_v1.so from the runfiles\n");
    return;
  }
  // A fresh plain or proto_counter actor on `on`, measured by `f`, then killed.
  auto with_actor = [&](caf::actor_system& on, bool is_plain, auto f) {
    caf::actor a = is_plain ? on.spawn(plain_counter)
                            : *spawn_reloadable(on, registry, *cs, {"proto_counter"});
    const auto r =
        is_plain ? f(on, a, send_plain_add, plain_count) : f(on, a, send_proto_add, proto_count);
    caf::anon_send_exit(a, caf::exit_reason::kill);
    return r;
  };
  if (how.pipeline_pairs > 0) {
    const PairSummary s = summarize(in_pairs<double>(how.pipeline_pairs, [&](bool is_plain) {
      return with_actor(sys, is_plain,
                        [&](caf::actor_system& on, const caf::actor& a, auto send, auto sync) {
                          return throughput(on, a, how.pipeline_messages, send, sync);
                        });
    }));
    std::printf(
        "lemon steady_state_proto plain_msgs_per_s=%.0f proto_msgs_per_s=%.0f ratio=%.3f "
        "pairs=%d pair_ratio_p25=%.3f pair_ratio_p50=%.3f pair_ratio_p75=%.3f\n",
        s.plain, s.other, s.ratio.p50, how.pipeline_pairs, s.ratio.p25, s.ratio.p50, s.ratio.p75);
    std::fflush(stdout);
  }
  if (how.pipeline_pairs > 0 && how.relayed_messages > 0) {
    const PairSummary s = summarize(in_pairs<double>(how.pipeline_pairs, [&](bool is_plain) {
      caf::actor counter, relay;
      if (is_plain) {
        counter = sys.spawn(plain_counter);
        relay = sys.spawn(plain_relay, counter);
      } else {
        counter = *spawn_reloadable(sys, registry, *cs, {"proto_counter", "", "relayed_counter"});
        relay = *spawn_reloadable(sys, registry, *cs,
                                  {"proto_counter", "proto_relay", "", "relayed_counter"});
      }
      const double r =
          is_plain
              ? relayed(sys, relay, counter, how.relayed_messages, send_plain_add, plain_count)
              : relayed(sys, relay, counter, how.relayed_messages, send_proto_add, proto_count);
      caf::anon_send_exit(relay, caf::exit_reason::kill);
      caf::anon_send_exit(counter, caf::exit_reason::kill);
      registry->await_count("proto_counter", 0, absl::Seconds(60));  // the name is free again
      return r;
    }));
    std::printf(
        "lemon steady_state_proto_relay plain_msgs_per_s=%.0f proto_msgs_per_s=%.0f ratio=%.3f "
        "pairs=%d pair_ratio_p25=%.3f pair_ratio_p50=%.3f pair_ratio_p75=%.3f\n",
        s.plain, s.other, s.ratio.p50, how.pipeline_pairs, s.ratio.p25, s.ratio.p50, s.ratio.p75);
    std::fflush(stdout);
  }
  if (how.drain_pairs > 0) {
    caf::actor_system_config one_cfg;
    add_plain_counter_types(one_cfg);
    one_cfg.set("scheduler.max-threads", size_t{1});
    one_cfg.set("scheduler.max-throughput", size_t{50});
    caf::actor_system one{one_cfg};
    std::vector<double> send_plain, send_proto, run_plain, run_proto, run_ratio;
    for (const auto& [dp, dq] : in_pairs<Drain>(how.drain_pairs, [&](bool is_plain) {
           return with_actor(one, is_plain,
                             [&](caf::actor_system& on, const caf::actor& a, auto send, auto sync) {
                               return drain(on, a, how.drained, send, sync);
                             });
         })) {
      send_plain.push_back(dp.send_ns);
      send_proto.push_back(dq.send_ns);
      run_plain.push_back(dp.run_ns);
      run_proto.push_back(dq.run_ns);
      run_ratio.push_back(dp.run_ns / dq.run_ns);  // throughput ratio: proto / plain
    }
    const Quartiles r = quartiles(run_ratio);
    std::printf(
        "lemon steady_state_proto_drain plain_run_ns=%.1f proto_run_ns=%.1f ratio=%.3f pairs=%d "
        "pair_ratio_p25=%.3f pair_ratio_p50=%.3f pair_ratio_p75=%.3f plain_send_ns=%.1f "
        "proto_send_ns=%.1f\n",
        quantile(run_plain, 0.5), quantile(run_proto, 0.5), r.p50, how.drain_pairs, r.p25, r.p50,
        r.p75, quantile(send_plain, 0.5), quantile(send_proto, 0.5));
    std::fflush(stdout);
  }
  registry->await_count("proto_counter", 0, absl::Seconds(60));
}

}  // namespace lemon
