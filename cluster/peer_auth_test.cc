#include "cluster/peer_auth.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace cluster {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kOtherSecret = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

// Both ends of one finished handshake.
struct Pair {
  ChannelKeys client;
  ChannelKeys node;
};

// The first half of a handshake at kNow: `peer`'s hello, `node`'s challenge, and `peer`'s answer
// to it (on_challenge, which fills `finish` when it trusts the node).
absl::StatusOr<ChannelKeys> answer_challenge(HandshakeResponder& node, HandshakeInitiator& peer,
                                             AuthFinish& finish) {
  absl::StatusOr<AuthChallenge> challenge = node.on_hello(peer.hello(), kNow);
  EXPECT_TRUE(challenge.ok()) << challenge.status();
  if (!challenge.ok()) return challenge.status();
  return peer.on_challenge(*challenge, &finish);
}

Pair handshake(HandshakeResponder& node, const std::string& client_secret,
               PeerRole role = PeerRole::kMember) {
  HandshakeInitiator peer(client_secret, "b", role);
  AuthFinish finish;
  absl::StatusOr<ChannelKeys> client = answer_challenge(node, peer, finish);
  EXPECT_TRUE(client.ok()) << client.status();
  absl::StatusOr<ChannelKeys> server = node.on_finish(finish, kNow + absl::Seconds(1));
  EXPECT_TRUE(server.ok()) << server.status();
  return {client.value_or(ChannelKeys{}), server.value_or(ChannelKeys{})};
}

// Both ends of a channel opened by a handshake (as client "b") with node "a".
struct OpenChannel {
  HandshakeResponder node{kSecret, "a"};
  Pair keys = handshake(node, kSecret);
  InitiatorChannel client{keys.client};
  ResponderChannel server{keys.node};
};

void expect_refused(const absl::Status& s, AuthFailure reason) {
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(reload_error_of(s), ReloadError::kUnauthorized) << s;
  EXPECT_EQ(auth_failure_of(s), reason) << s << " (want " << to_string(reason) << ")";
}

TEST(PeerAuthTest, HandshakeGivesBothSidesTheSameKeyNamesAndRole) {
  HandshakeResponder node(kSecret, "a");
  Pair p = handshake(node, kSecret, PeerRole::kClient);
  EXPECT_EQ(p.client.session_key, p.node.session_key);
  EXPECT_EQ(p.client.session_key.size(), kMacBytes);
  EXPECT_NE(p.client.session_key, kSecret);
  EXPECT_EQ(p.client.channel, p.node.channel);
  EXPECT_EQ(p.client.peer_name, "a");
  EXPECT_EQ(p.node.peer_name, "b");
  EXPECT_EQ(p.node.peer_role, PeerRole::kClient);
  // A second handshake gets another channel and another key.
  Pair q = handshake(node, kSecret);
  EXPECT_NE(q.node.channel, p.node.channel);
  EXPECT_NE(q.node.session_key, p.node.session_key);
}

TEST(PeerAuthTest, InitiatorWithWrongSecretCannotFinish) {
  HandshakeResponder node(kSecret, "a");
  HandshakeInitiator peer(kOtherSecret, "mallory", PeerRole::kMember);
  absl::StatusOr<AuthChallenge> challenge = node.on_hello(peer.hello(), kNow);
  ASSERT_TRUE(challenge.ok());
  AuthFinish finish;
  // The initiator sees that the node does not share its secret...
  expect_refused(peer.on_challenge(*challenge, &finish).status(), AuthFailure::kBadProof);
  // ...and a finish that repeats the challenge faithfully but cannot compute the proof is refused.
  finish.hello = peer.hello();
  finish.channel = challenge->channel;
  finish.responder_nonce = challenge->nonce;
  finish.issued_ms = challenge->issued_ms;
  finish.cookie = challenge->cookie;
  finish.proof = challenge->proof;  // the node's own proof, reflected
  expect_refused(node.on_finish(finish, kNow).status(), AuthFailure::kBadProof);
  finish.proof = std::string(kMacBytes, 'p');
  expect_refused(node.on_finish(finish, kNow).status(), AuthFailure::kBadProof);
}

