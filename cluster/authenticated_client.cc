#include "cluster/authenticated_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/sec.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace cluster {
namespace {

// A failed request as a status: refused (the node could not authenticate it), timed out, or lost.
absl::Status request_error(caf::actor_system& sys, const std::string& node, const caf::error& e,
                           std::chrono::milliseconds timeout) {
  if (e == refused_error()) {
    return auth_status(
        AuthFailure::kExpired,
        absl::StrCat("node ", node, " refused the request: it could not authenticate it"));
  }
  if (e == caf::sec::request_timeout) {
    return reload_status(
        ReloadError::kTimeout,
        absl::StrCat("node ", node, " did not answer within ", timeout.count(), " ms"));
  }
  return reload_status(ReloadError::kIoError,
                       absl::StrCat("no answer from node ", node, ": ", sys.render(e)));
}

}  // namespace

AuthenticatedClient::AuthenticatedClient(caf::actor_system& sys, ChannelKeys keys, caf::actor agent)
    : sys_(sys), channel_(std::move(keys)), agent_(std::move(agent)), last_used_(absl::Now()) {}

absl::StatusOr<std::shared_ptr<AuthenticatedClient>> AuthenticatedClient::connect(
    caf::actor_system& sys, const caf::actor& node, const Options& options) {
  if (options.secret.size() < kMinSecretBytes) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("the cluster secret has ", options.secret.size(),
                                      " bytes; at least ", kMinSecretBytes, " are needed"));
  }
  if (!node) return reload_status(ReloadError::kInvalidArgument, "no node to connect to");
  HandshakeInitiator initiator(options.secret, options.name, options.role);
  caf::scoped_actor self{sys};
  absl::Status failed;
  AuthChallenge challenge;
  self->request(node, options.timeout, auth_hello_atom::value, initiator.hello())
      .receive([&](AuthChallenge& c) { challenge = std::move(c); },
               [&](caf::error& e) {
                 failed = e == refused_error()
                              ? auth_status(AuthFailure::kMalformed,
                                            absl::StrCat("the node refused the handshake of '",
                                                         options.name, "' (a bad peer name?)"))
                              : request_error(sys, "", e, options.timeout);
               });
  if (!failed.ok()) return failed;
  AuthFinish finish;
  absl::StatusOr<ChannelKeys> keys = initiator.on_challenge(challenge, &finish);
  if (!keys.ok()) return keys.status();
  SealedMessage accept;
  caf::actor agent;
  self->request(node, options.timeout, auth_finish_atom::value, finish)
      .receive(
          [&](SealedMessage& a, caf::actor& handle) {
            accept = std::move(a);
            agent = std::move(handle);
          },
          [&](caf::error& e) {
            failed = e == refused_error()
                         ? auth_status(AuthFailure::kBadProof,
                                       absl::StrCat("node ", keys->peer_name,
                                                    " refused this program's proof of the cluster "
                                                    "secret (a different secret file?)"))
                         : request_error(sys, keys->peer_name, e, options.timeout);
          });
  if (!failed.ok()) return failed;
  auto client = std::make_shared<AuthenticatedClient>(sys, std::move(*keys), agent);
  absl::StatusOr<std::string> identity = client->channel_.open_reply(accept, 0);
  if (!identity.ok()) return identity.status();
  if (!agent || *identity != agent_identity(agent)) {
    return auth_status(AuthFailure::kBadMac,
                       "the handshake's reply names another agent than the one it carries");
  }
  return client;
}

AuthenticatedClient::Pending AuthenticatedClient::send(caf::blocking_actor* self,
                                                       const caf::message& content,
                                                       std::chrono::milliseconds timeout,
                                                       const caf::actor& attach) {
  {
    absl::MutexLock lock(&mu_);
    last_used_ = absl::Now();
  }
  SealedMessage sealed = channel_.seal_request(encode_content(sys_, content));
  const uint64_t seq = sealed.seq;
  if (attach) {
    return Pending{self->request(agent_, timeout, sealed_atom::value, std::move(sealed), attach),
                   seq, timeout};
  }
  return Pending{self->request(agent_, timeout, sealed_atom::value, std::move(sealed)), seq,
                 timeout};
}

absl::StatusOr<caf::message> AuthenticatedClient::await(Pending& pending) {
  absl::StatusOr<caf::message> out = reload_status(ReloadError::kInternal, "no reply");
  pending.handle.receive(
      [&](SealedMessage& reply) {
        absl::StatusOr<std::string> payload = channel_.open_reply(reply, pending.seq);
        out = payload.ok() ? decode_content(sys_, *payload) : payload.status();
      },
      [&](caf::error& e) { out = request_error(sys_, node_name(), e, pending.timeout); });
  if (!out.ok()) {
    absl::MutexLock lock(&mu_);
    failed_ = true;
  }
  return out;
}

absl::StatusOr<caf::message> AuthenticatedClient::call(caf::blocking_actor* self,
                                                       const caf::message& content,
                                                       std::chrono::milliseconds timeout,
                                                       const caf::actor& attach) {
  Pending pending = send(self, content, timeout, attach);
  return await(pending);
}

bool AuthenticatedClient::stale() const {
  absl::MutexLock lock(&mu_);
  return failed_ || absl::Now() - last_used_ > kChannelIdleLimit / 2;
}

}  // namespace cluster
}  // namespace lemon
