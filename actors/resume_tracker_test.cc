#include "actors/resume_tracker.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// Every actor counts once, whether it resumes or leaves, in any order.
TEST(ResumeTrackerTest, ActorsThatLeaveCountOnceAndOnlyResumedOnesHaveAPause) {
  ResumeTracker tracker(4);
  EXPECT_FALSE(tracker.await_resumed(absl::ZeroDuration()));
  tracker.resumed(0, 1500);
  tracker.resumed(0, 9999);  // a second report is ignored
  tracker.gone(1);
  tracker.gone(1);  // twice: no effect
  EXPECT_EQ(tracker.to_resume(), 2u);
  EXPECT_EQ(tracker.not_resumed(), (std::vector<std::size_t>{2, 3}));
  tracker.resumed(2, 700);
  tracker.gone(2);  // resumed, then left: no longer reported, counted once
  EXPECT_FALSE(tracker.await_resumed(absl::ZeroDuration()));
  tracker.gone(3);
  EXPECT_TRUE(tracker.await_resumed(absl::ZeroDuration()));
  EXPECT_EQ(tracker.pauses_ns(), std::vector<uint64_t>{1500});
  EXPECT_TRUE(tracker.not_resumed().empty());
}

// Resumes reported in a batch count like single ones: once per actor, and not for a gone one.
TEST(ResumeTrackerTest, BatchedResumesCountOnceEachAndSkipActorsAlreadyReported) {
  ResumeTracker tracker(4);
  tracker.gone(1);
  tracker.resumed(3, 42);
  tracker.resumed({{0, 100}, {1, 200}, {2, 300}, {3, 400}});
  EXPECT_TRUE(tracker.await_resumed(absl::ZeroDuration()));
  EXPECT_EQ(tracker.pauses_ns(), (std::vector<uint64_t>{100, 300, 42}));
}

}  // namespace
}  // namespace lemon
