#include "actors/supervisor.h"

#include <chrono>
#include <cstddef>
#include <deque>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/sec.hpp"
#include "caf/send.hpp"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

// Sent to itself to try a failed restart again (as OTP's try_again_restart).
using sup_retry_atom = caf::atom_constant<caf::atom("lsupretry")>;

// How long a restart waits for the registry to drop the dead child's name. The child's cleanup is
// already running when its down message arrives, so this is normally no wait at all.
constexpr absl::Duration kUnregisterTimeout = absl::Seconds(10);

// OTP's normal and shutdown exits: a transient child that ends so is not restarted.
bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::user_shutdown;
}

bool should_restart(Restart restart, const caf::error& reason) {
  switch (restart) {
    case Restart::kPermanent:
      return true;
    case Restart::kTransient:
      return !is_normal_exit(reason);
    case Restart::kTemporary:
      return false;
  }
  return false;
}

// Children are watched with monitors, not links: a down message carries the exit reason without
// making the supervisor trap exits, and the supervisor stops its children itself (in order on an
// exit message, all at once in on_exit when it is killed). Only its own thread touches its members.
class SupervisorActor : public caf::event_based_actor {
 public:
  SupervisorActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry,
                  const CodeServer* code_server, SupervisorSpec spec,
                  std::vector<caf::actor> started)
      : caf::event_based_actor(cfg),
        registry_(std::move(registry)),
        code_server_(*code_server),
        name_(std::move(spec.name)),
        strategy_(spec.strategy),
        intensity_(spec.intensity),
        period_(spec.period) {
    for (std::size_t i = 0; i < spec.children.size(); ++i) {
      Child c;
      c.spec = std::move(spec.children[i]);
      c.handle = std::move(started[i]);
      c.last_id = c.handle.id();
      children_.push_back(std::move(c));
    }
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    set_exit_handler([this](caf::exit_msg& em) {
      if (em.reason) shutdown(std::move(em.reason));
    });
    for (const Child& c : children_) monitor(c.handle);
    return {
        [this](sup_which_atom) { return which_children(); },
        [this](sup_watch_atom) {
          auto watcher = caf::actor_cast<caf::actor>(current_sender());
          if (watcher) watchers_.push_back(std::move(watcher));
        },
        [this](sup_retry_atom) { advance(); },
    };
  }

  void on_exit() override {
    for (std::size_t i = children_.size(); i-- > 0;) {
      if (children_[i].handle) {
        caf::anon_send_exit(children_[i].handle, caf::exit_reason::user_shutdown);
      }
      children_[i].handle = caf::actor{};
    }
    watchers_.clear();
  }

 private:
  struct Child {
    ChildSpec spec;
    caf::actor handle;          // invalid while not running
    caf::actor_id last_id = 0;  // of the latest incarnation
    bool stopping = false;      // stopped on purpose: its exit is not a crash
  };

  // An exit seen while another restart or the shutdown was running, handled after it.
  struct PendingExit {
    std::size_t index;
    caf::actor_id id;
    caf::error reason;
  };

  std::vector<SupervisedChild> which_children() const {
    std::vector<SupervisedChild> out;
    for (const Child& c : children_) out.push_back({c.spec.spawn.name, c.handle});
    return out;
  }

  bool busy() const { return shutting_down_ || !stop_queue_.empty() || !restart_queue_.empty(); }

  // Whether the running operation will still stop or start child `index`.
  bool covered(std::size_t index) const {
    for (std::size_t j : stop_queue_) {
      if (j == index) return true;
    }
    for (std::size_t j : restart_queue_) {
      if (j == index) return true;
    }
    return false;
  }

  void on_down(const caf::down_msg& dm) {
    std::size_t i = 0;
    while (i < children_.size() && children_[i].handle.address() != dm.source) ++i;
    if (i == children_.size()) return;
    Child& c = children_[i];
    c.handle = caf::actor{};
    if (c.stopping) {
      c.stopping = false;
      advance();
      return;
    }
    if (shutting_down_ || covered(i)) {
      advance();
      return;
    }
    if (busy()) {
      pending_.push_back({i, c.last_id, dm.reason});
      return;
    }
    handle_exit(i, dm.reason);
  }

  // Applies the restart type and the strategy to the unplanned exit of child `i`.
  void handle_exit(std::size_t i, const caf::error& reason) {
    if (!should_restart(children_[i].spec.restart, reason)) {
      report(i);
      return;
    }
    if (!record_restart()) {
      give_up(absl::StrCat("child ", children_[i].spec.spawn.name, " exited with ",
                           caf::to_string(reason)));
      return;
    }
    std::size_t first = i, last = i + 1;
    if (strategy_ == Strategy::kOneForAll) first = 0;
    if (strategy_ != Strategy::kOneForOne) last = children_.size();
    for (std::size_t j = first; j < last; ++j) operation_.push_back(j);
    for (std::size_t j = last; j-- > first;) {
      if (j != i) stop_queue_.push_back(j);
    }
    for (std::size_t j = first; j < last; ++j) {
      if (j == i || children_[j].spec.restart != Restart::kTemporary) restart_queue_.push_back(j);
    }
    advance();
  }

  // Moves the running operation on: stops the next child (one at a time, waiting for its down
  // message), then restarts the children in order, then handles exits that came meanwhile.
  void advance() {
    while (!stop_queue_.empty()) {
      Child& c = children_[stop_queue_.front()];
      if (c.handle) {
        if (!c.stopping) {
          c.stopping = true;
          send_exit(c.handle, caf::exit_reason::user_shutdown);
        }
        return;
      }
      stop_queue_.pop_front();
    }
    if (shutting_down_) {
      quit(shutdown_reason_);
      return;
    }
    while (!restart_queue_.empty()) {
      if (!start(restart_queue_.front())) return;
      restart_queue_.pop_front();
    }
    std::vector<std::size_t> done;
    done.swap(operation_);
    for (std::size_t j : done) report(j);
    while (!busy() && !pending_.empty()) {
      PendingExit p = std::move(pending_.front());
      pending_.pop_front();
      const Child& c = children_[p.index];
      if (c.handle || c.last_id != p.id) continue;  // restarted meanwhile
      handle_exit(p.index, p.reason);
    }
  }

  // Spawns child `i` again; false if that failed (then it is retried, or the supervisor gives up).
  bool start(std::size_t i) {
    Child& c = children_[i];
    registry_->await_gone(c.last_id, kUnregisterTimeout);
    auto spawned = spawn_reloadable(system(), registry_, code_server_, c.spec.spawn);
    if (!spawned.ok()) {
      // As in OTP, a failed restart counts as a restart and is tried again.
      if (record_restart()) {
        send(caf::actor_cast<caf::actor>(this), sup_retry_atom::value);
      } else {
        give_up(absl::StrCat("restarting child ", c.spec.spawn.name,
                             " failed: ", spawned.status().ToString()));
      }
      return false;
    }
    c.handle = std::move(*spawned);
    c.last_id = c.handle.id();
    monitor(c.handle);
    return true;
  }

  // Records one restart; false if that makes more than intensity_ within period_.
  bool record_restart() {
    const Clock::time_point now = Clock::now();
    restarts_.push_back(now);
    const auto period = absl::ToChronoNanoseconds(period_);
    while (now - restarts_.front() > period) restarts_.pop_front();
    return static_cast<int>(restarts_.size()) <= intensity_;
  }

  void give_up(const std::string& detail) {
    shutdown(caf::make_error(
        caf::sec::runtime_error,
        absl::StrCat(kMaxRestartIntensity, ": supervisor ", name_, ": more than ", intensity_,
                     " restarts within ", absl::FormatDuration(period_), "; last: ", detail)));
  }

  // Stops every child in reverse start order, one at a time, then exits with `reason`.
  void shutdown(caf::error reason) {
    if (shutting_down_) return;
    shutting_down_ = true;
    shutdown_reason_ = std::move(reason);
    restart_queue_.clear();
    pending_.clear();
    operation_.clear();
    stop_queue_.clear();
    for (std::size_t j = children_.size(); j-- > 0;) stop_queue_.push_back(j);
    advance();
  }

  void report(std::size_t i) {
    for (const caf::actor& w : watchers_) {
      send(w, sup_report_atom::value, children_[i].spec.spawn.name, children_[i].handle);
    }
  }

  std::shared_ptr<ActorRegistry> registry_;
  const CodeServer& code_server_;
  const std::string name_;
  const Strategy strategy_;
  const int intensity_;
  const absl::Duration period_;
  std::vector<Child> children_;
  std::deque<Clock::time_point> restarts_;  // within the last period_
  std::deque<std::size_t> stop_queue_;      // to stop, in this order
  std::deque<std::size_t> restart_queue_;   // to start once stop_queue_ is empty
  std::vector<std::size_t> operation_;      // children covered by the running restart
  std::deque<PendingExit> pending_;
  bool shutting_down_ = false;
  caf::error shutdown_reason_;
  std::vector<caf::actor> watchers_;
};

}  // namespace

absl::StatusOr<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                            std::shared_ptr<ActorRegistry> registry,
                                            const CodeServer& code_server, SupervisorSpec spec) {
  if (spec.intensity < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("supervisor ", spec.name, ": negative intensity"));
  }
  if (spec.period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("supervisor ", spec.name, ": period must be > 0"));
  }
  std::vector<caf::actor> started;
  for (const ChildSpec& child : spec.children) {
    auto a = spawn_reloadable(sys, registry, code_server, child.spawn);
    if (!a.ok()) {
      for (auto it = started.rbegin(); it != started.rend(); ++it) {
        caf::anon_send_exit(*it, caf::exit_reason::user_shutdown);
        registry->await_gone(it->id(), kUnregisterTimeout);
      }
      return a.status();
    }
    started.push_back(std::move(*a));
  }
  return sys.spawn<SupervisorActor>(std::move(registry), &code_server, std::move(spec),
                                    std::move(started));
}

}  // namespace lemon
