#include "cluster/known_members.h"

#include "gtest/gtest.h"

namespace lemon {
namespace {

std::vector<std::string> names(const std::vector<KnownMember>& members) {
  std::vector<std::string> out;
  for (const KnownMember& m : members) out.push_back(m.name);
  return out;
}

TEST(KnownMembersTest, AMemberThatLeavesStaysKnownAsDown) {
  KnownMembers known;
  known.joined("c", "127.0.0.1:3");
  known.joined("b", "127.0.0.1:2");
  EXPECT_TRUE(known.down({"b", "c"}).empty());
  std::vector<KnownMember> down = known.down({"b"});
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].name, "c");
  EXPECT_EQ(down[0].address, "127.0.0.1:3");
  EXPECT_EQ(names(known.all()), (std::vector<std::string>{"b", "c"}));
}

TEST(KnownMembersTest, ARejoinKeepsOneEntryAtTheNewAddress) {
  KnownMembers known;
  known.joined("c", "127.0.0.1:3");
  known.joined("c", "127.0.0.1:30");
  ASSERT_EQ(known.all().size(), 1u);
  EXPECT_EQ(known.all()[0].address, "127.0.0.1:30");
}

TEST(KnownMembersTest, DownListsByNameAndIgnoresLiveNamesItNeverSaw) {
  KnownMembers known;
  for (const char* n : {"z", "a", "m"}) known.joined(n, "");
  EXPECT_EQ(names(known.down({"x"})), (std::vector<std::string>{"a", "m", "z"}));
  EXPECT_TRUE(KnownMembers().down({"a"}).empty());
}

}  // namespace
}  // namespace lemon
