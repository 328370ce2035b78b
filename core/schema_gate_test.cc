#include "core/schema_gate.h"

#include <memory>
#include <set>
#include <string>

#include "core/module_schema.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// The schema compiled from core/testdata/<name>.proto.
std::unique_ptr<ModuleSchema> schema(const std::string& name) {
  auto s = ModuleSchema::create(
      testing::read_file(testing::runfile("core/testdata/" + name + ".schema")));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::string changes(const std::string& from, const std::string& to,
                    const std::set<std::string>& migrations = {}) {
  return schema_incompatibilities(*schema(from), *schema(to), migrations);
}

TEST(SchemaGateTest, TheSameSchemaPasses) { EXPECT_EQ(changes("bank_v1", "bank_v1"), ""); }

TEST(SchemaGateTest, AFieldOfAnotherTypeIsRefusedNamingMessageAndField) {
  EXPECT_EQ(changes("bank_v1", "bank_v2_retyped"),
            "bank.Account.balance: field 2 changed type from int64 to string; "
            "bank.Account.history: field 3 changed type from repeated bank.Account.Entry to "
            "bank.Account.Entry");
}

TEST(SchemaGateTest, AFieldNumberReusedUnderAnotherNameIsRefused) {
  EXPECT_EQ(changes("bank_v1", "bank_v2_renumbered"),
            "bank.Account.balance: field 2 reused as cents");
}

TEST(SchemaGateTest, ARemovedMessageIsRefusedNestedOnesToo) {
  EXPECT_EQ(changes("bank_v1", "bank_v2_removed"),
            "bank.Account.Entry: message removed; bank.Audit: message removed");
}

TEST(SchemaGateTest, AddedFieldsAndMessagesAndRemovedFieldsPass) {
  EXPECT_EQ(changes("bank_v1", "bank_v2_added"), "");
}

TEST(SchemaGateTest, ADeclaredMigrationLetsItsChangeThrough) {
  EXPECT_EQ(changes("bank_v1", "bank_v2_retyped", {"bank.Account.balance"}),
            "bank.Account.history: field 3 changed type from repeated bank.Account.Entry to "
            "bank.Account.Entry");
  EXPECT_EQ(changes("bank_v1", "bank_v2_retyped", {"bank.Account"}), "");
  EXPECT_EQ(changes("bank_v1", "bank_v2_renumbered", {"bank.Account.cents"}), "")
      << "the new name covers a reused number as the old one does";
  EXPECT_EQ(changes("bank_v1", "bank_v2_removed", {"bank.Audit", "bank.Account.Entry"}), "");
}

}  // namespace
}  // namespace lemon
