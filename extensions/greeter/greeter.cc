// Example extension `greeter`: compiled by the node at run time from this source file.
//
// Try it on a running lemond: change kGreeting and GREETER_VERSION (to "2"), then
//   bazel run //:lemonctl -- reload --extension ~/.lemon/extensions/greeter.cc
// and ask again: the same actors answer with the new code and keep their count.
#include <cstdint>
#include <memory>
#include <string>

#include "actors/messages.h"
#include "actors/module.h"

#define GREETER_VERSION "1"

namespace greeter_v1 {

constexpr char kGreeting[] = "Hello";

class Greeter : public lemon::Behaviour {
 public:
  static std::unique_ptr<Greeter> create(const std::string&) { return std::make_unique<Greeter>(); }

  // The state is just the number of greetings so far, in every version.
  static std::unique_ptr<Greeter> code_change(const std::string&, const std::string& state,
                                              const std::string&) {
    auto g = std::make_unique<Greeter>();
    g->greeted_ = std::stoll(state);
    return g;
  }

  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](lemon::lookup_atom, const std::string& name) {
          ++greeted_;
          return std::string(kGreeting) + ", " + name + "! (greeter " + kVersion + ", #" +
                 std::to_string(greeted_) + ")";
        },
        [this](lemon::get_atom) { return greeted_; },
    };
  }
  std::string export_state() const override { return std::to_string(greeted_); }
  std::string format_status() const override {
    return std::string("{\"version\":\"") + kVersion +
           "\",\"greeted\":" + std::to_string(greeted_) + "}";
  }

  static constexpr const char* kVersion = GREETER_VERSION;

 private:
  int64_t greeted_ = 0;
};

}  // namespace greeter_v1

LEMON_MODULE("greeter", GREETER_VERSION, LEMON_BEHAVIOUR("greeter", greeter_v1::Greeter))
