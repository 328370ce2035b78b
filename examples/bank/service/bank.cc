#include "service/bank.h"

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "actors/supervisor.h"
#include "caf/all.hpp"

namespace bank {

namespace {

lemon::ChildSpec worker(const std::string& module) {
  lemon::ChildSpec c;
  c.spawn.module = module;
  c.spawn.name = module;
  return c;
}

// The child of `sup` named `name`, from the supervisor's own list.
absl::StatusOr<caf::actor> child_of(caf::actor_system& sys, const caf::actor& sup,
                                    const std::string& name) {
  caf::scoped_actor self(sys);
  absl::StatusOr<caf::actor> out = absl::NotFoundError("no child " + name);
  self->request(sup, std::chrono::seconds(30), lemon::sup_which_atom::value)
      .receive(
          [&](const std::vector<lemon::SupervisedChild>& children) {
            for (const lemon::SupervisedChild& c : children) {
              if (c.name == name && c.handle) out = c.handle;
            }
          },
          [&](caf::error& e) { out = absl::UnavailableError(sys.render(e)); });
  return out;
}

}  // namespace

absl::StatusOr<Bank> Bank::start(lemon::Runtime& runtime) {
  lemon::SupervisorSpec accounts;
  accounts.name = "accounts";
  accounts.strategy = lemon::Strategy::kSimpleOneForOne;
  lemon::ChildSpec account;
  account.spawn.module = "accounts";
  account.restart = lemon::Restart::kTransient;  // a closed account stays closed
  accounts.children = {account};

  lemon::SupervisorSpec root;
  root.name = "bank";
  root.strategy = lemon::Strategy::kOneForOne;
  root.children = {worker("ledger"), worker("notifier"),
                   lemon::supervisor_child(std::move(accounts))};

  absl::StatusOr<caf::actor> sup = lemon::spawn_supervisor(runtime.system(), runtime.registry(),
                                                           runtime.code_server(), std::move(root));
  if (!sup.ok()) return sup.status();
  absl::StatusOr<caf::actor> accounts_sup = child_of(runtime.system(), *sup, "accounts");
  if (!accounts_sup.ok()) {
    caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
    return accounts_sup.status();
  }
  return Bank(runtime, *sup, *accounts_sup);
}

absl::StatusOr<caf::actor> Bank::open_account(const std::string& name) {
  return lemon::start_child(runtime_->system(), accounts_, "", name);
}

void Bank::stop() {
  caf::scoped_actor self(runtime_->system());
  self->monitor(root_);
  self->send_exit(root_, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {}, caf::after(std::chrono::seconds(30)) >> [] {});
}

}  // namespace bank
