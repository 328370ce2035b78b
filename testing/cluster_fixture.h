// Test fixtures for the cluster port: a node (a Runtime with counter v1 and three counter actors,
// and its Cluster published on a free port) and a peer in its own CAF actor system that reaches
// the node over the network as another process would, with the handshake and the sealing done by
// hand so that tests can forge, tamper with and replay what it sends.
//
//   ClusterNode node({.lease = absl::Seconds(2)});
//   RemotePeer peer;
//   caf::actor gate = peer.connect(node.port());
//   RawChannel ch = peer.handshake(gate, kSecret, "b", PeerRole::kMember);
//   auto reply = peer.call(ch, caf::make_message(cluster_lock_atom::value, call));
#ifndef LEMON_TESTING_CLUSTER_FIXTURE_H_
#define LEMON_TESTING_CLUSTER_FIXTURE_H_

#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "actors/test_ask.h"
#include "caf/all.hpp"
#include "caf/io/middleman.hpp"
#include "cluster/auth_messages.h"
#include "cluster/cluster.h"
#include "cluster/cluster_deps.h"
#include "cluster/peer_auth.h"
#include "cluster/tls.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/reload_service.h"
#include "node/runtime.h"
#include "testing/test_node.h"

namespace lemon::testing {

inline const std::string kClusterSecret =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline const std::string kWrongSecret =
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
inline constexpr auto kReplyTimeout = std::chrono::seconds(60);

struct ClusterNodeOptions {
  absl::Duration lease = absl::Seconds(10);
  size_t max_sessions = 8;
  size_t max_remote_reloads = 2;
};

// One node named "a": counter v1 loaded (v2 in its modules directory, so that a reload would
// change it) and three counter actors.
class ClusterNode {
 public:
  explicit ClusterNode(ClusterNodeOptions options = {}) {
    Runtime::Options o = node_options(dir_);
    o.node_name = "a";
    o.load_middleman = true;
    o.configure = [](caf::actor_system_config& cfg) { configure_cluster(cfg); };
    rt_ = std::move(Runtime::create(o).value());
    EXPECT_TRUE(
        install_module(*rt_, runfile("extensions/counter/libcounter_v1.so"), "counter.so").ok());
    for (int i = 0; i < 3; ++i)
      EXPECT_TRUE(rt_->spawn({"counter", "", "c" + std::to_string(i), "0"}).ok());
    EXPECT_TRUE(
        install_module(*rt_, runfile("extensions/counter/libcounter_v2.so"), "counter.so", false)
            .ok());
    Cluster::Options co;
    co.node_name = "a";
    co.secret = kClusterSecret;
    co.port = Cluster::kAnyPort;
    co.lease = options.lease;
    co.max_sessions = options.max_sessions;
    co.max_remote_reloads = options.max_remote_reloads;
    cluster_ = std::move(Cluster::start(cluster_deps(*rt_), co).value());
  }
  ~ClusterNode() {
    cluster_.reset();
    rt_.reset();
  }

  Runtime& runtime() { return *rt_; }
  Cluster& cluster() { return *cluster_; }
  uint16_t port() const { return static_cast<uint16_t>(cluster_->port()); }
  bool lock_held() const { return rt_->lock().holder().has_value(); }
  // The version counter's actors run and how many there are ("1", 3 at the start).
  std::string counter_version() { return rt_->code_server().current("counter")->version(); }
  size_t counter_actors() { return rt_->reload_manager().actor_counts()["counter"]; }
  double failures(cluster::AuthFailure reason) const { return cluster_->auth_failures(reason); }
  // Waits until the lock is free, at most `deadline`; true if it was freed.
  bool await_lock_free(absl::Duration deadline) {
    const absl::Time until = absl::Now() + deadline;
    while (lock_held() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
    return !lock_held();
  }

 private:
  ScratchDir dir_;
  std::unique_ptr<Runtime> rt_;
  std::unique_ptr<Cluster> cluster_;
};

// A channel whose sealing the test controls.
struct RawChannel {
  std::shared_ptr<cluster::InitiatorChannel> channel;
  caf::actor agent;
};

// Another program on the same host: its own actor system, reaching the node over BASP.
class RemotePeer {
 public:
  RemotePeer() : sys_(cfg_) {}

  caf::actor_system& system() { return sys_; }

  // The node's published gate.
  caf::actor connect(uint16_t port) {
    auto gate = cluster::connect_endpoint(sys_, "127.0.0.1", port);
    EXPECT_TRUE(gate.ok()) << gate.status();
    return gate.value_or(caf::actor{});
  }

