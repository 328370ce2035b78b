// The interface between the host and the behaviour of one reloadable actor, and the context the
// host gives it. Module authors write lemon::ProtoActor (actors/proto_actor.h): typed Protobuf
// messages and state, lifecycle hooks, no CAF in sight. This lower level is what ProtoActor is
// built on, and stays usable for behaviours that speak the host's own CAF types:
//
//   class Counter : public lemon::Behaviour {
//    public:
//     caf::message_handler handlers(lemon::ActorContext& ctx) override {
//       return {[this](lemon::add_atom, int64_t n) { count_ += n; return count_; }};
//     }
//     std::string export_state() const override { return std::to_string(count_); }
//     std::string format_status() const override { return "{\"count\":" + ... + "}"; }
//    private:
//     int64_t count_ = 0;
//   };
//
// The framework (actors/reloadable_actor.h) owns the CAF actor and its system messages. A
// behaviour's state must survive a version change in serialized form: export_state() writes it,
// the next version's code_change reads it (lemon::StateHandoff). The old version's code may be
// unloaded afterwards, so nothing else may cross.
#ifndef LEMON_ACTORS_BEHAVIOUR_H_
#define LEMON_ACTORS_BEHAVIOUR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "actors/message.h"
#include "caf/actor.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/message_handler.hpp"

namespace lemon {

// The hosting actor as seen from module code. Valid while the behaviour is installed.
class ActorContext {
 public:
  virtual ~ActorContext() = default;

  // The CAF actor running this behaviour: use it to send, delayed_send, monitor.
  virtual caf::event_based_actor* self() = 0;

  // The actor's registered name ("" if it has none).
  virtual const std::string& registered_name() const = 0;

  // -- lemon::Message traffic (actors/proto_actor.h wraps these in a typed API) ----------------
  // Implemented by the host, so that every CAF message and error is built by host code: module
  // code may be unloaded while they wait in a mailbox.

  // A handle to this actor.
  virtual caf::actor self_handle() = 0;

  // Keeps the version this behaviour runs mapped (what a lemon::Message made by it holds).
  virtual CodeHold code() const = 0;

  // Sends `m` to `to`, after `delay` if it is not zero.
  virtual void send_message(const caf::actor& to, Message m, std::chrono::nanoseconds delay) = 0;

  // Sends `m` to `to` as a request (timeout zero: none), tracked as request() below: `done` gets
  // the reply, or nullptr and the error's text.
  virtual void request_message(
      const caf::actor& to, Message m, std::chrono::nanoseconds timeout,
      std::function<void(const Message* reply, const std::string& error)> done) = 0;

  // A handler's reply, and an error reply (the requester sees `text`).
  virtual caf::message reply_message(Message m) = 0;
  // Whether anyone receives the current message's reply: false for a message sent without a
  // sender and not forwarded, whose reply would be built only to be dropped.
  virtual bool reply_wanted() { return true; }
  virtual caf::message error_reply(const std::string& text) = 0;

  // Monitors `other` (Behaviour::on_down gets its exit), or links to it.
  virtual void monitor_actor(const caf::actor& other) = 0;
  virtual void demonitor_actor(const caf::actor& other) = 0;
  virtual void link_actor(const caf::actor& other) = 0;

  // Starts a reloadable child of module `module` (behaviour "" = the module name), linked to this
  // actor and registered with it as parent. An invalid handle and *error on failure.
  virtual caf::actor spawn_child(const std::string& module, const std::string& behaviour,
                                 const std::string& name, const std::string& init_arg,
                                 std::string* error) = 0;

  // The reloadable actor registered as `name`, or an invalid handle.
  virtual caf::actor whereis(const std::string& name) = 0;

  // Stops this actor after the current message (`reason` empty: a normal exit).
  virtual void stop_actor(const std::string& reason) = 0;

  // Sends a request whose continuation the framework tracks: a suspension is acknowledged only once
  // every tracked continuation has run, so no continuation made by old code ever runs against a
  // migrated state. Use it instead of self()->request(...).then(...).
  template <class OnResult, class OnError, class... Ts>
  void request(const caf::actor& dest, caf::duration timeout, OnResult on_result, OnError on_error,
               Ts&&... xs) {
    request_started();
    using args = typename caf::detail::get_callable_trait<OnResult>::arg_types;
    self()
        ->request(dest, timeout, std::forward<Ts>(xs)...)
        .then(Tracked<OnResult, args>::wrap(this, std::move(on_result)),
              [this, on_error](caf::error& err) mutable {
                on_error(err);
                request_finished();
              });
  }

