// The accounts module, version 1: one actor per account. Each deposit and withdrawal is journaled
// at the ledger (a request: the ledger's sequence number comes back), and large ones are told to
// the notifier (a plain send).
#include <chrono>
#include <string>

#include "accounts/v1/accounts.pb.h"
#include "actors/module.h"
#include "actors/proto_actor.h"
#include "ledger/v1/ledger.pb.h"
#include "notifier/notifier.pb.h"

namespace accounts_v1 {

constexpr int64_t kLarge = 1000;  // transactions of at least this much reach the notifier

using bank::accounts::AccountState;

class Account : public lemon::ProtoActor<AccountState> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context& ctx, const bank::accounts::Deposit& d) {
      return apply(ctx, d.amount());
    });
    on.handle([this](lemon::Context& ctx, const bank::accounts::Withdraw& w) {
      return apply(ctx, -w.amount());
    });
    on.handle([this](lemon::Context&, const bank::accounts::GetBalance&) { return balance(); });
  }

 private:
  bank::accounts::Balance apply(lemon::Context& ctx, int64_t delta) {
    state().set_balance(state().balance() + delta);
    state().set_operations(state().operations() + 1);

    bank::ledger::Append append;
    append.mutable_entry()->set_account(ctx.name());
    append.mutable_entry()->set_delta(delta);
    append.mutable_entry()->set_balance(state().balance());
    ctx.request<bank::ledger::Appended>(
        ctx.whereis("ledger"), append, std::chrono::seconds(10),
        [this](lemon::Context&, const bank::ledger::Appended& a) {
          state().set_journaled(a.seq());
        },
        [](lemon::Context& ctx, const std::string& error) { ctx.stop("ledger: " + error); });

    if (delta >= kLarge || -delta >= kLarge) {
      bank::notifier::LargeTransaction large;
      large.set_account(ctx.name());
      large.set_amount(delta);
      ctx.send(ctx.whereis("notifier"), large);
    }
    return balance();
  }

  bank::accounts::Balance balance() const {
    bank::accounts::Balance b;
    b.set_amount(state().balance());
    return b;
  }
};

}  // namespace accounts_v1

LEMON_MODULE("accounts", "1", LEMON_ACTOR("accounts", accounts_v1::Account))
