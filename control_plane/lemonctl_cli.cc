#include "control_plane/lemonctl_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "control_plane/auth.h"
#include "control_plane/http_client.h"
#include "control_plane/lemonctl_commands.h"
#include "control_plane/rpc.pb.h"
#include "core/fs.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"

namespace lemon {
namespace {

using lemonctl::CommandLine;
using lemonctl::member;
using lemonctl::str;
using nlohmann::json;

constexpr char kDefaultHost[] = "127.0.0.1";
constexpr int kDefaultControlPort = 4040;
constexpr int64_t kDefaultRpcTimeoutMs = 120000;

// kList flags may repeat; each value may hold several, separated by commas.
enum class FlagKind { kBool, kString, kInt, kList };

struct FlagSpec {
  FlagKind kind;
  std::set<std::string> commands;  // empty = global, valid with every command
};

std::map<std::string, FlagSpec> fixed_flag_specs() {
  return {
      {"host", {FlagKind::kString, {}}},
      {"control_port", {FlagKind::kInt, {}}},
      {"token_file", {FlagKind::kString, {}}},
      {"json", {FlagKind::kBool, {}}},
      {"rpc_timeout_ms", {FlagKind::kInt, {}}},
      {"help", {FlagKind::kBool, {}}},
      {"module", {FlagKind::kString, {"actors", "purge", "rollback", "permanent", "history"}}},
      {"app", {FlagKind::kString, {"rollback", "permanent"}}},
      {"timeout_ms", {FlagKind::kInt, {"rollback", "suspend"}}},
      {"limit", {FlagKind::kInt, {"history"}}},
      {"extension", {FlagKind::kString, {"reload"}}},
      {"cluster", {FlagKind::kBool, {"modules"}}},
      {"hard", {FlagKind::kBool, {"purge"}}},
  };
}

// The flag for a field of system.reload's params, by its type.
FlagKind flag_kind(const google::protobuf::FieldDescriptor* f) {
  using google::protobuf::FieldDescriptor;
  if (f->is_repeated()) return FlagKind::kList;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return FlagKind::kBool;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return FlagKind::kInt;
    default:
      return FlagKind::kString;
  }
}

// The fixed flags, and one `reload` flag per field of rpc::SystemReloadParams, so that a field
// added to rpc.proto is a flag at once.
const std::map<std::string, FlagSpec>& flag_specs() {
  static const auto* specs = [] {
    auto* specs = new std::map<std::string, FlagSpec>(fixed_flag_specs());
    const google::protobuf::Descriptor* d = rpc::SystemReloadParams::descriptor();
    for (int i = 0; i < d->field_count(); ++i) {
      auto [it, added] = specs->emplace(d->field(i)->name(), FlagSpec{flag_kind(d->field(i)), {}});
      it->second.commands.insert("reload");
    }
    return specs;
  }();
  return *specs;
}

// Parses `args`; an error message (for a usage error) or the command line.
std::optional<std::string> parse(const std::vector<std::string>& args, CommandLine& cl) {
  std::vector<std::pair<std::string, std::string>> seen;  // for the per-command check
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h") {
      cl.bools.insert("help");
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      if (cl.command.empty()) {
        cl.command = arg;
      } else if (lemonctl::takes_operands(cl.command)) {
        cl.operands.push_back(arg);
      } else {
        return absl::StrCat("unexpected argument '", arg, "'");
      }
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    std::replace(name.begin(), name.end(), '-', '_');
    auto spec = flag_specs().find(name);
    if (spec == flag_specs().end()) return absl::StrCat("unknown flag --", name);
    if (spec->second.kind == FlagKind::kBool) {
      if (value && *value != "true" && *value != "false") {
        return absl::StrCat("--", name, " takes no value (or =true / =false)");
      }
      if (!value || *value == "true")
        cl.bools.insert(name);
      else
        cl.bools.erase(name);
    } else {
      if (!value) {
        if (i + 1 >= args.size()) return absl::StrCat("--", name, " needs a value");
        value = args[++i];
      }
      int64_t n = 0;
      if (spec->second.kind == FlagKind::kInt && (!absl::SimpleAtoi(*value, &n) || n < 0)) {
        return absl::StrCat("--", name, " needs a non-negative integer, got '", *value, "'");
      }
      if (spec->second.kind == FlagKind::kList) {
        for (absl::string_view v : absl::StrSplit(*value, ',', absl::SkipEmpty())) {
          cl.lists[name].emplace_back(v);
        }
      } else {
        cl.values[name] = *value;
      }
    }
    seen.emplace_back(name, arg);
  }
  if (cl.flag("help")) return std::nullopt;
  if (cl.command.empty()) return std::string("no command given");
  if (!lemonctl::is_command(cl.command)) {
    return absl::StrCat("unknown command '", cl.command, "'");
  }
  for (const auto& [name, arg] : seen) {
    const std::set<std::string>& commands = flag_specs().at(name).commands;
    if (!commands.empty() && commands.count(cl.command) == 0) {
      return absl::StrCat("--", name, " does not apply to '", cl.command, "'");
    }
  }
  if (std::optional<std::string> problem = lemonctl::check_command(cl)) return problem;
  for (const std::string& target : cl.list("code_change")) {
    if (target.empty() || target[0] == '=') {
      return absl::StrCat("--code_change takes actor or actor=extra, got '", target, "'");
    }
  }
  return std::nullopt;
}

