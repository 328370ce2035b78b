// The `watcher` test module: init starts a `ledger` child named "<name>-ledger"; Pump asks that
// child to add and keeps its reply; Watch monitors a registered actor and counts its exits.
#include <chrono>
#include <string>

#include "actors/module.h"
#include "actors/proto_actor.h"
#include "testing/testdata/ledger_v1/ledger.pb.h"
#include "testing/testdata/watcher.pb.h"

namespace {

class Watcher : public lemon::ProtoActor<watchtest::WatcherState> {
 public:
  void init(lemon::Context& ctx) override {
    state().set_child(ctx.name() + "-ledger");
    ctx.spawn("ledger", state().child());
  }

  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context& ctx, const watchtest::Pump& p) {
      ledgertest::Add add;
      add.set_amount(p.amount());
      ctx.request<ledgertest::Summary>(
          ctx.whereis(state().child()), add, std::chrono::seconds(60),
          [this](lemon::Context&, const ledgertest::Summary& s) {
            state().set_last_total(s.total());
            state().set_replies(state().replies() + 1);
          },
          [](lemon::Context& ctx, const std::string& error) { ctx.stop(error); });
    });
    on.handle([](lemon::Context& ctx, const watchtest::Watch& w) {
      caf::actor target = ctx.whereis(w.name());
      if (target) ctx.monitor(target);
    });
  }

  void down(lemon::Context&, const lemon::Exited& who) override {
    state().set_downs(state().downs() + 1);
    state().set_down_reason(who.reason);
  }
};

}  // namespace

LEMON_MODULE("watcher", "1", LEMON_ACTOR("watcher", Watcher))
