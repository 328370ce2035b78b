#include "control_plane/report_proto.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "control_plane/json_rpc.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

// The error items of `report` and its descendants, depth first.
void collect_errors(const ReloadReport& report, std::vector<const ErrorItem*>& out) {
  for (const ErrorItem& e : report.errors) out.push_back(&e);
  for (const ReloadReport& child : report.results) collect_errors(child, out);
}

// The JSON-RPC code of a failed reload whose failures are `causes`.
int failed_reload_code(const std::vector<const ErrorItem*>& causes) {
  for (ReloadError e :
       {ReloadError::kReloadInProgress, ReloadError::kNotFound, ReloadError::kPathNotAllowed}) {
    bool all = !causes.empty();
    for (const ErrorItem* item : causes) all = all && item->reason == e;
    if (all) return json_rpc_code_for(reload_status(e, ""));
  }
  return kJsonRpcReloadFailed;
}

}  // namespace

rpc::ReloadReport report_to_proto(const ReloadReport& report) {
  rpc::ReloadReport out;
  out.set_kind(to_string(report.kind));
  out.set_target(report.target);
  out.set_status(to_string(report.status));
  for (const auto& name : report.reloaded) out.add_reloaded(name);
  for (const auto& s : report.skipped) {
    rpc::SkippedItem* item = out.add_skipped();
    item->set_target(s.target);
    item->set_reason(to_string(s.reason));
    item->set_message(s.message);
  }
  for (const auto& e : report.errors) {
    rpc::ErrorItem* item = out.add_errors();
    item->set_target(e.target);
    item->set_reason(to_string(e.reason));
    item->set_message(e.message);
    for (const auto& d : e.diagnostics) {
      rpc::Diagnostic* diag = item->add_diagnostics();
      diag->set_file(d.file);
      diag->set_line(d.line);
      diag->set_column(d.column);
      diag->set_severity(d.severity);
      diag->set_message(d.message);
    }
  }
  out.set_duration_ms(report.duration_ms);
  for (const auto& [key, value] : report.metadata) (*out.mutable_metadata())[key] = value;

  rpc::ReportSummary* summary = out.mutable_summary();
  summary->set_reloaded(static_cast<int>(report.reloaded.size()));
  summary->set_skipped(static_cast<int>(report.skipped.size()));
  summary->set_errors(static_cast<int>(report.errors.size()));
  for (const auto& child : report.results) {
    rpc::ReloadReport* wire_child = out.add_results();
    *wire_child = report_to_proto(child);
    summary->set_reloaded(summary->reloaded() + wire_child->summary().reloaded());
    summary->set_skipped(summary->skipped() + wire_child->summary().skipped());
    summary->set_errors(summary->errors() + wire_child->summary().errors());
  }
  return out;
}

absl::StatusOr<rpc::ReloadReport> reload_outcome(const ReloadReport& report) {
  rpc::ReloadReport wire = report_to_proto(report);
  if (report.status != ReloadStatus::kError) return wire;
  std::vector<const ErrorItem*> all;
  collect_errors(report, all);
  std::vector<const ErrorItem*> causes;
  for (const ErrorItem* e : all) {
    if (e->reason != ReloadError::kRolledBack) causes.push_back(e);
  }
  if (causes.empty()) causes = all;
  const ErrorItem* first = causes.empty() ? nullptr : causes.front();
  std::string message = absl::StrCat(to_string(report.kind), " ", report.target, " failed");
  if (first != nullptr) absl::StrAppend(&message, ": ", first->target, ": ", first->message);
  if (causes.size() > 1) absl::StrAppend(&message, " (and ", causes.size() - 1, " more)");
  const bool named = first != nullptr && first->reason != ReloadError::kOk;
  absl::Status status = reload_status(named ? first->reason : ReloadError::kInternal, message);
  absl::StatusOr<nlohmann::json> data = proto_to_json(wire);
  if (!data.ok()) return data.status();
  return with_json_rpc_error(status, failed_reload_code(causes), {{"report", *data}});
}

}  // namespace lemon