TEST(PeerAuthTest, NodeWithWrongSecretIsNotTrustedByTheInitiator) {
  HandshakeResponder impostor(kOtherSecret, "a");
  HandshakeInitiator peer(kSecret, "b", PeerRole::kClient);
  AuthFinish finish;
  expect_refused(answer_challenge(impostor, peer, finish).status(), AuthFailure::kBadProof);
}

// One way to tamper with a `T`, and the refusal it must meet.
template <class T>
struct TamperCase {
  const char* name;
  std::function<void(T&)> tamper;
  AuthFailure reason;
};

// A finish whose fields were changed after the challenge: every field is bound by the cookie or
// the proof.
TEST(PeerAuthTest, TamperedFinishIsRefused) {
  const std::vector<TamperCase<AuthFinish>> cases = {
      {"renamed initiator", [](AuthFinish& f) { f.hello.name = "c"; }, AuthFailure::kBadProof},
      {"client claims member", [](AuthFinish& f) { f.hello.role = PeerRole::kMember; },
       AuthFailure::kBadProof},
      {"other initiator nonce", [](AuthFinish& f) { f.hello.nonce[0] ^= 1; },
       AuthFailure::kBadProof},
      {"other responder nonce", [](AuthFinish& f) { f.responder_nonce[5] ^= 1; },
       AuthFailure::kBadProof},
      {"other channel", [](AuthFinish& f) { f.channel ^= 1; }, AuthFailure::kBadProof},
      {"later issue time", [](AuthFinish& f) { f.issued_ms += 1000; }, AuthFailure::kBadProof},
      {"flipped proof bit", [](AuthFinish& f) { f.proof[31] ^= 1; }, AuthFailure::kBadProof},
      {"truncated proof", [](AuthFinish& f) { f.proof.resize(16); }, AuthFailure::kBadProof},
      {"empty cookie", [](AuthFinish& f) { f.cookie.clear(); }, AuthFailure::kBadProof},
      {"short nonce", [](AuthFinish& f) { f.hello.nonce.resize(8); }, AuthFailure::kMalformed},
      {"unknown role", [](AuthFinish& f) { f.hello.role = static_cast<PeerRole>(9); },
       AuthFailure::kMalformed},
      {"name with '='", [](AuthFinish& f) { f.hello.name = "a=b"; }, AuthFailure::kMalformed},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    HandshakeResponder node(kSecret, "a");
    HandshakeInitiator peer(kSecret, "b", PeerRole::kClient);
    AuthFinish finish;
    ASSERT_TRUE(answer_challenge(node, peer, finish).ok());
    c.tamper(finish);
    expect_refused(node.on_finish(finish, kNow).status(), c.reason);
  }
}

TEST(PeerAuthTest, ReplayedOrLateFinishIsRefused) {
  HandshakeResponder node(kSecret, "a");
  HandshakeInitiator peer(kSecret, "b", PeerRole::kMember);
  AuthFinish finish;
  ASSERT_TRUE(answer_challenge(node, peer, finish).ok());
  expect_refused(node.on_finish(finish, kNow + kChallengeLifetime + absl::Seconds(1)).status(),
                 AuthFailure::kExpired);
  ASSERT_TRUE(node.on_finish(finish, kNow).ok());
  expect_refused(node.on_finish(finish, kNow).status(), AuthFailure::kReplay);
}

TEST(PeerAuthTest, GarbageHandshakeMessagesAreRefused) {
  HandshakeResponder node(kSecret, "a");
  expect_refused(node.on_hello(AuthHello{}, kNow).status(), AuthFailure::kMalformed);
  expect_refused(node.on_hello(AuthHello{std::string(kMaxNameBytes + 1, 'x'), PeerRole::kMember,
                                         std::string(kNonceBytes, 'n')},
                               kNow)
                     .status(),
                 AuthFailure::kMalformed);
  expect_refused(node.on_finish(AuthFinish{}, kNow).status(), AuthFailure::kMalformed);
  AuthFinish made_up;
  made_up.hello = {"b", PeerRole::kMember, std::string(kNonceBytes, 'n')};
  made_up.responder_nonce = std::string(kNonceBytes, 'r');
  made_up.cookie = std::string(kMacBytes, 'c');
  made_up.proof = std::string(kMacBytes, 'p');
  expect_refused(node.on_finish(made_up, kNow).status(), AuthFailure::kBadProof);
  HandshakeInitiator peer(kSecret, "b", PeerRole::kMember);
  AuthFinish finish;
  expect_refused(peer.on_challenge(AuthChallenge{}, &finish).status(), AuthFailure::kMalformed);
}

