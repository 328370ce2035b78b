// Proves abseil links under Bazel: StatusOr carries a value or a canonical error.
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace {

absl::StatusOr<int> parse_version(const std::string& s) {
  if (s.empty()) return absl::InvalidArgumentError("empty version");
  return std::stoi(s);
}

TEST(AbslSmokeTest, StatusOrCarriesValueOrError) {
  auto ok = parse_version("7");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  auto bad = parse_version("");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(absl::StrCat("v", *ok), "v7");
}

}  // namespace
