// ReloadableActor as module code sees it (ActorContext, actors/behaviour.h): sending and asking
// with lemon::Message, monitors and links, children, and the lifecycle hooks. Every CAF message
// and error is made here, in host code, so that none outlives the module code that asked for it.
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/reloadable_actor.h"
#include "actors/reloadable_actor_impl.h"
#include "caf/actor_cast.hpp"
#include "caf/error.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/sec.hpp"
#include "caf/send.hpp"
#include "caf/system_messages.hpp"

namespace lemon {
namespace internal {
namespace {

// "" for a normal exit, else the reason as text.
std::string reason_text(const caf::error& reason) {
  return reason == caf::exit_reason::normal ? "" : caf::to_string(reason);
}

caf::error reason_of(const std::string& text) {
  if (text.empty()) return caf::exit_reason::normal;
  return caf::make_error(caf::sec::runtime_error, text);
}

}  // namespace

caf::actor ReloadableActor::self_handle() { return caf::actor_cast<caf::actor>(this); }

CodeHold ReloadableActor::code() const {
  CodeHold& hold = current_.instance.code;
  if (!hold) hold = CodeHold::make(std::shared_ptr<const void>(current_.instance.use.module()));
  return hold;
}

void ReloadableActor::send_message(const caf::actor& to, Message m,
                                   std::chrono::nanoseconds delay) {
  if (delay.count() > 0) {
    caf::event_based_actor::delayed_send(to, delay, std::move(m));
  } else {
    caf::event_based_actor::send(to, std::move(m));
  }
}

void ReloadableActor::request_message(
    const caf::actor& to, Message m, std::chrono::nanoseconds timeout,
    std::function<void(const Message*, const std::string&)> done) {
  request_started();
  caf::event_based_actor::request(to, timeout.count() > 0 ? caf::duration{timeout} : caf::infinite,
                                  std::move(m))
      .then(
          [this, done](Message& reply) {
            done(&reply, "");
            request_finished();
          },
          [this, done](caf::error& err) {
            done(nullptr, caf::to_string(err));
            request_finished();
          });
}

caf::message ReloadableActor::reply_message(Message m) { return caf::make_message(std::move(m)); }

bool ReloadableActor::reply_wanted() {
  const caf::mailbox_element* e = current_mailbox_element();
  return e == nullptr || e->sender != nullptr || !e->stages.empty() || e->mid.is_request();
}

caf::message ReloadableActor::error_reply(const std::string& text) {
  return caf::make_message(caf::make_error(caf::sec::runtime_error, text));
}

void ReloadableActor::monitor_actor(const caf::actor& other) {
  caf::event_based_actor::monitor(other);
}

void ReloadableActor::demonitor_actor(const caf::actor& other) {
  caf::event_based_actor::demonitor(other);
}

void ReloadableActor::link_actor(const caf::actor& other) { link_to(other); }

caf::actor ReloadableActor::spawn_child(const std::string& module, const std::string& behaviour,
                                        const std::string& name, const std::string& init_arg,
                                        std::string* error) {
  SpawnSpec spec;
  spec.module = module;
  spec.behaviour = behaviour;
  spec.name = name;
  spec.init_arg = init_arg;
  spec.parent = spec_.name.empty() ? absl::StrCat("#", id()) : spec_.name;
  auto child = spawn_reloadable(home_system(), registry_, *code_server_, std::move(spec));
  if (!child.ok()) {
    *error = std::string(child.status().message());
    return caf::actor{};
  }
  link_to(*child);
  return *child;
}

void ReloadableActor::stop_actor(const std::string& reason) { quit(reason_of(reason)); }

void ReloadableActor::started() {
  try {
    current_.instance.behaviour->after_start(*this);
  } catch (const std::exception& e) {
    quit(caf::make_error(caf::sec::runtime_error, absl::StrCat("init hook threw: ", e.what())));
  } catch (...) {
    quit(caf::make_error(caf::sec::runtime_error, "init hook threw"));
  }
}

void ReloadableActor::route_exits() {
  set_down_handler([this](caf::down_msg& x) {
    caf::anon_send(self_handle(), ExitNote{x.source, reason_text(x.reason), true});
  });
  set_exit_handler([this](caf::exit_msg& x) {
    bool traps = false;
    if (x.reason != caf::exit_reason::kill) {
      std::lock_guard<std::mutex> lock(mu_);  // a held actor's behaviour may be being swapped
      traps = current_ && current_.instance.behaviour->traps_exits();
    }
    if (!traps) {
      if (x.reason) quit(std::move(x.reason));  // as CAF's default exit handler
      return;
    }
    caf::anon_send(self_handle(), ExitNote{x.source, reason_text(x.reason), false});
  });
}

void ReloadableActor::exit_note(const ExitNote& note) {
  if (!current_) return;
  try {
    if (note.down) {
      current_.instance.behaviour->on_down(*this, note.who, note.reason);
    } else {
      current_.instance.behaviour->on_exit(*this, note.who, note.reason);
    }
  } catch (const std::exception& e) {
    quit(caf::make_error(caf::sec::runtime_error, absl::StrCat("exit handler threw: ", e.what())));
  }
}

}  // namespace internal
}  // namespace lemon
