// The cluster port against a peer that does not hold the cluster secret, over the network: it can
// reach the node's gate, and in some tests it even holds the agent's real handle (a leak), yet no
// message it sends takes the lock, reloads, purges, joins the membership or reads anything, and
// every one is refused and counted in lemon_cluster_auth_failures_total.
#include <functional>
#include <string>
#include <vector>

#include "cluster/authenticated_client.h"
#include "cluster/cluster.h"
#include "cluster/cluster_messages.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"
#include "node/reload_service.h"
#include "testing/cluster_fixture.h"

namespace lemon {
namespace {

using cluster::AuthFailure;
using cluster::PeerRole;
using testing::ClusterNode;
using testing::kClusterSecret;
using testing::kWrongSecret;
using testing::RawChannel;
using testing::RemotePeer;

ReloadRequest hard_purge() {
  ReloadRequest r = ReloadRequest::hard_purge("counter");
  r.force = true;
  return r;
}

ReloadRequest reload_counter() { return ReloadRequest::module("counter"); }

// Nothing on the node changed: no lock held, counter still on version 1 with its three actors,
// no member but the node itself.
void expect_untouched(ClusterNode& node) {
  EXPECT_FALSE(node.lock_held());
  EXPECT_EQ(node.counter_version(), "1");
  EXPECT_EQ(node.counter_actors(), 3u);
  EXPECT_EQ(node.cluster().members().size(), 1u);
}

// Every operation the node has, asked without sealing, of the published gate.
TEST(ClusterAuthTest, PeerWithoutTheSecretCannotActThroughTheGate) {
  ClusterNode node;
  RemotePeer peer;
  caf::actor gate = peer.connect(node.port());
  // What anyone who connects gets is not the agent.
  EXPECT_NE(cluster::agent_identity(gate), cluster::agent_identity(node.cluster().agent()));
  struct Case {
    const char* what;
    caf::message msg;
  };
  ClusterCall call = testing::cluster_call("mallory/1");
  const std::vector<Case> cases = {
      {"lock", caf::make_message(cluster_lock_atom::value, call)},
      {"prepare", caf::make_message(cluster_prepare_atom::value, call)},
      {"commit", caf::make_message(cluster_commit_atom::value, call)},
      {"finish", caf::make_message(cluster_finish_atom::value, call)},
      {"renew", caf::make_message(cluster_renew_atom::value, call)},
      {"reload", caf::make_message(reload_atom::value, reload_counter())},
      {"hard purge", caf::make_message(reload_atom::value, hard_purge())},
      {"hello",
       caf::make_message(cluster_hello_atom::value, std::string("127.0.0.1:1"), std::string("x"))},
      {"members", caf::make_message(cluster_members_atom::value)},
      {"modules", caf::make_message(cluster_modules_atom::value)},
      {"sealed garbage", caf::make_message(cluster::sealed_atom::value, cluster::SealedMessage{})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    caf::scoped_actor self{peer.system()};
    bool refused = false;
    self->request(gate, testing::kReplyTimeout, c.msg)
        .receive([](const caf::message&) { ADD_FAILURE() << "the gate answered"; },
                 [&](caf::error& e) { refused = e == cluster::refused_error(); });
    EXPECT_TRUE(refused);
  }
  expect_untouched(node);
  // The gate runs the handshake only: even a sealed message is "unsealed" to it.
  EXPECT_EQ(node.failures(AuthFailure::kUnsealed), 11);
  const std::string metrics = node.runtime().exporter().serialize_text();
  EXPECT_NE(metrics.find("lemon_cluster_auth_failures_total{node=\"a\",reason=\"unsealed\"} 11"),
            std::string::npos)
      << metrics;
}

TEST(ClusterAuthTest, PeerWithWrongSecretGetsNoAgentHandle) {
  ClusterNode node;
  RemotePeer peer;
  caf::actor gate = peer.connect(node.port());
  // The library's client: refused, and it says why.
  cluster::AuthenticatedClient::Options o;
  o.secret = kWrongSecret;
  o.name = "b";
  o.role = PeerRole::kMember;
  auto client = cluster::AuthenticatedClient::connect(peer.system(), gate, o);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(reload_error_of(client.status()), ReloadError::kUnauthorized);
  EXPECT_NE(client.status().message().find("did not prove"), absl::string_view::npos)
      << client.status();
  // A peer that ignores the node's proof and finishes anyway: refused, no handle.
  cluster::HandshakeInitiator mallory(kWrongSecret, "b", PeerRole::kMember);
  caf::scoped_actor self{peer.system()};
  cluster::AuthChallenge challenge;
  self->request(gate, testing::kReplyTimeout, cluster::auth_hello_atom::value, mallory.hello())
      .receive([&](cluster::AuthChallenge& c) { challenge = c; }, [](caf::error&) {});
  cluster::AuthFinish finish;
  finish.hello = mallory.hello();
  finish.channel = challenge.channel;
  finish.responder_nonce = challenge.nonce;
  finish.issued_ms = challenge.issued_ms;
  finish.cookie = challenge.cookie;
  finish.proof = std::string(cluster::kMacBytes, 'p');
  EXPECT_TRUE(peer.refused(gate, cluster::auth_finish_atom::value, finish));
  EXPECT_EQ(node.failures(AuthFailure::kBadProof), 1);
  expect_untouched(node);
}

// The agent's real handle in the hands of a peer without the secret (handed over here by a
// handshake the test runs for it), and every way to misuse it.
TEST(ClusterAuthTest, LeakedAgentHandleGrantsNothing) {
  ClusterNode node;
  RemotePeer peer;
  caf::actor gate = peer.connect(node.port());
  RawChannel legit = peer.handshake(gate, kClusterSecret, "b", PeerRole::kMember);
  ASSERT_TRUE(legit.agent);
  const caf::actor agent = legit.agent;  // the leak
  // A channel keyed with something else than the handshake's session key.
  cluster::ChannelKeys forged_keys = legit.channel->keys();
  forged_keys.session_key = std::string(cluster::kMacBytes, 'k');
  RawChannel forged{std::make_shared<cluster::InitiatorChannel>(forged_keys), agent};
  ClusterCall call = testing::cluster_call("mallory/1");
  auto lock = caf::make_message(cluster_lock_atom::value, call);
  // A sealed lock whose payload was swapped for a hard purge.
  cluster::SealedMessage tampered = peer.seal(legit, lock);
  tampered.payload =
      cluster::encode_content(peer.system(), caf::make_message(reload_atom::value, hard_purge()));
  struct Case {
    const char* what;
    std::function<bool()> refused;
    AuthFailure reason;
  };
  const std::vector<Case> cases = {
      {"unsealed lock", [&] { return peer.refused(agent, lock); }, AuthFailure::kUnsealed},
      {"unsealed hard purge", [&] { return peer.refused(agent, reload_atom::value, hard_purge()); },
       AuthFailure::kUnsealed},
      {"unsealed members", [&] { return peer.refused(agent, cluster_members_atom::value); },
       AuthFailure::kUnsealed},
      {"sealed with a made-up key", [&] { return !peer.call(forged, lock).ok(); },
       AuthFailure::kBadMac},
      {"sealed, payload swapped", [&] { return !peer.send(legit, agent, tampered).ok(); },
       AuthFailure::kBadMac},
      {"forged down message",
       [&] {
         caf::anon_send(agent, caf::down_msg{gate.address(), caf::exit_reason::kill});
         return true;
       },
       AuthFailure::kUnsealed},
      {"forged exit message",
       [&] {
         caf::anon_send(agent, caf::exit_msg{gate.address(), caf::exit_reason::user_shutdown});
         return true;
       },
       AuthFailure::kUnsealed},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const double before = node.failures(c.reason);
    EXPECT_TRUE(c.refused());
    // Asynchronous messages are counted when the agent gets to them: a sealed call after them
    // is answered after them.
    EXPECT_TRUE(peer.call(legit, caf::make_message(cluster_members_atom::value)).ok());
    EXPECT_EQ(node.failures(c.reason), before + 1);
    expect_untouched(node);
  }
}

TEST(ClusterAuthTest, ReplayedRequestIsRefusedAfterTheOriginalFinished) {
  ClusterNode node;
  RemotePeer peer;
  RawChannel ch = peer.handshake(peer.connect(node.port()), kClusterSecret, "b", PeerRole::kMember);
  ASSERT_TRUE(ch.agent);
  cluster::SealedMessage lock =
      peer.seal(ch, caf::make_message(cluster_lock_atom::value, testing::cluster_call("b/1")));
  auto granted = peer.send(ch, ch.agent, lock);
  ASSERT_TRUE(granted.ok()) << granted.status();
  ASSERT_TRUE(granted->match_elements<ClusterStepReply>());
  const uint64_t token = granted->get_as<ClusterStepReply>(0).report.lock_token;
  ASSERT_GT(token, 0u);
  EXPECT_TRUE(node.lock_held());
  ReloadReport done = peer.report(
      ch, caf::make_message(cluster_finish_atom::value, testing::cluster_call("b/1", token)));
  EXPECT_EQ(done.status, ReloadStatus::kOk);
  EXPECT_FALSE(node.lock_held());
  // The same bytes again would take the lock once more.
  EXPECT_FALSE(peer.send(ch, ch.agent, lock).ok());
  EXPECT_EQ(node.failures(AuthFailure::kReplay), 1);
  expect_untouched(node);
}

TEST(ClusterAuthTest, ClientRoleCannotTakeTheLockOrJoin) {
  ClusterNode node;
  RemotePeer peer;
  RawChannel client =
      peer.handshake(peer.connect(node.port()), kClusterSecret, "tool", PeerRole::kClient);
  ASSERT_TRUE(client.agent);
  EXPECT_FALSE(
      peer.call(client, caf::make_message(cluster_lock_atom::value, testing::cluster_call("t/1")))
          .ok());
  EXPECT_FALSE(
      peer.call(client, caf::make_message(cluster_hello_atom::value, std::string("127.0.0.1:1"),
                                          cluster::agent_identity(client.agent)))
          .ok());
  EXPECT_EQ(node.failures(AuthFailure::kForbidden), 2);
  // What a client may do: read the views.
  auto modules = peer.call(client, caf::make_message(cluster_modules_atom::value));
  ASSERT_TRUE(modules.ok()) << modules.status();
  EXPECT_EQ(modules->get_as<std::vector<ClusterModule>>(0).at(0).name, "counter");
  expect_untouched(node);
}

TEST(ClusterAuthTest, HelloUnderTheNameOfALiveMemberIsRefused) {
  ClusterNode node;
  RemotePeer first;
  RemotePeer second;
  RawChannel b =
      first.handshake(first.connect(node.port()), kClusterSecret, "b", PeerRole::kMember);
  ASSERT_TRUE(b.agent);
  // b's "agent": any actor of its system stands for it.
  caf::actor b_agent = first.system().spawn([] { return caf::behavior{[](int) {}}; });
  auto hello = [](const caf::actor& agent) {
    return caf::make_message(cluster_hello_atom::value, std::string("127.0.0.1:1"),
                             cluster::agent_identity(agent));
  };
  auto joined = first.send(b, b.agent, first.seal(b, hello(b_agent)), b_agent);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_TRUE(joined->get_as<bool>(0));
  EXPECT_EQ(node.cluster().members().size(), 2u);
  // Someone else with the secret, under the same name.
  RawChannel impostor =
      second.handshake(second.connect(node.port()), kClusterSecret, "b", PeerRole::kMember);
  ASSERT_TRUE(impostor.agent);
  caf::actor other_agent = second.system().spawn([] { return caf::behavior{[](int) {}}; });
  auto refused =
      second.send(impostor, impostor.agent, second.seal(impostor, hello(other_agent)), other_agent);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_FALSE(refused->get_as<bool>(0));
  EXPECT_NE(refused->get_as<std::string>(1).find("already called 'b'"), std::string::npos);
  EXPECT_EQ(node.failures(AuthFailure::kForbidden), 1);
  // A hello whose handle is not the one it names.
  auto mismatched =
      second.send(impostor, impostor.agent, second.seal(impostor, hello(b_agent)), other_agent);
  ASSERT_TRUE(mismatched.ok()) << mismatched.status();
  EXPECT_FALSE(mismatched->get_as<bool>(0));
  auto members = node.cluster().members();
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].name, "b");
  caf::anon_send_exit(b_agent, caf::exit_reason::kill);
  caf::anon_send_exit(other_agent, caf::exit_reason::kill);
}

}  // namespace
}  // namespace lemon
