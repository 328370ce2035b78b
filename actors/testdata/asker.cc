// Test module `asker`: on (ping, responder, ms) it asks `responder` (ping, ms) and counts the
// answers in its state; behaviour `asker` through the framework's tracked request, `raw_asker`
// through CAF's own request(...).then(...). Used to show that a reload waits for continuations
// made by old code, tracked or not, before the state is migrated.
#include <cstdint>
#include <memory>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

namespace asker_version {

// What both behaviours share: the count of answers, their state. `Self` is the behaviour made.
template <class Self>
class CountsAnswers : public lemon::Behaviour {
 public:
  static std::unique_ptr<Self> create(const std::string&) { return std::make_unique<Self>(); }
  static std::unique_ptr<Self> code_change(const std::string&, const std::string& state,
                                           const std::string&) {
    auto a = std::make_unique<Self>();
    a->answers_ = std::stoll(state);
    return a;
  }

  std::string export_state() const override { return std::to_string(answers_); }
  std::string format_status() const override {
    return "{\"version\":\"" ASKER_VERSION "\",\"answers\":" + std::to_string(answers_) + "}";
  }

 protected:
  int64_t answers_ = 0;
};

class Asker : public CountsAnswers<Asker> {
 public:
  caf::message_handler handlers(lemon::ActorContext& ctx) override {
    return {
        [this, &ctx](lemon::ping_atom, const caf::actor& responder, uint64_t ms) {
          ctx.request(
              responder, caf::infinite, [this](uint64_t) { ++answers_; }, [](caf::error&) {},
              lemon::ping_atom::value, ms);
        },
        [this](lemon::get_atom) { return answers_; },
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
              .then([this](uint64_t) { ++answers_; });
        },
        [this](lemon::get_atom) { return answers_; },
    };
  }
};

}  // namespace asker_version

LEMON_MODULE("asker", ASKER_VERSION, LEMON_BEHAVIOUR("asker", asker_version::Asker),
             LEMON_BEHAVIOUR("raw_asker", asker_version::RawAsker))
