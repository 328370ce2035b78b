// The demo's message vocabulary: atoms that the example counter and greeter modules, the demo
// node and the benchmarks exchange through the lower-level Behaviour interface. Not part of the
// module fingerprint; modules written with ProtoActor define their own messages in Protobuf
// (actors/message.h).
#ifndef LEMON_ACTORS_MESSAGES_H_
#define LEMON_ACTORS_MESSAGES_H_

#include "caf/atom.hpp"

namespace lemon {

// Ordinary messages (handled by module behaviours).
using tick_atom = caf::atom_constant<caf::atom("tick")>;      // (tick, u64 sender, u64 seq)
using get_atom = caf::atom_constant<caf::atom("get")>;        // (get) -> behaviour-defined
using add_atom = caf::atom_constant<caf::atom("add")>;        // (add, i64) -> i64
using put_atom = caf::atom_constant<caf::atom("put")>;        // (put, str, str)
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;  // (lookup, str) -> str
using ping_atom = caf::atom_constant<caf::atom("ping")>;  // (ping, u64) -> u64; (ping, actor, u64)
using stats_atom = caf::atom_constant<caf::atom("stats")>;  // (stats) -> str (JSON)

}  // namespace lemon

#endif  // LEMON_ACTORS_MESSAGES_H_
