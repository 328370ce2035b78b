// Converts a lemon::ReloadReport (core/reload_report.h) into its wire form, rpc::ReloadReport, with
// the summary counts filled in at every level, and into what a JSON-RPC reload method answers.
//
//   rpc::ReloadReport wire = lemon::report_to_proto(report);
//   wire.summary().errors();   // errors in the report and all of its children
#ifndef LEMON_CONTROL_PLANE_REPORT_PROTO_H_
#define LEMON_CONTROL_PLANE_REPORT_PROTO_H_

#include "absl/status/statusor.h"
#include "control_plane/rpc.pb.h"
#include "core/reload_report.h"

namespace lemon {

// The wire form of `report`; each summary counts its own items plus those of all descendants. A
// report's lists never repeat its children's (core/reload_report.h), so each item counts once.
rpc::ReloadReport report_to_proto(const ReloadReport& report);

// What a reload method answers for `report`: its wire form when the status is ok or partial; when
// it is error, a JSON-RPC error with the whole wire report in error.data.report. The code: -32002
// (reload in progress), -32004 (not found) or -32005 (path not allowed) when every failed item
// failed that way, else -32003 (reload failed). The status carries the first failure's ReloadError
// (items undone because another failed, kRolledBack, count only when nothing else failed).
absl::StatusOr<rpc::ReloadReport> reload_outcome(const ReloadReport& report);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_REPORT_PROTO_H_
