// lemonctl's whole behaviour as a function, so that the binary is a one-line main and tests run it
// in process: parse the command line, call the node's JSON-RPC control plane, print the outcome.
//
//   std::ostringstream out, err;
//   int code = lemon::run_lemonctl({"--control_port", "4040", "reload", "--module", "counter"},
//                                  out, err);
#ifndef LEMON_CONTROL_PLANE_LEMONCTL_CLI_H_
#define LEMON_CONTROL_PLANE_LEMONCTL_CLI_H_

#include <ostream>
#include <string>
#include <vector>

namespace lemon {

// Exit codes of run_lemonctl.
inline constexpr int kLemonctlOk = 0;
inline constexpr int kLemonctlFailed = 1;  // the node answered with an error, or was unreachable
inline constexpr int kLemonctlUsage = 2;   // bad command line

// The usage text.
std::string lemonctl_usage();

// Runs lemonctl with `args` (argv without argv[0]): results go to `out` (human-readable, or the
// raw JSON-RPC result with --json), errors and usage problems to `err`. Returns an exit code above;
// a JSON-RPC error (a failed reload's included, its report printed) is kLemonctlFailed.
// Thread-compatible.
int run_lemonctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_LEMONCTL_CLI_H_
