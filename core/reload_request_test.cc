#include "core/reload_request.h"

#include <string>

#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ReloadRequestTest, DeadlinesOverTheirMaximumAreInvalidArgumentNamingTheField) {
  struct Case {
    uint64_t timeout_ms;
    uint64_t lock_timeout_ms;
    const char* field;  // nullptr: accepted
  };
  const Case cases[] = {
      {0, 0, nullptr},
      {kMaxReloadTimeoutMs, kMaxLockTimeoutMs, nullptr},
      {kMaxReloadTimeoutMs + 1, 0, "timeout_ms"},
      {0, kMaxLockTimeoutMs + 1, "lock_timeout_ms"},
      {0, 4294327296, "lock_timeout_ms"},
      {UINT64_MAX, 0, "timeout_ms"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.timeout_ms << " " << c.lock_timeout_ms);
    absl::Status s = check_reload_timeouts(c.timeout_ms, c.lock_timeout_ms);
    if (c.field == nullptr) {
      EXPECT_TRUE(s.ok()) << s;
      continue;
    }
    EXPECT_EQ(reload_error_of(s), ReloadError::kInvalidArgument) << s;
    EXPECT_EQ(std::string(s.message()).rfind(c.field, 0), 0u) << s;
  }
}

TEST(ReloadRequestTest, EveryOperationRoundTripsThroughItsName) {
  for (ReloadOp op :
       {ReloadOp::kModule, ReloadOp::kExtension, ReloadOp::kApp, ReloadOp::kSystem,
        ReloadOp::kSelection, ReloadOp::kCodeChange, ReloadOp::kSoftPurge, ReloadOp::kHardPurge}) {
    absl::StatusOr<ReloadOp> parsed = parse_reload_op(to_string(op));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, op);
  }
  EXPECT_EQ(reload_error_of(parse_reload_op("reload").status()), ReloadError::kInvalidArgument);
}

TEST(ReloadRequestTest, CheckRefusesAnUnknownOperationAMissingTargetAndAHugeSelection) {
  EXPECT_TRUE(check_request(ReloadRequest::module("counter")).ok());
  EXPECT_TRUE(check_request(ReloadRequest::system()).ok());
  ReloadRequest unknown = ReloadRequest::module("counter");
  unknown.op = static_cast<ReloadOp>(42);
  EXPECT_EQ(reload_error_of(check_request(unknown)), ReloadError::kInvalidArgument);
  EXPECT_EQ(reload_error_of(check_request(ReloadRequest::module(""))),
            ReloadError::kInvalidArgument);
  ReloadSelection huge;
  huge.modules.assign(kMaxSelectionItems + 1, "counter");
  EXPECT_EQ(reload_error_of(check_request(ReloadRequest::of(huge))), ReloadError::kInvalidArgument);
  ReloadRequest slow = ReloadRequest::module("counter");
  slow.lock_timeout_ms = kMaxLockTimeoutMs + 1;
  EXPECT_EQ(reload_error_of(check_request(slow)), ReloadError::kInvalidArgument);
}

}  // namespace
}  // namespace lemon
