// The bank on an in-process Lemon runtime: version 1 of its modules takes traffic through the
// supervision tree, accounts and ledger are upgraded to version 2 while deposits keep coming, and
// afterwards every deposit is in the balances and the journal, version 2's state fields and
// behaviour are there, and an account that crashes comes back on version 2.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "accounts/v2/accounts.pb.h"
#include "actors/pack.h"
#include "actors/supervisor.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/reload_request.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "ledger/v2/ledger.pb.h"
#include "notifier/notifier.pb.h"
#include "service/bank.h"
#include "testing/test_node.h"

namespace bank {
namespace {

using lemon::pack;
using lemon::unpack;
using lemon::testing::runfile;

constexpr auto kDeadline = std::chrono::seconds(60);

class BankUpgradeTest : public lemon::testing::NodeTest {
 protected:
  void SetUp() override {
    NodeTest::SetUp();
    install("ledger", runfile("ledger/libledger_v1.so", "bank"));
    install("notifier", runfile("notifier/libnotifier.so", "bank"));
    install("accounts", runfile("accounts/libaccounts_v1.so", "bank"));
    absl::StatusOr<Bank> bank = Bank::start(*rt_);
    ASSERT_TRUE(bank.ok()) << bank.status();
    bank_.emplace(*std::move(bank));
  }

  void TearDown() override {
    if (bank_) bank_->stop();
    NodeTest::TearDown();
  }

  caf::actor open(const std::string& name) {
    absl::StatusOr<caf::actor> a = bank_->open_account(name);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : caf::actor{};
  }

  // Installs version 2 of `module` as <module>.so and reloads it.
  void upgrade(const std::string& module, const std::string& so) {
    install(module, runfile(so, "bank"), /*load=*/false);
    lemon::ReloadReport r = rt_->reloader().run(lemon::ReloadRequest::module(module));
    ASSERT_EQ(r.status, lemon::ReloadStatus::kOk)
        << (r.errors.empty() ? std::string("skipped") : r.errors[0].message);
  }

  // `to`'s reply to `m`, as Reply.
  template <class Reply, class T>
  Reply call(const caf::actor& to, T m) {
    Reply out;
    lemon::Message reply = ask<lemon::Message>(to, pack(std::move(m)));
    EXPECT_TRUE(unpack(reply, &out)) << "reply of type " << reply.type();
    return out;
  }

  accounts::Balance deposit(const caf::actor& account, int64_t amount) {
    accounts::Deposit d;
    d.set_amount(amount);
    return call<accounts::Balance>(account, d);
  }

  accounts::Balance withdraw(const caf::actor& account, int64_t amount) {
    accounts::Withdraw w;
    w.set_amount(amount);
    return call<accounts::Balance>(account, w);
  }

  lemon::ActorStatus status(const caf::actor& a) {
    return ask<lemon::ActorStatus>(a, lemon::sys_status_atom::value);
  }

