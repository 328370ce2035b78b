// Example module `counter`, version 2: a new state layout with an upgrade counter, migrated from
// version 1 in code_change.
//
// State layout (v2): "v2|count=N|violations=V|upgrades=U|seqs=S1:Q1,S2:Q2".
// `extra` options understood by code_change (for demonstrations and fault injection):
//   "fail"          every migration fails;
//   "fail-on-odd"   migrations of actors whose count is odd fail;
//   "fail-on-count:N"  the migration of an actor whose count is N fails.
// Built with -DCOUNTER_V2_VERSION='"2-fail"' -DCOUNTER_V2_ALWAYS_FAIL it is a version whose
// code_change always throws.
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

// Tests build the same code under other module names (apps of several modules).
#ifndef COUNTER_MODULE_NAME
#define COUNTER_MODULE_NAME "counter"
#endif

#ifndef COUNTER_V2_VERSION
#define COUNTER_V2_VERSION "2"
#endif

namespace counter_v2 {

class Counter : public lemon::Behaviour {
 public:
  static std::unique_ptr<Counter> create(const std::string& init_arg) {
    auto c = std::make_unique<Counter>();
    if (!init_arg.empty()) c->count_ = std::stoll(init_arg);
    return c;
  }

  static std::unique_ptr<Counter> code_change(const std::string& old_version,
                                              const std::string& old_state,
                                              const std::string& extra) {
#ifdef COUNTER_V2_ALWAYS_FAIL
    throw std::runtime_error("counter " COUNTER_V2_VERSION ": code_change refuses on purpose");
#endif
    auto c = std::make_unique<Counter>();
    const bool v2_layout = old_state.rfind("v2|", 0) == 0;
    std::stringstream in(v2_layout ? old_state.substr(3) : old_state);
    std::string field;
    while (std::getline(in, field, v2_layout ? '|' : ';')) {
      auto eq = field.find('=');
      if (eq == std::string::npos) {
        throw std::runtime_error("counter v2: cannot read state of version " + old_version +
                                 ": bad field '" + field + "'");
      }
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      if (key == "count") c->count_ = std::stoll(value);
      if (key == "violations") c->violations_ = std::stoll(value);
      if (key == "upgrades") c->upgrades_ = std::stoll(value);
      if (key == "seqs") c->parse_seqs(value);
    }
    if (extra == "fail") throw std::runtime_error("counter v2: code_change failed as asked");
    if (extra == "fail-on-odd" && c->count_ % 2 != 0) {
      throw std::runtime_error("counter v2: odd count " + std::to_string(c->count_));
    }
    if (extra.rfind("fail-on-count:", 0) == 0 && std::to_string(c->count_) == extra.substr(14)) {
      throw std::runtime_error("counter v2: count " + std::to_string(c->count_) + " refused");
    }
    if (!v2_layout) ++c->upgrades_;
    return c;
  }

  caf::message_handler handlers(lemon::ActorContext& ctx) override {
    (void)ctx;
    return {
        [this](lemon::tick_atom, uint64_t sender, uint64_t seq) {
          uint64_t& last = last_seq_[sender];
          if (seq != last + 1) ++violations_;
          last = seq;
          ++count_;
        },
        [this](lemon::add_atom, int64_t n) {
          count_ += n;
          return count_;
        },
        [this](lemon::get_atom) { return count_; },
        [this](lemon::stats_atom) { return format_status(); },
        [](lemon::ping_atom, uint64_t x) { return x + 1000000; },  // v2 answers differently
    };
  }

  std::string export_state() const override {
    std::string out = "v2|count=" + std::to_string(count_) +
                      "|violations=" + std::to_string(violations_) +
                      "|upgrades=" + std::to_string(upgrades_) + "|seqs=";
    bool first = true;
    for (const auto& [sender, seq] : last_seq_) {
      if (!first) out += ',';
      first = false;
      out += std::to_string(sender) + ':' + std::to_string(seq);
    }
    return out;
  }

  std::string format_status() const override {
    return "{\"version\":\"" COUNTER_V2_VERSION "\",\"count\":" + std::to_string(count_) +
           ",\"order_violations\":" + std::to_string(violations_) +
           ",\"upgrades\":" + std::to_string(upgrades_) + "}";
  }

 private:
  void parse_seqs(const std::string& value) {
    std::stringstream in(value);
    std::string pair;
    while (std::getline(in, pair, ',')) {
      auto colon = pair.find(':');
      if (colon == std::string::npos) throw std::runtime_error("counter v2: bad seq " + pair);
      last_seq_[std::stoull(pair.substr(0, colon))] = std::stoull(pair.substr(colon + 1));
    }
  }

  int64_t count_ = 0;
  int64_t violations_ = 0;
  int64_t upgrades_ = 0;
  std::map<uint64_t, uint64_t> last_seq_;
};

}  // namespace counter_v2

LEMON_MODULE(COUNTER_MODULE_NAME, COUNTER_V2_VERSION,
             LEMON_BEHAVIOUR(COUNTER_MODULE_NAME, counter_v2::Counter))
