#include "actors/pack.h"

#include <string>
#include <vector>

#include "actors/local_schemas.h"
#include "actors/message.h"
#include "actors/testdata/pack_test.pb.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "gtest/gtest.h"

namespace lemon {
namespace {

packtest::Note note(const std::string& text, int64_t n) {
  packtest::Note x;
  x.set_text(text);
  x.set_n(n);
  return x;
}

TEST(PackTest, RegisteredTypesHaveASchemaKey) {
  EXPECT_NE(schema_key<packtest::Note>(), 0u);
  EXPECT_EQ(schema_key<packtest::Note>(), schema_key<packtest::Other>()) << "one file, one key";
  EXPECT_FALSE(LocalSchemas::get().schema().empty());
}

TEST(PackTest, SameCodeReadsTheObjectInPlace) {
  Message m = pack(note("hi", 7));
  EXPECT_EQ(m.type(), "packtest.Note");
  ASSERT_NE(m.object(schema_key<packtest::Note>()), nullptr);
  packtest::Note scratch;
  const packtest::Note* in =
      m.as<packtest::Note>("packtest.Note", schema_key<packtest::Note>(), &scratch);
  EXPECT_NE(in, &scratch) << "copied although the schema keys match";
  EXPECT_EQ(in->text(), "hi");
}

TEST(PackTest, OtherCodeParsesTheBytes) {
  Message m = pack(note("hi", 7));
  EXPECT_EQ(m.object(schema_key<packtest::Note>() + 1), nullptr);
  packtest::Note scratch;
  const packtest::Note* in =
      m.as<packtest::Note>("packtest.Note", schema_key<packtest::Note>() + 1, &scratch);
  ASSERT_EQ(in, &scratch);
  EXPECT_EQ(in->n(), 7);
}

TEST(PackTest, UnpackRefusesAnotherType) {
  packtest::Other other;
  EXPECT_FALSE(unpack(pack(note("hi", 7)), &other));
  EXPECT_FALSE(unpack(Message("packtest.Other", "\xff"), &other)) << "bad bytes parsed";
  packtest::Note back;
  ASSERT_TRUE(unpack(Message("packtest.Note", note("x", 3).SerializeAsString()), &back));
  EXPECT_EQ(back.text(), "x");
}

TEST(PackTest, OnlyTypeAndBytesCrossTheWire) {
  caf::actor_system_config cfg;
  cfg.add_message_type<Message>("lemon.Message");
  caf::actor_system sys(cfg);
  Message out = pack(note("wire", 42));
  std::vector<char> buf;
  caf::binary_serializer sink(sys, buf);
  ASSERT_FALSE(sink(out));
  Message in;
  caf::binary_deserializer source(sys, buf);
  ASSERT_FALSE(source(in));
  EXPECT_EQ(in.type(), "packtest.Note");
  EXPECT_EQ(in.object(schema_key<packtest::Note>()), nullptr) << "an object crossed the wire";
  packtest::Note back;
  ASSERT_TRUE(unpack(in, &back));
  EXPECT_EQ(back.text(), "wire");
  EXPECT_EQ(back.n(), 42);
}

}  // namespace
}  // namespace lemon
