// The accounts module, version 2: a withdrawal beyond the balance is refused (Balance.refused)
// and counted in the state's new overdraft_attempts field. Version 1's state parses as version
// 2's (the new field starts at 0), so the default code_change is enough.
#include <chrono>
#include <string>

#include "accounts/v2/accounts.pb.h"
#include "actors/module.h"
#include "actors/proto_actor.h"
#include "ledger/v1/ledger.pb.h"
#include "notifier/notifier.pb.h"

namespace accounts_v2 {

constexpr int64_t kLarge = 1000;  // transactions of at least this much reach the notifier

using bank::accounts::AccountState;

class Account : public lemon::ProtoActor<AccountState> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context& ctx, const bank::accounts::Deposit& d) {
      return apply(ctx, d.amount());
    });
    on.handle([this](lemon::Context& ctx, const bank::accounts::Withdraw& w) {
      if (w.amount() > state().balance()) {
        state().set_overdraft_attempts(state().overdraft_attempts() + 1);
        bank::accounts::Balance refused = balance();
        refused.set_refused(true);
        return refused;
      }
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
    b.set_overdraft_attempts(state().overdraft_attempts());
    return b;
  }
};

}  // namespace accounts_v2

LEMON_MODULE("accounts", "2", LEMON_ACTOR("accounts", accounts_v2::Account))
