// Example module `counter`, version 1: counts ticks and additions, checks per-sender order.
//
// State layout (v1): "count=N;violations=V;seqs=S1:Q1,S2:Q2". code_change reads v2's layout too,
// so that a downgrade from 2 to 1 keeps the count.
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

// Built with -DCOUNTER_V1_VERSION='"3"' this is version 3: the v1 code, able to read v2's state.
#ifndef COUNTER_V1_VERSION
#define COUNTER_V1_VERSION "1"
#endif

// Tests build the same code under other module names (apps of several modules).
#ifndef COUNTER_MODULE_NAME
#define COUNTER_MODULE_NAME "counter"
#endif

namespace counter_v1 {

class Counter : public lemon::Behaviour {
 public:
  static std::unique_ptr<Counter> create(const std::string& init_arg) {
    auto c = std::make_unique<Counter>();
    if (!init_arg.empty()) c->count_ = std::stoll(init_arg);
    return c;
  }

  // Accepts v1's own layout (a rollback re-install) and v2's "v2|count=..|..." layout.
  static std::unique_ptr<Counter> code_change(const std::string& old_version,
                                              const std::string& old_state,
                                              const std::string& extra) {
    (void)old_version;
    (void)extra;
    auto c = std::make_unique<Counter>();
    std::string s = old_state;
    if (s.rfind("v2|", 0) == 0) s = s.substr(3);
    std::stringstream in(s);
    std::string field;
    while (std::getline(in, field, s.find('|') != std::string::npos ? '|' : ';')) {
      auto eq = field.find('=');
      if (eq == std::string::npos) throw std::runtime_error("counter v1: bad state field " + field);
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      if (key == "count") c->count_ = std::stoll(value);
      if (key == "violations") c->violations_ = std::stoll(value);
      if (key == "seqs") c->parse_seqs(value);
    }
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
        [](lemon::ping_atom, uint64_t x) { return x; },
    };
  }

  std::string export_state() const override {
    std::string out =
        "count=" + std::to_string(count_) + ";violations=" + std::to_string(violations_) + ";seqs=";
    bool first = true;
    for (const auto& [sender, seq] : last_seq_) {
      if (!first) out += ',';
      first = false;
      out += std::to_string(sender) + ':' + std::to_string(seq);
    }
    return out;
  }

  std::string format_status() const override {
    return "{\"version\":\"" COUNTER_V1_VERSION "\",\"count\":" + std::to_string(count_) +
           ",\"order_violations\":" + std::to_string(violations_) + "}";
  }

 private:
  void parse_seqs(const std::string& value) {
    std::stringstream in(value);
    std::string pair;
    while (std::getline(in, pair, ',')) {
      auto colon = pair.find(':');
      if (colon == std::string::npos) throw std::runtime_error("counter v1: bad seq " + pair);
      last_seq_[std::stoull(pair.substr(0, colon))] = std::stoull(pair.substr(colon + 1));
    }
  }

  int64_t count_ = 0;
  int64_t violations_ = 0;
  std::map<uint64_t, uint64_t> last_seq_;
};

}  // namespace counter_v1

LEMON_MODULE(COUNTER_MODULE_NAME, COUNTER_V1_VERSION,
             LEMON_BEHAVIOUR(COUNTER_MODULE_NAME, counter_v1::Counter))
