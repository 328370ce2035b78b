// Test module `slow`: a behaviour whose (ping, ms) handler keeps the actor busy for `ms`
// milliseconds, to play an actor stuck in a handler when a suspension arrives.
#include <chrono>
#include <cstdint>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"
#include "actors/testdata/number_behaviour.h"

namespace slow_v1 {

// Its number counts the pings handled.
class Slow : public lemon::testdata::NumberBehaviour<Slow> {
 public:
  caf::message_handler handlers(lemon::ActorContext&) override {
    return {[this](lemon::ping_atom, uint64_t ms) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < until) {
      }
      return static_cast<uint64_t>(++number_);
    }};
  }
  std::string format_status() const override {
    return "{\"version\":\"" SLOW_VERSION "\",\"handled\":" + std::to_string(number_) + "}";
  }
};

}  // namespace slow_v1

LEMON_MODULE("slow", SLOW_VERSION, LEMON_BEHAVIOUR("slow", slow_v1::Slow))
