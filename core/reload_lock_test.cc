#include "core/reload_lock.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/reload_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using ::testing::HasSubstr;

// Generous: on a loaded machine waits are slow, but a correct lock never needs this long.
constexpr absl::Duration kLong = absl::Seconds(60);

TEST(ReloadLockTest, FreeLockIsAcquiredAtOnceAndReportsItsHolder) {
  ReloadLock lock;
  EXPECT_FALSE(lock.holder().has_value());
  const absl::Time before = absl::Now();
  absl::StatusOr<ReloadLock::Guard> guard = lock.acquire("alice", absl::ZeroDuration());
  ASSERT_TRUE(guard.ok()) << guard.status();
  EXPECT_TRUE(guard->held());
  EXPECT_EQ(guard->owner(), "alice");
  std::optional<HolderInfo> holder = lock.holder();
  ASSERT_TRUE(holder.has_value());
  EXPECT_EQ(holder->owner, "alice");
  EXPECT_EQ(holder->token, guard->token());
  EXPECT_GE(holder->since, before);
  guard->release();
  EXPECT_FALSE(guard->held());
  EXPECT_FALSE(lock.holder().has_value());
}

TEST(ReloadLockTest, SixteenConcurrentCallersNeverOverlapAndAllFinish) {
  ReloadLock lock;
  constexpr int kThreads = 16;
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> done{0};
  absl::Mutex tokens_mu;
  std::vector<uint64_t> tokens;  // in the order holders entered
  absl::Notification go;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      go.WaitForNotification();
      auto guard = lock.acquire("worker-" + std::to_string(i), kLong);
      ASSERT_TRUE(guard.ok()) << guard.status();
      const int now = inside.fetch_add(1) + 1;
      int seen = max_inside.load();
      while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
      }
      {
        absl::MutexLock l(&tokens_mu);
        tokens.push_back(guard->token());
      }
      for (int spin = 0; spin < 100; ++spin) std::this_thread::yield();
      inside.fetch_sub(1);
      done.fetch_add(1);
    });
  }
  go.Notify();
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), kThreads);
  EXPECT_EQ(max_inside.load(), 1);
  ASSERT_EQ(tokens.size(), static_cast<size_t>(kThreads));
  for (size_t i = 1; i < tokens.size(); ++i) EXPECT_LT(tokens[i - 1], tokens[i]);
  EXPECT_FALSE(lock.holder().has_value());
  EXPECT_EQ(lock.waiting(), 0u);
}

TEST(ReloadLockTest, WaitersAreServedInArrivalOrder) {
  ReloadLock lock;
  auto first = lock.acquire("first", absl::ZeroDuration());
  ASSERT_TRUE(first.ok());
  constexpr int kWaiters = 6;
  absl::Mutex order_mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiters; ++i) {
    threads.emplace_back([&, i] {
      auto guard = lock.acquire("waiter-" + std::to_string(i), kLong);
      ASSERT_TRUE(guard.ok()) << guard.status();
      absl::MutexLock l(&order_mu);
      order.push_back(i);
    });
    // Waiter i is queued before waiter i + 1 starts.
    if (!lock.await_waiting(i + 1, kLong)) {
      ADD_FAILURE() << "waiter " << i << " never queued";
      break;
    }
  }
  EXPECT_EQ(lock.waiting(), static_cast<size_t>(kWaiters));
  first->release();
  for (auto& t : threads) t.join();
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST(ReloadLockTest, ShortDeadlineWhileHeldIsReloadInProgressNamingTheHolder) {
  ReloadLock lock;
  auto held = lock.acquire("alice", absl::ZeroDuration());
  ASSERT_TRUE(held.ok());
  auto refused = lock.acquire("bob", absl::Milliseconds(20));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(reload_error_of(refused.status()), ReloadError::kReloadInProgress);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("alice holds the reload lock since"));
  EXPECT_EQ(lock.holder()->owner, "alice");
  EXPECT_EQ(lock.waiting(), 0u);
}