TEST(PeerAuthTest, SealedRequestAndReplyRoundTrip) {
  OpenChannel ch;
  for (int i = 0; i < 3; ++i) {
    SealedMessage request = ch.client.seal_request("lock counter");
    absl::StatusOr<std::string> opened = ch.server.open_request(request);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, "lock counter");
    SealedMessage reply = ch.server.seal_reply("token 7", request.seq);
    absl::StatusOr<std::string> answer = ch.client.open_reply(reply, request.seq);
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(*answer, "token 7");
  }
}

TEST(PeerAuthTest, TamperedSealedRequestIsRefused) {
  const std::vector<TamperCase<SealedMessage>> cases = {
      {"payload byte", [](SealedMessage& m) { m.payload[0] ^= 1; }, AuthFailure::kBadMac},
      {"payload appended", [](SealedMessage& m) { m.payload += "x"; }, AuthFailure::kBadMac},
      {"payload truncated", [](SealedMessage& m) { m.payload.pop_back(); }, AuthFailure::kBadMac},
      {"sequence number", [](SealedMessage& m) { m.seq += 1; }, AuthFailure::kBadMac},
      {"claims to be a reply", [](SealedMessage& m) { m.reply_to = 1; }, AuthFailure::kBadMac},
      {"mac bit", [](SealedMessage& m) { m.mac[0] ^= 0x80; }, AuthFailure::kBadMac},
      {"mac truncated", [](SealedMessage& m) { m.mac.resize(31); }, AuthFailure::kMalformed},
      {"no mac", [](SealedMessage& m) { m.mac.clear(); }, AuthFailure::kMalformed},
      {"sequence zero", [](SealedMessage& m) { m.seq = 0; }, AuthFailure::kMalformed},
      {"other channel", [](SealedMessage& m) { m.channel += 1; }, AuthFailure::kExpired},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    OpenChannel ch;
    SealedMessage m = ch.client.seal_request("hard_purge counter");
    c.tamper(m);
    expect_refused(ch.server.open_request(m).status(), c.reason);
    // The untouched message still opens: a refused one consumes nothing.
    SealedMessage fresh = ch.client.seal_request("members");
    EXPECT_TRUE(ch.server.open_request(fresh).ok());
  }
}

TEST(PeerAuthTest, MessageSealedWithAnotherChannelsKeyIsRefused) {
  HandshakeResponder node(kSecret, "a");
  Pair first = handshake(node, kSecret);
  Pair second = handshake(node, kSecret);
  InitiatorChannel client(second.client);
  ResponderChannel server(first.node);
  SealedMessage m = client.seal_request("lock");
  m.channel = first.node.channel;  // addressed to the first channel, keyed with the second's
  expect_refused(server.open_request(m).status(), AuthFailure::kBadMac);
}

TEST(PeerAuthTest, WrongSecretChannelCannotSealForTheNode) {
  // A peer that skipped the handshake and derived a key from a wrong secret.
  HandshakeResponder node(kSecret, "a");
  Pair p = handshake(node, kSecret);
  ChannelKeys forged = p.client;
  forged.session_key = std::string(kMacBytes, 'k');
  InitiatorChannel mallory(forged);
  ResponderChannel server(p.node);
  expect_refused(server.open_request(mallory.seal_request("lock")).status(), AuthFailure::kBadMac);
}