std::string expand_home(const std::string& path) {
  if (path == "~" || absl::StartsWith(path, "~/")) {
    absl::StatusOr<std::string> home = home_directory();
    if (home.ok()) return absl::StrCat(*home, path.substr(1));
  }
  return path;
}

// `path` absolute against the directory the user ran from (`bazel run` starts us elsewhere and
// sets BUILD_WORKING_DIRECTORY), `~` expanded.
std::string absolute_path(const std::string& given) {
  std::string path = expand_home(given);
  if (path.empty() || path[0] == '/') return path;
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  char cwd[4096];
  std::string base = wd ? wd : (getcwd(cwd, sizeof(cwd)) ? cwd : ".");
  return absl::StrCat(base, "/", path);
}

// system.reload's params from the flags named after its fields (flag_specs); a code_change target
// is `actor` or `actor=extra`, extension paths are made absolute.
json reload_params(const CommandLine& cl) {
  using google::protobuf::FieldDescriptor;
  json params = json::object();
  const google::protobuf::Descriptor* d = rpc::SystemReloadParams::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const std::string& name = f->name();
    if (f->is_repeated()) {
      if (cl.list(name).empty()) continue;
      json& items = params[name] = json::array();
      for (const std::string& value : cl.list(name)) {
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          const size_t eq = value.find('=');
          json target = {{"actor", value.substr(0, eq)}};
          if (eq != std::string::npos) target["extra"] = value.substr(eq + 1);
          items.push_back(std::move(target));
        } else {
          items.push_back(name == "extensions" ? absolute_path(value) : value);
        }
      }
    } else if (flag_kind(f) == FlagKind::kBool) {
      if (cl.flag(name)) params[name] = true;
    } else if (cl.has(name)) {
      params[name] =
          flag_kind(f) == FlagKind::kInt ? json(cl.get_int(name, 0)) : json(cl.get(name));
    }
  }
  // --extension P is --scope extension --path P.
  if (cl.has("extension")) {
    params["scope"] = "extension";
    params["path"] = absolute_path(cl.get("extension"));
  }
  return params;
}

json params_for(const CommandLine& cl) {
  json params = json::object();
  if (cl.command == "reload") {
    params = reload_params(cl);
  } else if (cl.command == "modules") {
    if (cl.flag("cluster")) params["cluster"] = true;
  } else if (cl.command == "actors") {
    if (cl.has("module")) params["module"] = cl.get("module");
  } else if (cl.command == "purge") {
    params["module"] = cl.get("module");
    if (cl.flag("hard")) params["hard"] = true;
  } else {
    params = lemonctl::params_of(cl);
  }
  return params;
}