TEST(ReloadLockTest, HolderThatThrowsReleasesTheLock) {
  ReloadLock lock;
  try {
    auto guard = lock.acquire("thrower", absl::ZeroDuration());
    ASSERT_TRUE(guard.ok());
    throw std::runtime_error("code_change failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(lock.holder().has_value());
  auto next = lock.acquire("next", absl::ZeroDuration());
  EXPECT_TRUE(next.ok()) << next.status();
}

TEST(ReloadLockTest, TimedOutWaiterDoesNotBlockLaterWaiters) {
  ReloadLock lock;
  auto held = lock.acquire("holder", absl::ZeroDuration());
  ASSERT_TRUE(held.ok());

  absl::Status early_status;
  std::thread early(
      [&] { early_status = lock.acquire("early", absl::Milliseconds(200)).status(); });
  ASSERT_TRUE(lock.await_waiting(1, kLong));
  // Usually queued behind "early"; if "early" already timed out, it must not block "late" either.
  absl::Notification late_acquired;
  std::thread late([&] {
    auto guard = lock.acquire("late", kLong);
    ASSERT_TRUE(guard.ok()) << guard.status();
    late_acquired.Notify();
  });
  early.join();
  EXPECT_EQ(reload_error_of(early_status), ReloadError::kReloadInProgress);
  EXPECT_THAT(std::string(early_status.message()), HasSubstr("holder holds the reload lock"));
  ASSERT_TRUE(lock.await_waiting(1, kLong));  // "late" is queued now
  EXPECT_FALSE(late_acquired.HasBeenNotified());
  held->release();
  EXPECT_TRUE(late_acquired.WaitForNotificationWithTimeout(kLong));
  late.join();
}

TEST(ReloadLockTest, FencingTokensStrictlyIncrease) {
  ReloadLock lock;
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto guard = lock.acquire("owner", absl::ZeroDuration());
    ASSERT_TRUE(guard.ok());
    EXPECT_GT(guard->token(), last);
    last = guard->token();
  }
  // A refused caller consumes no token.
  auto held = lock.acquire("owner", absl::ZeroDuration());
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(lock.acquire("other", absl::ZeroDuration()).ok());
  const uint64_t held_token = held->token();
  held->release();
  auto after = lock.acquire("owner", absl::ZeroDuration());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->token(), held_token + 1);
}

TEST(ReloadLockTest, MovedGuardReleasesOnce) {
  ReloadLock lock;
  auto acquired = lock.acquire("a", absl::ZeroDuration());
  ASSERT_TRUE(acquired.ok());
  ReloadLock::Guard moved = std::move(*acquired);
  EXPECT_FALSE(acquired->held());
  EXPECT_EQ(acquired->token(), 0u);
  EXPECT_TRUE(moved.held());
  EXPECT_EQ(lock.holder()->owner, "a");
  ReloadLock::Guard assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(lock.holder().has_value());
  assigned.release();
  EXPECT_FALSE(lock.holder().has_value());
  auto b = lock.acquire("b", absl::ZeroDuration());
  ASSERT_TRUE(b.ok());
  assigned.release();  // already released: must not release b's hold
  EXPECT_EQ(lock.holder()->owner, "b");
}

TEST(ReloadLockTest, EmitsLockWaitTelemetry) {
  Telemetry telemetry;
  std::vector<TelemetryEvent> events;
  ASSERT_TRUE(
      telemetry.attach("t", {kLockWait}, [&](const TelemetryEvent& e) { events.push_back(e); })
          .ok());
  ReloadLock lock(&telemetry);
  const absl::Time called = absl::Now();
  auto held = lock.acquire("alice", absl::ZeroDuration());
  const double alice_call_seconds = absl::ToDoubleSeconds(absl::Now() - called);
  ASSERT_TRUE(held.ok());
  EXPECT_FALSE(lock.acquire("bob", absl::Milliseconds(50)).ok());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].metadata.at("owner"), "alice");
  EXPECT_EQ(events[0].metadata.at("outcome"), "acquired");
  EXPECT_EQ(events[0].metadata.at("token"), std::to_string(held->token()));
  EXPECT_LE(events[0].measurements.at("wait_seconds"), alice_call_seconds);
  EXPECT_EQ(events[1].metadata.at("owner"), "bob");
  EXPECT_EQ(events[1].metadata.at("outcome"), "timeout");
  EXPECT_EQ(events[1].metadata.count("token"), 0u);
  EXPECT_GE(events[1].measurements.at("wait_seconds"), 0.05) << "bob waited out his timeout";
}

TEST(ReloadLockTest, UsableThroughTheLockServiceInterface) {
  ReloadLock concrete;
  LockService& lock = concrete;
  {
    auto guard = lock.acquire("via-interface", absl::ZeroDuration());
    ASSERT_TRUE(guard.ok());
    EXPECT_EQ(lock.holder()->owner, "via-interface");
  }
  EXPECT_FALSE(lock.holder().has_value());
}

}  // namespace
}  // namespace lemon
