#include "actors/graveyard.h"

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/behaviour.h"
#include "actors/messages.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// What was destroyed, in order, and on which thread.
struct Log {
  std::mutex mu;
  std::vector<std::string> events;
  std::thread::id thread;
  void add(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
    thread = std::this_thread::get_id();
  }
};

// A behaviour made by the test (the version it claims is a real loaded module).
class Recorded : public Behaviour {
 public:
  explicit Recorded(std::shared_ptr<Log> log) : log_(std::move(log)) {}
  ~Recorded() override { log_->add("behaviour"); }
  caf::message_handler handlers(ActorContext&) override { return {}; }
  std::string export_state() const override { return ""; }
  std::string format_status() const override { return "{}"; }

 private:
  std::shared_ptr<Log> log_;
};

void destroy_recorded(Behaviour* b) noexcept { delete b; }

// Something handlers capture, to see when they are destroyed.
struct Witness {
  std::shared_ptr<Log> log;
  ~Witness() { log->add("handlers"); }
};

class GraveyardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cs_ = std::move(CodeServer::create({dir_.path()}).value());
    v1_ = cs_->load(testing::runfile("extensions/counter/libcounter_v1.so")).value();
  }
  void TearDown() override {
    v1_.reset();
    cs_.reset();
  }

  // An installed behaviour as an actor holds it: a claim on v1, the behaviour, its handlers.
  void make(const std::shared_ptr<Log>& log, Instance& instance, caf::message_handler& handlers) {
    instance.use = ModuleUse(v1_);
    instance.behaviour = std::unique_ptr<Behaviour, BehaviourDeleter>(
        new Recorded(log), BehaviourDeleter{&destroy_recorded});
    auto witness = std::make_shared<Witness>();
    witness->log = log;
    handlers = caf::message_handler{[witness](get_atom) { return int64_t{0}; }};
  }

  testing::ScratchDir dir_;
  std::unique_ptr<CodeServer> cs_;
  ModuleRef v1_;
};

TEST_F(GraveyardTest, ABuriedBehaviourStopsCountingAtOnceButKeepsItsVersionMapped) {
  auto log = std::make_shared<Log>();
  Instance instance;
  caf::message_handler handlers;
  make(log, instance, handlers);
  EXPECT_EQ(v1_->actor_count(), 1);
  const long refs = v1_.use_count();

  Graveyard g;
  g.bury(std::move(instance), std::move(handlers));
  EXPECT_EQ(v1_->actor_count(), 0) << "soft_purge must see that no actor runs v1";
  EXPECT_EQ(v1_.use_count(), refs) << "the grave still holds v1 mapped";
  EXPECT_TRUE(log->events.empty()) << "nothing destroyed before clear()";
  EXPECT_EQ(g.size(), 1u);

  g.clear();
  EXPECT_EQ(v1_.use_count(), refs - 1);
  EXPECT_EQ(log->events, (std::vector<std::string>{"handlers", "behaviour"}))
      << "handlers (module code that may point into the behaviour) go first";
}

TEST_F(GraveyardTest, AnEmptyInstanceIsNotBuried) {
  Graveyard g;
  g.bury(Instance{}, caf::message_handler{});
  EXPECT_TRUE(g.empty());
}

TEST_F(GraveyardTest, TheReaperDestroysOnItsOwnThreadAndFlushWaitsForIt) {
  auto log = std::make_shared<Log>();
  Reaper reaper;
  for (int k = 0; k < 3; ++k) {
    Graveyard g;
    for (int i = 0; i < 100; ++i) {
      Instance instance;
      caf::message_handler handlers;
      make(log, instance, handlers);
      g.bury(std::move(instance), std::move(handlers));
    }
    reaper.bury(std::move(g));
  }
  EXPECT_EQ(v1_->actor_count(), 0);
  reaper.flush();
  std::lock_guard<std::mutex> lock(log->mu);
  EXPECT_EQ(log->events.size(), 600u);
  EXPECT_NE(log->thread, std::this_thread::get_id());
}

TEST_F(GraveyardTest, AReaperDestroysWhatIsLeftWhenItStops) {
  auto log = std::make_shared<Log>();
  {
    Reaper reaper;
    Graveyard g;
    Instance instance;
    caf::message_handler handlers;
    make(log, instance, handlers);
    g.bury(std::move(instance), std::move(handlers));
    reaper.bury(std::move(g));
  }
  EXPECT_EQ(log->events, (std::vector<std::string>{"handlers", "behaviour"}));
}

}  // namespace
}  // namespace lemon
