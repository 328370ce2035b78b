// The bank's supervision tree on a Lemon runtime whose modules `ledger`, `notifier` and
// `accounts` are loaded:
//
//   bank (one_for_one)
//   ├── ledger     worker, registered "ledger"
//   ├── notifier   worker, registered "notifier"
//   └── accounts   simple_one_for_one: one `accounts` worker per account, registered by name
//
//   absl::StatusOr<Bank> bank = Bank::start(runtime);
//   absl::StatusOr<caf::actor> alice = bank->open_account("alice");
#ifndef BANK_SERVICE_BANK_H_
#define BANK_SERVICE_BANK_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "caf/actor.hpp"
#include "node/runtime.h"

namespace bank {

class Bank {
 public:
  // Starts the tree. Call stop() before the runtime goes: a supervisor is no reloadable actor.
  static absl::StatusOr<Bank> start(lemon::Runtime& runtime);

  // Starts the account actor registered as `name` under the accounts supervisor: restarted on
  // the module's current version when it crashes.
  absl::StatusOr<caf::actor> open_account(const std::string& name);

  // Stops the tree (leaves first) and waits until it is gone.
  void stop();

  const caf::actor& root() const { return root_; }
  const caf::actor& accounts() const { return accounts_; }

 private:
  Bank(lemon::Runtime& runtime, caf::actor root, caf::actor accounts)
      : runtime_(&runtime), root_(std::move(root)), accounts_(std::move(accounts)) {}

  lemon::Runtime* runtime_;
  caf::actor root_;
  caf::actor accounts_;  // the accounts supervisor
};

}  // namespace bank

#endif  // BANK_SERVICE_BANK_H_
