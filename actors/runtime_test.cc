#include "actors/runtime.h"

#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/policy/work_sharing.hpp"
#include "caf/policy/work_stealing.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lemon-runtime-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    options_.state_dir = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + options_.state_dir + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  template <class Policy>
  static bool runs_on(Runtime& rt) {
    return dynamic_cast<caf::scheduler::coordinator<Policy>*>(&rt.system().scheduler()) != nullptr;
  }

  Runtime::Options options_;
};

TEST_F(RuntimeTest, RunsOnWorkStealingByDefaultAndOnWorkSharingWhenAsked) {
  {
    auto rt = Runtime::create(options_);
    ASSERT_TRUE(rt.ok()) << rt.status();
    EXPECT_TRUE(runs_on<caf::policy::work_stealing>(**rt));
  }
  options_.scheduler = "sharing";
  auto rt = Runtime::create(options_);
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_TRUE(runs_on<caf::policy::work_sharing>(**rt));
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
