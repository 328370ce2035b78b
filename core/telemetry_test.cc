#include "core/telemetry.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TelemetryEvent event(const char* name) { return TelemetryEvent{name, {}, {}}; }

TEST(TelemetryTest, DeliversOnlySubscribedEventsWithTheirData) {
  Telemetry telemetry;
  std::vector<TelemetryEvent> got;
  ASSERT_TRUE(telemetry
                  .attach("h", {kReloadStop, kReloadException},
                          [&](const TelemetryEvent& e) { got.push_back(e); })
                  .ok());
  telemetry.emit(event(kReloadStart));
  telemetry.emit({kReloadStop, {{"duration_seconds", 0.5}}, {{"kind", "module"}}});
  telemetry.emit(event(kReloadException));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].name, kReloadStop);
  EXPECT_EQ(got[0].measurements.at("duration_seconds"), 0.5);
  EXPECT_EQ(got[0].metadata.at("kind"), "module");
  EXPECT_EQ(got[1].name, kReloadException);
}

TEST(TelemetryTest, DuplicateIdIsAlreadyExists) {
  Telemetry telemetry;
  ASSERT_TRUE(telemetry.attach("h", {kReloadStop}, [](const TelemetryEvent&) {}).ok());
  absl::Status s = telemetry.attach("h", {kReloadStart}, [](const TelemetryEvent&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(telemetry.handler_ids(), ElementsAre("h"));
}

TEST(TelemetryTest, EmptyHandlerIsInvalid) {
  Telemetry telemetry;
  EXPECT_EQ(telemetry.attach("h", {kReloadStop}, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(telemetry.handler_ids(), IsEmpty());
}

TEST(TelemetryTest, DetachStopsDeliveryAndFreesTheId) {
  Telemetry telemetry;
  int calls = 0;
  ASSERT_TRUE(telemetry.attach("h", {kReloadStop}, [&](const TelemetryEvent&) { ++calls; }).ok());
  telemetry.emit(event(kReloadStop));
  EXPECT_TRUE(telemetry.detach("h"));
  EXPECT_FALSE(telemetry.detach("h"));
  telemetry.emit(event(kReloadStop));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(telemetry.attach("h", {kReloadStop}, [](const TelemetryEvent&) {}).ok());
}

TEST(TelemetryTest, HandlersRunInAttachOrderAndANameListedTwiceCountsOnce) {
  Telemetry telemetry;
  std::vector<std::string> order;
  ASSERT_TRUE(
      telemetry
          .attach("b", {kLockWait, kLockWait}, [&](const TelemetryEvent&) { order.push_back("b"); })
          .ok());
  ASSERT_TRUE(
      telemetry.attach("a", {kLockWait}, [&](const TelemetryEvent&) { order.push_back("a"); })
          .ok());
  telemetry.emit(event(kLockWait));
  EXPECT_THAT(order, ElementsAre("b", "a"));
}

TEST(TelemetryTest, HandlerMayDetachItselfAndEmitAgain) {
  Telemetry telemetry;
  int once_calls = 0;
  int other_calls = 0;
  ASSERT_TRUE(telemetry
                  .attach("once", {kModuleLoaded},
                          [&](const TelemetryEvent&) {
                            ++once_calls;
                            EXPECT_TRUE(telemetry.detach("once"));
                            telemetry.emit(event(kModulePurged));
                          })
                  .ok());
  ASSERT_TRUE(telemetry
                  .attach("other", {kModuleLoaded, kModulePurged},
                          [&](const TelemetryEvent&) { ++other_calls; })
                  .ok());
  telemetry.emit(event(kModuleLoaded));
  telemetry.emit(event(kModuleLoaded));
  EXPECT_EQ(once_calls, 1);
  EXPECT_EQ(other_calls, 3);  // purged from inside "once", then loaded twice
  EXPECT_THAT(telemetry.handler_ids(), ElementsAre("other"));
}

TEST(TelemetryTest, ThrowingHandlerIsDetachedAndOthersStillRun) {
  Telemetry telemetry;
  int before = 0;
  int after = 0;
  ASSERT_TRUE(
      telemetry.attach("before", {kReloadStop}, [&](const TelemetryEvent&) { ++before; }).ok());
  ASSERT_TRUE(telemetry
                  .attach("throws", {kReloadStop},
                          [](const TelemetryEvent&) { throw std::runtime_error("boom"); })
                  .ok());
  ASSERT_TRUE(
      telemetry.attach("ints", {kReloadStop}, [](const TelemetryEvent&) { throw 42; }).ok());
  ASSERT_TRUE(
      telemetry.attach("after", {kReloadStop}, [&](const TelemetryEvent&) { ++after; }).ok());
  telemetry.emit(event(kReloadStop));
  telemetry.emit(event(kReloadStop));
  EXPECT_EQ(before, 2);
  EXPECT_EQ(after, 2);
  EXPECT_THAT(telemetry.handler_ids(), ElementsAre("after", "before"));
}

TEST(TelemetryTest, ThrowingHandlerDoesNotDetachANewHandlerWithItsId) {
  Telemetry telemetry;
  int replacement_calls = 0;
  ASSERT_TRUE(telemetry
                  .attach("h", {kReloadStop},
                          [&](const TelemetryEvent&) {
                            telemetry.detach("h");
                            EXPECT_TRUE(
                                telemetry
                                    .attach("h", {kReloadStop},
                                            [&](const TelemetryEvent&) { ++replacement_calls; })
                                    .ok());
                            throw std::runtime_error("boom");
                          })
                  .ok());
  telemetry.emit(event(kReloadStop));
  telemetry.emit(event(kReloadStop));
  EXPECT_EQ(replacement_calls, 1);
  EXPECT_THAT(telemetry.handler_ids(), ElementsAre("h"));
}

TEST(TelemetryTest, ConcurrentEmitAttachAndDetach) {
  Telemetry telemetry;
  std::atomic<int> counted{0};
  ASSERT_TRUE(
      telemetry
          .attach("counter", {kActorSuspend}, [&](const TelemetryEvent&) { counted.fetch_add(1); })
          .ok());
  constexpr int kEmitters = 4;
  constexpr int kEvents = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kEmitters; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEvents; ++i) telemetry.emit(event(kActorSuspend));
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 500; ++i) {
      const std::string id = "churn-" + std::to_string(i);
      EXPECT_TRUE(telemetry.attach(id, {kActorSuspend}, [](const TelemetryEvent&) {}).ok());
      EXPECT_TRUE(telemetry.detach(id));
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(counted.load(), kEmitters * kEvents);
  EXPECT_THAT(telemetry.handler_ids(), ElementsAre("counter"));
}

}  // namespace
}  // namespace lemon
