// The benchmark's ProtoActor module, `proto_counter`: bench_counter (bench/bench_counter.cc) with
// Protobuf messages and state. Add{amount} adds to the count and replies Total{value}; Get replies
// Total. Version 2 also counts the Adds it handled (`seen`); the state moves between versions by
// ProtoActor's default code_change (the old bytes parsed as the new State).
//
// Its second actor type, `proto_relay`, passes each Add on to the actor registered under its
// init_arg (module-to-module traffic through lemon::Context) and drops the Totals that come back.
#include <string>

#include "actors/module.h"
#include "actors/proto_actor.h"
#include "bench/proto_counter.pb.h"

namespace {

class ProtoCounter : public lemon::ProtoActor<benchproto::CounterState> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const benchproto::Add& a) {
      state().set_count(state().count() + a.amount());
#if BENCH_VERSION == 2
      state().set_seen(state().seen() + 1);
#endif
      return total();
    });
    on.handle([this](lemon::Context&, const benchproto::Get&) { return total(); });
  }

 private:
  benchproto::Total total() const {
    benchproto::Total t;
    t.set_value(state().count());
    return t;
  }
};

class ProtoRelay : public lemon::ProtoActor<benchproto::CounterState> {
 public:
  void setup(const std::string& init_arg) override { target_name_ = init_arg; }
  void init(lemon::Context& ctx) override { target_ = ctx.whereis(target_name_); }
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context& ctx, const benchproto::Add& a) { ctx.send(target_, a); });
    on.handle([](lemon::Context&, const benchproto::Total&) {});
  }

 private:
  std::string target_name_;
  caf::actor target_;
};

}  // namespace

LEMON_MODULE("proto_counter", BENCH_VERSION_STRING, LEMON_ACTOR("proto_counter", ProtoCounter),
             LEMON_ACTOR("proto_relay", ProtoRelay))
