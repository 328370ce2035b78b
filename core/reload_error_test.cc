#include "core/reload_error.h"

#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ReloadErrorTest, EveryErrorRoundTripsThroughStatus) {
  for (int i = 1; i <= static_cast<int>(kLastReloadError); ++i) {
    auto e = static_cast<ReloadError>(i);
    SCOPED_TRACE(to_string(e));
    absl::Status s = reload_status(e, "msg");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(reload_error_of(s), e);
    EXPECT_EQ(s.message(), "msg");
    if (e != ReloadError::kInternal) {
      EXPECT_STRNE(to_string(e), "internal");
    }
  }
}

TEST(ReloadErrorTest, ForeignStatusIsInternalAndOkIsOk) {
  EXPECT_EQ(reload_error_of(absl::OkStatus()), ReloadError::kOk);
  EXPECT_EQ(reload_error_of(absl::UnknownError("x")), ReloadError::kInternal);
  EXPECT_TRUE(reload_status(ReloadError::kOk, "ignored").ok());
}

}  // namespace
}  // namespace lemon
