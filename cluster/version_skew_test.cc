#include "cluster/version_skew.h"

#include "gtest/gtest.h"

namespace lemon {
namespace {

ClusterRelease release(std::string module, std::string version, std::string checksum,
                       uint64_t seq) {
  return {std::move(module), std::move(version), std::move(checksum), seq};
}

TEST(VersionSkewTest, BehindWhenAPeerHoldsOtherBytesOfALaterClusterCommit) {
  std::vector<VersionSkew> gaps =
      behind({release("counter", "1", "c1", 0)}, {release("counter", "2", "c2", 3)});
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].module, "counter");
  EXPECT_EQ(gaps[0].local_version, "1");
  EXPECT_EQ(gaps[0].local_checksum, "c1");
  EXPECT_EQ(gaps[0].cluster_version, "2");
  EXPECT_EQ(gaps[0].cluster_checksum, "c2");
  EXPECT_EQ(gaps[0].cluster_seq, 3u);
}

TEST(VersionSkewTest, VersionStringsAreNeverCompared) {
  // A "lower" version string from a later commit is the cluster's; a "higher" one from an
  // earlier commit is not.
  EXPECT_EQ(behind({release("m", "9", "a", 1)}, {release("m", "1", "b", 2)}).size(), 1u);
  EXPECT_TRUE(behind({release("m", "1", "a", 2)}, {release("m", "9", "b", 1)}).empty());
}

TEST(VersionSkewTest, NotBehindWithTheSameBytesOrAnEqualOrLaterCommit) {
  EXPECT_TRUE(behind({release("m", "1", "a", 0)}, {release("m", "1", "a", 5)}).empty());
  EXPECT_TRUE(behind({release("m", "1", "a", 5)}, {release("m", "2", "b", 5)}).empty());
  EXPECT_TRUE(behind({release("m", "1", "a", 6)}, {release("m", "2", "b", 5)}).empty());
}

TEST(VersionSkewTest, AModuleOnlyOneSideHasIsNoGap) {
  EXPECT_TRUE(behind({release("m", "1", "a", 0)}, {release("n", "2", "b", 4)}).empty());
  EXPECT_TRUE(behind({}, {release("n", "2", "b", 4)}).empty());
}

TEST(VersionSkewTest, GapsComeByModuleName) {
  std::vector<VersionSkew> gaps =
      behind({release("z", "1", "a", 0), release("b", "1", "a", 0), release("k", "1", "a", 9)},
             {release("b", "2", "b", 1), release("k", "2", "b", 1), release("z", "2", "b", 1)});
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].module, "b");
  EXPECT_EQ(gaps[1].module, "z");
}

TEST(VersionSkewTest, InLineOnceTheBytesMatchOrALaterCommitRan) {
  VersionSkew gap = behind({release("m", "1", "a", 0)}, {release("m", "2", "b", 3)}).at(0);
  EXPECT_FALSE(in_line(gap, release("m", "1", "a", 0)));
  EXPECT_FALSE(in_line(gap, release("m", "1b", "c", 2)));  // a local reload: still behind
  EXPECT_TRUE(in_line(gap, release("m", "2", "b", 0)));    // the cluster's bytes
  EXPECT_TRUE(in_line(gap, release("m", "3", "d", 4)));    // a later cluster commit
}

TEST(VersionSkewTest, NoteSkewKeepsOneEntryPerModuleWithTheLaterClusterVersion) {
  std::vector<VersionSkew> skews;
  note_skew(skews, {"m", "1", "a", 0, "2", "b", 3});
  note_skew(skews, {"a", "1", "a", 0, "2", "b", 3});
  note_skew(skews, {"m", "1", "a", 0, "3", "c", 5});
  note_skew(skews, {"m", "1", "a", 0, "2", "b", 3});
  ASSERT_EQ(skews.size(), 2u);
  EXPECT_EQ(skews[0].module, "a");
  EXPECT_EQ(skews[1].module, "m");
  EXPECT_EQ(skews[1].cluster_checksum, "c");
}

}  // namespace
}  // namespace lemon
