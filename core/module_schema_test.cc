#include "core/module_schema.h"

#include <memory>
#include <string>

#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

class ModuleSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ModuleSchema::create(
        testing::read_file(testing::runfile("core/testdata/bank_v1_proto_descriptor_set.pb")));
    ASSERT_TRUE(s.ok()) << s.status();
    schema_ = std::move(*s);
  }
  std::unique_ptr<ModuleSchema> schema_;
};

TEST_F(ModuleSchemaTest, KnowsItsTypesNestedOnesToo) {
  EXPECT_TRUE(schema_->has_type("bank.Account"));
  EXPECT_TRUE(schema_->has_type("bank.Account.Entry"));
  EXPECT_FALSE(schema_->has_type("bank.Transfer"));
}

TEST_F(ModuleSchemaTest, AStateRoundTripsThroughJson) {
  auto bytes = schema_->from_json("bank.Account",
                                  R"({"owner":"ann","balance":"12","history":[{"amount":"5"}]})");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto json = schema_->to_json("bank.Account", *bytes);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"owner":"ann","balance":"12","history":[{"amount":"5"}]})");
}

TEST_F(ModuleSchemaTest, FromJsonRefusesAnUnknownFieldNamingIt) {
  auto bytes = schema_->from_json("bank.Account", R"({"owner":"ann","balanse":"12"})");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bytes.status().message().find("balanse"), absl::string_view::npos) << bytes.status();
}

TEST_F(ModuleSchemaTest, AnUnknownTypeOrBytesThatDoNotParseAreErrors) {
  EXPECT_EQ(schema_->to_json("bank.Nope", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(schema_->to_json("bank.Account", "\xff\xff\xff").ok());
}

TEST(ModuleSchemaCreateTest, BytesThatAreNoDescriptorSetAreRefused) {
  EXPECT_FALSE(ModuleSchema::create("\xff\xff\xff").ok());
}

}  // namespace
}  // namespace lemon
