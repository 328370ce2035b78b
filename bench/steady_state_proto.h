// Protobuf traffic from host code to bench/proto_counter.cc (lemon::pack), and the
// steady_state_proto line: that module's actor against a plain CAF actor doing the same work with
// C++ structs registered in the host.
#ifndef LEMON_BENCH_STEADY_STATE_PROTO_H_
#define LEMON_BENCH_STEADY_STATE_PROTO_H_

#include <cstdint>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scoped_actor.hpp"

namespace lemon {

// Registers the plain actor's message types (before the actor system starts).
void add_plain_counter_types(caf::actor_system_config& cfg);

// Sends Add{amount: 1} to a proto_counter actor, without a sender (lemon::send): the Total it is
// answered with is dropped, not queued at the sending thread. `seq` is unused.
void send_proto_add(caf::scoped_actor& self, const caf::actor& to, uint64_t seq);

// Asks a proto_counter actor for its count (Get -> Total); -1 on error.
int64_t proto_count(caf::scoped_actor& self, const caf::actor& a);

// How much of each steady_state_proto measure to run (0 pairs: none).
struct ProtoSteadyState {
  int pipeline_pairs = 11;
  uint64_t pipeline_messages = 2000000;
  int drain_pairs = 201;
  uint64_t drained = 20000;
  uint64_t relayed_messages = 500000;  // per relay run (as many pairs as the pipeline)
};

// Prints `lemon steady_state_proto ...`: pairs of runs of Adds from a sending thread, through a
// proto_counter actor and through the plain actor on `sys`, each followed by one Get;
// `lemon steady_state_proto_relay ...`: the same through a relay of the same kind (a proto_relay
// actor of the module, or a plain CAF relay) to the counter; and
// `lemon steady_state_proto_drain ...`: the same two actors drained on a system with one worker
// (measure.h's drain).
void steady_state_proto(caf::actor_system& sys, const ProtoSteadyState& how);

}  // namespace lemon

#endif  // LEMON_BENCH_STEADY_STATE_PROTO_H_
