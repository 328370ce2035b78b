// The authentication layer over CAF, in one process: a gate and an agent sharing a
// NodeAuthenticator, clients with and without the secret, and messages that are not sealed.
#include "cluster/node_authenticator.h"

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "actors/test_ask.h"
#include "caf/all.hpp"
#include "cluster/authenticated_client.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace cluster {
namespace {

using add_atom = caf::atom_constant<caf::atom("testadd")>;
constexpr auto kTimeout = std::chrono::seconds(30);
const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kWrongSecret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

struct Config : caf::actor_system_config {
  Config() { add_auth_message_types(*this); }
};

// Counts refusals by reason, as the node's metric would.
class Failures {
 public:
  void count(AuthFailure r) {
    absl::MutexLock lock(&mu_);
    ++counts_[r];
  }
  int operator[](AuthFailure r) {
    absl::MutexLock lock(&mu_);
    return counts_[r];
  }

 private:
  absl::Mutex mu_;
  std::map<AuthFailure, int> counts_;
};

// An agent whose one operation adds to a counter: the action an unauthenticated peer must not
// cause.
caf::behavior counting_agent(caf::event_based_actor* self, std::shared_ptr<NodeAuthenticator> auth,
                             std::atomic<int>* actions) {
  refuse_everything_else(self, auth);
  return handshake_handlers(self, auth, caf::actor{})
      .or_else([=](sealed_atom, SealedMessage& m) -> caf::result<SealedMessage> {
        absl::StatusOr<OpenedRequest> req = auth->open(m, "test");
        if (!req.ok()) return refused_error();
        if (!req->content.match_elements<add_atom, int>()) return refused_error();
        *actions += req->content.get_as<int>(1);
        return auth->seal_reply(*req, caf::make_message(actions->load()));
      });
}

class NodeAuthenticatorTest : public ::testing::Test {
 protected:
  NodeAuthenticatorTest() : sys_(cfg_) {
    NodeAuthenticator::Options o;
    o.secret = kSecret;
    o.node_name = "a";
    o.on_failure = [this](AuthFailure r) { failures_.count(r); };
    auth_ = std::make_shared<NodeAuthenticator>(sys_, o);
    agent_ = sys_.spawn(counting_agent, auth_, &actions_);
    gate_ = spawn_auth_gate(sys_, auth_, agent_);
  }
  ~NodeAuthenticatorTest() override {
    caf::anon_send_exit(gate_, caf::exit_reason::kill);
    caf::anon_send_exit(agent_, caf::exit_reason::kill);
  }

  absl::StatusOr<std::shared_ptr<AuthenticatedClient>> connect(const std::string& secret,
                                                               const caf::actor& node) {
    AuthenticatedClient::Options o;
    o.secret = secret;
    o.name = "tester";
    o.role = PeerRole::kClient;
    return AuthenticatedClient::connect(sys_, node, o);
  }

  // The keys of a handshake run by hand with the gate (what a client computes).
  ChannelKeys raw_handshake(const std::string& secret) {
    HandshakeInitiator initiator(secret, "raw", PeerRole::kClient);
    caf::scoped_actor self{sys_};
    AuthChallenge challenge;
    self->request(gate_, kTimeout, auth_hello_atom::value, initiator.hello())
        .receive([&](AuthChallenge& c) { challenge = c; }, [](caf::error&) {});
    AuthFinish finish;
    absl::StatusOr<ChannelKeys> keys = initiator.on_challenge(challenge, &finish);
    EXPECT_TRUE(keys.ok()) << keys.status();
    self->request(gate_, kTimeout, auth_finish_atom::value, finish)
        .receive([](SealedMessage&, caf::actor&) {}, [](caf::error&) { ADD_FAILURE(); });
    return keys.value_or(ChannelKeys{});
  }

  // Sends `msg` as a request from a fresh actor; true if the answer was refused_error().
  template <class... Ts>
  bool refused(const caf::actor& to, Ts&&... xs) {
    caf::scoped_actor self{sys_};
    return error_reply(self, kTimeout, to, std::forward<Ts>(xs)...) == refused_error();
  }

  Config cfg_;
  caf::actor_system sys_;
  Failures failures_;
  std::atomic<int> actions_{0};
  std::shared_ptr<NodeAuthenticator> auth_;
  caf::actor agent_;
  caf::actor gate_;
};

TEST_F(NodeAuthenticatorTest, ClientWithTheSecretGetsTheAgentAndItsReplies) {
  auto client = connect(kSecret, gate_);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->agent(), agent_);
  EXPECT_EQ((*client)->node_name(), "a");
  caf::scoped_actor self{sys_};
  for (int i = 1; i <= 3; ++i) {
    auto reply = (*client)->call(self.ptr(), caf::make_message(add_atom::value, 1), kTimeout);
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_TRUE(reply->match_elements<int>());
    EXPECT_EQ(reply->get_as<int>(0), i);
  }
  EXPECT_EQ(auth_->channels(), 1u);
}

