// The ledger module, version 2: keeps a running checksum of the journal, and its sequence counter
// holds the last number given out where version 1's held the next one. The field changes name
// and meaning, so the schema gate wants it declared (LEMON_MIGRATIONS) and code_change converts
// it; code_change also computes the checksum of the entries version 1 journaled.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "actors/module.h"
#include "actors/proto_actor.h"
#include "ledger/v2/ledger.pb.h"

namespace ledger_v2 {

using bank::ledger::LedgerState;

// FNV-1a over the entry's fields, continuing from `sum`.
uint64_t checksum(uint64_t sum, const bank::ledger::Entry& e) {
  if (sum == 0) sum = 14695981039346656037ull;
  auto mix = [&sum](const std::string& bytes) {
    for (unsigned char c : bytes) sum = (sum ^ c) * 1099511628211ull;
  };
  mix(e.account());
  mix(std::to_string(e.delta()));
  mix(std::to_string(e.balance()));
  return sum;
}

class Ledger : public lemon::ProtoActor<LedgerState> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const bank::ledger::Append& a) {
      *state().add_entries() = a.entry();
      state().set_checksum(checksum(state().checksum(), a.entry()));
      state().set_last_seq(state().last_seq() + 1);
      bank::ledger::Appended appended;
      appended.set_seq(state().last_seq());
      return appended;
    });
    on.handle([this](lemon::Context&, const bank::ledger::GetJournal&) {
      bank::ledger::Journal j;
      j.set_entries(state().entries_size());
      for (const bank::ledger::Entry& e : state().entries()) j.set_net(j.net() + e.delta());
      j.set_checksum(state().checksum());
      return j;
    });
  }

  // Field 2 is version 1's next_seq: one more than this version's last_seq.
  void code_change(const lemon::OldState& old) override {
    ProtoActor::code_change(old);  // the bytes parsed as this version's state
    if (old.old_version == "1") state().set_last_seq(state().last_seq() - 1);
    if (state().last_seq() != state().entries_size()) {
      throw std::runtime_error("ledger state has " + std::to_string(state().entries_size()) +
                               " entries but sequence " + std::to_string(state().last_seq()));
    }
    uint64_t sum = 0;
    for (const bank::ledger::Entry& e : state().entries()) sum = checksum(sum, e);
    state().set_checksum(sum);
  }
};

}  // namespace ledger_v2

LEMON_MIGRATIONS("bank.ledger.LedgerState.next_seq")
LEMON_MODULE("ledger", "2", LEMON_ACTOR("ledger", ledger_v2::Ledger))
