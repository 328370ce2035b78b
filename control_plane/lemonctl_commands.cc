#include "control_plane/lemonctl_commands.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "control_plane/rpc.pb.h"
#include "google/protobuf/descriptor.h"

namespace lemon {
namespace lemonctl {
namespace {

using nlohmann::json;

// Command -> method; "" when the operands choose it.
const std::map<std::string, std::string>& command_methods() {
  static const auto* methods = new std::map<std::string, std::string>{
      {"reload", "system.reload"},     {"status", "system.health"},
      {"modules", "modules.list"},     {"actors", "actors.list"},
      {"purge", "modules.purge"},      {"call", ""},
      {"rollback", "system.rollback"}, {"permanent", "system.make_permanent"},
      {"history", "reload.history"},   {"state", ""},
      {"suspend", "actors.suspend"},   {"resume", "actors.resume"},
      {"stats", "actors.statistics"},  {"supervisors", "supervisors.list"},
  };
  return *methods;
}

// `text` as a JSON object, or discarded.
json parse_object(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json(json::value_t::discarded);
}

// Prints `result`'s fields in the order `d` declares them, `key: value` with the values aligned;
// `skip` is left out.
void print_fields(const google::protobuf::Descriptor* d, const json& result, const char* skip,
                  std::ostream& out) {
  size_t width = 0;
  for (int i = 0; i < d->field_count(); ++i) width = std::max(width, d->field(i)->name().size());
  for (int i = 0; i < d->field_count(); ++i) {
    const std::string& name = d->field(i)->name();
    if (name == skip || !result.contains(name)) continue;
    out << name << ":" << std::string(width - name.size() + 1, ' ') << str(result, name.c_str())
        << "\n";
  }
}

void print_history(const json& result, std::ostream& out) {
  if (member(result, "entries").empty()) {
    out << "no reloads recorded\n";
    return;
  }
  for (const json& e : member(result, "entries")) {
    int64_t ms = 0;
    (void)absl::SimpleAtoi(str(e, "time_unix_ms"), &ms);  // int64 is a JSON string
    std::vector<std::string> modules;
    for (const json& m : member(e, "modules")) modules.push_back(m.get<std::string>());
    out << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone())
        << " " << str(e, "status") << " " << str(e, "op") << " " << str(e, "target");
    if (!modules.empty()) out << " [" << absl::StrJoin(modules, ",") << "]";
    out << " by " << str(e, "requested_by");
    if (!str(e, "error").empty()) out << ": " << str(e, "error");
    out << "\n";
  }
}

}  // namespace

bool is_command(const std::string& command) { return command_methods().count(command) > 0; }

bool takes_operands(const std::string& command) {
  return command == "call" || command == "state" || command == "suspend" || command == "resume" ||
         command == "stats";
}

std::string method_of(const CommandLine& cl) {
  if (cl.command == "call") return cl.operands.at(0);
  if (cl.command == "state") {
    return cl.operands.at(0) == "set" ? "actors.replace_state" : "actors.get_state";
  }
  return command_methods().at(cl.command);
}

std::optional<std::string> check_command(const CommandLine& cl) {
  const std::string& c = cl.command;
  const size_t n = cl.operands.size();
  if (c == "purge" && cl.get("module").empty()) return std::string("purge needs --module");
  if ((c == "rollback" || c == "permanent") && cl.get("module").empty() == cl.get("app").empty()) {
    return absl::StrCat(c, " needs one of --module and --app");
  }
  if ((c == "suspend" || c == "resume" || c == "stats") && n != 1) {
    return absl::StrCat(c, " needs one actor NAME");
  }
  if (c == "state") {
    const bool get = n == 2 && cl.operands[0] == "get";
    const bool set = n == 3 && cl.operands[0] == "set";
    if (!get && !set) return std::string("state takes get NAME or set NAME 'JSON'");
    if (set && parse_object(cl.operands[2]).is_discarded()) {
      return absl::StrCat("state set: the state must be a JSON object, got '", cl.operands[2], "'");
    }
  }
  if (c == "call") {
    if (n == 0 || n > 2) {
      return std::string("call needs a method and at most one JSON params argument");
    }
    json params = n == 2 ? json::parse(cl.operands[1], nullptr, false) : json::object();
    if (params.is_discarded() || !(params.is_object() || params.is_array())) {
      return absl::StrCat("call: params must be a JSON object or array, got '", cl.operands[1],
                          "'");
    }
  }
  return std::nullopt;
}

json params_of(const CommandLine& cl) {
  json params = json::object();
  const std::string& c = cl.command;
  if (c == "call") {
    if (cl.operands.size() == 2) params = json::parse(cl.operands[1]);
  } else if (c == "rollback" || c == "permanent" || c == "history") {
    if (cl.has("module")) params["module"] = cl.get("module");
    if (cl.has("app")) params["app"] = cl.get("app");
    if (cl.has("timeout_ms")) params["timeout_ms"] = cl.get_int("timeout_ms", 0);
    if (cl.has("limit")) params["limit"] = cl.get_int("limit", 0);
  } else if (c == "state") {
    params["name"] = cl.operands.at(1);
    if (cl.operands.at(0) == "set") params["state"] = parse_object(cl.operands.at(2));
  } else if (takes_operands(c)) {
    params["name"] = cl.operands.at(0);
    if (cl.has("timeout_ms")) params["timeout_ms"] = cl.get_int("timeout_ms", 0);
  }
  return params;
}

// One line per supervisor, indented under its parent (supervisors.list is depth first):
// name, strategy, restart intensity, status, and its children (`*` a supervisor, `!` not running).
void print_supervisors(const json& result, std::ostream& out) {
  if (member(result, "supervisors").empty()) {
    out << "no supervisors\n";
    return;
  }
  std::map<std::string, int> depth;
  for (const json& s : member(result, "supervisors")) {
    auto parent = depth.find(str(s, "parent"));
    const int d = parent == depth.end() ? 0 : parent->second + 1;
    depth[str(s, "name")] = d;
    std::vector<std::string> children;
    for (const json& c : member(s, "children")) {
      children.push_back(str(c, "name") + (c.value("supervisor", false) ? "*" : "") +
                         (c.value("running", false) ? "" : "!"));
    }
    out << std::string(static_cast<size_t>(d) * 2, ' ') << str(s, "name") << "  "
        << str(s, "strategy") << "  " << str(s, "intensity") << " restarts in "
        << str(s, "period_ms") << " ms  " << str(s, "status") << "  ["
        << absl::StrJoin(children, ", ") << "]\n";
  }
}

bool print_release_or_actor(const std::string& command, const json& result, std::ostream& out) {
  if (command == "permanent") {
    if (member(result, "modules").empty()) out << "no provisional version to make permanent\n";
    for (const json& m : member(result, "modules")) {
      out << "permanent: " << m.get<std::string>() << "\n";
    }
  } else if (command == "history") {
    print_history(result, out);
  } else if (command == "state") {
    print_fields(rpc::ActorsStateResult::descriptor(), result, "state", out);
    if (!member(result, "state").empty()) out << "state:\n";
    for (const auto& [key, value] : member(result, "state").items()) {
      out << "  " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
          << "\n";
    }
  } else if (command == "suspend") {
    out << "suspended " << str(result, "name") << " until " << str(result, "resumes_at") << "\n";
  } else if (command == "resume") {
    out << (result.value("was_suspended", false) ? "resumed " : "was running: ")
        << str(result, "name") << "\n";
  } else if (command == "stats") {
    print_fields(rpc::ActorsStatisticsResult::descriptor(), result, "", out);
  } else if (command == "supervisors") {
    print_supervisors(result, out);
  } else {
    return false;
  }
  return true;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const json& member(const json& j, const char* key) {
  static const json* const kAbsent = new json();
  auto it = j.find(key);
  return it == j.end() ? *kAbsent : *it;
}

}  // namespace lemonctl
}  // namespace lemon
