// The benchmark's module, the same as bench/otp_upgrade_bench.escript's bench_counter: version 1
// keeps {count, N}, version 2 keeps {count2, N, Seen}; code_change migrates 1 -> 2
// ({count, N} -> {count2, N, 0}).
#include <cstdint>
#include <memory>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

namespace bench_counter_version {

class BenchCounter : public lemon::Behaviour {
 public:
  static std::unique_ptr<BenchCounter> create(const std::string&) {
    return std::make_unique<BenchCounter>();
  }
  // v1 state: "N"; v2 state: "N,Seen".
  static std::unique_ptr<BenchCounter> code_change(const std::string&, const std::string& state,
                                                   const std::string&) {
    auto c = std::make_unique<BenchCounter>();
    size_t comma = state.find(',');
    c->count_ = std::stoll(state.substr(0, comma));
    c->seen_ = comma == std::string::npos ? 0 : std::stoll(state.substr(comma + 1));
    return c;
  }

  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](lemon::tick_atom, uint64_t, uint64_t) {
          ++count_;
          ++seen_;
        },
        [this](lemon::get_atom) { return count_; },
    };
  }
  std::string export_state() const override {
    return BENCH_VERSION == 1 ? std::to_string(count_)
                              : std::to_string(count_) + "," + std::to_string(seen_);
  }
  std::string format_status() const override {
    return "{\"count\":" + std::to_string(count_) + "}";
  }

 private:
  int64_t count_ = 0;
  int64_t seen_ = 0;
};

}  // namespace bench_counter_version

LEMON_MODULE("bench_counter", BENCH_VERSION_STRING,
             LEMON_BEHAVIOUR("bench_counter", bench_counter_version::BenchCounter))
