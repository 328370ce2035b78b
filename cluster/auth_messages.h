// The authentication layer's messages on CAF's network layer, and the encoding of sealed content.
// Only the two handshake messages are accepted unauthenticated; everything else a node does is
// asked with (sealed_atom, SealedMessage), whose payload is a caf::message encoded with
// encode_content and sealed with the channel's key (cluster/peer_auth.h).
//
//   caf::actor_system_config cfg;
//   add_auth_message_types(cfg);                  // on every node and client, before the system
//   ...
//   std::string bytes = encode_content(sys, caf::make_message(cluster_members_atom::value));
//   absl::StatusOr<caf::message> back = decode_content(sys, bytes);
//
// Protocol, initiator -> a node's gate (published) or agent:
//   (auth_hello_atom, AuthHello)          -> AuthChallenge
//   (auth_finish_atom, AuthFinish)        -> (SealedMessage accept, caf::actor agent)
//      accept's payload is agent_identity(agent), sealed as the reply to request 0
//   (sealed_atom, SealedMessage [, caf::actor attached]) -> SealedMessage   (agent only)
// A refused message gets refused_error() (requests) or nothing (asynchronous messages).
#ifndef LEMON_CLUSTER_AUTH_MESSAGES_H_
#define LEMON_CLUSTER_AUTH_MESSAGES_H_

#include <string>

#include "absl/status/statusor.h"
#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"
#include "cluster/peer_auth.h"

namespace lemon {
namespace cluster {

using auth_hello_atom = caf::atom_constant<caf::atom("lahello")>;
using auth_finish_atom = caf::atom_constant<caf::atom("lafinish")>;
using sealed_atom = caf::atom_constant<caf::atom("lasealed")>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, AuthHello& x) {
  return f(caf::meta::type_name("lemon.AuthHello"), x.name, x.role, x.nonce);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, AuthChallenge& x) {
  return f(caf::meta::type_name("lemon.AuthChallenge"), x.channel, x.name, x.nonce, x.issued_ms,
           x.cookie, x.proof);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, AuthFinish& x) {
  return f(caf::meta::type_name("lemon.AuthFinish"), x.hello, x.channel, x.responder_nonce,
           x.issued_ms, x.cookie, x.proof);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SealedMessage& x) {
  return f(caf::meta::type_name("lemon.SealedMessage"), x.channel, x.seq, x.reply_to, x.payload,
           x.mac);
}

// Registers the messages above; call before the actor system is created.
void add_auth_message_types(caf::actor_system_config& cfg);

// `content` as bytes (CAF's binary format; every type in it must be registered).
std::string encode_content(caf::actor_system& sys, const caf::message& content);

// The message `bytes` encodes; kMalformed if they do not decode completely. Only ever called on
// bytes whose MAC was verified.
absl::StatusOr<caf::message> decode_content(caf::actor_system& sys, const std::string& bytes);

// "<node id>#<actor id>": binds an actor handle that travels next to a sealed message (which CAF
// cannot carry inside sealed bytes) to that message.
std::string agent_identity(const caf::actor& agent);

// The one error a node answers a refused request with: it says nothing about why.
caf::error refused_error();

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_AUTH_MESSAGES_H_
