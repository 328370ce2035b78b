// Test module `counter` (fault injection): takes over the count of the example counter's actors,
// and is wrong in one way chosen at compile time (testing/fault_injection_test.cc):
//   FAULT_NULL_CODE_CHANGE        code_change returns no behaviour (an error, not an exception);
//   FAULT_SLOW_CODE_CHANGE_MS=N   the first code_change of this load busy-waits N ms;
//   FAULT_THROW_AFTER_MIGRATION   a migrated behaviour throws on its first message after resume
//                                 (one made by create does not);
//   FAULT_STATIC_CTOR_THROWS      a static constructor throws while the shared object is loaded.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"
#include "actors/testdata/number_behaviour.h"

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

// Just what the fault cases need of a counter: its number is the count, with get and add.
class Counter : public lemon::testdata::NumberBehaviour<Counter> {
 public:
  static std::unique_ptr<Counter> create(const std::string& init_arg) {
    return with(init_arg.empty() ? 0 : std::stoll(init_arg));
  }

  // Keeps the count of either counter version's state ("count=N;..." or "v2|count=N|...").
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
    const auto count = old_state.find("count=");
    if (count == std::string::npos) throw std::runtime_error("fault_counter: no count in state");
    auto c = with(std::stoll(old_state.substr(count + 6)));
#ifdef FAULT_THROW_AFTER_MIGRATION
    c->throw_next_ = true;
#endif
    return c;
#endif
  }

  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](lemon::add_atom, int64_t n) {
          maybe_throw();
          number_ += n;
          return number_;
        },
        [this](lemon::get_atom) {
          maybe_throw();
          return number_;
        },
    };
  }

  std::string format_status() const override {
    return "{\"version\":\"" FAULT_VERSION "\",\"count\":" + std::to_string(number_) + "}";
  }

 private:
  void maybe_throw() {
    if (!throw_next_) return;
    throw_next_ = false;
    throw std::runtime_error("fault_counter: first message after migration throws");
  }

  bool throw_next_ = false;
};

}  // namespace fault_counter

LEMON_MODULE("counter", FAULT_VERSION, LEMON_BEHAVIOUR("counter", fault_counter::Counter))
