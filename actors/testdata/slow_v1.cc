// Test module `slow`: a behaviour whose (ping, ms) handler keeps the actor busy for `ms`
// milliseconds, to play an actor stuck in a handler when a suspension arrives.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

namespace slow_v1 {

class Slow : public lemon::Behaviour {
 public:
  static std::unique_ptr<Slow> create(const std::string&) { return std::make_unique<Slow>(); }
  static std::unique_ptr<Slow> code_change(const std::string&, const std::string& state,
                                           const std::string&) {
    auto s = std::make_unique<Slow>();
    s->handled_ = std::stoll(state);
    return s;
  }

  caf::message_handler handlers(lemon::ActorContext&) override {
    return {[this](lemon::ping_atom, uint64_t ms) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < until) {
      }
      return ++handled_;
    }};
  }
  std::string export_state() const override { return std::to_string(handled_); }
  std::string format_status() const override {
    return "{\"version\":\"" SLOW_VERSION "\",\"handled\":" + std::to_string(handled_) + "}";
  }

 private:
  uint64_t handled_ = 0;
};

}  // namespace slow_v1

LEMON_MODULE("slow", SLOW_VERSION, LEMON_BEHAVIOUR("slow", slow_v1::Slow))