  // The handshake, step by step; an empty channel if it fails.
  RawChannel handshake(const caf::actor& node, const std::string& secret, const std::string& name,
                       cluster::PeerRole role) {
    cluster::HandshakeInitiator initiator(secret, name, role);
    caf::scoped_actor self{sys_};
    cluster::AuthChallenge challenge;
    self->request(node, kReplyTimeout, cluster::auth_hello_atom::value, initiator.hello())
        .receive([&](cluster::AuthChallenge& c) { challenge = std::move(c); }, [](caf::error&) {});
    cluster::AuthFinish finish;
    absl::StatusOr<cluster::ChannelKeys> keys = initiator.on_challenge(challenge, &finish);
    if (!keys.ok()) return {};
    RawChannel out;
    self->request(node, kReplyTimeout, cluster::auth_finish_atom::value, finish)
        .receive(
            [&](cluster::SealedMessage&, caf::actor& agent) {
              out.channel = std::make_shared<cluster::InitiatorChannel>(*keys);
              out.agent = agent;
            },
            [](caf::error&) {});
    return out;
  }

  cluster::SealedMessage seal(const RawChannel& ch, const caf::message& content) {
    return ch.channel->seal_request(cluster::encode_content(sys_, content));
  }

  // Sends `sealed` (and `attach`) to `to`; the opened reply, or the error.
  absl::StatusOr<caf::message> send(const RawChannel& ch, const caf::actor& to,
                                    const cluster::SealedMessage& sealed,
                                    const caf::actor& attach = caf::actor{}) {
    caf::scoped_actor self{sys_};
    absl::StatusOr<caf::message> out = absl::UnknownError("no reply");
    auto on_reply = [&](cluster::SealedMessage& reply) {
      auto payload = ch.channel->open_reply(reply, sealed.seq);
      out = payload.ok() ? cluster::decode_content(sys_, *payload) : payload.status();
    };
    auto on_error = [&](caf::error& e) { out = absl::PermissionDeniedError(sys_.render(e)); };
    if (attach) {
      self->request(to, kReplyTimeout, cluster::sealed_atom::value, sealed, attach)
          .receive(on_reply, on_error);
    } else {
      self->request(to, kReplyTimeout, cluster::sealed_atom::value, sealed)
          .receive(on_reply, on_error);
    }
    return out;
  }

  // Seals `content` on `ch` and asks the agent.
  absl::StatusOr<caf::message> call(const RawChannel& ch, const caf::message& content) {
    return send(ch, ch.agent, seal(ch, content));
  }

  // The ReloadReport of a successful call, or the report in its ClusterStepReply (an error report
  // if the call failed).
  ReloadReport report(const RawChannel& ch, const caf::message& content) {
    return as_report(call(ch, content));
  }

  // The ReloadReport in `reply` to the request `request_seq` on `ch` (an error report if it does
  // not open).
  ReloadReport open_report(const RawChannel& ch, const cluster::SealedMessage& reply,
                           uint64_t request_seq) {
    auto payload = ch.channel->open_reply(reply, request_seq);
    if (!payload.ok()) return as_report(payload.status());
    return as_report(cluster::decode_content(sys_, *payload));
  }

  // True if `to` answers the request made of `xs` with cluster::refused_error().
  template <class... Ts>
  bool refused(const caf::actor& to, Ts&&... xs) {
    caf::scoped_actor self{sys_};
    return error_reply(self, kReplyTimeout, to, std::forward<Ts>(xs)...) ==
           cluster::refused_error();
  }

 private:
  static ReloadReport as_report(const absl::StatusOr<caf::message>& reply) {
    if (reply.ok() && reply->match_elements<ReloadReport>()) return reply->get_as<ReloadReport>(0);
    if (reply.ok() && reply->match_elements<ClusterStepReply>()) {
      return reply->get_as<ClusterStepReply>(0).report;
    }
    ReloadReport r = ReloadReport::begin(ReloadKind::kSystem, "");
    r.add_error("call", reply.ok() ? absl::InternalError("no report") : reply.status());
    r.finish();
    return r;
  }

  struct Config : caf::actor_system_config {
    Config() {
      load<caf::io::middleman>();
      add_reload_message_types(*this);
      configure_cluster(*this);
    }
  };

  Config cfg_;
  caf::actor_system sys_;
};

// A cluster call for `reload_id` with `token`.
inline ClusterCall cluster_call(const std::string& reload_id, uint64_t token = 0) {
  ClusterCall c;
  c.reload_id = reload_id;
  c.coordinator = "b";
  c.token = token;
  c.request = ReloadRequest::module("counter");
  c.request.lock_timeout_ms = 5000;
  return c;
}

// The lock token a lock report hands out (0: none).
inline uint64_t lock_token(const ReloadReport& r) { return r.lock_token; }

}  // namespace lemon::testing

#endif  // LEMON_TESTING_CLUSTER_FIXTURE_H_
