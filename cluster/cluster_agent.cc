// The cluster agent: the one actor of a node that acts for its peers. It runs the handshake and
// answers sealed requests only; each request is opened by the node's authenticator, checked
// against the peer's role, and dispatched. Everything else is refused and counted.
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "caf/actor_cast.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "cluster/cluster_internal.h"
#include "core/reload_error.h"
#include "node/reload_service.h"

namespace lemon {
namespace cluster_internal {
namespace {

using cluster::AuthFailure;
using cluster::OpenedRequest;
using cluster::PeerRole;

std::vector<std::string> members_of(const State& st) {
  std::vector<std::string> out{absl::StrCat(st.node_name, "=", st.address)};
  absl::MutexLock lock(&st.mu);
  for (const auto& [name, m] : st.members) out.push_back(absl::StrCat(name, "=", m.address));
  return out;
}

void remove_member(State& st, const caf::actor_addr& agent) {
  absl::MutexLock lock(&st.mu);
  for (auto it = st.members.begin(); it != st.members.end();) {
    it = it->second.agent.address() == agent ? st.members.erase(it) : std::next(it);
  }
}

// A node introduces itself under the name its handshake proved. Refused under this node's own
// name, under the name of a live member with another agent, or when the handle next to the
// sealed hello is not the one the hello names.
void hello(caf::event_based_actor* self, const std::shared_ptr<State>& st,
           const std::string& address, const std::string& identity, const caf::actor& attached,
           Reply reply) {
  const std::string& name = reply.request().peer_name;
  std::string refused;
  if (name == st->node_name) {
    refused = absl::StrCat("'", name, "' is this node's own name");
  } else if (!attached || cluster::agent_identity(attached) != identity) {
    refused = "the agent handle does not match the sealed hello";
  } else {
    absl::MutexLock lock(&st->mu);
    auto it = st->members.find(name);
    if (it != st->members.end() && it->second.agent != attached) {
      refused = absl::StrCat("a live member is already called '", name, "'");
    }
  }
  if (!refused.empty()) {
    st->auth->refuse(AuthFailure::kForbidden, absl::StrCat("hello refused: ", refused), name);
    return reply(caf::make_message(false, refused));
  }
  bool fresh = false;
  {
    absl::MutexLock lock(&st->mu);
    fresh = st->members.count(name) == 0;
  }
  add_member(st, name, address, attached, nullptr);
  reply(caf::make_message(true, st->node_name));
  if (!fresh) return;
  // This node may be the one behind (it restarted, and its peers reconnected to it). The joiner
  // caught up before its hello; this side compares in the background, under its reload lock.
  self->spawn<caf::detached>([st, attached](caf::blocking_actor*) {
    auto peer = connect_member(*st, attached);
    if (peer.ok()) catch_up_with(*st, **peer);
  });
}

// A reload of this node alone, run by its reload service; at most max_remote_reloads at once.
void remote_reload(caf::event_based_actor* self, const std::shared_ptr<State>& st,
                   ReloadRequest req, Reply reply) {
  auto refuse = [&](ReloadError e, const std::string& message) {
    ReloadReport r = ReloadReport::begin(ReloadKind::kSystem, req.target);
    r.add_error(req.target, reload_status(e, message));
    r.finish();
    reply(std::move(r));
  };
  if (req.timeout_ms > kMaxClusterTimeoutMs || req.lock_timeout_ms > kMaxClusterTimeoutMs) {
    return refuse(ReloadError::kInvalidArgument,
                  absl::StrCat("timeout_ms and lock_timeout_ms may be at most ",
                               kMaxClusterTimeoutMs, " ms"));
  }
  if (st->remote_reloads >= st->max_remote_reloads) {
    return refuse(ReloadError::kReloadInProgress,
                  absl::StrCat("node ", st->node_name, " already runs ", st->remote_reloads,
                               " reloads for its peers, the most it takes"));
  }
  ++st->remote_reloads;
  req.cluster_seq = 0;  // only a cluster commit, or catching up with one, numbers a release
  std::string target = req.target;
  req.owner = absl::StrCat("cluster peer ", reply.request().peer_name);
  self->request(st->deps.reload_service, caf::infinite, reload_atom::value, std::move(req))
      .then(
          [st, reply](ReloadReport& r) mutable {
            --st->remote_reloads;
            reply(std::move(r));
          },
          [st, reply, target = std::move(target)](caf::error&) mutable {
            --st->remote_reloads;
            ReloadReport r = ReloadReport::begin(ReloadKind::kSystem, target);
            r.add_error(target, reload_status(ReloadError::kInternal,
                                              "the node's reload service did not answer"));
            r.finish();
            reply(std::move(r));
          });
}

// Runs one opened request. Roles: a client may read the views and reload this node; only a
// member may join, lock, prepare, commit, finish and renew.
void dispatch(caf::event_based_actor* self, const std::shared_ptr<State>& st,
              const caf::actor& attached, Reply reply) {
  const OpenedRequest& req = reply.request();
  const caf::message& m = req.content;
  if (m.match_elements<cluster_members_atom>()) return reply(members_of(*st));
  if (m.match_elements<cluster_modules_atom>()) return reply(local_modules(*st->deps.code_server));
  if (m.match_elements<cluster_releases_atom>()) return reply(local_releases(*st->deps.reloader));
  if (m.match_elements<reload_atom, ReloadRequest>()) {
    return remote_reload(self, st, m.get_as<ReloadRequest>(1), std::move(reply));
  }
  if (req.peer_role != PeerRole::kMember) {
    st->auth->refuse(AuthFailure::kForbidden, "a member's operation asked by a client",
                     req.peer_name);
    return reply.refuse();
  }
  if (m.match_elements<cluster_hello_atom, std::string, std::string>()) {
    return hello(self, st, m.get_as<std::string>(1), m.get_as<std::string>(2), attached,
                 std::move(reply));
  }
  if (m.match_elements<cluster_release_bytes_atom, std::string, std::string>()) {
    return serve_release_bytes(self, st, m.get_as<std::string>(1), m.get_as<std::string>(2),
                               std::move(reply));
  }
  if (!m.match_elements<caf::atom_value, ClusterCall>()) {
    st->auth->refuse(AuthFailure::kMalformed, "an operation this node does not know",
                     req.peer_name);
    return reply.refuse();
  }
  ClusterCall call = m.get_as<ClusterCall>(1);
  const std::string peer = req.peer_name;
  switch (static_cast<uint64_t>(m.get_as<caf::atom_value>(0))) {
    case cluster_lock_atom::uint_value():
      return lock_step(self, st, std::move(call), peer, std::move(reply));
    case cluster_prepare_atom::uint_value():
      return run_step(self, st, std::move(call), Step::kPrepare, peer, std::move(reply));
    case cluster_commit_atom::uint_value():
      return run_step(self, st, std::move(call), Step::kCommit, peer, std::move(reply));
    case cluster_finish_atom::uint_value():
      return finish_step(self, st, std::move(call), peer, std::move(reply));
    case cluster_renew_atom::uint_value():
      return renew_step(*st, call, peer, std::move(reply));
    default:
      st->auth->refuse(AuthFailure::kMalformed, "an operation this node does not know", peer);
      return reply.refuse();
  }
}

caf::result<cluster::SealedMessage> serve(caf::event_based_actor* self,
                                          const std::shared_ptr<State>& st,
                                          const cluster::SealedMessage& sealed,
                                          const caf::actor& attached) {
  const caf::strong_actor_ptr& sender = self->current_sender();
  absl::StatusOr<OpenedRequest> req =
      st->auth->open(sealed, sender ? caf::to_string(sender) : "an anonymous sender");
  if (!req.ok()) return cluster::refused_error();
  auto promise = self->make_response_promise<cluster::SealedMessage>();
  dispatch(self, st, attached,
           Reply(st->auth, std::make_shared<const OpenedRequest>(std::move(*req)), promise));
  return promise;
}

}  // namespace

std::vector<KnownMember> down_members(const State& st) {
  std::set<std::string> live;
  for (const auto& [name, m] : st.members) live.insert(name);
  return st.known.down(live);
}

absl::StatusOr<std::shared_ptr<cluster::AuthenticatedClient>> connect_member(
    State& st, const caf::actor& agent) {
  cluster::AuthenticatedClient::Options o;
  o.secret = st.secret;
  o.name = st.node_name;
  o.role = cluster::PeerRole::kMember;
  return cluster::AuthenticatedClient::connect(*st.deps.system, agent, o);
}

void add_member(const std::shared_ptr<State>& st, const std::string& name,
                const std::string& address, const caf::actor& agent,
                std::shared_ptr<cluster::AuthenticatedClient> client) {
  {
    absl::MutexLock lock(&st->mu);
    auto it = st->members.find(name);
    if (it != st->members.end() && it->second.agent == agent) {
      if (client) it->second.client = std::move(client);
      return;
    }
    st->members[name] = Member{agent, address, std::move(client)};
    st->known.joined(name, address);
  }
  // Not a monitor: a down message is an ordinary message anyone can send to the agent.
  std::weak_ptr<State> weak = st;
  agent->attach_functor([weak, addr = agent.address()] {
    if (std::shared_ptr<State> s = weak.lock()) remove_member(*s, addr);
  });
}

caf::behavior agent_behaviour(caf::event_based_actor* self, std::shared_ptr<State> st) {
  cluster::refuse_everything_else(self, st->auth);
  return cluster::handshake_handlers(self, st->auth, caf::actor{})
      .or_else(
          [self, st](cluster::sealed_atom, const cluster::SealedMessage& m)
              -> caf::result<cluster::SealedMessage> { return serve(self, st, m, caf::actor{}); },
          [self, st](cluster::sealed_atom, const cluster::SealedMessage& m,
                     const caf::actor& attached) -> caf::result<cluster::SealedMessage> {
            return serve(self, st, m, attached);
          });
}

}  // namespace cluster_internal
}  // namespace lemon
