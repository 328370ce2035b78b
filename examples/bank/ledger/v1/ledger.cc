// The ledger module, version 1: an append-only journal of the entries accounts send it.
#include "actors/module.h"
#include "actors/proto_actor.h"
#include "ledger/v1/ledger.pb.h"

namespace ledger_v1 {

using bank::ledger::LedgerState;

class Ledger : public lemon::ProtoActor<LedgerState> {
 public:
  void setup(const std::string&) override { state().set_next_seq(1); }

  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const bank::ledger::Append& a) {
      *state().add_entries() = a.entry();
      bank::ledger::Appended appended;
      appended.set_seq(state().next_seq());
      state().set_next_seq(state().next_seq() + 1);
      return appended;
    });
    on.handle([this](lemon::Context&, const bank::ledger::GetJournal&) {
      bank::ledger::Journal j;
      j.set_entries(state().entries_size());
      for (const bank::ledger::Entry& e : state().entries()) j.set_net(j.net() + e.delta());
      return j;
    });
  }
};

}  // namespace ledger_v1

LEMON_MODULE("ledger", "1", LEMON_ACTOR("ledger", ledger_v1::Ledger))
