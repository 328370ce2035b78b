#include "reload/thread_pool.h"

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ThreadPoolTest, EveryIndexIsCoveredOnceAndEachWorkerIsOneThreadAtATime) {
  ThreadPool pool("pool-test");
  for (std::size_t workers : {1u, 2u, 4u}) {
    constexpr std::size_t kN = 10007;
    std::vector<std::atomic<int>> seen(kN);
    std::vector<std::atomic<int>> inside(workers);
    std::atomic<bool> overlapped{false};
    pool.for_each_chunk(kN, workers, 64, [&](std::size_t w, std::size_t begin, std::size_t end) {
      ASSERT_LT(w, workers);
      if (inside[w].fetch_add(1) != 0) overlapped = true;
      for (std::size_t i = begin; i < end; ++i) seen[i].fetch_add(1);
      inside[w].fetch_sub(1);
    });
    for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(seen[i].load(), 1) << "index " << i;
    EXPECT_FALSE(overlapped) << workers << " workers";
  }
}

// A call may start a thread while another is about to be free (slowly, under a sanitizer or on a
// loaded machine): idle threads beyond two end after two seconds without a task, so the pool does
// not grow with the number of calls, and the ones kept still serve.
TEST(ThreadPoolTest, ThePoolDoesNotGrowWithTheCalls) {
  ThreadPool pool("pool-test");
  for (int i = 0; i < 5; ++i) {
    absl::Notification done;
    pool.run([&] { done.Notify(); });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  }
  for (int i = 0; i < 40; ++i) {
    pool.for_each_chunk(1000, 2, 10, [](std::size_t, std::size_t, std::size_t) {});
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (pool.threads() > 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling a condition (no event to wait on)
  }
  EXPECT_LE(pool.threads(), 2u);
  absl::Notification served;
  pool.run([&] { served.Notify(); });
  EXPECT_TRUE(served.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

// Four tasks at once need four threads; once they are done, all but two end.
TEST(ThreadPoolTest, IdleThreadsBeyondTwoEnd) {
  ThreadPool pool("pool-test");
  absl::Notification release;
  std::atomic<int> running{0};
  for (int i = 0; i < 4; ++i) {
    pool.run([&] {
      running.fetch_add(1);
      release.WaitForNotification();
      running.fetch_sub(1);
    });
  }
  const absl::Time started = absl::Now() + absl::Seconds(30);
  while (running.load() < 4 && absl::Now() < started) {
    absl::SleepFor(absl::Milliseconds(5));  // polling a condition (no event to wait on)
  }
  ASSERT_EQ(running.load(), 4);
  EXPECT_EQ(pool.threads(), 4u);
  release.Notify();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (pool.threads() > 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling a condition (no event to wait on)
  }
  EXPECT_EQ(pool.threads(), 2u);
}

// A task that does not return keeps its thread: later work is not held by it.
TEST(ThreadPoolTest, ATaskThatDoesNotReturnDoesNotHoldLaterWork) {
  ThreadPool pool("pool-test");
  auto release = std::make_shared<absl::Notification>();
  absl::Notification started;
  pool.run([release, &started] {
    started.Notify();
    release->WaitForNotification();
  });
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  std::atomic<std::size_t> covered{0};
  pool.for_each_chunk(5000, 2, 100,
                      [&](std::size_t, std::size_t b, std::size_t e) { covered += e - b; });
  EXPECT_EQ(covered.load(), 5000u);
  absl::Notification ran;
  pool.run([&] { ran.Notify(); });
  EXPECT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  release->Notify();
}

// The pool goes while one of its threads is still in a task: that thread is left to end on its own
// (the destructor does not wait for it).
TEST(ThreadPoolTest, APoolCanGoWhileATaskStillRuns) {
  auto release = std::make_shared<absl::Notification>();
  auto ended = std::make_shared<absl::Notification>();
  {
    ThreadPool pool("pool-test");
    absl::Notification started;
    pool.run([release, ended, &started] {
      started.Notify();
      release->WaitForNotification();
      ended->Notify();
    });
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
    pool.run([] {});  // another thread, idle by the time the pool goes
  }
  release->Notify();
  EXPECT_TRUE(ended->WaitForNotificationWithTimeout(absl::Seconds(30)));
}

}  // namespace
}  // namespace lemon
