#include "core/reload_report.h"

#include <chrono>

#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ReloadReportTest, StatusFollowsErrorsThenSkipsThenOk) {
  auto ok = ReloadReport::begin(ReloadKind::kModule, "counter");
  ok.reloaded.push_back("counter");
  ok.finish();
  EXPECT_EQ(ok.status, ReloadStatus::kOk);

  auto partial = ReloadReport::begin(ReloadKind::kApp, "demo");
  partial.add_skipped("counter", reload_status(ReloadError::kUnchanged, "same bytes"));
  partial.finish();
  EXPECT_EQ(partial.status, ReloadStatus::kPartial);
  EXPECT_EQ(partial.skipped[0].reason, ReloadError::kUnchanged);

  auto error = ReloadReport::begin(ReloadKind::kModule, "nope");
  error.add_error("nope", reload_status(ReloadError::kNotFound, "no module nope"));
  error.add_skipped("x", reload_status(ReloadError::kUnchanged, ""));
  error.finish();
  EXPECT_EQ(error.status, ReloadStatus::kError);
}

TEST(ReloadReportTest, FinishMeasuresTheDurationFromTheStart) {
  auto r = ReloadReport::begin(ReloadKind::kModule, "counter");
  r.started_at -= std::chrono::milliseconds(250);  // as if begun 250 ms ago
  r.finish();
  EXPECT_GE(r.duration_ms, 250.0);
  EXPECT_LT(r.duration_ms, 250.0 + 60000.0) << "not the time since some other epoch";
}

TEST(ReloadReportTest, ChildErrorMakesParentError) {
  auto sys = ReloadReport::begin(ReloadKind::kSystem, "all");
  auto child = ReloadReport::begin(ReloadKind::kModule, "counter");
  child.add_error("counter", reload_status(ReloadError::kCodeChangeFailed, "boom"));
  child.finish();
  sys.results.push_back(child);
  sys.finish();
  EXPECT_EQ(sys.status, ReloadStatus::kError);
  EXPECT_STREQ(to_string(sys.kind), "system");
}

TEST(ReloadReportTest, AllReloadedWalksTheTreeDepthFirst) {
  auto sys = ReloadReport::begin(ReloadKind::kSystem, "all");
  auto app = ReloadReport::begin(ReloadKind::kApp, "shop");
  auto cart = ReloadReport::begin(ReloadKind::kModule, "cart");
  cart.reloaded.push_back("cart");
  auto billing = ReloadReport::begin(ReloadKind::kModule, "billing");
  billing.reloaded.push_back("billing");
  app.results = {cart, billing};
  auto counter = ReloadReport::begin(ReloadKind::kModule, "counter");
  counter.reloaded.push_back("counter");
  sys.results = {app, counter};
  EXPECT_TRUE(sys.reloaded.empty());
  EXPECT_EQ(sys.all_reloaded(), (std::vector<std::string>{"cart", "billing", "counter"}));
  EXPECT_EQ(counter.all_reloaded(), std::vector<std::string>{"counter"});
}

}  // namespace
}  // namespace lemon
