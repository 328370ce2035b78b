// The API a module author writes actors with: Protobuf messages and state of the module's own,
// typed handlers, and lifecycle hooks with a context.
//
//   namespace accounts_v2 {  // a per-version namespace keeps private types apart across versions
//   class Accounts : public lemon::ProtoActor<bank::AccountsState> {
//    public:
//     void receive(lemon::Handlers& on) override {
//       on.handle([this](lemon::Context& ctx, const bank::Deposit& d) {
//         state().set_balance(state().balance() + d.amount());
//         bank::Balance b;
//         b.set_amount(state().balance());
//         return b;  // the reply, if the sender asked with request
//       });
//     }
//     void init(lemon::Context& ctx) override { ctx.send_after(ctx.self(), 1s, bank::Audit()); }
//   };
//   }  // namespace accounts_v2
//   LEMON_MODULE("accounts", "2", LEMON_ACTOR("accounts", accounts_v2::Accounts))
//
// Messages are lemon::Message (actors/message.h): a module adds or changes message types without
// touching Lemon or other modules. Host code and plain CAF actors use lemon::pack / lemon::unpack
// (actors/pack.h) to talk to these actors.
//
// A version change keeps the state: by default the new version parses the old state's bytes as
// its own State type (Protobuf's field rules; fields it does not know are kept and written back,
// so v2 -> v1 -> v2 keeps what only v2 knows). Where a field changes meaning, override
// code_change. The rules the framework relies on cannot be broken from here: module code never
// sees the CAF actor, so it cannot replace the default handler or take the system messages.
#ifndef LEMON_ACTORS_PROTO_ACTOR_H_
#define LEMON_ACTORS_PROTO_ACTOR_H_

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "actors/behaviour.h"
#include "actors/local_schemas.h"
#include "actors/message.h"
#include "actors/module_entry.h"
#include "actors/pack.h"
#include "caf/actor.hpp"
#include "caf/actor_addr.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/message.hpp"
#include "caf/message_handler.hpp"

namespace lemon {

// An actor that exited, as on_down and on_exit see it.
struct Exited {
  caf::actor_addr who;
  std::string reason;  // "" for a normal exit
};

// What module code may do with its actor. Valid during the handler or hook it is passed to.
class Context {
 public:
  explicit Context(ActorContext& host) : host_(host) {}

  caf::actor self() { return host_.self_handle(); }
  const std::string& name() const { return host_.registered_name(); }

  template <class T>
  void send(const caf::actor& to, T m) {
    host_.send_message(to, pack(std::move(m), host_.code()), std::chrono::nanoseconds(0));
  }

