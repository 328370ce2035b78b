#include "actors/front_of_queue.h"

#include <dirent.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "caf/all.hpp"
#include "gtest/gtest.h"
#include "testing/worker_gate.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;
using mark_atom = caf::atom_constant<caf::atom("mark")>;

// What the actors of a test did, in order.
struct Log {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> marks;

  // Waits (with a deadline) until `n` marks are in.
  bool wait_for_marks(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, Clock::now() + std::chrono::seconds(30),
                         [&] { return marks.size() == n; });
  }
};

caf::behavior marker(caf::event_based_actor*, Log* log, std::string name) {
  return {
      [log, name](mark_atom) {
        std::lock_guard<std::mutex> lock(log->mu);
        log->marks.push_back(name);
        log->cv.notify_all();
      },
  };
}

// Run with each of CAF's schedulers: "stealing" and "sharing".
class FrontOfQueueTest : public ::testing::TestWithParam<caf::atom_value> {
 protected:
  void start(caf::timespan relaxed_sleep) {
    cfg_.set("scheduler.policy", GetParam());
    cfg_.set("scheduler.max-threads", 1);
    cfg_.set("work-stealing.relaxed-sleep-duration", relaxed_sleep);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }
  void TearDown() override {
    gate_.open();
    sys_.reset();
  }

  // Sends `a` a mark through `unit` (nullptr: as CAF would from outside a worker).
  static void mark(const caf::actor& a, caf::execution_unit* unit) {
    caf::actor_cast<caf::abstract_actor*>(a)->enqueue(
        caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, mark_atom::value), unit);
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  Log log_;
  WorkerGate gate_;
};

TEST_P(FrontOfQueueTest, AnActorItWakesRunsBeforeTheActorsAlreadyWaiting) {
  start(std::chrono::milliseconds(10));
  FrontOfQueue front(*sys_);
  ASSERT_TRUE(front.at_front());
  std::vector<caf::actor> queued;
  for (const char* name : {"a", "b", "c"}) queued.push_back(sys_->spawn(marker, &log_, name));
  caf::actor woken = sys_->spawn(marker, &log_, "woken");
  // Let every actor start before the worker is taken, so only the marks wait in its queue.
  for (const caf::actor& a : queued) mark(a, nullptr);
  mark(woken, nullptr);
  ASSERT_TRUE(log_.wait_for_marks(4));
  log_.marks.clear();

  ASSERT_TRUE(gate_.close(*sys_));                      // the only worker is taken
  for (const caf::actor& a : queued) mark(a, nullptr);  // to the back, in this order
  mark(woken, &front);                                  // to the front
  front.flush();
  gate_.open();

  ASSERT_TRUE(log_.wait_for_marks(4));
  EXPECT_EQ(log_.marks, (std::vector<std::string>{"woken", "a", "b", "c"}));
}

// How many entries the only worker's queue holds (work stealing): takes them out and puts them
// back in the same order. Call with the worker held at a gate.
std::size_t stealing_queue_length(caf::actor_system& sys) {
  auto* stealing =
      dynamic_cast<caf::scheduler::coordinator<caf::policy::work_stealing>*>(&sys.scheduler());
  auto& queue = stealing->worker_by_id(0)->data().queue;
  std::vector<caf::resumable*> jobs;
  while (caf::resumable* job = queue.take_head()) jobs.push_back(job);
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) queue.prepend(*it);
  return jobs.size();
}

TEST_P(FrontOfQueueTest, ManyWokenActorsTakeAFewQueueEntriesAndAllRun) {
  // A thief takes the last entry of a work-stealing queue by walking all of it under the queue's
  // locks: one entry per woken actor would make each steal walk thousands.
  start(std::chrono::milliseconds(10));
  constexpr int kActors = 300;
  std::vector<caf::actor> actors;
  for (int i = 0; i < kActors; ++i) actors.push_back(sys_->spawn(marker, &log_, "x"));
  for (const caf::actor& a : actors) mark(a, nullptr);  // each has started before the gate
  ASSERT_TRUE(log_.wait_for_marks(kActors));
  log_.marks.clear();

  ASSERT_TRUE(gate_.close(*sys_));
  {
    FrontOfQueue front(*sys_);
    for (const caf::actor& a : actors) mark(a, &front);
  }
  if (GetParam() == caf::atom("stealing")) {
    EXPECT_LE(stealing_queue_length(*sys_), 5u);
  }
  gate_.open();
  EXPECT_TRUE(log_.wait_for_marks(kActors));
}

// The name and state letter of a thread of this process ("R" running, "S" asleep, ...), from
// /proc/self/task/<tid>/stat; empty when it cannot be read.
std::pair<std::string, char> thread_state(const std::string& tid) {
  std::ifstream stat("/proc/self/task/" + tid + "/stat");
  std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= line.size()) {
    return {};
  }
  return {line.substr(open + 1, close - open - 1), line[close + 2]};
}

// Whether every scheduler worker of this process (CAF 0.17 names them "caf.multiplexer") sleeps.
bool workers_asleep() {
  int workers = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return false;
  bool asleep = true;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const auto [name, state] = thread_state(e->d_name);
    if (name != "caf.multiplexer") continue;
    ++workers;
    if (state != 'S') asleep = false;
  }
  closedir(dir);
  return workers > 0 && asleep;
}

TEST_P(FrontOfQueueTest, ItWakesAWorkerThatSleeps) {
  // A worker with nothing to do ends up asleep on its condition variable (work stealing: after a
  // while of polling, here for a minute; work sharing: until notified): only a notification gets
  // the job to run within the deadline.
  start(std::chrono::seconds(60));
  caf::actor woken = sys_->spawn(marker, &log_, "woken");
  auto* stealing =
      dynamic_cast<caf::scheduler::coordinator<caf::policy::work_stealing>*>(&sys_->scheduler());
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    bool asleep;
    if (stealing != nullptr) {
      auto& data = stealing->worker_by_id(0)->data();
      std::lock_guard<std::mutex> lock(data.waitdata.lock);
      asleep = data.waitdata.sleeping;
    } else {
      asleep = workers_asleep();
    }
    if (asleep) break;
    ASSERT_LT(Clock::now(), deadline) << "the worker never went to sleep";
    std::this_thread::yield();
  }
  FrontOfQueue front(*sys_);
  mark(woken, &front);
  front.flush();
  ASSERT_TRUE(log_.wait_for_marks(1));
}

INSTANTIATE_TEST_SUITE_P(CafSchedulers, FrontOfQueueTest,
                         ::testing::Values(caf::atom("stealing"), caf::atom("sharing")),
                         [](const ::testing::TestParamInfo<caf::atom_value>& info) {
                           return caf::to_string(info.param);
                         });

}  // namespace
}  // namespace lemon
