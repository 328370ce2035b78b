#include "cluster/node_authenticator.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "caf/actor_cast.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/result.hpp"
#include "caf/scheduled_actor.hpp"

namespace lemon {
namespace cluster {
namespace {

// Who sent the message `self` handles, for the log (as CAF claims it: not authenticated).
std::string source_of(caf::scheduled_actor* self) {
  const caf::strong_actor_ptr& sender = self->current_sender();
  return sender ? caf::to_string(sender) : "an anonymous sender";
}

}  // namespace

NodeAuthenticator::NodeAuthenticator(caf::actor_system& sys, Options options)
    : sys_(sys), options_(std::move(options)), responder_(options_.secret, options_.node_name) {
  for (absl::Time& t : last_log_) t = absl::InfinitePast();
}

absl::Status NodeAuthenticator::refused(const absl::Status& status, const std::string& source) {
  const AuthFailure reason = auth_failure_of(status);
  if (options_.on_failure) options_.on_failure(reason);
  const int r = static_cast<int>(reason);
  const absl::Time now = absl::Now();
  uint64_t suppressed = 0;
  {
    absl::MutexLock lock(&log_mu_);
    if (now - last_log_[r] < absl::Seconds(1)) {
      ++suppressed_[r];
      return status;
    }
    last_log_[r] = now;
    std::swap(suppressed, suppressed_[r]);
  }
  std::fprintf(
      stderr, "lemon: cluster node %s refused a message from %s (%s): %s%s\n",
      options_.node_name.c_str(), source.c_str(), to_string(reason),
      std::string(status.message()).c_str(),
      suppressed > 0 ? absl::StrCat(" (and ", suppressed, " more refused since)").c_str() : "");
  return status;
}

void NodeAuthenticator::refuse(AuthFailure reason, const std::string& what,
                               const std::string& source) {
  refused(auth_status(reason, what), source).IgnoreError();
}

absl::StatusOr<AuthChallenge> NodeAuthenticator::on_hello(const AuthHello& hello,
                                                          const std::string& source) {
  absl::StatusOr<AuthChallenge> c = responder_.on_hello(hello, absl::Now());
  if (!c.ok()) return refused(c.status(), source);
  return c;
}

absl::StatusOr<SealedMessage> NodeAuthenticator::on_finish(const AuthFinish& finish,
                                                           const caf::actor& agent,
                                                           const std::string& source) {
  const absl::Time now = absl::Now();
  absl::StatusOr<ChannelKeys> keys = responder_.on_finish(finish, now);
  if (!keys.ok()) return refused(keys.status(), source);
  auto channel = std::make_shared<ResponderChannel>(std::move(*keys));
  {
    absl::MutexLock lock(&mu_);
    drop_idle(now);
    while (!channels_.empty() && channels_.size() >= options_.max_channels) {
      auto oldest = channels_.begin();
      for (auto it = channels_.begin(); it != channels_.end(); ++it) {
        if (it->second.last_used < oldest->second.last_used) oldest = it;
      }
      channels_.erase(oldest);
    }
    channels_[channel->keys().channel] = Channel{channel, now};
  }
  return channel->seal_reply(agent_identity(agent), 0);
}

absl::StatusOr<OpenedRequest> NodeAuthenticator::open(const SealedMessage& sealed,
                                                      const std::string& source) {
  const absl::Time now = absl::Now();
  std::shared_ptr<ResponderChannel> channel;
  {
    absl::MutexLock lock(&mu_);
    drop_idle(now);
    auto it = channels_.find(sealed.channel);
    if (it != channels_.end()) channel = it->second.channel;
  }
  if (!channel) {
    return refused(auth_status(AuthFailure::kExpired,
                               "a sealed message for a channel this node does not know (never "
                               "accepted, or dropped after being idle)"),
                   source);
  }
  absl::StatusOr<std::string> payload = channel->open_request(sealed);
  if (!payload.ok()) return refused(payload.status(), source);
  absl::StatusOr<caf::message> content = decode_content(sys_, *payload);
  if (!content.ok()) return refused(content.status(), source);
  {
    absl::MutexLock lock(&mu_);
    auto it = channels_.find(sealed.channel);
    if (it != channels_.end()) it->second.last_used = now;
  }
  const ChannelKeys& keys = channel->keys();
  return OpenedRequest{channel, sealed.seq, keys.peer_name, keys.peer_role, std::move(*content)};
}

SealedMessage NodeAuthenticator::seal_reply(const OpenedRequest& request,
                                            const caf::message& reply) {
  return request.channel->seal_reply(encode_content(sys_, reply), request.seq);
}

size_t NodeAuthenticator::channels() const {
  absl::MutexLock lock(&mu_);
  return channels_.size();
}

void NodeAuthenticator::drop_idle(absl::Time now) {
  for (auto it = channels_.begin(); it != channels_.end();) {
    it = now - it->second.last_used > options_.channel_idle ? channels_.erase(it) : std::next(it);
  }
}

caf::message_handler handshake_handlers(caf::event_based_actor* self,
                                        std::shared_ptr<NodeAuthenticator> auth, caf::actor agent) {
  return {
      [self, auth](auth_hello_atom, const AuthHello& hello) -> caf::result<AuthChallenge> {
        absl::StatusOr<AuthChallenge> c = auth->on_hello(hello, source_of(self));
        if (!c.ok()) return refused_error();
        return std::move(*c);
      },
      [self, auth, agent](auth_finish_atom,
                          const AuthFinish& finish) -> caf::result<SealedMessage, caf::actor> {
        // The agent's own behaviour passes no handle: holding one would keep it alive.
        caf::actor target = agent ? agent : caf::actor_cast<caf::actor>(self);
        absl::StatusOr<SealedMessage> accept = auth->on_finish(finish, target, source_of(self));
        if (!accept.ok()) return refused_error();
        return caf::result<SealedMessage, caf::actor>(std::move(*accept), std::move(target));
      },
  };
}

void refuse_everything_else(caf::event_based_actor* self, std::shared_ptr<NodeAuthenticator> auth) {
  self->set_default_handler(
      [auth](caf::scheduled_actor* s, caf::message_view&) -> caf::result<caf::message> {
        auth->refuse(AuthFailure::kUnsealed,
                     "a message that is neither a handshake step nor sealed", source_of(s));
        return refused_error();
      });
  // System messages are ordinary messages on the network: anyone can send them.
  self->set_down_handler([auth](caf::scheduled_actor* s, caf::down_msg&) {
    auth->refuse(AuthFailure::kUnsealed, "a down message (this actor monitors nobody)",
                 source_of(s));
  });
  self->set_error_handler([auth](caf::scheduled_actor* s, caf::error&) {
    auth->refuse(AuthFailure::kUnsealed, "an error message", source_of(s));
  });
  self->set_exit_handler([auth](caf::scheduled_actor* s, caf::exit_msg&) {
    auth->refuse(AuthFailure::kUnsealed, "an exit message", source_of(s));
  });
}

caf::actor spawn_auth_gate(caf::actor_system& sys, std::shared_ptr<NodeAuthenticator> auth,
                           caf::actor agent) {
  return sys.spawn([auth, agent](caf::event_based_actor* self) {
    refuse_everything_else(self, auth);
    return caf::behavior{handshake_handlers(self, auth, agent)};
  });
}

}  // namespace cluster
}  // namespace lemon
