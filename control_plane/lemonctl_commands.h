// Internal to lemonctl_cli: the parsed command line, and `call`, the release commands (rollback,
// permanent, history) and the one-actor commands (state, suspend, resume, stats): their method,
// their checks, their params and their human-readable output.
#ifndef LEMON_CONTROL_PLANE_LEMONCTL_COMMANDS_H_
#define LEMON_CONTROL_PLANE_LEMONCTL_COMMANDS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"

namespace lemon {
namespace lemonctl {

struct CommandLine {
  std::string command;
  std::vector<std::string> operands;          // the arguments after the command that are not flags
  std::map<std::string, std::string> values;  // flag name -> value ("true" for bools)
  std::map<std::string, std::vector<std::string>> lists;  // kList flag name -> its values
  std::set<std::string> bools;

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  int64_t get_int(const std::string& name, int64_t fallback) const {
    int64_t n = fallback;
    if (has(name)) (void)absl::SimpleAtoi(get(name), &n);  // validated while parsing
    return n;
  }
  bool flag(const std::string& name) const { return bools.count(name) > 0; }
  const std::vector<std::string>& list(const std::string& name) const {
    static const auto* const kNone = new std::vector<std::string>();
    auto it = lists.find(name);
    return it == lists.end() ? *kNone : it->second;
  }
};

// Whether `command` is known; whether it takes operands (arguments that are not flags).
bool is_command(const std::string& command);
bool takes_operands(const std::string& command);

// The JSON-RPC method `cl` calls (for `call` and `state`, chosen by the operands).
std::string method_of(const CommandLine& cl);

// Checks the operands and the flags a command requires (purge's --module included); a usage
// error's message, or nothing.
std::optional<std::string> check_command(const CommandLine& cl);

// The params of `call` and of the release and one-actor commands (once check_command passed);
// {} for another command.
nlohmann::json params_of(const CommandLine& cl);

// Prints the result of a release or one-actor command (not `rollback`, whose result is a report);
// returns false for another command.
bool print_release_or_actor(const std::string& command, const nlohmann::json& result,
                            std::ostream& out);

// The member `key` of `j` as text ("" when absent or null; non-strings as JSON).
std::string str(const nlohmann::json& j, const char* key);

// The member `key` of `j`, or null (which iterates as empty) when absent.
const nlohmann::json& member(const nlohmann::json& j, const char* key);

}  // namespace lemonctl
}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_LEMONCTL_COMMANDS_H_
