// What the benchmarks' steady-state lines share: a throughput run through one actor, A/B runs
// taken in alternating pairs, and the quantiles they print.
#ifndef LEMON_BENCH_MEASURE_H_
#define LEMON_BENCH_MEASURE_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <utility>
#include <vector>

#include "actors/messages.h"
#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"

namespace lemon {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Messages per second through one actor: `send(self, a, k)` for k = 1..messages, then
// `sync(self, a)`, which waits for a reply.
template <class Send, class Sync>
double throughput(caf::actor_system& sys, const caf::actor& a, uint64_t messages, Send send,
                  Sync sync) {
  caf::scoped_actor self{sys};
  auto t0 = Clock::now();
  for (uint64_t k = 1; k <= messages; ++k) send(self, a, k);
  sync(self, a);
  return static_cast<double>(messages) / (ms_since(t0) / 1e3);
}

// One actor's cost per message without a sender competing for the cores: on a system with one
// scheduler worker, that worker is kept busy while `messages` are queued for `a` by `send` (timed:
// the sender's cost), then let go, and the time until `a` has run them all and answered `sync` is
// the consumer's cost (mailbox, dispatch, handler). Both in nanoseconds per message.
struct Drain {
  double send_ns = 0;
  double run_ns = 0;
};
template <class Send, class Sync>
Drain drain(caf::actor_system& one_worker, const caf::actor& a, uint64_t messages, Send send,
            Sync sync) {
  std::promise<void> entered;
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  auto blocker = one_worker.spawn([&entered, released](caf::event_based_actor*) -> caf::behavior {
    return {[&entered, released](get_atom) {
      entered.set_value();
      released.wait();
    }};
  });
  caf::anon_send(blocker, get_atom::value);
  entered.get_future().wait();
  caf::scoped_actor self{one_worker};
  auto t0 = Clock::now();
  for (uint64_t k = 1; k <= messages; ++k) send(self, a, k);
  Drain d;
  d.send_ns = ms_since(t0) * 1e6 / static_cast<double>(messages);
  t0 = Clock::now();
  go.set_value();
  sync(self, a);
  d.run_ns = ms_since(t0) * 1e6 / static_cast<double>(messages);
  caf::anon_send_exit(blocker, caf::exit_reason::kill);
  return d;
}

// The value at quantile q (0..1) of `v`, sorted in place.
inline double quantile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

// The quartiles of `v` (sorted in place), as the steady-state lines print them.
struct Quartiles {
  double p25, p50, p75;
};
inline Quartiles quartiles(std::vector<double>& v) {
  return {quantile(v, 0.25), quantile(v, 0.5), quantile(v, 0.75)};
}

// Runs `measure(plain)` for a plain and a reloadable actor `repeats` times, in pairs whose first
// run alternates between the two kinds, so that machine noise and whatever the previous run left
// behind hit both alike; each pair's two results lie a few hundred milliseconds apart.
template <class T, class Measure>
std::vector<std::pair<T, T>> in_pairs(int repeats, Measure measure) {
  std::vector<std::pair<T, T>> out;  // (plain, reloadable)
  for (int r = 0; r < repeats; ++r) {
    const bool plain_first = r % 2 == 0;
    std::pair<T, T> x;
    (plain_first ? x.first : x.second) = measure(plain_first);
    (plain_first ? x.second : x.first) = measure(!plain_first);
    out.push_back(x);
  }
  return out;
}

// What the steady-state lines print of `pairs` (plain, other) from in_pairs: each side's median
// and the quartiles of other/plain within each pair.
struct PairSummary {
  double plain = 0;  // median
  double other = 0;  // median
  Quartiles ratio{};
};
inline PairSummary summarize(const std::vector<std::pair<double, double>>& pairs) {
  std::vector<double> plain, other, ratio;
  for (const auto& [p, q] : pairs) {
    plain.push_back(p);
    other.push_back(q);
    ratio.push_back(q / p);
  }
  return {quantile(plain, 0.5), quantile(other, 0.5), quartiles(ratio)};
}

}  // namespace lemon

#endif  // LEMON_BENCH_MEASURE_H_
