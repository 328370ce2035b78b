// The reload operations as typed CAF messages to the reload service.
#include "node/reload_service.h"

#include <string>
#include <vector>

#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/test_node.h"

namespace lemon::testing {
namespace {

class ReloadServiceTest : public NodeTest {
 protected:
  ReloadServiceTest() : NodeTest({{"counter", runfile("extensions/counter/libcounter_v1.so")}}) {}

  // The reload service's answer to `req`.
  ReloadReport reload(const ReloadRequest& req) {
    return ask<ReloadReport>(rt_->reload_service(), reload_atom::value, req);
  }
  std::string version_of(const caf::actor& a) {
    return ask<ActorStatus>(a, sys_status_atom::value).version;
  }
};

TEST_F(ReloadServiceTest, ModuleReloadByMessageMovesTheActors) {
  auto a = rt_->spawn({"counter", "", "c", "7"});
  ASSERT_TRUE(a.ok());
  install("counter", runfile("extensions/counter/libcounter_v2.so"), false);
  ReloadReport r = reload(ReloadRequest::module("counter"));
  EXPECT_EQ(r.status, ReloadStatus::kOk);
  EXPECT_EQ(r.reloaded, std::vector<std::string>{"counter"});
  EXPECT_EQ(version_of(*a), "2");
}

TEST_F(ReloadServiceTest, BadRequestsComeBackAsErrorReports) {
  ReloadRequest unknown_op = ReloadRequest::module("counter");
  unknown_op.op = static_cast<ReloadOp>(99);
  EXPECT_EQ(reload(unknown_op).errors.at(0).reason, ReloadError::kInvalidArgument);
  EXPECT_EQ(reload(ReloadRequest::module("nope")).errors.at(0).reason, ReloadError::kNotFound);
}

// A remote CAF program can send a ReloadRequest directly, past the control plane's checks: a
// deadline over its maximum is refused before anything runs, naming the field.
TEST_F(ReloadServiceTest, DeadlinesOverTheirMaximumAreRefusedAndNothingReloads) {
  auto a = rt_->spawn({"counter", "", "c", "7"});
  ASSERT_TRUE(a.ok());
  install("counter", runfile("extensions/counter/libcounter_v2.so"), false);
  struct Case {
    uint32_t timeout_ms;
    uint32_t lock_timeout_ms;
    const char* field;
  };
  const Case cases[] = {
      {10000, 4294327296u, "lock_timeout_ms"},
      {10000, 3600001, "lock_timeout_ms"},
      {4294967295u, 30000, "timeout_ms"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    ReloadRequest req = ReloadRequest::module("counter");
    req.timeout_ms = c.timeout_ms;
    req.lock_timeout_ms = c.lock_timeout_ms;
    ReloadReport r = reload(req);
    EXPECT_EQ(r.status, ReloadStatus::kError);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].reason, ReloadError::kInvalidArgument);
    EXPECT_NE(r.errors[0].message.find(c.field), std::string::npos) << r.errors[0].message;
    EXPECT_TRUE(r.reloaded.empty());
  }
  EXPECT_EQ(version_of(*a), "1");
}

TEST_F(ReloadServiceTest, ReportsSurviveSerializationForRemoteNodes) {
  ReloadReport child = ReloadReport::begin(ReloadKind::kExtension, "/ext/x.cc");
  child.errors.push_back(
      {"/ext/x.cc", ReloadError::kCompileFailed, "bad", {{"/ext/x.cc", 2, 11, "error", "oops"}}});
  child.finish();
  ReloadReport r = ReloadReport::begin(ReloadKind::kSystem, "all");
  r.skipped.push_back({"counter", ReloadError::kUnchanged, "same"});
  r.metadata["node"] = "a";
  r.lock_token = 42;
  r.rolled_back = true;
  r.results.push_back(child);
  r.finish();
  std::vector<char> buf;
  caf::binary_serializer sink{rt_->system(), buf};
  ASSERT_FALSE(sink(r));
  ReloadReport back;
  caf::binary_deserializer source{rt_->system(), buf};
  ASSERT_FALSE(source(back));
  EXPECT_EQ(back.kind, ReloadKind::kSystem);
  EXPECT_EQ(back.status, ReloadStatus::kError);
  EXPECT_EQ(back.skipped.at(0).reason, ReloadError::kUnchanged);
  EXPECT_EQ(back.metadata["node"], "a");
  EXPECT_EQ(back.lock_token, 42u);
  EXPECT_TRUE(back.rolled_back);
  ASSERT_EQ(back.results.size(), 1u);
  EXPECT_EQ(back.results[0].errors.at(0).diagnostics.at(0).column, 11);
}

}  // namespace
}  // namespace lemon::testing
