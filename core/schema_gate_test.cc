#include "core/schema_gate.h"

#include <memory>
#include <set>
#include <string>

#include "core/module_schema.h"
#include "core/test_support.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;
using google::protobuf::RepeatedPtrField;

// core/testdata/bank_v1.proto as modules embed it, for each test to change in the one way
// it checks: Account {owner = 1, balance = 2 (int64), repeated Entry history = 3} with a nested
// Entry, and Audit.
FileDescriptorSet bank_v1() {
  FileDescriptorSet set;
  EXPECT_TRUE(set.ParseFromString(
      testing::read_file(testing::runfile("core/testdata/bank_v1_proto_descriptor_set.pb"))));
  EXPECT_EQ(set.file_size(), 1);
  return set;
}

FileDescriptorProto& file(FileDescriptorSet& set) { return *set.mutable_file(0); }

// The index of the item of `items` named `name`; -1, failing the test, when there is none.
template <typename T>
int index_of(const RepeatedPtrField<T>& items, const std::string& name) {
  for (int i = 0; i < items.size(); ++i) {
    if (items[i].name() == name) return i;
  }
  ADD_FAILURE() << "no " << name;
  return -1;
}

template <typename T>
T& named(RepeatedPtrField<T>& items, const std::string& name) {
  const int i = index_of(items, name);
  return i < 0 ? *items.Add() : *items.Mutable(i);
}

template <typename T>
void remove(RepeatedPtrField<T>& items, const std::string& name) {
  const int i = index_of(items, name);
  if (i >= 0) items.DeleteSubrange(i, 1);
}

DescriptorProto& account(FileDescriptorSet& set) {
  return named(*file(set).mutable_message_type(), "Account");
}

FieldDescriptorProto& account_field(FileDescriptorSet& set, const std::string& name) {
  return named(*account(set).mutable_field(), name);
}

std::unique_ptr<ModuleSchema> schema(const FileDescriptorSet& set) {
  auto s = ModuleSchema::create(set.SerializeAsString());
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::string changes(const FileDescriptorSet& from, const FileDescriptorSet& to,
                    const std::set<std::string>& migrations = {}) {
  return schema_incompatibilities(*schema(from), *schema(to), migrations);
}

// Account.balance made a string and Account.history singular.
FileDescriptorSet bank_retyped() {
  FileDescriptorSet set = bank_v1();
  account_field(set, "balance").set_type(FieldDescriptorProto::TYPE_STRING);
  account_field(set, "history").set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  return set;
}

// Account's field number 2 named `cents`.
FileDescriptorSet bank_renumbered() {
  FileDescriptorSet set = bank_v1();
  FieldDescriptorProto& balance = account_field(set, "balance");
  balance.set_name("cents");
  balance.set_json_name("cents");
  return set;
}

// Audit and the nested Account.Entry removed (with Account.history, of type Entry).
FileDescriptorSet bank_removed() {
  FileDescriptorSet set = bank_v1();
  remove(*file(set).mutable_message_type(), "Audit");
  remove(*account(set).mutable_nested_type(), "Entry");
  remove(*account(set).mutable_field(), "history");
  return set;
}

// Account.history removed (its number reserved), a field Account.currency and a message Transfer
// added.
FileDescriptorSet bank_added() {
  FileDescriptorSet set = bank_v1();
  DescriptorProto& a = account(set);
  remove(*a.mutable_field(), "history");
  a.add_reserved_range()->set_start(3);
  a.mutable_reserved_range(0)->set_end(4);
  FieldDescriptorProto& currency = *a.add_field();
  currency.set_name("currency");
  currency.set_json_name("currency");
  currency.set_number(4);
  currency.set_label(FieldDescriptorProto::LABEL_OPTIONAL);
  currency.set_type(FieldDescriptorProto::TYPE_STRING);
  file(set).add_message_type()->set_name("Transfer");
  return set;
}

TEST(SchemaGateTest, TheSameSchemaPasses) { EXPECT_EQ(changes(bank_v1(), bank_v1()), ""); }

TEST(SchemaGateTest, AFieldOfAnotherTypeIsRefusedNamingMessageAndField) {
  EXPECT_EQ(changes(bank_v1(), bank_retyped()),
            "bank.Account.balance: field 2 changed type from int64 to string; "
            "bank.Account.history: field 3 changed type from repeated bank.Account.Entry to "
            "bank.Account.Entry");
}

TEST(SchemaGateTest, AFieldNumberReusedUnderAnotherNameIsRefused) {
  EXPECT_EQ(changes(bank_v1(), bank_renumbered()), "bank.Account.balance: field 2 reused as cents");
}

TEST(SchemaGateTest, ARemovedMessageIsRefusedNestedOnesToo) {
  EXPECT_EQ(changes(bank_v1(), bank_removed()),
            "bank.Account.Entry: message removed; bank.Audit: message removed");
}

TEST(SchemaGateTest, AddedFieldsAndMessagesAndRemovedFieldsPass) {
  EXPECT_EQ(changes(bank_v1(), bank_added()), "");
}

TEST(SchemaGateTest, ADeclaredMigrationLetsItsChangeThrough) {
  EXPECT_EQ(changes(bank_v1(), bank_retyped(), {"bank.Account.balance"}),
            "bank.Account.history: field 3 changed type from repeated bank.Account.Entry to "
            "bank.Account.Entry");
  EXPECT_EQ(changes(bank_v1(), bank_retyped(), {"bank.Account"}), "");
  EXPECT_EQ(changes(bank_v1(), bank_renumbered(), {"bank.Account.cents"}), "")
      << "the new name covers a reused number as the old one does";
  EXPECT_EQ(changes(bank_v1(), bank_removed(), {"bank.Audit", "bank.Account.Entry"}), "");
}

}  // namespace
}  // namespace lemon
