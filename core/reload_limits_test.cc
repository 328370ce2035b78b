#include "core/reload_limits.h"

#include <string>

#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ReloadLimitsTest, DeadlinesOverTheirMaximumAreInvalidArgumentNamingTheField) {
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

}  // namespace
}  // namespace lemon
