#include "control_plane/report_proto.h"

namespace lemon {

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

}  // namespace lemon
