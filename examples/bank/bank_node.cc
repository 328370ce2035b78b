// bank_node: a Lemon node (control_plane/node.h) that runs the bank. At first start it seeds
// version 1 of the modules into <data_dir>/modules and version 2 into <data_dir>/upgrades, loads
// the modules, starts the bank's tree with the accounts of --accounts, and serves the JSON-RPC
// control plane, so that an operator upgrades it with lemonctl:
//
//   bazel run //:bank_node -- --data_dir=/tmp/bank
//   cp /tmp/bank/upgrades/accounts.so /tmp/bank/modules/accounts.so
//   lemonctl --control_port 4041 --token_file /tmp/bank/token reload --module accounts
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "control_plane/node.h"
#include "core/fs.h"
#include "core/runfiles.h"
#include "service/bank.h"

ABSL_FLAG(std::string, data_dir, "", "modules, state and token (default ~/.lemon-bank)");
ABSL_FLAG(int, control_port, 4041, "JSON-RPC control plane port on 127.0.0.1 (0: a free one)");
ABSL_FLAG(int, metrics_port, 9465, "Prometheus /metrics port on 127.0.0.1 (0: a free one)");
ABSL_FLAG(std::string, accounts, "alice,bob", "the accounts to open at start");

namespace {

// What the node seeds: version 1 of each module where the node loads modules from, version 2
// beside it for the operator to copy in.
std::vector<lemon::SeedFile> seeds(const std::string& data_dir, const lemon::NodeFiles& files) {
  std::vector<lemon::SeedFile> out;
  auto add = [&out](const std::string& runfile, const std::string& to) {
    std::string from = lemon::find_runfile(runfile, "bank");
    if (!from.empty()) out.push_back({std::move(from), to, false});
  };
  add("accounts/libaccounts_v1.so", files.modules_dir + "/accounts.so");
  add("ledger/libledger_v1.so", files.modules_dir + "/ledger.so");
  add("notifier/libnotifier.so", files.modules_dir + "/notifier.so");
  add("accounts/libaccounts_v2.so", data_dir + "/upgrades/accounts.so");
  add("ledger/libledger_v2.so", data_dir + "/upgrades/ledger.so");
  return out;
}

int run(int argc, char** argv) {
  absl::SetProgramUsageMessage("bank_node: the bank example on a Lemon node");
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;  // taken by sigwait below; every thread started from here inherits the mask
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty()) data_dir = lemon::home_directory().value_or(".") + "/.lemon-bank";
  ::mkdir(data_dir.c_str(), 0700);
  ::mkdir((data_dir + "/upgrades").c_str(), 0700);
  lemon::Node::Options o;
  o.files = {data_dir + "/modules", data_dir + "/extensions", data_dir + "/state",
             data_dir + "/token"};
  o.seeds = [data_dir](const lemon::NodeFiles& files) { return seeds(data_dir, files); };
  o.node_name = "bank";
  o.control_port = absl::GetFlag(FLAGS_control_port);
  o.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  absl::StatusOr<std::unique_ptr<lemon::Node>> node = lemon::Node::start(std::move(o));
  if (!node.ok()) {
    std::fprintf(stderr, "bank_node: %s\n", std::string(node.status().message()).c_str());
    return 1;
  }
  for (const std::string& s : (*node)->skipped())
    std::fprintf(stderr, "bank_node: %s\n", s.c_str());

  absl::StatusOr<bank::Bank> bank = bank::Bank::start((*node)->runtime());
  if (!bank.ok()) {
    std::fprintf(stderr, "bank_node: %s\n", std::string(bank.status().message()).c_str());
    return 1;
  }
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_accounts), ',', absl::SkipEmpty())) {
    absl::StatusOr<caf::actor> a = bank->open_account(std::string(name));
    if (!a.ok()) std::fprintf(stderr, "bank_node: %s\n", std::string(a.status().message()).c_str());
  }
  const lemon::Node::Ports ports = (*node)->ports();
  std::printf("bank_node ready: modules [%s]\n", absl::StrJoin((*node)->loaded(), ", ").c_str());
  std::printf("  control plane  http://127.0.0.1:%d/rpc  (token in %s/token)\n", ports.control,
              data_dir.c_str());
  std::printf(
      "  upgrade        cp %s/upgrades/accounts.so %s/modules/ && "
      "lemonctl --control_port %d --token_file %s/token reload --module accounts\n",
      data_dir.c_str(), data_dir.c_str(), ports.control, data_dir.c_str());
  std::printf("READY control_port=%d metrics_port=%d\n", ports.control, ports.metrics);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  bank->stop();
  node->reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
