// Test module `asker`: on (ping, responder, ms) it asks `responder` (ping, ms) and counts the
// answers in its state; behaviour `asker` through the framework's tracked request, `raw_asker`
// through CAF's own request(...).then(...). Used to show that a reload waits for continuations
// made by old code, tracked or not, before the state is migrated.
#include <cstdint>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"
#include "actors/testdata/number_behaviour.h"

namespace asker_version {

// What both behaviours share: their number is the count of answers.
template <class Self>
class CountsAnswers : public lemon::testdata::NumberBehaviour<Self> {
 public:
  std::string format_status() const override {
    return "{\"version\":\"" ASKER_VERSION "\",\"answers\":" + std::to_string(this->number_) + "}";
  }
};

class Asker : public CountsAnswers<Asker> {
 public:
  caf::message_handler handlers(lemon::ActorContext& ctx) override {
    return {
        [this, &ctx](lemon::ping_atom, const caf::actor& responder, uint64_t ms) {
          ctx.request(
              responder, caf::infinite, [this](uint64_t) { ++number_; }, [](caf::error&) {},
              lemon::ping_atom::value, ms);
        },
        [this](lemon::get_atom) { return number_; },
    };
  }
};

class RawAsker : public CountsAnswers<RawAsker> {
 public:
  caf::message_handler handlers(lemon::ActorContext& ctx) override {
    return {
        [this, &ctx](lemon::ping_atom, const caf::actor& responder, uint64_t ms) {
          ctx.self()
              ->request(responder, caf::infinite, lemon::ping_atom::value, ms)
              .then([this](uint64_t) { ++number_; });
        },
        [this](lemon::get_atom) { return number_; },
    };
  }
};

}  // namespace asker_version

LEMON_MODULE("asker", ASKER_VERSION, LEMON_BEHAVIOUR("asker", asker_version::Asker),
             LEMON_BEHAVIOUR("raw_asker", asker_version::RawAsker))
