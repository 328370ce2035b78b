// The notifier module: counts the large transactions accounts tell it of and keeps the last few.
#include "actors/module.h"
#include "actors/proto_actor.h"
#include "notifier/notifier.pb.h"

namespace notifier_v1 {

constexpr int kRecent = 5;  // large transactions kept

using bank::notifier::NotifierState;

class Notifier : public lemon::ProtoActor<NotifierState> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const bank::notifier::LargeTransaction& t) {
      state().set_count(state().count() + 1);
      *state().add_recent() = t;
      if (state().recent_size() > kRecent) {
        state().mutable_recent()->erase(state().mutable_recent()->begin());
      }
    });
    on.handle([this](lemon::Context&, const bank::notifier::GetAlerts&) {
      bank::notifier::Alerts a;
      a.set_count(state().count());
      *a.mutable_recent() = state().recent();
      return a;
    });
  }
};

}  // namespace notifier_v1

LEMON_MODULE("notifier", "1", LEMON_ACTOR("notifier", notifier_v1::Notifier))
