#include "actors/crew.h"

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(CrewTest, EveryIndexIsCoveredOnceAndEachWorkerIsOneThreadAtATime) {
  Crew crew("crew-test");
  for (std::size_t workers : {1u, 2u, 4u}) {
    constexpr std::size_t kN = 10007;
    std::vector<std::atomic<int>> seen(kN);
    std::vector<std::atomic<int>> inside(workers);
    std::atomic<bool> overlapped{false};
    crew.for_each_chunk(kN, workers, 64, [&](std::size_t w, std::size_t begin, std::size_t end) {
      ASSERT_LT(w, workers);
      if (inside[w].fetch_add(1) != 0) overlapped = true;
      for (std::size_t i = begin; i < end; ++i) seen[i].fetch_add(1);
      inside[w].fetch_sub(1);
    });
    for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(seen[i].load(), 1) << "index " << i;
    EXPECT_FALSE(overlapped) << workers << " workers";
  }
}

TEST(CrewTest, ThreadsAreKeptForTheNextTasks) {
  Crew crew("crew-test");
  for (int i = 0; i < 5; ++i) {
    absl::Notification done;
    crew.run([&] { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  }
  // Many calls with a helper each, where this thread usually does all the work before the helper
  // starts: the helpers no thread took are withdrawn, so the crew does not grow with the calls.
  // (A thread that has not yet counted itself idle after a task can make a call start one more:
  // a few, not one per call.)
  for (int i = 0; i < 40; ++i) {
    crew.for_each_chunk(1000, 2, 10, [](std::size_t, std::size_t, std::size_t) {});
  }
  EXPECT_LE(crew.threads_started(), 10u);
}

// A task that does not return keeps its thread: later work is not held by it.
TEST(CrewTest, ATaskThatDoesNotReturnDoesNotHoldLaterWork) {
  Crew crew("crew-test");
  auto release = std::make_shared<absl::Notification>();
  absl::Notification started;
  crew.run([release, &started] {
    started.Notify();
    release->WaitForNotification();
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::atomic<std::size_t> covered{0};
  crew.for_each_chunk(5000, 2, 100,
                      [&](std::size_t, std::size_t b, std::size_t e) { covered += e - b; });
  EXPECT_EQ(covered.load(), 5000u);
  absl::Notification ran;
  crew.run([&] { ran.Notify(); });
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  release->Notify();
}

// The crew goes while one of its threads is still in a task: that thread is left to end on its own
// (the destructor does not wait for it).
TEST(CrewTest, ACrewCanGoWhileATaskStillRuns) {
  auto release = std::make_shared<absl::Notification>();
  auto ended = std::make_shared<absl::Notification>();
  {
    Crew crew("crew-test");
    absl::Notification started;
    crew.run([release, ended, &started] {
      started.Notify();
      release->WaitForNotification();
      ended->Notify();
    });
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
    crew.run([] {});  // another thread, idle by the time the crew goes
  }
  release->Notify();
  EXPECT_TRUE(ended->WaitForNotificationWithTimeout(absl::Seconds(30)));
}

}  // namespace
}  // namespace lemon
