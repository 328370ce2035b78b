#include "actors/supervisor.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "actors/supervisor_tree.h"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/response_promise.hpp"
#include "caf/sec.hpp"
#include "caf/send.hpp"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

// Sent to itself to try a failed restart again (as OTP's try_again_restart).
using sup_retry_atom = caf::atom_constant<caf::atom("lsupretry")>;

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
//
// Children are kept by key, in start order: a child's key never changes while it is known (its
// restarts keep it), so the queues of a running operation stay valid when a child started with
// start_child is forgotten meanwhile; every lookup by key tolerates a forgotten one.
class SupervisorActor : public caf::event_based_actor {
 public:
  SupervisorActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry,
                  const CodeServer* code_server, SupervisorSpec spec,
                  std::vector<caf::actor> started, std::string parent)
      : caf::event_based_actor(cfg),
        registry_(std::move(registry)),
        code_server_(*code_server),
        name_(std::move(spec.name)),
        parent_(std::move(parent)),
        strategy_(spec.strategy),
        intensity_(spec.intensity),
        period_(spec.period) {
    if (strategy_ == Strategy::kSimpleOneForOne) {
      template_ = std::move(spec.children.front());
      return;
    }
    for (std::size_t i = 0; i < spec.children.size(); ++i) {
      Child c;
      c.spec = std::move(spec.children[i]);
      c.handle = std::move(started[i]);
      c.last_id = c.handle.id();
      children_.emplace(next_key_++, std::move(c));
    }
  }

  caf::behavior make_behavior() override {
    // Registered and unregistered (on_exit) on this actor's own thread: never out of order.
    registry_->register_supervisor({caf::actor_cast<caf::actor>(this), name_, parent_,
                                    strategy_name(strategy_), intensity_, period_});
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    set_exit_handler([this](caf::exit_msg& em) {
      if (em.reason) shutdown(std::move(em.reason));
    });
    for (const auto& [key, c] : children_) watch(key);
    return {
        [this](sup_which_atom) { return which_children(); },
        [this](sup_watch_atom) {
          auto watcher = caf::actor_cast<caf::actor>(current_sender());
          if (watcher) watchers_.push_back(std::move(watcher));
        },
        [this](sup_retry_atom) { advance(); },
        [this](sup_start_atom, std::string& init_arg, std::string& name) {
          return start_dynamic(std::move(init_arg), std::move(name));
        },
        [this](sup_terminate_atom, const std::string& name) {
          return terminate(find_key(
              [&](const Child& c) { return !name.empty() && child_name(c.spec) == name; }));
        },
        [this](sup_terminate_atom, const caf::actor& child) {
          return terminate(find_key([&](const Child& c) { return c.handle && c.handle == child; }));
        },
    };
  }

  void on_exit() override {
    registry_->unregister_supervisor(id());
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      if (it->second.handle)
        caf::anon_send_exit(it->second.handle, caf::exit_reason::user_shutdown);
      it->second.handle = caf::actor{};
    }
    running_.clear();
    watchers_.clear();
  }

 private:
  using Key = uint64_t;

  struct Child {
    ChildSpec spec;
    bool dynamic = false;       // started with start_child: forgotten once it stays down
    caf::actor handle;          // invalid while not running
    caf::actor_id last_id = 0;  // of the latest incarnation
    bool stopping = false;      // stopped on purpose: its exit is not a crash
    std::vector<caf::response_promise> terminating;  // terminate requests awaiting its exit
  };

  // An exit seen while another restart or the shutdown was running, handled after it.
  struct PendingExit {
    Key key;
    caf::actor_id id;
    caf::error reason;
  };

  static constexpr Key kNoKey = ~Key{0};

  Child* find(Key key) {
    auto it = children_.find(key);
    return it == children_.end() ? nullptr : &it->second;
  }

  template <class Pred>
  Key find_key(Pred pred) const {
    for (const auto& [key, c] : children_) {
      if (pred(c)) return key;
    }
    return kNoKey;
  }

  // Monitors the running child `key` and maps its id back to it for down messages.
  void watch(Key key) {
    const Child& c = children_.at(key);
    running_[c.handle.id()] = key;
    monitor(c.handle);
  }

  std::vector<SupervisedChild> which_children() const {
    std::vector<SupervisedChild> out;
    for (const auto& [key, c] : children_) {
      out.push_back({child_name(c.spec), c.handle, c.spec.supervisor != nullptr});
    }
    return out;
  }

  bool busy() const { return shutting_down_ || !stop_queue_.empty() || !restart_queue_.empty(); }

  // Whether the running operation will still stop or start child `key`.
  bool covered(Key key) const {
    return std::find(stop_queue_.begin(), stop_queue_.end(), key) != stop_queue_.end() ||
           std::find(restart_queue_.begin(), restart_queue_.end(), key) != restart_queue_.end();
  }

  void on_down(const caf::down_msg& dm) {
    auto r = running_.find(dm.source.id());
    if (r == running_.end()) return;
    const Key key = r->second;
    running_.erase(r);
    Child& c = children_.at(key);
    c.handle = caf::actor{};
    if (c.stopping) {
      c.stopping = false;
      if (!c.terminating.empty()) terminated(key);
      advance();
      return;
    }
    if (shutting_down_ || covered(key)) {
      advance();
      return;
    }
    if (busy()) {
      pending_.push_back({key, c.last_id, dm.reason});
      return;
    }
    handle_exit(key, dm.reason);
  }

  // Applies the restart type and the strategy to the unplanned exit of child `key`.
  void handle_exit(Key key, const caf::error& reason) {
    Child& crashed = children_.at(key);
    if (!should_restart(crashed.spec.restart, reason)) {
      report(key);
      if (crashed.dynamic) children_.erase(key);
      return;
    }
    if (!record_restart()) {
      give_up(absl::StrCat("child ", child_name(crashed.spec), " exited with ",
                           caf::to_string(reason)));
      return;
    }
    auto first = children_.find(key), last = std::next(first);
    if (strategy_ == Strategy::kOneForAll) first = children_.begin();
    if (strategy_ == Strategy::kOneForAll || strategy_ == Strategy::kRestForOne) {
      last = children_.end();
    }
    for (auto it = first; it != last; ++it) {
      operation_.push_back(it->first);
      if (it->first == key || it->second.spec.restart != Restart::kTemporary) {
        restart_queue_.push_back(it->first);
      }
    }
    for (auto it = last; it != first;) {
      --it;
      if (it->first != key) stop_queue_.push_back(it->first);
    }
    advance();
  }

  // Moves the running operation on: stops the next child (one at a time, waiting for its down
  // message), then restarts the children in order, then handles exits that came meanwhile.
  void advance() {
    while (!stop_queue_.empty()) {
      Child* c = find(stop_queue_.front());
      if (c != nullptr && c->handle) {
        if (!c->stopping) {
          c->stopping = true;
          send_exit(c->handle, caf::exit_reason::user_shutdown);
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
      if (find(restart_queue_.front()) != nullptr && !start(restart_queue_.front())) return;
      restart_queue_.pop_front();
    }
    std::vector<Key> done;
    done.swap(operation_);
    for (Key key : done) {
      if (find(key) != nullptr) report(key);
    }
    while (!busy() && !pending_.empty()) {
      PendingExit p = std::move(pending_.front());
      pending_.pop_front();
      const Child* c = find(p.key);
      if (c == nullptr || c->handle || c->last_id != p.id) continue;  // restarted or forgotten
      handle_exit(p.key, p.reason);
    }
  }

  // Spawns child `key` again; false if that failed (then it is retried, or the supervisor gives
  // up).
  bool start(Key key) {
    Child& c = children_.at(key);
    await_child_gone(*registry_, c.spec, c.last_id);
    auto spawned = spawn_child(system(), registry_, code_server_, c.spec, name_);
    if (!spawned.ok()) {
      // As in OTP, a failed restart counts as a restart and is tried again.
      if (record_restart()) {
        send(caf::actor_cast<caf::actor>(this), sup_retry_atom::value);
      } else {
        give_up(absl::StrCat("restarting child ", child_name(c.spec),
                             " failed: ", spawned.status().ToString()));
      }
      return false;
    }
    c.handle = std::move(*spawned);
    c.last_id = c.handle.id();
    const std::string& name = c.spec.supervisor ? c.spec.supervisor->name : c.spec.spawn.name;
    if (!name.empty()) registry_->count_restart(name);
    watch(key);
    return true;
  }

  // A child from the template, with `init_arg` and registered as `name` (none if empty).
  absl::StatusOr<caf::actor> start_dynamic(std::string init_arg, std::string name) {
    if (strategy_ != Strategy::kSimpleOneForOne) {
      return absl::FailedPreconditionError(
          absl::StrCat("supervisor ", name_, " is not simple_one_for_one"));
    }
    if (shutting_down_) {
      return absl::FailedPreconditionError(absl::StrCat("supervisor ", name_, " is stopping"));
    }
    Child c;
    c.spec = template_;
    c.spec.spawn.init_arg = std::move(init_arg);
    c.spec.spawn.name = std::move(name);
    c.dynamic = true;
    auto spawned = spawn_child(system(), registry_, code_server_, c.spec, name_);
    if (!spawned.ok()) return spawned.status();
    c.handle = *spawned;
    c.last_id = c.handle.id();
    const Key key = next_key_++;
    children_.emplace(key, std::move(c));
    watch(key);
    return spawned;
  }

  // Stops child `key` for good: answered once it is down.
  caf::response_promise terminate(Key key) {
    caf::response_promise rp = make_response_promise();
    Child* c = find(key);
    if (c == nullptr) {
      rp.deliver(absl::NotFoundError(absl::StrCat("supervisor ", name_, ": no such child")));
      return rp;
    }
    c->terminating.push_back(rp);
    if (!c->handle) {
      terminated(key);
      return rp;
    }
    if (!c->stopping) {
      c->stopping = true;
      send_exit(c->handle, caf::exit_reason::user_shutdown);
    }
    return rp;
  }

  // Child `key`, which a terminate request stopped, is down: neither the running operation nor an
  // exit still pending restarts it, a dynamic child is forgotten, and the requests are answered.
  void terminated(Key key) {
    restart_queue_.erase(std::remove(restart_queue_.begin(), restart_queue_.end(), key),
                         restart_queue_.end());
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [key](const PendingExit& p) { return p.key == key; }),
                   pending_.end());
    Child& c = children_.at(key);
    std::vector<caf::response_promise> waiting;
    waiting.swap(c.terminating);
    if (c.dynamic) children_.erase(key);
    for (caf::response_promise& rp : waiting) rp.deliver(absl::OkStatus());
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
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
      stop_queue_.push_back(it->first);
    }
    advance();
  }

  void report(Key key) {
    const Child& c = children_.at(key);
    for (const caf::actor& w : watchers_) {
      send(w, sup_report_atom::value, child_name(c.spec), c.handle);
    }
  }

  std::shared_ptr<ActorRegistry> registry_;
  const CodeServer& code_server_;
  const std::string name_;
  const std::string parent_;  // the supervisor that started this one; "" for a root
  const Strategy strategy_;
  const int intensity_;
  const absl::Duration period_;
  ChildSpec template_;  // kSimpleOneForOne: what start_child starts
  std::map<Key, Child> children_;
  Key next_key_ = 0;
  std::unordered_map<caf::actor_id, Key> running_;  // the running children
  std::deque<Clock::time_point> restarts_;          // within the last period_
  std::deque<Key> stop_queue_;                      // to stop, in this order
  std::deque<Key> restart_queue_;                   // to start once stop_queue_ is empty
  std::vector<Key> operation_;                      // children covered by the running restart
  std::deque<PendingExit> pending_;
  bool shutting_down_ = false;
  caf::error shutdown_reason_;
  std::vector<caf::actor> watchers_;
};

}  // namespace

absl::StatusOr<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                            std::shared_ptr<ActorRegistry> registry,
                                            const CodeServer& code_server, SupervisorSpec spec) {
  return spawn_nested_supervisor(sys, std::move(registry), code_server, std::move(spec), "");
}

absl::StatusOr<caf::actor> spawn_nested_supervisor(caf::actor_system& sys,
                                                   std::shared_ptr<ActorRegistry> registry,
                                                   const CodeServer& code_server,
                                                   SupervisorSpec spec, std::string parent) {
  if (absl::Status valid = validate(spec); !valid.ok()) return valid;
  std::vector<caf::actor> started;
  if (spec.strategy != Strategy::kSimpleOneForOne) {
    auto status = start_children(sys, registry, code_server, spec, started);
    if (!status.ok()) return status;
  }
  return sys.spawn<SupervisorActor>(std::move(registry), &code_server, std::move(spec),
                                    std::move(started), std::move(parent));
}

const char* strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kOneForOne:
      return "one_for_one";
    case Strategy::kOneForAll:
      return "one_for_all";
    case Strategy::kRestForOne:
      return "rest_for_one";
    case Strategy::kSimpleOneForOne:
      return "simple_one_for_one";
  }
  return "unknown";
}

}  // namespace lemon