  // A timer: `m` reaches `to` after `delay`, whichever version `to` runs by then.
  template <class T, class Rep, class Period>
  void send_after(const caf::actor& to, std::chrono::duration<Rep, Period> delay, T m) {
    host_.send_message(to, pack(std::move(m), host_.code()),
                       std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
  }

  // Asks `to`; `on_reply(ctx, const Reply&)` or `on_error(ctx, const std::string&)` runs later,
  // on this actor, before any reload migrates it (the framework waits for pending replies).
  template <class Reply, class T, class Rep, class Period, class OnReply, class OnError>
  void request(const caf::actor& to, T m, std::chrono::duration<Rep, Period> timeout,
               OnReply on_reply, OnError on_error) {
    ActorContext* host = &host_;
    host_.request_message(to, pack(std::move(m), host_.code()),
                          std::chrono::duration_cast<std::chrono::nanoseconds>(timeout),
                          [host, on_reply = std::move(on_reply), on_error = std::move(on_error)](
                              const Message* reply, const std::string& error) mutable {
                            Context ctx(*host);
                            if (reply == nullptr) return on_error(ctx, error);
                            Reply r;
                            if (!unpack(*reply, &r))
                              return on_error(ctx, "reply of type " + reply->type());
                            on_reply(ctx, r);
                          });
  }

  void monitor(const caf::actor& other) { host_.monitor_actor(other); }
  void demonitor(const caf::actor& other) { host_.demonitor_actor(other); }
  void link(const caf::actor& other) { host_.link_actor(other); }

  // A reloadable child running module `module`, linked to this actor (it stops with it) and
  // reloaded with its module. Throws std::runtime_error if it cannot start.
  caf::actor spawn(const std::string& module, const std::string& name = "",
                   const std::string& init_arg = "", const std::string& behaviour = "") {
    std::string error;
    caf::actor child = host_.spawn_child(module, behaviour, name, init_arg, &error);
    if (!child) throw std::runtime_error("spawn " + module + ": " + error);
    return child;
  }

  // The reloadable actor registered as `name`, or an invalid handle.
  caf::actor whereis(const std::string& name) { return host_.whereis(name); }

  // Stops this actor after the current message; `reason` empty for a normal exit.
  void stop(const std::string& reason = "") { host_.stop_actor(reason); }

  ActorContext& host() { return host_; }

 private:
  ActorContext& host_;
};

// The typed handlers of one behaviour, filled by ProtoActor::receive.
class Handlers {
 public:
  // `f(Context&, const In&)` handles messages of Protobuf type In; what it returns (a Protobuf
  // message, or nothing) is the reply.
  template <class F>
  void handle(F f) {
    using args = typename caf::detail::get_callable_trait<F>::arg_types;
    using in_ref = typename caf::detail::tl_at<args, 1>::type;
    using In = std::decay_t<in_ref>;
    static_assert(std::is_base_of_v<google::protobuf::MessageLite, In>,
                  "a handler takes (lemon::Context&, const SomeProtoMessage&)");
    add(Entry{&type_name<In>(),
              [f = std::move(f)](Context& ctx, const Message& m) mutable -> caf::message {
                std::optional<In> scratch;
                const In* in = content_of(m, scratch);  // dispatch matched the type
                if (in == nullptr) return ctx.host().error_reply("cannot parse " + m.type());
                using Out = decltype(f(ctx, *in));
                if constexpr (std::is_void_v<Out>) {
                  f(ctx, *in);
                  return caf::message{};
                } else {
                  static_assert(std::is_base_of_v<google::protobuf::MessageLite, Out>,
                                "a handler returns nothing or a Protobuf message");
                  if (!ctx.host().reply_wanted()) {
                    f(ctx, *in);
                    return caf::message{};
                  }
                  return ctx.host().reply_message(pack(f(ctx, *in), ctx.host().code()));
                }
              }});
  }

  void clear() {
    for (std::size_t i = 0; i < std::min(size_, kInline); ++i) inline_[i] = Entry();
    more_.clear();
    size_ = 0;
  }

  // Runs the handler of `m`'s type; an error reply if there is none.
  caf::message dispatch(Context& ctx, const Message& m) {
    for (std::size_t i = 0; i < std::min(size_, kInline); ++i) {
      if (m.is(inline_[i].type)) return inline_[i].run(ctx, m);
    }
    for (Entry& e : more_) {
      if (m.is(e.type)) return e.run(ctx, m);
    }
    return ctx.host().error_reply("unexpected message " + m.type());
  }

 private:
  struct Entry {
    const std::string* type = nullptr;  // type_name<In>()
    std::function<caf::message(Context&, const Message&)> run;
  };

  // Most behaviours handle a few types: their entries live in the behaviour, which a reload makes
  // for every actor, rather than in an allocation of their own.
  static constexpr std::size_t kInline = 4;

  void add(Entry e) {
    if (size_ < kInline) {
      inline_[size_] = std::move(e);
    } else {
      more_.push_back(std::move(e));
    }
    ++size_;
  }

  Entry inline_[kInline];
  std::vector<Entry> more_;  // the entries after the first kInline
  std::size_t size_ = 0;
};

// What a new version's code_change gets (see ProtoActor::code_change).
using OldState = StateHandoff;

namespace module_detail {
struct ProtoActorAccess;
}  // namespace module_detail

// Base class of a module's actor whose state is the Protobuf message `State`.
template <class State>
class ProtoActor : public Behaviour {
 public:
  using StateType = State;

  State& state() { return state_; }
  const State& state() const { return state_; }

  // -- What the module writes -------------------------------------------------

  // Registers the typed handlers (called once per behaviour object, before it runs).
  virtual void receive(Handlers& on) = 0;

  // A new actor's first state from its spawn argument (default: ignored).
  virtual void setup(const std::string& init_arg) { (void)init_arg; }

  // This version's state from the old one's. Default: the old bytes parsed as State, fields this
  // version does not know kept. Throw to refuse (the reload is rolled back for every actor).
  virtual void code_change(const OldState& old) {
    if (!state_.ParseFromString(old.state)) {
      throw std::runtime_error("state of version " + old.old_version + " (" + old.state_type +
                               ") does not parse as " + type_name<State>());
    }
  }

