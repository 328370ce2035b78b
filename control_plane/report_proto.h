// Converts a lemon::ReloadReport (core/reload_report.h) into its wire form, rpc::ReloadReport, with
// the summary counts filled in at every level.
//
//   rpc::ReloadReport wire = lemon::report_to_proto(report);
//   wire.summary().errors();   // errors in the report and all of its children
#ifndef LEMON_CONTROL_PLANE_REPORT_PROTO_H_
#define LEMON_CONTROL_PLANE_REPORT_PROTO_H_

#include "control_plane/rpc.pb.h"
#include "core/reload_report.h"

namespace lemon {

// The wire form of `report`; each summary counts its own items plus those of all descendants. A
// report's lists never repeat its children's (core/reload_report.h), so each item counts once.
rpc::ReloadReport report_to_proto(const ReloadReport& report);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_REPORT_PROTO_H_