 protected:
  virtual void request_started() = 0;
  virtual void request_finished() = 0;

 private:
  // A result handler with on_result's exact signature (CAF deduces message types from it) that
  // also marks the request finished.
  template <class F, class List>
  struct Tracked;
  template <class F, class... Args>
  struct Tracked<F, caf::detail::type_list<Args...>> {
    static auto wrap(ActorContext* ctx, F f) {
      return [ctx, f](Args... ys) mutable {
        f(std::forward<Args>(ys)...);
        ctx->request_finished();
      };
    }
  };
};

// One actor's behaviour and state. Created by the module (create or code_change), destroyed by the
// module (LemonBehaviourDescriptor::destroy). Never called concurrently for one object: handlers
// run on the hosting actor's thread; export_state, format_status and (on the new object) handlers()
// may run on a reload manager's thread while the actor is held between two turns. code_change
// may run for several actors of a module at once, on different threads: keep it free of shared
// state.
class Behaviour {
 public:
  virtual ~Behaviour() = default;

  // Called once per behaviour object: after create, or after code_change while the actor is still
  // held, on the reload manager's thread (if the reload is then rolled back, the behaviour is
  // destroyed without having handled anything, and the old one keeps the handlers it made). Keep it
  // free of side effects. Handlers may capture `this` and `ctx`; they are dropped before the
  // behaviour is destroyed. If it throws during a reload, the reload fails for every actor (all or
  // nothing).
  virtual caf::message_handler handlers(ActorContext& ctx) = 0;

  // Whether the host hands each lemon::Message to receive_message instead of matching it against
  // handlers() (ProtoActor: one virtual call per message instead of CAF's pattern matching).
  // Asked once per behaviour object, after handlers().
  virtual bool receives_messages() const { return false; }

  // Handles one lemon::Message, on the actor's thread; returns the reply (empty: none, or none
  // wanted). Called only if receives_messages().
  virtual caf::message receive_message(ActorContext& ctx, const Message& m) {
    (void)ctx;
    (void)m;
    return caf::message{};
  }

  // The state in a form the next version's code_change can read without this version's code.
  virtual std::string export_state() const = 0;

  // A JSON object describing the state for humans and `actors.list`, e.g. {"count":42}.
  virtual std::string format_status() const = 0;

  // Called before the actor stops for good (not on a version change).
  virtual void terminate(const std::string& reason) { (void)reason; }

  // -- Lifecycle: called on the actor's own thread, in its turn; may send, arm timers, monitor --

  // After create, before the first message.
  virtual void after_start(ActorContext& ctx) { (void)ctx; }

  // After a reload installed this behaviour (built by code_change from `from_version`), before
  // the next message. Called only if wants_after_upgrade().
  virtual void after_upgrade(ActorContext& ctx, const std::string& from_version) {
    (void)ctx;
    (void)from_version;
  }
  virtual bool wants_after_upgrade() const { return false; }

  // A monitored actor exited (`reason` empty: normally).
  virtual void on_down(ActorContext& ctx, const caf::actor_addr& who, const std::string& reason) {
    (void)ctx;
    (void)who;
    (void)reason;
  }

  // Whether exit messages (other than kill) come to on_exit instead of stopping the actor.
  virtual bool traps_exits() const { return false; }
  virtual void on_exit(ActorContext& ctx, const caf::actor_addr& who, const std::string& reason) {
    (void)ctx;
    (void)who;
    (void)reason;
  }

  // The Protobuf type of export_state()'s bytes ("" for a state of the module's own format):
  // the host then shows the state as JSON through the module's schema.
  virtual std::string state_type() const { return ""; }

  // Replaces the state with `bytes`, a serialized state_type() (actors.replace_state), while the
  // actor is held between two messages, on the thread that holds it. False and *error set if it
  // cannot; the state is then untouched. Behaviours without a Protobuf state refuse.
  virtual bool replace_state(const std::string& bytes, std::string* error) {
    (void)bytes;
    *error = "this behaviour's state cannot be replaced";
    return false;
  }
};

}  // namespace lemon

#endif  // LEMON_ACTORS_BEHAVIOUR_H_