  // Hooks, on the actor's thread, able to send, arm timers, monitor and spawn.
  virtual void init(Context& ctx) { (void)ctx; }
  virtual void upgraded(Context& ctx, const std::string& from_version) {
    (void)ctx;
    (void)from_version;
  }
  virtual void down(Context& ctx, const Exited& who) {
    (void)ctx;
    (void)who;
  }
  // Exits of linked actors come here, instead of stopping this actor, when trap_exits() is true.
  virtual void exit(Context& ctx, const Exited& who) {
    (void)ctx;
    (void)who;
  }
  virtual bool trap_exits() const { return false; }

  // -- The Behaviour interface, implemented once for every ProtoActor ---------

  // The same table as a CAF handler, for a host that matches messages itself rather than hand
  // them to receive_message.
  caf::message_handler handlers(ActorContext& host) final {
    handlers_.clear();
    receive(handlers_);
    return {[this, &host](const Message& m) { return receive_message(host, m); }};
  }
  bool receives_messages() const final { return true; }
  caf::message receive_message(ActorContext& host, const Message& m) final {
    Context ctx(host);
    return handlers_.dispatch(ctx, m);
  }
  std::string export_state() const final { return state_.SerializeAsString(); }
  std::string format_status() const override { return ""; }  // shown as JSON by the host
  std::string state_type() const final { return type_name<State>(); }
  bool replace_state(const std::string& bytes, std::string* error) final {
    State fresh;  // parsed aside: a state that does not parse leaves the current one untouched
    if (!fresh.ParseFromString(bytes)) {
      *error = "the bytes do not parse as " + type_name<State>();
      return false;
    }
    state_ = std::move(fresh);
    return true;
  }
  void after_start(ActorContext& host) final {
    Context ctx(host);
    init(ctx);
  }
  void after_upgrade(ActorContext& host, const std::string& from_version) final {
    Context ctx(host);
    upgraded(ctx, from_version);
  }
  bool wants_after_upgrade() const final { return wants_after_upgrade_; }
  void on_down(ActorContext& host, const caf::actor_addr& who, const std::string& reason) final {
    Context ctx(host);
    down(ctx, Exited{who, reason});
  }
  bool traps_exits() const final { return trap_exits(); }
  void on_exit(ActorContext& host, const caf::actor_addr& who, const std::string& reason) final {
    Context ctx(host);
    exit(ctx, Exited{who, reason});
  }

 private:
  friend struct module_detail::ProtoActorAccess;

  State state_;
  Handlers handlers_;
  bool wants_after_upgrade_ = false;  // the module's class overrides upgraded()
};

namespace module_detail {

// Whether T overrides ProtoActor::upgraded: if not, &T::upgraded names ProtoActor's.
template <class T>
constexpr bool overrides_upgraded() {
  using Base = ProtoActor<typename T::StateType>;
  return !std::is_same_v<decltype(&T::upgraded), void (Base::*)(Context&, const std::string&)>;
}

struct ProtoActorAccess {
  template <class T>
  static void mark(T& b) {
    b.wants_after_upgrade_ = overrides_upgraded<T>();
  }
};

// A ProtoActor `T` made by its default constructor, then set up or migrated.
template <class T>
std::unique_ptr<T> make_proto() {
  auto b = std::make_unique<T>();
  ProtoActorAccess::mark(*b);
  return b;
}

template <class T>
Behaviour* create_proto(const std::string& init_arg, std::string* error) noexcept {
  return hand_over("create", error, [&] {
    std::unique_ptr<T> b = make_proto<T>();
    b->setup(init_arg);
    return b;
  });
}

template <class T>
Behaviour* code_change_proto(const StateHandoff& from, std::string* error) noexcept {
  return hand_over("code_change", error, [&] {
    std::unique_ptr<T> b = make_proto<T>();
    b->code_change(from);
    return b;
  });
}

}  // namespace module_detail
}  // namespace lemon

// One entry of LEMON_MODULE's behaviour list: actor type `name` implemented by ProtoActor `T`.
#define LEMON_ACTOR(name, T)                                            \
  LEMON_BEHAVIOUR_ENTRY(name, &::lemon::module_detail::create_proto<T>, \
                        &::lemon::module_detail::code_change_proto<T>)

#endif  // LEMON_ACTORS_PROTO_ACTOR_H_
