// What the supervisor tests share: an actor system with the counter module loaded, a reload
// manager, and a scoped actor that starts supervisors, subscribes to their reports and waits for
// answers, reports and down messages under a deadline.
#ifndef LEMON_ACTORS_SUPERVISOR_TEST_FIXTURE_H_
#define LEMON_ACTORS_SUPERVISOR_TEST_FIXTURE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/reloadable_actor.h"
#include "actors/supervisor.h"
#include "actors/test_ask.h"
#include "caf/all.hpp"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "reload/reload_manager.h"

namespace lemon {

constexpr auto kDeadline = std::chrono::seconds(60);

inline std::string counter(const std::string& v) {
  return testing::runfile("extensions/counter/libcounter_v" + v + ".so");
}

// A counter worker starting at 7.
inline ChildSpec child(const std::string& name, Restart restart = Restart::kPermanent) {
  ChildSpec c;
  c.spawn = {"counter", "", name, "7"};
  c.restart = restart;
  return c;
}

inline SupervisorSpec supervisor(Strategy strategy, std::vector<ChildSpec> children,
                                 const std::string& name = "sup") {
  SupervisorSpec spec;
  spec.name = name;
  spec.strategy = strategy;
  spec.intensity = 10;
  spec.period = absl::Seconds(60);
  spec.children = std::move(children);
  return spec;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cs_ = std::move(CodeServer::create({dir_.path()}).value());
    ASSERT_TRUE(cs_->load(counter("1")).ok());
    manager_ = std::make_unique<ReloadManager>(*sys_, registry_, *cs_);
  }

  void TearDown() override {
    for (const caf::actor& sup : sups_) {
      (*self_)->monitor(sup);
      (*self_)->send_exit(sup, caf::exit_reason::user_shutdown);
      (*self_)->receive([](caf::down_msg&) {},
                        caf::after(kDeadline) >> [] { ADD_FAILURE() << "supervisor still runs"; });
    }
    registry_->stop_all();
    sups_.clear();
    self_.reset();
    manager_.reset();
    sys_.reset();
    cs_.reset();
  }

  // Starts a supervisor and subscribes to its reports.
  caf::actor start(SupervisorSpec spec) {
    auto sup = spawn_supervisor(*sys_, registry_, *cs_, std::move(spec));
    EXPECT_TRUE(sup.ok()) << sup.status();
    if (!sup.ok()) return caf::actor{};
    sups_.push_back(*sup);
    watch(*sup);
    return *sup;
  }

  // Subscribes to the reports of `sup`.
  void watch(const caf::actor& sup) {
    (*self_)
        ->request(sup, kDeadline, sup_watch_atom::value)
        .receive([] {}, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  }

  std::vector<SupervisedChild> children(const caf::actor& sup) {
    return ask<std::vector<SupervisedChild>>(sup, sup_which_atom::value);
  }

  // The next report of a watched supervisor: which child's exit it handled and its new handle
  // (invalid if the child was not restarted).
  SupervisedChild next_report() {
    SupervisedChild out;
    (*self_)->receive(
        [&](sup_report_atom, std::string& name, caf::actor& handle) {
          out = {std::move(name), std::move(handle)};
        },
        caf::after(kDeadline) >> [] { ADD_FAILURE() << "no report from the supervisor"; });
    return out;
  }

  // Expects the reports of a restart of all of `before`: every child, in start order, started
  // again under its name with a new handle.
  void expect_all_restarted(const std::vector<SupervisedChild>& before) {
    for (const SupervisedChild& old : before) {
      SCOPED_TRACE(old.name);
      SupervisedChild report = next_report();
      EXPECT_EQ(report.name, old.name) << "reports come in start order";
      ASSERT_TRUE(report.handle);
      EXPECT_NE(report.handle, old.handle);
      EXPECT_EQ(registry_->whereis(report.name), report.handle);
    }
  }

  // The exit reason of `a`, which must have been monitored; down messages of other actors that
  // come first are kept for their own call.
  caf::error await_down(const caf::actor& a) {
    const caf::actor_addr addr = a.address();
    bool timed_out = false;
    while (downs_.count(addr) == 0 && !timed_out) {
      (*self_)->receive([&](caf::down_msg& dm) { downs_[dm.source] = std::move(dm.reason); },
                        caf::after(kDeadline) >> [&] { timed_out = true; });
    }
    if (timed_out) ADD_FAILURE() << "still running";
    return downs_[addr];
  }

  std::string render(const caf::error& e) { return sys_->render(e); }

  void kill(const caf::actor& a) { caf::anon_send_exit(a, caf::exit_reason::kill); }

  template <class T, class... Ts>
  T ask(const caf::actor& a, Ts... xs) {
    return ask_reply<T>(*self_, kDeadline, a, xs...);
  }

  testing::ScratchDir dir_;
  std::unique_ptr<CodeServer> cs_;
  std::shared_ptr<ActorRegistry> registry_ = std::make_shared<ActorRegistry>();
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_ = std::make_unique<caf::actor_system>(cfg_);
  std::unique_ptr<caf::scoped_actor> self_ = std::make_unique<caf::scoped_actor>(*sys_);
  std::unique_ptr<ReloadManager> manager_;
  std::vector<caf::actor> sups_;
  std::map<caf::actor_addr, caf::error> downs_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_SUPERVISOR_TEST_FIXTURE_H_
