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
#include "caf/behavior.hpp"
#include "caf/detail/behavior_impl.hpp"
#include "caf/make_counted.hpp"
#include "caf/message_handler.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

// A behaviour installed in the actor: the module's instance and the handlers it made for it.
struct Installed {
  Instance instance;
  caf::message_handler handlers;  // may point into `instance` and the module's code

  explicit operator bool() const { return static_cast<bool>(instance); }
};

// Drops `x`: the handlers (which may capture the behaviour, and whose code is the module's) first,
// then the behaviour, and only then the claim on the module version (assigning a whole Instance
// would release the version first).
void retire(Installed& x) {
  x.handlers = caf::message_handler{};
  x.instance.behaviour.reset();
  x.instance.use = ModuleUse{};
}

class ReloadableActor;

// The actor's one and only CAF behaviour, built once at spawn: system messages first; then, while
// running, the installed module handlers; while suspended, every other message is skipped (CAF
// keeps it, in arrival order, in its queue's cache). Suspending, swapping and resuming change two
// members of the actor and never build a behaviour, so they allocate nothing here.
class Dispatch final : public caf::detail::behavior_impl {
 public:
  Dispatch(const ReloadableActor* self, caf::message_handler system)
      : self_(self), system_(std::move(system)) {}

  using caf::detail::behavior_impl::invoke;
  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override;

 private:
  const ReloadableActor* self_;
  caf::message_handler system_;
};

// The CAF actor hosting one Behaviour. Only its own thread touches its members.
class ReloadableActor : public caf::event_based_actor, public ActorContext {
 public:
  ReloadableActor(caf::actor_config& cfg, std::shared_ptr<ActorRegistry> registry, SpawnSpec spec,
                  std::shared_ptr<Instance> initial)
      : caf::event_based_actor(cfg), registry_(std::move(registry)), spec_(std::move(spec)) {
    current_.instance = std::move(*initial);
  }

  caf::behavior make_behavior() override {
    const caf::actor_id id = this->id();
    std::weak_ptr<ActorRegistry> registry = registry_;
    attach_functor([registry, id] {
      if (auto r = registry.lock()) r->unregister(id);
    });
    set_default_handler(count_unhandled);
    if (current_) {
      current_.handlers = current_.instance.behaviour->handlers(*this);
    } else {  // deferred: wait for the version the running reload leaves current
      suspended_ = true;
      suspended_at_ = Clock::now();
    }
    caf::behavior::impl_ptr dispatch = caf::make_counted<Dispatch>(this, system_handlers());
    return caf::behavior{std::move(dispatch)};
  }

  void on_exit() override {
    if (round_) round_->gone(index_);
    round_.reset();
    if (current_) {
      try {
        current_.instance.behaviour->terminate(to_string(fail_state()));
      } catch (...) {
        // terminate is best effort; the actor is going away either way
      }
    }
    retire(staged_);
    retire(current_);
  }

  // -- ActorContext -----------------------------------------------------------

  caf::event_based_actor* self() override { return this; }
  const std::string& registered_name() const override { return spec_.name; }

  // -- Dispatch ---------------------------------------------------------------

  bool suspended() const { return suspended_; }
  const caf::message_handler& handlers() const { return current_.handlers; }

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

  caf::message_handler system_handlers() {
    return {
        [this](sys_suspend_atom, ReloadRoundPtr& round, uint64_t index) {
          suspend(std::move(round), index);
        },
        [this](sys_commit_atom, ReloadRoundPtr& round, uint64_t index) {
          // A round this actor is not suspended for (it never joined it, or an earlier abort
          // already resumed it): report and ignore.
          if (!suspended_ || round != round_) return round->resumed(index, 0);
          if (staged_) {
            retire(current_);
            current_ = std::move(staged_);
          }
          resume(round, index);
        },
        [this](sys_abort_atom, ReloadRoundPtr& round, uint64_t index) {
          if (!suspended_ || round != round_) return round->resumed(index, 0);
          retire(staged_);
          resume(round, index);
        },
        [this](sys_init_atom, const ModuleRef& version) { init(version); },
        [this](sys_status_atom) { return status(); },
    };
  }

  void suspend(ReloadRoundPtr round, uint64_t index) {
    if (round_ && round_ != round) {
      // A newer round replaces one that gave up on this actor.
      retire(staged_);
    }
    round_ = std::move(round);
    index_ = index;
    if (!suspended_) {
      suspended_ = true;
      suspended_at_ = Clock::now();
    }
    round_->suspended(index_);
    if (pending_requests_ > 0) {
      migration_owed_ = true;  // migrate once the last tracked continuation has run
    } else {
      migrate();
    }
  }

  // Builds the next version's behaviour from this one's exported state, and its handlers; keeps
  // both staged until the round commits.
  void migrate() {
    retire(staged_);
    if (!current_) {
      round_->prepared(index_, false, "actor has no behaviour to migrate");
      return;
    }
    auto migrated =
        migrate_instance(current_.instance, round_->next(), spec_.behaviour, round_->extra());
    if (!migrated.ok()) {
      round_->prepared(index_, false, std::string(migrated.status().message()));
      return;
    }
    Installed next;
    next.instance = std::move(*migrated);
    try {
      next.handlers = next.instance.behaviour->handlers(*this);
    } catch (const std::exception& e) {
      retire(next);
      round_->prepared(index_, false, absl::StrCat("handlers of the new version threw: ", e.what()));
      return;
    } catch (...) {
      retire(next);
      round_->prepared(index_, false, "handlers of the new version threw");
      return;
    }
    staged_ = std::move(next);
    round_->prepared(index_, true, std::string());
  }

  void resume(const ReloadRoundPtr& round, uint64_t index) {
    const auto paused =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - suspended_at_);
    suspended_ = false;
    migration_owed_ = false;
    round_.reset();
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
    current_.instance = std::move(*made);
    current_.handlers = current_.instance.behaviour->handlers(*this);
    resume(nullptr, 0);
  }

  ActorStatus status() {
    ActorStatus s;
    s.id = id();
    s.name = spec_.name;
    s.module = spec_.module;
    s.behaviour = spec_.behaviour;
    s.version = current_.instance.version();
    s.suspended = suspended_;
    s.pending_requests = static_cast<uint64_t>(pending_requests_);
    s.mailbox_size = mailbox().size() + get_normal_queue().cache().total_task_size() +
                     get_urgent_queue().cache().total_task_size();
    if (current_) {
      try {
        s.state = current_.instance.behaviour->format_status();
      } catch (const std::exception& e) {
        s.state = absl::StrCat("{\"format_status_error\":\"", e.what(), "\"}");
      }
    }
    return s;
  }

  std::shared_ptr<ActorRegistry> registry_;
  SpawnSpec spec_;
  Installed current_;
  Installed staged_;  // the migrated behaviour, installed on commit
  bool suspended_ = false;
  Clock::time_point suspended_at_{};
  ReloadRoundPtr round_;  // the reload this actor is suspended for
  uint64_t index_ = 0;    // this actor's slot in round_
  int pending_requests_ = 0;
  bool migration_owed_ = false;
};

caf::match_case::result Dispatch::invoke(caf::detail::invoke_result_visitor& f,
                                         caf::type_erased_tuple& xs) {
  const caf::match_case::result r = system_.as_behavior_impl()->invoke(f, xs);
  if (r != caf::match_case::no_match) return r;
  if (self_->suspended()) return caf::match_case::skip;
  const caf::message_handler& handlers = self_->handlers();
  return handlers ? handlers.as_behavior_impl()->invoke(f, xs) : caf::match_case::no_match;
}

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
