// A node's side of the authentication layer over CAF: the handshake responder, the channels it
// has accepted (bounded, expiring when idle), opening sealed requests and sealing their replies,
// and the one place where refusals are counted and logged. The node's published gate and its
// agent share one NodeAuthenticator.
//
//   NodeAuthenticator::Options o;
//   o.secret = secret_bytes;                          // the cluster secret file's content
//   o.node_name = "a";
//   o.on_failure = [&](AuthFailure r) { counter.count(r); };
//   auto auth = std::make_shared<NodeAuthenticator>(sys, o);
//   caf::actor gate = spawn_auth_gate(sys, auth, agent);   // publish this, never the agent
//   // in the agent's behaviour:
//   [=](sealed_atom, SealedMessage& m) -> caf::result<SealedMessage> {
//     auto req = auth->open(m, "sender");
//     if (!req.ok()) return refused_error();
//     return auth->seal_reply(*req, caf::make_message(...));
//   }
#ifndef LEMON_CLUSTER_NODE_AUTHENTICATOR_H_
#define LEMON_CLUSTER_NODE_AUTHENTICATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/fwd.hpp"
#include "caf/message.hpp"
#include "caf/message_handler.hpp"
#include "cluster/auth_messages.h"
#include "cluster/peer_auth.h"

namespace lemon {
namespace cluster {

// A sealed request that was opened: who sent it (as the handshake proved) and what it asks.
struct OpenedRequest {
  std::shared_ptr<ResponderChannel> channel;  // seals the reply
  uint64_t seq = 0;
  std::string peer_name;
  PeerRole peer_role = PeerRole::kClient;
  caf::message content;
};

class NodeAuthenticator {
 public:
  struct Options {
    std::string secret;  // REQUIRES: at least kMinSecretBytes
    std::string node_name;
    size_t max_channels = 64;  // beyond: the least recently used channel is dropped
    // A channel unused this long is dropped; clients re-handshake after half of it
    // (AuthenticatedClient::idle_limit).
    absl::Duration channel_idle = absl::Minutes(10);
    std::function<void(AuthFailure)> on_failure;  // called for every refusal, on any thread
  };

  NodeAuthenticator(caf::actor_system& sys, Options options);

  // Handshake step 1: the challenge for `hello`, or the refusal (counted).
  absl::StatusOr<AuthChallenge> on_hello(const AuthHello& hello, const std::string& source);
  // Handshake step 2: accepts the channel and returns the reply that tells the initiator which
  // agent it reached (sealed: agent_identity(agent)), or the refusal (counted).
  absl::StatusOr<SealedMessage> on_finish(const AuthFinish& finish, const caf::actor& agent,
                                          const std::string& source);
  // The request `sealed` carries, if it is sealed for a live channel, new, and decodes; else the
  // refusal (counted). `source` names the sender for the log.
  absl::StatusOr<OpenedRequest> open(const SealedMessage& sealed, const std::string& source);
  // `reply` sealed as the answer to `request`. Works after the channel was dropped.
  SealedMessage seal_reply(const OpenedRequest& request, const caf::message& reply);
  // Counts and logs a refusal that happened outside this class (an unsealed message, an
  // operation the peer's role may not run).
  void refuse(AuthFailure reason, const std::string& what, const std::string& source);

  // Channels currently accepted. Thread-safe, as is every method.
  size_t channels() const;

 private:
  struct Channel {
    std::shared_ptr<ResponderChannel> channel;
    absl::Time last_used;
  };
  absl::Status refused(const absl::Status& status, const std::string& source);
  void drop_idle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  caf::actor_system& sys_;
  const Options options_;
  HandshakeResponder responder_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Channel> channels_ ABSL_GUARDED_BY(mu_);
  // Rate limit of the refusal log: one line per reason and second, with the count suppressed.
  absl::Mutex log_mu_;
  absl::Time last_log_[static_cast<int>(AuthFailure::kCount)] ABSL_GUARDED_BY(log_mu_);
  uint64_t suppressed_[static_cast<int>(AuthFailure::kCount)] ABSL_GUARDED_BY(log_mu_) = {};
};

// The handshake's handlers, for the gate's and the agent's behaviour: `agent` is the handle a
// finished handshake hands out (an empty one: `self`).
caf::message_handler handshake_handlers(caf::event_based_actor* self,
                                        std::shared_ptr<NodeAuthenticator> auth, caf::actor agent);

// Makes `self` drop, count and answer with refused_error() every message its behaviour does not
// handle, including forged system messages (down, error, exit other than kill). Only an exit with
// exit_reason::kill stops it (CAF cannot intercept one).
void refuse_everything_else(caf::event_based_actor* self, std::shared_ptr<NodeAuthenticator> auth);

// The node's published actor: the handshake and nothing else; the agent's handle is given only to
// a peer that finished it. Stop it with exit_reason::kill.
caf::actor spawn_auth_gate(caf::actor_system& sys, std::shared_ptr<NodeAuthenticator> auth,
                           caf::actor agent);

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_NODE_AUTHENTICATOR_H_