  // The ledger's journal once `done` holds for it; a failure after kDeadline.
  ledger::Journal journal_when(const std::function<bool(const ledger::Journal&)>& done) {
    const caf::actor ledger = rt_->registry()->whereis("ledger");
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    ledger::Journal j;
    do {
      j = call<ledger::Journal>(ledger, ledger::GetJournal());
      if (done(j)) return j;
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "the journal never reached the expected state: " << j.entries() << " entries";
    return j;
  }

  std::optional<Bank> bank_;
};

TEST_F(BankUpgradeTest, UpgradeUnderTrafficKeepsEveryDepositAndAppliesV2) {
  caf::actor alice = open("alice");
  caf::actor bob = open("bob");
  EXPECT_EQ(deposit(alice, 100).amount(), 100);
  EXPECT_EQ(deposit(bob, 5000).amount(), 5000);  // large: the notifier hears of it
  EXPECT_EQ(withdraw(bob, 5100).amount(), -100) << "version 1 allows an overdraft";
  EXPECT_EQ(deposit(bob, 100).amount(), 0);

  // Deposits of 1 to alice, each waiting for its reply, until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> acked{0};
  std::thread traffic([&] {
    caf::scoped_actor self(rt_->system());
    accounts::Deposit one;
    one.set_amount(1);
    while (!stop) {
      self->request(alice, kDeadline, pack(one))
          .receive([&](const lemon::Message&) { ++acked; },
                   [&](caf::error& e) { ADD_FAILURE() << rt_->system().render(e); });
    }
  });
  const auto until_acked = [&acked](int64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (acked < n && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  };
  until_acked(50);  // traffic flows before the reload
  const int64_t before = acked;
  upgrade("accounts", "accounts/libaccounts_v2.so");
  upgrade("ledger", "ledger/libledger_v2.so");
  until_acked(before + 50);  // and after it
  stop = true;
  traffic.join();
  EXPECT_GT(acked, before) << "no deposit went through after the reload";

  EXPECT_EQ(status(alice).version, "2");
  EXPECT_EQ(status(rt_->registry()->whereis("ledger")).version, "2");

  // Nothing lost: every acknowledged deposit is in alice's balance, and in the journal.
  accounts::Balance a = call<accounts::Balance>(alice, accounts::GetBalance());
  EXPECT_EQ(a.amount(), 100 + acked);
  const int64_t entries = 4 + acked;
  ledger::Journal j =
      journal_when([&](const ledger::Journal& x) { return x.entries() == entries; });
  EXPECT_EQ(j.net(), a.amount());
  EXPECT_NE(j.checksum(), 0u) << "version 2's code_change did not compute the checksum";

  // The ledger's sequence numbers go on without a gap or a repeat across code_change: the last
  // entry any account had confirmed is the journal's last.
  accounts::AccountState alice_state, bob_state;
  ASSERT_TRUE(alice_state.ParseFromString(status(alice).state_bytes));
  ASSERT_TRUE(bob_state.ParseFromString(status(bob).state_bytes));
  EXPECT_EQ(std::max(alice_state.journaled(), bob_state.journaled()), entries);

  // Version 2 refuses an overdraft and counts it in its new state field.
  accounts::Balance refused = withdraw(bob, 1);
  EXPECT_TRUE(refused.refused());
  EXPECT_EQ(refused.amount(), 0);
  EXPECT_EQ(refused.overdraft_attempts(), 1);
  ASSERT_TRUE(bob_state.ParseFromString(status(bob).state_bytes));
  EXPECT_EQ(bob_state.overdraft_attempts(), 1);
  EXPECT_EQ(bob_state.operations(), 3) << "a refused withdrawal changed the account";

  notifier::Alerts alerts =
      call<notifier::Alerts>(rt_->registry()->whereis("notifier"), notifier::GetAlerts());
  EXPECT_EQ(alerts.count(), 2);  // bob's deposit of 5000 and withdrawal of 5100
  ASSERT_EQ(alerts.recent_size(), 2);
  EXPECT_EQ(alerts.recent(1).amount(), -5100);
}

TEST_F(BankUpgradeTest, CrashedAccountRestartsOnV2) {
  caf::actor carol = open("carol");
  EXPECT_EQ(deposit(carol, 10).amount(), 10);
  upgrade("accounts", "accounts/libaccounts_v2.so");

  (*self_)
      ->request(bank_->accounts(), kDeadline, lemon::sup_watch_atom::value)
      .receive([] {}, [&](caf::error& e) { ADD_FAILURE() << rt_->system().render(e); });
  caf::anon_send_exit(carol, caf::exit_reason::kill);
  caf::actor restarted;
  (*self_)->receive(
      [&](lemon::sup_report_atom, const std::string& name, const caf::actor& a) {
        EXPECT_EQ(name, "carol");
        restarted = a;
      },
      caf::after(kDeadline) >> [] { ADD_FAILURE() << "no restart report"; });
  ASSERT_TRUE(restarted) << "the supervisor did not restart carol";
  EXPECT_NE(restarted, carol);
  EXPECT_EQ(status(restarted).version, "2");
  EXPECT_EQ(rt_->registry()->whereis("carol"), restarted);
  // A fresh account on version 2: an overdraft is refused.
  EXPECT_TRUE(withdraw(restarted, 1).refused());
}

}  // namespace
}  // namespace bank
