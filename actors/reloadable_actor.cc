#include "actors/reloadable_actor.h"

#include <chrono>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/instance.h"
#include "actors/system_messages.h"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/skip.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

// The CAF actor hosting one Behaviour. Only its own thread touches its members.
class ReloadableActor : public caf::event_based_actor, public ActorContext {
 public:
  ReloadableActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry, SpawnSpec spec,
                  std::shared_ptr<Instance> initial)
      : caf::event_based_actor(cfg),
        registry_(std::move(registry)),
        spec_(std::move(spec)),
        current_(std::move(*initial)) {}

  caf::behavior make_behavior() override {
    const caf::actor_id id = this->id();
    std::weak_ptr<ActorRegistry> registry = registry_;
    attach_functor([registry, id] {
      if (auto r = registry.lock()) r->unregister(id);
    });
    if (!current_) {  // deferred: wait for the version the running reload leaves current
      suspended_ = true;
      suspended_at_ = Clock::now();
      set_default_handler(caf::skip);
      return suspended_behaviour();
    }
    set_default_handler(count_unhandled);
    return running_behaviour();
  }

  void on_exit() override {
    if (round_) round_->gone(index_);
    round_.reset();
    if (current_) {
      try {
        current_.behaviour->terminate(to_string(fail_state()));
      } catch (...) {
        // terminate is best effort; the actor is going away either way
      }
    }
    staged_ = Instance{};
    current_ = Instance{};
  }

  // -- ActorContext -----------------------------------------------------------

  caf::event_based_actor* self() override { return this; }
  const std::string& registered_name() const override { return spec_.name; }

 protected:
  void request_started() override { ++pending_requests_; }

  void request_finished() override {
    if (--pending_requests_ == 0 && migration_owed_) {
      migration_owed_ = false;
      migrate();
    }
  }

 private:
  static caf::result<caf::message> count_unhandled(caf::scheduled_actor*, caf::message_view&) {
    return caf::sec::unexpected_message;
  }

  caf::message_handler status_handlers() {
    return {[this](sys_status_atom) { return status(); }};
  }

  caf::behavior running_behaviour() {
    caf::message_handler system{
        [this](sys_suspend_atom, ReloadRoundPtr& round, uint64_t index) {
          suspend(std::move(round), index);
        },
        // Commit or abort of a round this actor never joined (it was suspended and resumed by an
        // earlier abort): report and ignore.
        [this](sys_commit_atom, ReloadRoundPtr& round, uint64_t index) {
          round->resumed(index, 0);
        },
        [this](sys_abort_atom, ReloadRoundPtr& round, uint64_t index) {
          round->resumed(index, 0);
        },
    };
    return system.or_else(status_handlers()).or_else(current_.behaviour->handlers(*this));
  }

  caf::behavior suspended_behaviour() {
    caf::message_handler system{
        [this](sys_suspend_atom, ReloadRoundPtr& round, uint64_t index) {
          suspend(std::move(round), index);
        },
        [this](sys_commit_atom, ReloadRoundPtr& round, uint64_t index) {
          if (round != round_) return round->resumed(index, 0);  // stale: not ours
          if (staged_) current_ = std::move(staged_);
          resume(round, index);
        },
        [this](sys_abort_atom, ReloadRoundPtr& round, uint64_t index) {
          if (round != round_) return round->resumed(index, 0);  // stale: not ours
          staged_ = Instance{};
          resume(round, index);
        },
        [this](sys_init_atom, const ModuleRef& version) { init(version); },
    };
    return system.or_else(status_handlers());
  }

  void suspend(ReloadRoundPtr round, uint64_t index) {
    if (round_ && round_ != round) {
      // A newer round replaces one that gave up on this actor.
      staged_ = Instance{};
    }
    round_ = std::move(round);
    index_ = index;
    if (!suspended_) {
      suspended_ = true;
      suspended_at_ = Clock::now();
      set_default_handler(caf::skip);
      become(suspended_behaviour());
    }
    round_->suspended(index_);
    if (pending_requests_ > 0) {
      migration_owed_ = true;  // migrate once the last tracked continuation has run
    } else {
      migrate();
    }
  }

  // Builds the next version's behaviour from this one's exported state; keeps it staged.
  void migrate() {
    staged_ = Instance{};
    if (!current_) {
      round_->prepared(index_, false, "actor has no behaviour to migrate");
      return;
    }
    auto migrated = migrate_instance(current_, round_->next(), spec_.behaviour, round_->extra());
    if (!migrated.ok()) {
      round_->prepared(index_, false, std::string(migrated.status().message()));
      return;
    }
    staged_ = std::move(*migrated);
    round_->prepared(index_, true, std::string());
  }

  void resume(const ReloadRoundPtr& round, uint64_t index) {
    const auto paused =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - suspended_at_);
    suspended_ = false;
    migration_owed_ = false;
    round_.reset();
    set_default_handler(count_unhandled);
    become(running_behaviour());
    // Messages kept while suspended sit in the queues' skip caches; without a flush they would
    // wait for the next new message, which would then overtake them.
    get_normal_queue().flush_cache();
    get_urgent_queue().flush_cache();
    if (round) round->resumed(index, static_cast<uint64_t>(paused.count()));
  }

  void init(const ModuleRef& version) {
    if (current_) return;
    auto made = make_instance(version, spec_.behaviour, spec_.init_arg);
    if (!made.ok()) {
      quit(caf::make_error(caf::sec::runtime_error, std::string(made.status().message())));
      return;
    }
    current_ = std::move(*made);
    resume(nullptr, 0);
  }

  ActorStatus status() {
    ActorStatus s;
    s.id = id();
    s.name = spec_.name;
    s.module = spec_.module;
    s.behaviour = spec_.behaviour;
    s.version = current_.version();
    s.suspended = suspended_;
    s.pending_requests = static_cast<uint64_t>(pending_requests_);
    s.mailbox_size = mailbox().size() + get_normal_queue().cache().total_task_size() +
                     get_urgent_queue().cache().total_task_size();
    if (current_) {
      try {
        s.state = current_.behaviour->format_status();
      } catch (const std::exception& e) {
        s.state = absl::StrCat("{\"format_status_error\":\"", e.what(), "\"}");
      }
    }
    return s;
  }

  std::shared_ptr<ActorRegistry> registry_;
  SpawnSpec spec_;
  Instance current_;
  Instance staged_;  // the migrated behaviour, installed on commit
  bool suspended_ = false;
  Clock::time_point suspended_at_{};
  ReloadRoundPtr round_;  // the reload this actor is suspended for
  uint64_t index_ = 0;    // this actor's slot in round_
  int pending_requests_ = 0;
  bool migration_owed_ = false;
};

}  // namespace

absl::StatusOr<caf::actor> spawn_reloadable(caf::actor_system& sys,
                                            const std::shared_ptr<ActorRegistry>& registry,
                                            const CodeServer& code_server, SpawnSpec spec) {
  if (spec.module.empty()) return reload_status(ReloadError::kInvalidArgument, "empty module name");
  if (spec.behaviour.empty()) spec.behaviour = spec.module;
  return registry->spawn_registered(
      spec.module, spec.behaviour, spec.name,
      [&](bool deferred) -> absl::StatusOr<caf::actor> {
        auto initial = std::make_shared<Instance>();
        if (!deferred) {
          ModuleRef module = code_server.current(spec.module);
          if (!module) {
            return reload_status(ReloadError::kNotFound, absl::StrCat("no module ", spec.module));
          }
          auto made = make_instance(module, spec.behaviour, spec.init_arg);
          if (!made.ok()) return made.status();
          *initial = std::move(*made);
        }
        return sys.spawn<ReloadableActor>(registry, spec, initial);
      });
}

}  // namespace lemon
