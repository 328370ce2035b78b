// Peer authentication for the cluster port: proof of a shared secret and per-message integrity,
// independent of the transport. A node (the responder) and a peer (the initiator: another node, or
// a client such as control_plane/remote_reload) run an HMAC-SHA256 challenge-response over both
// nonces, both names and both roles, derive a key for that channel, and then every request is
// sealed with it (HMAC over the content and a sequence number, checked against a replay window)
// and every reply is sealed and bound to the request it answers.
//
//   HandshakeResponder node(secret, "a");                        // one per node
//   HandshakeInitiator peer(secret, "b", PeerRole::kMember);     // one per handshake
//   AuthChallenge challenge = node.on_hello(peer.hello(), now).value();
//   AuthFinish finish;
//   ChannelKeys client_keys = peer.on_challenge(challenge, &finish).value();
//   ChannelKeys node_keys = node.on_finish(finish, now).value();
//   InitiatorChannel client(client_keys);
//   ResponderChannel server(node_keys);
//   SealedMessage request = client.seal_request("payload");
//   std::string payload = server.open_request(request).value();
//   SealedMessage reply = server.seal_reply("answer", request.seq);
//   std::string answer = client.open_reply(reply, request.seq).value();
//
// Every refusal is a status with ReloadError::kUnauthorized and a typed reason
// (auth_failure_of). Nothing here reads files: the secret's bytes are passed in.
#ifndef LEMON_CLUSTER_PEER_AUTH_H_
#define LEMON_CLUSTER_PEER_AUTH_H_

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace lemon {
namespace cluster {

// What the initiator of a channel is: another node, or a client that only asks for operations.
enum class PeerRole : uint8_t {
  kMember = 1,  // a node of the cluster: membership, the cluster lock, two-phase reloads
  kClient = 2,  // a program such as remote_reload: reloads on that node and read-only views
};
const char* to_string(PeerRole role);

// Why a message or a handshake was refused: the fixed label set of
// lemon_cluster_auth_failures_total{reason}. Append only; kCount stays last.
enum class AuthFailure : uint8_t {
  kUnsealed = 0,  // a message that is neither a handshake step nor sealed
  kMalformed,     // wrong field sizes, an unknown role or an unparsable payload
  kBadProof,      // a handshake proof that does not match: the peer lacks the secret
  kExpired,       // a handshake finished too late, or a channel no longer known
  kBadMac,        // a sealed message whose MAC does not match (tampered or wrong key)
  kReplay,        // a sequence number already seen or behind the replay window
  kWrongReply,    // a reply that answers another request than the one it was given for
  kForbidden,     // an operation the peer's role may not run, or a name already taken
  kCount,
};
const char* to_string(AuthFailure reason);

// A status with ReloadError::kUnauthorized, `message`, and `reason` in its payload.
absl::Status auth_status(AuthFailure reason, absl::string_view message);
// The AuthFailure carried by `s` (auth_status); kUnsealed for a status made elsewhere.
AuthFailure auth_failure_of(const absl::Status& s);

// Whether `name` may name a peer: 1 to kMaxNameBytes printable ASCII characters, none of them a
// space, '=' or ',' (membership lists use them as separators).
bool valid_peer_name(absl::string_view name);

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
// A shorter secret is refused: the node's secret file holds 64 hex digits.
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxNameBytes = 256;
// How long a challenge stays valid: the initiator must finish the handshake by then.
inline constexpr absl::Duration kChallengeLifetime = absl::Seconds(30);

// Step 1, initiator -> responder, unauthenticated.
struct AuthHello {
  std::string name;
  PeerRole role = PeerRole::kClient;
  std::string nonce;  // kNonceBytes random bytes
};

// Step 2, responder -> initiator: the responder's nonce and proof, and a cookie that lets the
// responder check step 3 without keeping state for handshakes that never finish.
struct AuthChallenge {
  uint64_t channel = 0;  // random: names the channel in every sealed message
  std::string name;      // the responder's name
  std::string nonce;     // kNonceBytes random bytes
  int64_t issued_ms = 0;
  std::string cookie;  // the responder's MAC over the transcript and issued_ms (its own key)
  std::string proof;   // HMAC(secret, "responder" || transcript)
};

// Step 3, initiator -> responder: the hello and the challenge again, with the initiator's proof.
struct AuthFinish {
  AuthHello hello;
  uint64_t channel = 0;
  std::string responder_nonce;
  int64_t issued_ms = 0;
  std::string cookie;
  std::string proof;  // HMAC(secret, "initiator" || transcript)
};

// One message on an established channel. reply_to is 0 for a request and the request's seq for
// its reply.
struct SealedMessage {
  uint64_t channel = 0;
  uint64_t seq = 0;
  uint64_t reply_to = 0;
  std::string payload;
  std::string mac;  // HMAC(session key, direction || channel || seq || reply_to || payload)
};

// What a finished handshake gives each side.
struct ChannelKeys {
  uint64_t channel = 0;
  std::string session_key;  // HMAC(secret, "session key" || transcript)
  std::string peer_name;
  PeerRole peer_role = PeerRole::kMember;  // the initiator's role (on both sides)
};

// The initiator's side of one handshake. Not thread-safe; use once.
class HandshakeInitiator {
 public:
  // REQUIRES: secret.size() >= kMinSecretBytes (else every handshake fails with kBadProof).
  HandshakeInitiator(std::string secret, std::string name, PeerRole role);
  const AuthHello& hello() const { return hello_; }
  // Checks the responder's proof; on success fills `finish` and returns the channel's keys.
  absl::StatusOr<ChannelKeys> on_challenge(const AuthChallenge& challenge, AuthFinish* finish);

 private:
  std::string secret_;
  AuthHello hello_;
};

// The responder's side of every handshake of one node. Thread-safe.
class HandshakeResponder {
 public:
  // REQUIRES: secret.size() >= kMinSecretBytes (else every handshake fails with kBadProof).
  HandshakeResponder(std::string secret, std::string name);
  const std::string& name() const { return name_; }
  // Answers a hello with a challenge; keeps no state for it.
  absl::StatusOr<AuthChallenge> on_hello(const AuthHello& hello, absl::Time now);
  // Checks the cookie, the age and the initiator's proof, and refuses a finish for a channel it
  // already accepted (a replayed handshake).
  absl::StatusOr<ChannelKeys> on_finish(const AuthFinish& finish, absl::Time now);

 private:
  const std::string secret_;
  const std::string name_;
  std::string cookie_key_;  // random, never leaves the process
  absl::Mutex mu_;
  // Channels accepted within kChallengeLifetime, by acceptance time: a second finish is a replay.
  std::set<std::pair<absl::Time, uint64_t>> accepted_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> accepted_ids_ ABSL_GUARDED_BY(mu_);
};

// Sequence numbers seen on one direction of a channel: the highest one and a 64-bit window below
// it (RFC 4303, 3.4.3). Not thread-safe.
class ReplayWindow {
 public:
  static constexpr uint64_t kWidth = 64;
  // True if `seq` (> 0) is new and within the window; records it.
  bool accept(uint64_t seq);

 private:
  uint64_t highest_ = 0;
  uint64_t seen_ = 0;  // bit i: highest_ - i was seen
};

// The initiator's end of a channel: seals requests, opens their replies. Thread-safe.
class InitiatorChannel {
 public:
  explicit InitiatorChannel(ChannelKeys keys);
  const ChannelKeys& keys() const { return keys_; }
  // Seals `payload` as the next request.
  SealedMessage seal_request(std::string payload);
  // The payload of `reply` if it is sealed with this channel's key, new, and answers the request
  // whose seq is `request_seq`.
  absl::StatusOr<std::string> open_reply(const SealedMessage& reply, uint64_t request_seq);

 private:
  const ChannelKeys keys_;
  absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  ReplayWindow replies_ ABSL_GUARDED_BY(mu_);
};

// The responder's end of a channel: opens requests, seals their replies. Thread-safe.
class ResponderChannel {
 public:
  explicit ResponderChannel(ChannelKeys keys);
  const ChannelKeys& keys() const { return keys_; }
  // The payload of `request` if it is a request sealed with this channel's key and new.
  absl::StatusOr<std::string> open_request(const SealedMessage& request);
  // Seals `payload` as the reply to the request whose seq is `request_seq`.
  SealedMessage seal_reply(std::string payload, uint64_t request_seq);

 private:
  const ChannelKeys keys_;
  absl::Mutex mu_;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  ReplayWindow requests_ ABSL_GUARDED_BY(mu_);
};

// `bytes` random bytes from OpenSSL's generator; kInternal if it fails.
absl::StatusOr<std::string> random_bytes(size_t bytes);

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_PEER_AUTH_H_
