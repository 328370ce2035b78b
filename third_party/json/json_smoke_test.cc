// Proves nlohmann-json is usable: large integer ids survive a parse/dump round trip.
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

TEST(JsonSmokeTest, LargeIntegerIdKeepsPrecision) {
  auto j = nlohmann::json::parse(R"({"jsonrpc":"2.0","id":9007199254740993})");
  EXPECT_EQ(j["id"].dump(), "9007199254740993");
}

}  // namespace
