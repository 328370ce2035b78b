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
    if (--pending_requests_ == 0 && ack_owed_) {
      ack_owed_ = false;
      send_suspend_ack();
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
        [this](sys_suspend_atom, uint64_t reload_id, caf::actor reply_to) {
          suspend(reload_id, std::move(reply_to));
        },
        // Stale protocol messages of a reload that already gave up on this actor.
        [](sys_change_atom, uint64_t, const ModuleRef&, const std::string&, const caf::actor&) {},
        [](sys_commit_atom, uint64_t, const caf::actor&) {},
        [](sys_abort_atom, uint64_t, const caf::actor&) {},
    };
    return system.or_else(status_handlers()).or_else(current_.behaviour->handlers(*this));
  }

  caf::behavior suspended_behaviour() {
    caf::message_handler system{
        [this](sys_suspend_atom, uint64_t reload_id, caf::actor reply_to) {
          suspend(reload_id, std::move(reply_to));
        },
        [this](sys_change_atom, uint64_t reload_id, const ModuleRef& next,
               const std::string& extra, const caf::actor& reply_to) {
          change(reload_id, next, extra, reply_to);
        },
        [this](sys_commit_atom, uint64_t reload_id, const caf::actor& reply_to) {
          if (staged_) current_ = std::move(staged_);
          resume(reload_id, reply_to);
        },
        [this](sys_abort_atom, uint64_t reload_id, const caf::actor& reply_to) {
          staged_ = Instance{};
          resume(reload_id, reply_to);
        },
        [this](sys_init_atom, const ModuleRef& version) { init(version); },
    };
    return system.or_else(status_handlers());
  }

  void suspend(uint64_t reload_id, caf::actor reply_to) {
    reload_id_ = reload_id;
    reply_to_ = std::move(reply_to);
    if (!suspended_) {
      suspended_ = true;
      suspended_at_ = Clock::now();
      set_default_handler(caf::skip);
      become(suspended_behaviour());
    }
    if (pending_requests_ > 0) {
      ack_owed_ = true;  // acknowledged once the last tracked continuation has run
    } else {
      send_suspend_ack();
    }
  }

  void send_suspend_ack() {
    send<caf::message_priority::high>(reply_to_, suspended_atom::value, reload_id_, id());
  }

  void change(uint64_t reload_id, const ModuleRef& next, const std::string& extra,
              const caf::actor& reply_to) {
    staged_ = Instance{};
    auto migrated = current_ ? migrate_instance(current_, next, spec_.behaviour, extra)
                             : absl::StatusOr<Instance>(reload_status(
                                   ReloadError::kInternal, "actor has no behaviour to migrate"));
    if (!migrated.ok()) {
      send<caf::message_priority::high>(reply_to, changed_atom::value, reload_id, id(), false,
                                        std::string(migrated.status().message()));
      return;
    }
    staged_ = std::move(*migrated);
    send<caf::message_priority::high>(reply_to, changed_atom::value, reload_id, id(), true,
                                      std::string());
  }

  void resume(uint64_t reload_id, const caf::actor& reply_to) {
    const auto paused = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() -
                                                                             suspended_at_);
    suspended_ = false;
    ack_owed_ = false;
    set_default_handler(count_unhandled);
    become(running_behaviour());
    // Messages kept while suspended sit in the queues' skip caches; without a flush they would
    // wait for the next new message, which would then overtake them.
    get_normal_queue().flush_cache();
    get_urgent_queue().flush_cache();
    if (reply_to) {
      send<caf::message_priority::high>(reply_to, resumed_atom::value, reload_id, id(),
                                        static_cast<uint64_t>(paused.count()));
    }
  }

  void init(const ModuleRef& version) {
    if (current_) return;
    auto made = make_instance(version, spec_.behaviour, spec_.init_arg);
    if (!made.ok()) {
      quit(caf::make_error(caf::sec::runtime_error, std::string(made.status().message())));
      return;
    }
    current_ = std::move(*made);
    resume(0, caf::actor{});
  }

  ActorStatus status() {
    ActorStatus s;
    s.id = id();
    s.name = spec_.name;
    s.module = spec_.module;
    s.behaviour = spec_.behaviour;
    s.version = current_.version();
    s.suspended = suspended_;
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
  uint64_t reload_id_ = 0;
  caf::actor reply_to_;
  int pending_requests_ = 0;
  bool ack_owed_ = false;
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
