#include "actors/pack.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/local_schemas.h"
#include "actors/message.h"
#include "actors/testdata/pack_test.pb.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/scoped_actor.hpp"
#include "core/malloc_tuning.h"
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
  std::optional<packtest::Note> scratch;
  const packtest::Note* in = view(m, scratch);
  ASSERT_NE(in, nullptr);
  EXPECT_FALSE(scratch.has_value()) << "copied although the schema keys match";
  EXPECT_EQ(in->text(), "hi");
}

TEST(PackTest, OtherCodeParsesTheBytes) {
  Message m = pack(note("hi", 7));
  EXPECT_EQ(m.object(schema_key<packtest::Note>() + 1), nullptr);
  std::optional<packtest::Note> scratch;
  const packtest::Note* in = view(Message("packtest.Note", m.bytes()), scratch);
  ASSERT_TRUE(scratch.has_value());
  ASSERT_EQ(in, &*scratch);
  EXPECT_EQ(in->n(), 7);
}

TEST(PackTest, CopiesAndMovesKeepTheObjectSmallOrLarge) {
  for (size_t size : {size_t{3}, size_t{100000}}) {
    Message m = pack(note(std::string(size, 'x'), 5));
    Message copy = m;
    Message moved = std::move(m);
    packtest::Note a, b;
    ASSERT_TRUE(unpack(copy, &a));
    ASSERT_TRUE(unpack(moved, &b));
    EXPECT_EQ(a.text().size(), size);
    EXPECT_EQ(b.text().size(), size);
    copy = moved;
    ASSERT_TRUE(unpack(copy, &a));
    EXPECT_EQ(a.n(), 5);
  }
}

TEST(PackTest, TheCodeStaysClaimedUntilTheLastCopyIsGone) {
  auto code = std::make_shared<int>(0);
  std::weak_ptr<int> claim = code;
  Message m = pack(note("hi", 1), CodeHold::make(std::move(code)));
  Message copy = m;
  Message moved = std::move(m);
  moved = Message();
  EXPECT_FALSE(claim.expired()) << "released while a copy still holds the object";
  copy = Message();
  EXPECT_TRUE(claim.expired());
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

TEST(PackTest, SendHandsTheReceiverTheSenderObjectItself) {
  caf::actor_system_config cfg;
  cfg.add_message_type<Message>("lemon.Message");
  caf::actor_system sys(cfg);
  caf::scoped_actor self(sys);
  packtest::Note sent = note(std::string(20, 'x'), 9);
  send(caf::actor_cast<caf::actor>(self), sent);
  send(caf::actor_cast<caf::actor>(self), note("", 3),
       caf::actor_cast<caf::strong_actor_ptr>(self));
  bool in_place = false;
  packtest::Note first;
  self->receive([&](const Message& m) {
    in_place = m.object(schema_key<packtest::Note>()) != nullptr;
    ASSERT_TRUE(unpack(m, &first));
  });
  EXPECT_TRUE(in_place) << "the object was serialized on the way";
  EXPECT_EQ(first.text(), sent.text()) << "send moved from an lvalue";
  EXPECT_EQ(first.n(), 9);
  EXPECT_EQ(sent.n(), 9) << "an lvalue is copied, not moved from";
  caf::strong_actor_ptr from;
  self->receive([&](const Message&) { from = self->current_sender(); });
  EXPECT_EQ(from, caf::actor_cast<caf::strong_actor_ptr>(self));
}

TEST(PackTest, AMessageIsOneCacheLineAndHoldsSmallObjectsInside) {
  EXPECT_EQ(sizeof(Message), 64u);
  EXPECT_LE(sizeof(caf::mailbox_element_vals<Message>), kFastBinMaxRequest)
      << "a message's mailbox element no longer fits malloc's fast bins";
  EXPECT_TRUE(message_type<packtest::Other>()->fits_inline);
  EXPECT_FALSE(message_type<packtest::Wide>()->fits_inline);
}

TEST(PackTest, ALargeObjectLivesOnTheHeapAndSurvivesCopiesAndMoves) {
  packtest::Wide w;
  w.set_n(5);
  w.set_text(std::string(30, 'w'));
  Message m = pack(w);
  ASSERT_NE(m.object(schema_key<packtest::Wide>()), nullptr);
  Message copy = m;
  Message moved = std::move(m);
  packtest::Wide a, b;
  ASSERT_TRUE(unpack(copy, &a));
  ASSERT_TRUE(unpack(moved, &b));
  EXPECT_EQ(a.n(), 5);
  EXPECT_EQ(b.text(), w.text());
  EXPECT_EQ(copy.object(schema_key<packtest::Wide>()), moved.object(schema_key<packtest::Wide>()))
      << "a copy of a large object shares it";
}

}  // namespace
}  // namespace lemon
