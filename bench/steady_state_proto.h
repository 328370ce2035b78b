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

// Sends Add{amount: 1} to a proto_counter actor, without a sender (anon_send): the Total it is
// answered with is dropped, not queued at the sending thread. `seq` is unused.
void send_proto_add(caf::scoped_actor& self, const caf::actor& to, uint64_t seq);

// Asks a proto_counter actor for its count (Get -> Total); -1 on error.
int64_t proto_count(caf::scoped_actor& self, const caf::actor& a);

// Prints `lemon steady_state_proto ...`: `repeats` pairs of `messages` Adds from a sending thread
// to a proto_counter actor and to the plain actor, each run followed by one Get.
void steady_state_proto(caf::actor_system& sys, int repeats, uint64_t messages);

}  // namespace lemon

#endif  // LEMON_BENCH_STEADY_STATE_PROTO_H_