TEST(PeerAuthTest, ReplayedRequestIsRefused) {
  OpenChannel ch;
  SealedMessage first = ch.client.seal_request("lock");
  ASSERT_TRUE(ch.server.open_request(first).ok());
  expect_refused(ch.server.open_request(first).status(), AuthFailure::kReplay);
  // Out of order within the window is fine, once.
  std::vector<SealedMessage> later;
  for (int i = 0; i < 10; ++i) later.push_back(ch.client.seal_request("renew"));
  for (int i = 9; i >= 0; --i) EXPECT_TRUE(ch.server.open_request(later[i]).ok()) << i;
  for (int i = 0; i < 10; ++i) {
    expect_refused(ch.server.open_request(later[i]).status(), AuthFailure::kReplay);
  }
  // Behind the window: refused even if never seen.
  SealedMessage old = ch.client.seal_request("old");
  for (uint64_t i = 0; i < ReplayWindow::kWidth; ++i) {
    ASSERT_TRUE(ch.server.open_request(ch.client.seal_request("newer")).ok());
  }
  expect_refused(ch.server.open_request(old).status(), AuthFailure::kReplay);
}

TEST(PeerAuthTest, ReplyReplayedOrGivenToAnotherRequestIsRefused) {
  OpenChannel ch;
  SealedMessage lock = ch.client.seal_request("lock");
  SealedMessage prepare = ch.client.seal_request("prepare");
  ASSERT_TRUE(ch.server.open_request(lock).ok());
  ASSERT_TRUE(ch.server.open_request(prepare).ok());
  SealedMessage lock_reply = ch.server.seal_reply("lock_token=7", lock.seq);
  // The lock's reply presented as the answer to prepare.
  expect_refused(ch.client.open_reply(lock_reply, prepare.seq).status(), AuthFailure::kWrongReply);
  // Re-addressed to prepare: the MAC covers reply_to.
  SealedMessage readdressed = lock_reply;
  readdressed.reply_to = prepare.seq;
  expect_refused(ch.client.open_reply(readdressed, prepare.seq).status(), AuthFailure::kBadMac);
  ASSERT_TRUE(ch.client.open_reply(lock_reply, lock.seq).ok());
  expect_refused(ch.client.open_reply(lock_reply, lock.seq).status(), AuthFailure::kReplay);
  // A request reflected back as if it were a reply.
  SealedMessage reflected = lock;
  reflected.reply_to = lock.seq;
  expect_refused(ch.client.open_reply(reflected, lock.seq).status(), AuthFailure::kBadMac);
}

TEST(PeerAuthTest, ShortSecretNeverAuthenticates) {
  HandshakeResponder node("short", "a");
  HandshakeInitiator peer("short", "b", PeerRole::kMember);
  AuthFinish finish;
  expect_refused(answer_challenge(node, peer, finish).status(), AuthFailure::kBadProof);
}

TEST(PeerAuthTest, ReplayWindowAcceptsEachNumberOnce) {
  ReplayWindow w;
  EXPECT_FALSE(w.accept(0));
  EXPECT_TRUE(w.accept(5));
  EXPECT_TRUE(w.accept(3));
  EXPECT_FALSE(w.accept(3));
  EXPECT_FALSE(w.accept(5));
  EXPECT_TRUE(w.accept(5 + ReplayWindow::kWidth));
  EXPECT_FALSE(w.accept(5));  // now behind the window
  EXPECT_TRUE(w.accept(6));
  EXPECT_TRUE(w.accept(1000000));
  EXPECT_FALSE(w.accept(6));
}

TEST(PeerAuthTest, FailureReasonsHaveFixedDistinctLabels) {
  std::vector<std::string> labels;
  for (int i = 0; i < static_cast<int>(AuthFailure::kCount); ++i) {
    labels.push_back(to_string(static_cast<AuthFailure>(i)));
    EXPECT_NE(labels.back(), "unknown");
  }
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(std::unique(labels.begin(), labels.end()), labels.end());
  EXPECT_EQ(auth_failure_of(auth_status(AuthFailure::kReplay, "x")), AuthFailure::kReplay);
  EXPECT_EQ(auth_failure_of(absl::InternalError("x")), AuthFailure::kUnsealed);
}

}  // namespace
}  // namespace cluster
}  // namespace lemon
