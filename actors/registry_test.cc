#include "actors/registry.h"

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "caf/all.hpp"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

class ActorRegistryTest : public ::testing::Test {
 protected:
  ~ActorRegistryTest() override {
    registry_.stop_all();
    for (const caf::actor& a : unregistered_) {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }

  absl::StatusOr<caf::actor> add(const std::string& module, const std::string& name = "",
                                 const std::string& parent = "") {
    return registry_.spawn_registered(
        module, module, name, parent, [&](bool) -> absl::StatusOr<caf::actor> {
          return sys_.spawn([]() -> caf::behavior { return {[](int x) { return x; }}; });
        });
  }

  void remove(const caf::actor& a) {
    registry_.unregister(a.id());
    absl::MutexLock lock(&mu_);
    unregistered_.push_back(a);
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  ActorRegistry registry_;
  absl::Mutex mu_;
  std::vector<caf::actor> unregistered_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ActorRegistryTest, PagesWalkEveryActorOnceInIdOrder) {
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(add(i % 3 == 0 ? "other" : "counter").ok());
  struct Case {
    std::string module;
    std::size_t limit;
  };
  for (const Case& c : {Case{"", 1}, Case{"", 3}, Case{"", 10}, Case{"", 11}, Case{"counter", 2},
                        Case{"counter", 6}, Case{"counter", 7}, Case{"none", 5}}) {
    SCOPED_TRACE(testing::Message() << "module '" << c.module << "' limit " << c.limit);
    std::vector<caf::actor_id> want;
    for (const ActorEntry& e : registry_.list()) {
      if (c.module.empty() || e.module == c.module) want.push_back(e.handle.id());
    }
    std::vector<caf::actor_id> seen;
    caf::actor_id after = 0;
    for (int pages = 0; pages < 20; ++pages) {
      ActorRegistry::Page p = registry_.page(after, c.limit, c.module);
      EXPECT_LE(p.actors.size(), c.limit);
      for (const ActorEntry& e : p.actors) seen.push_back(e.handle.id());
      if (!p.more) break;
      ASSERT_FALSE(p.actors.empty());
      after = p.actors.back().handle.id();
    }
    EXPECT_EQ(seen, want);
  }
}

TEST_F(ActorRegistryTest, StopAllAsksEveryRegisteredActorToExit) {
  caf::scoped_actor self{sys_};
  for (int i = 0; i < 3; ++i) {
    auto a = add("counter");
    ASSERT_TRUE(a.ok());
    self->monitor(*a);
  }
  registry_.stop_all();
  for (int i = 0; i < 3; ++i) {
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(std::chrono::seconds(60)) >> [] {});
    EXPECT_TRUE(down) << "actor " << i << " still runs";
  }
}

TEST_F(ActorRegistryTest, ATakenNameIsAlreadyExistsCarryingInvalidArgument) {
  ASSERT_TRUE(add("counter", "counter-1").ok());
  auto again = add("counter", "counter-1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reload_error_of(again.status()), ReloadError::kInvalidArgument);
  EXPECT_EQ(again.status().message(), "an actor named counter-1 already exists");
  EXPECT_EQ(registry_.count("counter"), 1u);
}

TEST_F(ActorRegistryTest, EntriesKeepTheirParentAndANameIsFreeOnceItsActorIsGone) {
  auto child = add("counter", "c-1", "sup");
  ASSERT_TRUE(child.ok());
  ASSERT_TRUE(add("counter").ok());
  std::vector<ActorEntry> all = registry_.list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].parent, "sup");
  EXPECT_EQ(all[1].parent, "");
  EXPECT_EQ(registry_.page(0, 10, "counter").actors[0].parent, "sup");

  EXPECT_FALSE(registry_.await_name_free("c-1", absl::ZeroDuration()));
  EXPECT_TRUE(registry_.await_name_free("c-2", absl::ZeroDuration()));
  remove(*child);
  EXPECT_TRUE(registry_.await_name_free("c-1", absl::ZeroDuration()));
}

TEST_F(ActorRegistryTest, CountsHookSeesSpawnsAndExitsAndItsLastCallIsTheTruth) {
  std::map<std::string, std::size_t> last;
  int calls = 0;
  registry_.set_counts_hook([&](const std::map<std::string, std::size_t>& counts) {
    ++calls;  // calls never overlap
    for (const auto& [module, n] : counts) last[module] = n;
  });
  auto a = add("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(last["a"], 1u);
  EXPECT_EQ(calls, 1);
  remove(*a);
  EXPECT_EQ(last["a"], 0u) << "the last actor's exit reports 0";

  // Many threads at once: the hook's calls are coalesced, and the last one has the final counts.
  constexpr int kThreads = 8, kPerThread = 100;
  calls = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string module = t % 2 ? "odd" : "even";
      std::vector<caf::actor> mine;
      for (int i = 0; i < kPerThread; ++i) mine.push_back(*add(module));
      for (int i = 0; i < kPerThread / 4; ++i) remove(mine[i]);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(registry_.count("odd"), 4u * 75);
  EXPECT_EQ(last["odd"], 4u * 75);
  EXPECT_EQ(last["even"], 4u * 75);
  EXPECT_LE(calls, kThreads * (kPerThread + kPerThread / 4));

  registry_.set_counts_hook(nullptr);
  const int before = calls;
  ASSERT_TRUE(add("a").ok());
  EXPECT_EQ(calls, before) << "a removed hook is not called";
}

}  // namespace
}  // namespace lemon
