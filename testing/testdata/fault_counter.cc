// Test module `counter` (fault injection): reads counter version 1's state like counter version 2
// does, and is wrong in one way chosen at compile time (testing/fault_injection_test.cc):
//   FAULT_NULL_CODE_CHANGE        code_change returns no behaviour (an error, not an exception);
//   FAULT_SLOW_CODE_CHANGE_MS=N   the first code_change of this load busy-waits N ms;
//   FAULT_THROW_AFTER_MIGRATION   a migrated behaviour throws on its first message after resume
//                                 (one made by create does not);
//   FAULT_STATIC_CTOR_THROWS      a static constructor throws while the shared object is loaded.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

#ifndef FAULT_VERSION
#define FAULT_VERSION "2-fault"
#endif

#ifdef FAULT_STATIC_CTOR_THROWS
namespace {
struct ThrowsWhenLoaded {
  ThrowsWhenLoaded() { throw std::runtime_error("fault_counter: static constructor throws"); }
};
const ThrowsWhenLoaded throws_when_loaded;
}  // namespace
#endif

namespace fault_counter {

class Counter : public lemon::Behaviour {
 public:
  static std::unique_ptr<Counter> create(const std::string& init_arg) {
    auto c = std::make_unique<Counter>();
    if (!init_arg.empty()) c->count_ = std::stoll(init_arg);
    return c;
  }

  static std::unique_ptr<Counter> code_change(const std::string&, const std::string& old_state,
                                              const std::string&) {
#ifdef FAULT_NULL_CODE_CHANGE
    (void)old_state;
    return nullptr;
#else
#ifdef FAULT_SLOW_CODE_CHANGE_MS
    static std::atomic<bool> first{true};
    if (first.exchange(false)) {
      auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(FAULT_SLOW_CODE_CHANGE_MS);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
#endif
    auto c = std::make_unique<Counter>();
    std::string s = old_state.rfind("v2|", 0) == 0 ? old_state.substr(3) : old_state;
    std::stringstream in(s);
    std::string field;
    while (std::getline(in, field, s.find('|') != std::string::npos ? '|' : ';')) {
      auto eq = field.find('=');
      if (eq == std::string::npos) throw std::runtime_error("fault_counter: bad field " + field);
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      if (key == "count") c->count_ = std::stoll(value);
      if (key == "violations") c->violations_ = std::stoll(value);
      if (key == "seqs") c->parse_seqs(value);
    }
#ifdef FAULT_THROW_AFTER_MIGRATION
    c->throw_next_ = true;
#endif
    return c;
#endif
  }

  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](lemon::tick_atom, uint64_t sender, uint64_t seq) {
          maybe_throw();
          uint64_t& last = last_seq_[sender];
          if (seq != last + 1) ++violations_;
          last = seq;
          ++count_;
        },
        [this](lemon::add_atom, int64_t n) {
          maybe_throw();
          count_ += n;
          return count_;
        },
        [this](lemon::get_atom) {
          maybe_throw();
          return count_;
        },
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
    return "{\"version\":\"" FAULT_VERSION "\",\"count\":" + std::to_string(count_) +
           ",\"order_violations\":" + std::to_string(violations_) + "}";
  }

 private:
  void maybe_throw() {
    if (!throw_next_) return;
    throw_next_ = false;
    throw std::runtime_error("fault_counter: first message after migration throws");
  }

  void parse_seqs(const std::string& value) {
    std::stringstream in(value);
    std::string pair;
    while (std::getline(in, pair, ',')) {
      auto colon = pair.find(':');
      if (colon == std::string::npos) throw std::runtime_error("fault_counter: bad seq " + pair);
      last_seq_[std::stoull(pair.substr(0, colon))] = std::stoull(pair.substr(colon + 1));
    }
  }

  int64_t count_ = 0;
  int64_t violations_ = 0;
  bool throw_next_ = false;
  std::map<uint64_t, uint64_t> last_seq_;
};

}  // namespace fault_counter

LEMON_MODULE("counter", FAULT_VERSION, LEMON_BEHAVIOUR("counter", fault_counter::Counter))