void print_report(const json& report, int depth, std::ostream& out) {
  const std::string indent(static_cast<size_t>(depth) * 2, ' ');
  out << indent << str(report, "kind") << " " << str(report, "target") << ": "
      << str(report, "status");
  if (auto d = report.find("duration_ms"); d != report.end() && d->is_number()) {
    out << absl::StrFormat(" in %.1f ms", d->get<double>());
  }
  if (depth == 0 && report.contains("summary")) {
    const json& s = report["summary"];
    out << " (reloaded " << str(s, "reloaded") << ", skipped " << str(s, "skipped") << ", errors "
        << str(s, "errors") << ")";
  }
  out << "\n";
  if (report.contains("reloaded") && !report["reloaded"].empty()) {
    std::vector<std::string> names;
    for (const json& n : report["reloaded"])
      names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
    out << indent << "  reloaded: " << absl::StrJoin(names, ", ") << "\n";
  }
  for (const json& s : member(report, "skipped")) {
    out << indent << "  skipped " << str(s, "target") << ": " << str(s, "reason");
    if (!str(s, "message").empty()) out << ": " << str(s, "message");
    out << "\n";
  }
  for (const json& e : member(report, "errors")) {
    out << indent << "  error " << str(e, "target") << ": " << str(e, "reason");
    if (!str(e, "message").empty()) out << ": " << str(e, "message");
    out << "\n";
    for (const json& d : member(e, "diagnostics")) {
      out << indent << "    " << str(d, "file") << ":" << str(d, "line") << ":" << str(d, "column")
          << ": " << str(d, "severity") << ": " << str(d, "message") << "\n";
    }
  }
  for (const auto& [key, value] : member(report, "metadata").items()) {
    out << indent << "  " << key << ": "
        << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  for (const json& child : member(report, "results")) {
    print_report(child, depth + 1, out);
  }
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) widths[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

void print_human(const std::string& command, const json& result, std::ostream& out) {
  if (command == "reload" || command == "purge" || command == "rollback") {
    print_report(result, 0, out);
  } else if (lemonctl::print_release_or_actor(command, result, out)) {
    return;
  } else if (command == "status") {
    out << "node:               " << str(result, "node") << "\n"
        << "status:             " << str(result, "status") << "\n"
        << "uptime:             " << absl::StrFormat("%.1f s", result.value("uptime_seconds", 0.0))
        << "\n"
        << "modules:            " << str(result, "modules") << "\n"
        << "actors:             " << str(result, "actors") << "\n"
        << "reload in progress: " << (result.value("reload_in_progress", false) ? "yes" : "no")
        << "\n";
  } else if (command == "modules") {
    const bool cluster = !member(result, "nodes").empty();
    std::vector<std::vector<std::string>> rows;
    for (const json& m : member(result, "modules")) {
      std::string old_version = str(m, "old_version");
      std::vector<std::string> row = {str(m, "name"),
                                      str(m, "current_version"),
                                      old_version.empty() ? "-" : old_version,
                                      str(m, "actors_current"),
                                      str(m, "actors_old"),
                                      str(m, "checksum").substr(0, 12),
                                      str(m, "path")};
      if (cluster) row.insert(row.begin(), str(m, "node"));
      rows.push_back(std::move(row));
    }
    if (rows.empty()) {
      out << "no modules loaded\n";
    } else {
      std::vector<std::string> header = {"NAME",   "CURRENT",  "OLD", "ACTORS",
                                         "ON OLD", "CHECKSUM", "PATH"};
      if (cluster) header.insert(header.begin(), "NODE");
      print_table(header, rows, out);
    }
    for (const json& u : member(result, "unreachable")) {
      out << "unreachable " << str(u, "node") << ": " << str(u, "message") << "\n";
    }
    std::vector<std::string> divergent;
    for (const json& d : member(result, "divergent")) divergent.push_back(d.get<std::string>());
    if (!divergent.empty()) {
      out << "divergent (not the same code on every node): " << absl::StrJoin(divergent, ", ")
          << "\n";
    }
  } else if (command == "actors") {
    std::vector<std::vector<std::string>> rows;
    for (const json& a : member(result, "actors")) {
      rows.push_back({str(a, "name"), str(a, "module"), str(a, "version"), str(a, "status"),
                      str(a, "mailbox_size"), str(a, "parent"), str(a, "state_summary")});
    }
    if (rows.empty()) {
      out << "no actors\n";
      return;
    }
    print_table({"NAME", "MODULE", "VERSION", "STATUS", "MAILBOX", "PARENT", "STATE"}, rows, out);
  }
}

// Prints a JSON-RPC error: the error object with --json, else the report of a reload that ran
// (error.data.report); then one line on `err` with the message, the code and the reason.
int print_rpc_error(const json& error, bool as_json, std::ostream& out, std::ostream& err) {
  if (as_json) {
    out << error.dump(2) << "\n";
  } else if (const json& report = member(member(error, "data"), "report"); report.is_object()) {
    print_report(report, 0, out);
  }
  err << "lemonctl: " << str(error, "message") << " (code " << str(error, "code");
  if (error.contains("data") && error["data"].is_object() && error["data"].contains("reason")) {
    err << ", " << str(error["data"], "reason");
  }
  err << ")\n";
  return kLemonctlFailed;
}

}  // namespace

std::string lemonctl_usage() {
  return R"(usage: lemonctl [global flags] <command> [command flags]

global flags:
  --host HOST            node address (default 127.0.0.1)
  --control_port PORT    control-plane port (default 4040)
  --token_file PATH      bearer token file (default ~/.lemon/token)
  --json                 print the raw JSON-RPC result (or error) instead of a summary
  --rpc_timeout_ms N     how long to wait for the node (default 120000)

commands:
  reload [--scope module|app|extension|all] [--module M] [--app A] [--path P] [--extension P]
         [--modules M1,M2] [--apps A1,A2] [--extensions P1,P2] [--code_change ACTOR[=EXTRA]]
         [--extra E] [--force] [--timeout_ms N] [--lock_timeout_ms N] [--cluster]
                         reload code (scope inferred from --module/--app/--path, else all);
                         every field of system.reload's params is a flag (--dry_run, ...);
                         list flags repeat or take commas
  call METHOD ['{"param": ...}']
                         call any method with JSON params; prints the result as JSON
  status                 node health
  modules [--cluster]    loaded modules with current and old versions (--cluster: every node's,
                         and which modules differ between nodes)
  actors [--module M]    actors, their module version, status, mailbox and parent (every page
                         of actors.list)
  purge --module M [--hard]
                         drop a module's old version (--hard stops actors still on it)
  rollback --module M | --app A [--timeout_ms N]
                         go back to the module's (or app's modules') previous version
  permanent --module M | --app A
                         keep the provisional version a reload installed (system.make_permanent)
  history [--limit N] [--module M]
                         the latest reloads, newest first (reload.history)
  state get NAME         a live actor's version and state
  state set NAME '{"field": ...}'
                         replace the actor's Protobuf state (fields not given take their default)
  suspend NAME [--timeout_ms N]
                         hold the actor's messages until resume (or N ms, default 60000)
  resume NAME            handle the held messages, in order
  stats NAME             the actor's message, mailbox, restart and reload counters
  supervisors            the supervision tree: each supervisor under its parent, its strategy,
                         restart intensity and children (* a supervisor, ! being restarted)
)";
}

