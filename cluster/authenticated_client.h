// The initiator's side of the authentication layer over CAF: a handshake with a node's gate (or
// agent), then requests sealed for that node's agent and replies opened and checked against the
// request they answer. Used by cluster nodes to call each other and by clients such as
// control_plane/remote_reload.
//
//   AuthenticatedClient::Options o;
//   o.secret = secret_bytes;                    // the cluster secret file's content
//   o.name = "remote_reload";
//   o.role = PeerRole::kClient;
//   auto client = AuthenticatedClient::connect(sys, gate, o);   // gate: remote_actor(...)
//   if (!client.ok()) { /* kUnauthorized: the node and this program have other secrets */ }
//   caf::scoped_actor self{sys};
//   absl::StatusOr<caf::message> reply =
//       (*client)->call(self.ptr(), caf::make_message(reload_atom::value, request), 60s);
#ifndef LEMON_CLUSTER_AUTHENTICATED_CLIENT_H_
#define LEMON_CLUSTER_AUTHENTICATED_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "caf/actor.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"
#include "cluster/auth_messages.h"
#include "cluster/peer_auth.h"

namespace lemon {
namespace cluster {

// How long a node keeps a channel nobody uses (NodeAuthenticator::Options::channel_idle); a client
// starts a new one after half of it.
inline constexpr absl::Duration kChannelIdleLimit = absl::Minutes(10);

class AuthenticatedClient {
 public:
  struct Options {
    std::string secret;  // at least kMinSecretBytes, else kInvalidArgument
    std::string name;    // this peer's name, bound by the handshake
    PeerRole role = PeerRole::kClient;
    std::chrono::milliseconds timeout{10000};  // each handshake round trip
  };

  // One request on its way; await() it on the actor that sent it.
  using Handle = decltype(std::declval<caf::blocking_actor*>()->request(
      std::declval<caf::actor>(), std::chrono::milliseconds(), sealed_atom::value,
      std::declval<SealedMessage>()));
  struct Pending {
    Handle handle;
    uint64_t seq;
    std::chrono::milliseconds timeout;
  };

  // Runs the handshake with `node`. kUnauthorized (saying which side lacks the secret) when the
  // proofs do not match, kTimeout or kIoError when the node does not answer. Blocks.
  static absl::StatusOr<std::shared_ptr<AuthenticatedClient>> connect(caf::actor_system& sys,
                                                                      const caf::actor& node,
                                                                      const Options& options);

  // The node's agent, as the finished handshake named it.
  const caf::actor& agent() const { return agent_; }
  // The node's name, as its proof bound it.
  const std::string& node_name() const { return channel_.keys().peer_name; }

  // Seals `content` and sends it to the agent from `self`; `attach` travels next to it (its
  // identity must be inside `content`, where the node checks it).
  Pending send(caf::blocking_actor* self, const caf::message& content,
               std::chrono::milliseconds timeout, const caf::actor& attach = caf::actor{});
  // Waits for `pending`'s reply and opens it. kTimeout, kUnauthorized (refused, or a reply that
  // does not open), kIoError (connection lost). Call on the actor that sent it.
  absl::StatusOr<caf::message> await(Pending& pending);
  // send() then await().
  absl::StatusOr<caf::message> call(caf::blocking_actor* self, const caf::message& content,
                                    std::chrono::milliseconds timeout,
                                    const caf::actor& attach = caf::actor{});

  // True once a request failed or the channel sat idle long enough that the node may have
  // dropped it: connect again. Thread-safe, as are send, await and call.
  bool stale() const;

  AuthenticatedClient(caf::actor_system& sys, ChannelKeys keys, caf::actor agent);

 private:
  caf::actor_system& sys_;
  InitiatorChannel channel_;
  const caf::actor agent_;
  mutable absl::Mutex mu_;
  absl::Time last_used_ ABSL_GUARDED_BY(mu_);
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_AUTHENTICATED_CLIENT_H_
