#include "control_plane/report_proto.h"

#include <string>
#include <vector>

#include "control_plane/json_rpc.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

ReloadReport module_report(const std::string& name) {
  ReloadReport r;
  r.kind = ReloadKind::kModule;
  r.target = name;
  return r;
}

TEST(ReportProtoTest, CopiesEveryField) {
  ReloadReport r = module_report("counter");
  r.kind = ReloadKind::kExtension;
  r.status = ReloadStatus::kError;
  r.reloaded = {"a"};
  r.skipped.push_back(SkippedItem{"b", ReloadError::kUnchanged, "same bytes"});
  ErrorItem e{"c.cc", ReloadError::kCompileFailed, "did not compile", {}};
  e.diagnostics.push_back(Diagnostic{"c.cc", 3, 7, "error", "expected ';'"});
  r.errors.push_back(e);
  r.duration_ms = 12.5;
  r.metadata["node"] = "n1";

  rpc::ReloadReport wire = report_to_proto(r);
  EXPECT_EQ(wire.kind(), "extension");
  EXPECT_EQ(wire.target(), "counter");
  EXPECT_EQ(wire.status(), "error");
  ASSERT_EQ(wire.reloaded_size(), 1);
  EXPECT_EQ(wire.reloaded(0), "a");
  ASSERT_EQ(wire.skipped_size(), 1);
  EXPECT_EQ(wire.skipped(0).target(), "b");
  EXPECT_EQ(wire.skipped(0).reason(), "unchanged");
  EXPECT_EQ(wire.skipped(0).message(), "same bytes");
  ASSERT_EQ(wire.errors_size(), 1);
  EXPECT_EQ(wire.errors(0).reason(), "compile_failed");
  ASSERT_EQ(wire.errors(0).diagnostics_size(), 1);
  const rpc::Diagnostic& d = wire.errors(0).diagnostics(0);
  EXPECT_EQ(d.file(), "c.cc");
  EXPECT_EQ(d.line(), 3);
  EXPECT_EQ(d.column(), 7);
  EXPECT_EQ(d.severity(), "error");
  EXPECT_EQ(d.message(), "expected ';'");
  EXPECT_DOUBLE_EQ(wire.duration_ms(), 12.5);
  EXPECT_EQ(wire.metadata().at("node"), "n1");
  EXPECT_EQ(wire.summary().reloaded(), 1);
  EXPECT_EQ(wire.summary().skipped(), 1);
  EXPECT_EQ(wire.summary().errors(), 1);
}

TEST(ReportProtoTest, SummaryCountsAllDescendants) {
  ReloadReport system;
  system.kind = ReloadKind::kSystem;
  system.target = "all";
  system.reloaded = {"x"};

  ReloadReport app;
  app.kind = ReloadKind::kApp;
  app.target = "demo";
  ReloadReport m1 = module_report("m1");
  m1.reloaded = {"m1"};
  ReloadReport m2 = module_report("m2");
  m2.skipped.push_back(SkippedItem{"m2", ReloadError::kUnchanged, ""});
  app.results = {m1, m2};

  ReloadReport m3 = module_report("m3");
  m3.errors.push_back(ErrorItem{"m3", ReloadError::kLoadFailed, "bad elf", {}});
  system.results = {app, m3};

  rpc::ReloadReport wire = report_to_proto(system);
  EXPECT_EQ(wire.summary().reloaded(), 2);
  EXPECT_EQ(wire.summary().skipped(), 1);
  EXPECT_EQ(wire.summary().errors(), 1);
  ASSERT_EQ(wire.results_size(), 2);
  EXPECT_EQ(wire.results(0).kind(), "app");
  EXPECT_EQ(wire.results(0).summary().reloaded(), 1);
  EXPECT_EQ(wire.results(0).summary().skipped(), 1);
  EXPECT_EQ(wire.results(0).summary().errors(), 0);
  ASSERT_EQ(wire.results(0).results_size(), 2);
  EXPECT_EQ(wire.results(0).results(1).skipped(0).reason(), "unchanged");
  EXPECT_EQ(wire.results(1).errors(0).reason(), "load_failed");
}

TEST(ReportProtoTest, EmptyReportHasZeroSummary) {
  rpc::ReloadReport wire = report_to_proto(ReloadReport{});
  EXPECT_EQ(wire.status(), "ok");
  EXPECT_TRUE(wire.has_summary());
  EXPECT_EQ(wire.summary().reloaded() + wire.summary().skipped() + wire.summary().errors(), 0);
}

ReloadReport failed(std::vector<ReloadError> reasons) {
  ReloadReport system = ReloadReport::begin(ReloadKind::kSystem, "all");
  for (size_t i = 0; i < reasons.size(); ++i) {
    ReloadReport child = module_report("m" + std::to_string(i));
    child.errors.push_back(ErrorItem{child.target, reasons[i], "failure " + std::to_string(i), {}});
    child.finish();
    system.results.push_back(child);
  }
  system.finish();
  return system;
}

TEST(ReloadOutcomeTest, OkAndPartialReportsAreResults) {
  ReloadReport partial = module_report("counter");
  partial.skipped.push_back(SkippedItem{"counter", ReloadError::kUnchanged, ""});
  partial.finish();
  absl::StatusOr<rpc::ReloadReport> outcome = reload_outcome(partial);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status(), "partial");
}

TEST(ReloadOutcomeTest, TheCodeNamesTheFailureWhenAllFailedAlike) {
  struct Case {
    std::vector<ReloadError> reasons;
    int code;
  };
  const Case cases[] = {
      {{ReloadError::kReloadInProgress}, kJsonRpcReloadInProgress},
      {{ReloadError::kNotFound, ReloadError::kNotFound}, kJsonRpcNotFound},
      {{ReloadError::kPathNotAllowed}, kJsonRpcPathNotAllowed},
      {{ReloadError::kCompileFailed}, kJsonRpcReloadFailed},
      {{ReloadError::kInternal}, kJsonRpcReloadFailed},
      {{ReloadError::kNotFound, ReloadError::kCompileFailed}, kJsonRpcReloadFailed},
      {{ReloadError::kNotFound, ReloadError::kRolledBack}, kJsonRpcNotFound},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.code);
    absl::StatusOr<rpc::ReloadReport> outcome = reload_outcome(failed(c.reasons));
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(json_rpc_code_for(outcome.status()), c.code);
    EXPECT_EQ(reload_error_of(outcome.status()), c.reasons[0]);
  }
}

TEST(ReloadOutcomeTest, TheErrorCarriesTheWholeReport) {
  JsonRpcDispatcher rpc;
  rpc.register_method("test.reload", [](const nlohmann::json&) -> absl::StatusOr<nlohmann::json> {
    return reload_outcome(failed({ReloadError::kCompileFailed, ReloadError::kNotFound})).status();
  });
  nlohmann::json r =
      nlohmann::json::parse(*rpc.handle(R"({"jsonrpc":"2.0","id":7,"method":"test.reload"})"));
  const nlohmann::json& error = r["error"];
  EXPECT_EQ(error["code"], kJsonRpcReloadFailed) << r;
  EXPECT_EQ(error["message"], "system all failed: m0: failure 0 (and 1 more)");
  EXPECT_EQ(error["data"]["reason"], "compile_failed");
  EXPECT_EQ(error["data"]["report"]["status"], "error");
  EXPECT_EQ(error["data"]["report"]["summary"]["errors"], 2);
  EXPECT_EQ(error["data"]["report"]["results"][1]["errors"][0]["reason"], "not_found");
}

}  // namespace
}  // namespace lemon
