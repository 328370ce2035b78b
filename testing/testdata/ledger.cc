// The `ledger` test module. Built from ledger_v1/ledger.proto as version 1 and from
// ledger_v2/ledger.proto (with LEDGER_V2) as version 2, which adds the Audit message, counts
// audits in its state and records the version it was upgraded from. init_arg "timer:<ms>" arms a
// timer in init; the version that receives it writes its own version into the state. BUILD.bazel
// gives the version string (LEDGER_VERSION): versions 3 and 4 are 1 and 2 again.
#include <chrono>
#include <string>

#include "actors/module.h"
#include "actors/proto_actor.h"

#include LEDGER_PROTO  // ledger_v1/ledger.pb.h or ledger_v2/ledger.pb.h (BUILD.bazel)

namespace {

class Ledger : public lemon::ProtoActor<ledgertest::LedgerState> {
 public:
  void setup(const std::string& init_arg) override {
    if (init_arg.rfind("timer:", 0) == 0) timer_ms_ = std::stoi(init_arg.substr(6));
  }

  void init(lemon::Context& ctx) override {
    if (timer_ms_ > 0) {
      ctx.send_after(ctx.self(), std::chrono::milliseconds(timer_ms_), ledgertest::Tick());
    }
  }

  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const ledgertest::Add& a) {
      state().set_total(state().total() + a.amount());
      return summary();
    });
    on.handle([this](lemon::Context&, const ledgertest::Get&) { return summary(); });
    on.handle([this](lemon::Context&, const ledgertest::Tick&) {
      state().set_tick_version(LEDGER_VERSION);
    });
#ifdef LEDGER_V2
    on.handle([this](lemon::Context&, const ledgertest::Audit&) {
      state().set_audits(state().audits() + 1);
    });
#endif
  }

  // The default migration, and a record of a downgrade (a rollback to this version).
  void code_change(const lemon::OldState& old) override {
    ProtoActor::code_change(old);
    if (old.downgrade) state().set_downgraded_from(old.old_version);
  }

#ifdef LEDGER_V2
  void upgraded(lemon::Context&, const std::string& from_version) override {
    state().set_upgraded_from(from_version);
  }
#endif

 private:
  ledgertest::Summary summary() const {
    ledgertest::Summary s;
    s.set_total(state().total());
#ifdef LEDGER_V2
    s.set_audits(state().audits());
#endif
    return s;
  }

  int timer_ms_ = 0;
};

}  // namespace

LEMON_MODULE("ledger", LEDGER_VERSION, LEMON_ACTOR("ledger", Ledger))
