#include "node/runtime.h"

#include <cstdint>
#include <string>
#include <thread>
#include <typeinfo>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/policy/work_sharing.hpp"
#include "caf/policy/work_stealing.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "caf/settings.hpp"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { options_.state_dir = dir_.path(); }

  template <class Policy>
  static bool runs_on(Runtime& rt) {
    return dynamic_cast<caf::scheduler::coordinator<Policy>*>(&rt.system().scheduler()) != nullptr;
  }

  testing::ScratchDir dir_;
  Runtime::Options options_;
};

TEST(ChooseSchedulerTest, AutoIsSharingOnUpToTwoCoresAndStealingAbove) {
  for (const char* requested : {"", "auto"}) {
    EXPECT_EQ(choose_scheduler(requested, 1).value(), "sharing");
    EXPECT_EQ(choose_scheduler(requested, 2).value(), "sharing");
    EXPECT_EQ(choose_scheduler(requested, 3).value(), "stealing");
    EXPECT_EQ(choose_scheduler(requested, 64).value(), "stealing");
  }
  EXPECT_EQ(choose_scheduler("stealing", 2).value(), "stealing");
  EXPECT_EQ(choose_scheduler("sharing", 64).value(), "sharing");
}

TEST_F(RuntimeTest, RunsTheSchedulerAskedForAndSaysWhichAutoChose) {
  for (const char* requested : {"stealing", "sharing", ""}) {
    options_.scheduler = requested;
    auto rt = Runtime::create(options_);
    ASSERT_TRUE(rt.ok()) << rt.status();
    const std::string expected =
        choose_scheduler(requested, std::thread::hardware_concurrency()).value();
    EXPECT_EQ((*rt)->options().scheduler, expected);
    EXPECT_EQ(runs_on<caf::policy::work_sharing>(**rt), expected == "sharing");
    EXPECT_EQ(runs_on<caf::policy::work_stealing>(**rt), expected == "stealing");
  }
}

struct HostOrder {
  int64_t amount = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, HostOrder& x) {
  return f(x.amount);
}

TEST_F(RuntimeTest, TheEmbeddingProgramAddsItsOwnSettingsAndTypes) {
  options_.configure = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<HostOrder>("test.HostOrder");
    cfg.set("scheduler.max-throughput", 7);
  };
  auto rt = Runtime::create(options_);
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ((*rt)->system().types().portable_name(0, &typeid(HostOrder)), "test.HostOrder");
  EXPECT_EQ(caf::get_or((*rt)->system().config(), "scheduler.max-throughput", size_t{0}), 7u)
      << "the program's setting lost to Lemon's";
}

TEST_F(RuntimeTest, AnUnknownSchedulerIsRefusedWithItsName) {
  options_.scheduler = "round-robin";
  auto rt = Runtime::create(options_);
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(reload_error_of(rt.status()), ReloadError::kInvalidArgument) << rt.status();
  EXPECT_NE(rt.status().message().find("round-robin"), std::string::npos) << rt.status();
}

}  // namespace
}  // namespace lemon
