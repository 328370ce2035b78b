// What a module author implements: the behaviour of one reloadable actor, hosted by the framework.
//
// The framework (actors/reloadable_actor.h) owns the CAF actor and its system messages (suspend,
// resume, change_code, get_status); a Behaviour only sees ordinary messages:
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
// A behaviour's state must survive a version change in serialized form: export_state() writes it,
// the next version's code_change(old_version, state, extra) reads it. The old version's code may be
// unloaded afterwards, so nothing else may cross.
#ifndef LEMON_ACTORS_BEHAVIOUR_H_
#define LEMON_ACTORS_BEHAVIOUR_H_

#include <cstdint>
#include <string>
#include <utility>

#include "actors/messages.h"
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

  // The state in a form the next version's code_change can read without this version's code.
  virtual std::string export_state() const = 0;

  // A JSON object describing the state for humans and `actors.list`, e.g. {"count":42}.
  virtual std::string format_status() const = 0;

  // Called before the actor stops for good (not on a version change).
  virtual void terminate(const std::string& reason) { (void)reason; }
};

}  // namespace lemon

#endif  // LEMON_ACTORS_BEHAVIOUR_H_