TEST_F(NodeAuthenticatorTest, ClientWithWrongSecretGetsNoAgent) {
  auto client = connect(kWrongSecret, gate_);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(reload_error_of(client.status()), ReloadError::kUnauthorized);
  EXPECT_NE(client.status().message().find("did not prove"), absl::string_view::npos)
      << client.status();
  EXPECT_EQ(auth_->channels(), 0u);
}

TEST_F(NodeAuthenticatorTest, FinishWithoutTheSecretIsRefusedAndCounted) {
  HandshakeInitiator mallory(kWrongSecret, "mallory", PeerRole::kMember);
  caf::scoped_actor self{sys_};
  AuthChallenge challenge;
  self->request(gate_, kTimeout, auth_hello_atom::value, mallory.hello())
      .receive([&](AuthChallenge& c) { challenge = c; }, [](caf::error&) { FAIL(); });
  AuthFinish finish;
  finish.hello = mallory.hello();
  finish.channel = challenge.channel;
  finish.responder_nonce = challenge.nonce;
  finish.issued_ms = challenge.issued_ms;
  finish.cookie = challenge.cookie;
  finish.proof = std::string(kMacBytes, 'x');
  EXPECT_TRUE(refused(gate_, auth_finish_atom::value, finish));
  EXPECT_EQ(failures_[AuthFailure::kBadProof], 1);
  EXPECT_EQ(auth_->channels(), 0u);
}

TEST_F(NodeAuthenticatorTest, UnsealedOrBadlySealedMessagesCauseNothingAndAreCounted) {
  auto client = connect(kSecret, gate_);
  ASSERT_TRUE(client.ok()) << client.status();
  // The real content, unsealed, straight to the agent (as if its handle had leaked).
  EXPECT_TRUE(refused(agent_, add_atom::value, 100));
  // Sealed with a made-up key for a made-up channel.
  SealedMessage bad;
  bad.channel = 12345;
  bad.seq = 1;
  bad.payload = encode_content(sys_, caf::make_message(add_atom::value, 100));
  bad.mac = std::string(kMacBytes, 'm');
  EXPECT_TRUE(refused(agent_, sealed_atom::value, bad));
  // Garbage in every field size.
  EXPECT_TRUE(refused(agent_, sealed_atom::value, SealedMessage{}));
  EXPECT_TRUE(refused(agent_, std::string("hard_purge counter")));
  // The gate only does the handshake.
  EXPECT_TRUE(refused(gate_, add_atom::value, 100));
  EXPECT_TRUE(refused(gate_, sealed_atom::value, bad));
  EXPECT_EQ(actions_.load(), 0);
  EXPECT_EQ(failures_[AuthFailure::kUnsealed], 4);
  EXPECT_EQ(failures_[AuthFailure::kExpired], 2);  // no such channel
}

TEST_F(NodeAuthenticatorTest, ReplayedOrTamperedRequestRunsNothing) {
  ChannelKeys keys = raw_handshake(kSecret);
  InitiatorChannel channel(keys);
  SealedMessage add =
      channel.seal_request(encode_content(sys_, caf::make_message(add_atom::value, 5)));
  caf::scoped_actor self{sys_};
  bool answered = false;
  self->request(agent_, kTimeout, sealed_atom::value, add)
      .receive([&](SealedMessage& reply) { answered = channel.open_reply(reply, add.seq).ok(); },
               [](caf::error&) {});
  EXPECT_TRUE(answered);
  EXPECT_TRUE(refused(agent_, sealed_atom::value, add));  // the same bytes again
  SealedMessage tampered =
      channel.seal_request(encode_content(sys_, caf::make_message(add_atom::value, 1)));
  tampered.payload = encode_content(sys_, caf::make_message(add_atom::value, 1000));
  EXPECT_TRUE(refused(agent_, sealed_atom::value, tampered));
  EXPECT_EQ(actions_.load(), 5);
  EXPECT_EQ(failures_[AuthFailure::kReplay], 1);
  EXPECT_EQ(failures_[AuthFailure::kBadMac], 1);
}

TEST_F(NodeAuthenticatorTest, ForgedSystemMessagesLeaveTheAgentRunning) {
  caf::anon_send(agent_, caf::down_msg{gate_.address(), caf::exit_reason::kill});
  caf::anon_send(agent_, caf::make_error(caf::sec::runtime_error));
  caf::anon_send(agent_, caf::exit_msg{gate_.address(), caf::exit_reason::user_shutdown});
  auto client = connect(kSecret, gate_);
  ASSERT_TRUE(client.ok()) << client.status();
  caf::scoped_actor self{sys_};
  auto reply = (*client)->call(self.ptr(), caf::make_message(add_atom::value, 2), kTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(actions_.load(), 2);
  EXPECT_EQ(failures_[AuthFailure::kUnsealed], 3);
}

}  // namespace
}  // namespace cluster
}  // namespace lemon