namespace {

// Where lemonctl sends its calls.
struct Node {
  std::string host;
  int port;
  std::string token;
  absl::Duration timeout;
};

// Calls the command's method with `params` and sets `result`; on failure prints why and returns
// the exit code.
int call(const Node& node, const CommandLine& cl, const json& params, bool as_json, json& result,
         std::ostream& out, std::ostream& err) {
  const std::string method = lemonctl::method_of(cl);
  const json request = {{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
  // A reload that takes more than a moment shows that it is still running (on a terminal only,
  // so that scripts and --json output stay clean).
  absl::Notification answered;
  std::thread progress;
  if (cl.command == "reload" && &err == &std::cerr && isatty(STDERR_FILENO)) {
    progress = std::thread([&answered] {
      const absl::Time start = absl::Now();
      bool shown = false;
      while (!answered.WaitForNotificationWithTimeout(absl::Milliseconds(500))) {
        std::fprintf(stderr, "\rreloading... %.1f s", absl::ToDoubleSeconds(absl::Now() - start));
        shown = true;
      }
      if (shown) std::fprintf(stderr, "\r\033[K");
    });
  }
  absl::StatusOr<HttpResponse> response =
      http_post(node.host, node.port, "/rpc", request.dump(),
                {{"Authorization", absl::StrCat("Bearer ", node.token)}}, node.timeout);
  answered.Notify();
  if (progress.joinable()) progress.join();
  if (!response.ok()) {
    err << "lemonctl: cannot reach the node at " << node.host << ":" << node.port << ": "
        << response.status().message() << "\n";
    return kLemonctlFailed;
  }
  json body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    err << "lemonctl: HTTP " << response->status << " " << response->reason << ": "
        << response->body << "\n";
    return kLemonctlFailed;
  }
  if (body.contains("error")) return print_rpc_error(body["error"], as_json, out, err);
  if (response->status != 200 || !body.contains("result")) {
    err << "lemonctl: unexpected answer (HTTP " << response->status << "): " << response->body
        << "\n";
    return kLemonctlFailed;
  }
  result = std::move(body["result"]);
  return kLemonctlOk;
}

int run_unchecked(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CommandLine cl;
  if (std::optional<std::string> problem = parse(args, cl)) {
    err << "lemonctl: " << *problem << "\n\n" << lemonctl_usage();
    return kLemonctlUsage;
  }
  if (cl.flag("help")) {
    out << lemonctl_usage();
    return kLemonctlOk;
  }
  const bool as_json = cl.flag("json");
  const std::string host = cl.get("host", kDefaultHost);
  const int64_t port = cl.get_int("control_port", kDefaultControlPort);
  if (port <= 0 || port > 65535) {
    err << "lemonctl: --control_port must be 1..65535\n";
    return kLemonctlUsage;
  }
  const absl::StatusOr<std::string> token_file =
      cl.has("token_file") ? absl::StatusOr<std::string>(expand_home(cl.get("token_file")))
                           : default_token_path();
  absl::StatusOr<std::string> token =
      token_file.ok() ? read_token(*token_file) : token_file.status();
  if (!token.ok()) {
    err << "lemonctl: " << token.status().message();
    if (absl::IsNotFound(token.status())) {
      err << " (the node creates it at first start; pass --token_file to use another)";
    }
    err << "\n";
    return kLemonctlFailed;
  }

  const Node node{host, static_cast<int>(port), *token,
                  absl::Milliseconds(cl.get_int("rpc_timeout_ms", kDefaultRpcTimeoutMs))};
  json params = params_for(cl);
  json result;
  if (int code = call(node, cl, params, as_json, result, out, err); code != kLemonctlOk) {
    return code;
  }
  // actors.list answers a page at a time: fetch them all, as one list.
  while (cl.command == "actors" && !str(result, "next_cursor").empty()) {
    if (params.value("cursor", "") == str(result, "next_cursor")) {
      err << "lemonctl: the node gave the same actors.list cursor twice\n";
      return kLemonctlFailed;
    }
    params["cursor"] = str(result, "next_cursor");
    json page;
    if (int code = call(node, cl, params, as_json, page, out, err); code != kLemonctlOk) {
      return code;
    }
    for (json& a : page["actors"]) result["actors"].push_back(std::move(a));
    result["next_cursor"] = page["next_cursor"];
  }
  if (as_json || cl.command == "call") {
    out << result.dump(2) << "\n";
  } else {
    print_human(cl.command, result, out);
  }
  return kLemonctlOk;
}

}  // namespace

int run_lemonctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    return run_unchecked(args, out, err);
  } catch (const std::exception& e) {
    err << "lemonctl: unexpected answer: " << e.what() << "\n";
    return kLemonctlFailed;
  }
}

}  // namespace lemon
