#include "cluster/peer_auth.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {
namespace cluster {
namespace {

constexpr char kAuthFailurePayload[] = "lemon.cluster.AuthFailure";
// Domain separation: each use of the secret or a key gets its own label.
constexpr char kTranscriptLabel[] = "lemon cluster auth v1";
constexpr char kResponderProof[] = "responder proof";
constexpr char kInitiatorProof[] = "initiator proof";
constexpr char kSessionKey[] = "session key";
constexpr char kCookie[] = "cookie";
constexpr char kMessageLabel[] = "lemon cluster message v1";
constexpr char kRequest = 1;
constexpr char kReply = 2;

void append_u64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// Length-prefixed, so that no two field sequences serialize to the same bytes.
void append_field(std::string* out, absl::string_view field) {
  append_u64(out, field.size());
  out->append(field.data(), field.size());
}

// HMAC-SHA256 through OpenSSL's EVP_MAC. A failure inside OpenSSL yields an empty MAC, which
// never verifies (every comparison checks the length first).
class Hmac {
 public:
  explicit Hmac(absl::string_view key) : ctx_(EVP_MAC_CTX_new(mac()), EVP_MAC_CTX_free) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    ok_ = ctx_ != nullptr && !key.empty() &&
          EVP_MAC_init(ctx_.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                       params) == 1;
  }
  Hmac& update(absl::string_view data) {
    ok_ = ok_ && EVP_MAC_update(ctx_.get(), reinterpret_cast<const unsigned char*>(data.data()),
                                data.size()) == 1;
    return *this;
  }
  std::string final() {
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t len = 0;
    if (!ok_ || EVP_MAC_final(ctx_.get(), out, &len, sizeof(out)) != 1 || len != kMacBytes) {
      return "";
    }
    return std::string(reinterpret_cast<char*>(out), len);
  }

 private:
  static EVP_MAC* mac() {
    static EVP_MAC* const fetched = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    return fetched;
  }
  std::unique_ptr<EVP_MAC_CTX, void (*)(EVP_MAC_CTX*)> ctx_;
  bool ok_ = false;
};

std::string hmac(absl::string_view key, absl::string_view label, absl::string_view data) {
  return Hmac(key).update(label).update(data).final();
}

// Constant-time equality of two MACs; an empty or short one never matches.
bool same_mac(absl::string_view expected, absl::string_view presented) {
  return expected.size() == kMacBytes && presented.size() == kMacBytes &&
         CRYPTO_memcmp(expected.data(), presented.data(), kMacBytes) == 0;
}

bool valid_role(PeerRole role) { return role == PeerRole::kMember || role == PeerRole::kClient; }

absl::Status check_hello(const AuthHello& hello) {
  if (!valid_peer_name(hello.name)) {
    return auth_status(AuthFailure::kMalformed, "bad peer name in the handshake");
  }
  if (!valid_role(hello.role)) {
    return auth_status(AuthFailure::kMalformed, "unknown peer role in the handshake");
  }
  if (hello.nonce.size() != kNonceBytes) {
    return auth_status(AuthFailure::kMalformed, "bad nonce size in the handshake");
  }
  return absl::OkStatus();
}

// Everything both proofs and the session key are computed over.
std::string transcript(const AuthHello& hello, absl::string_view responder_name,
                       absl::string_view responder_nonce, uint64_t channel) {
  std::string t = kTranscriptLabel;
  append_field(&t, hello.name);
  t.push_back(static_cast<char>(hello.role));
  append_field(&t, hello.nonce);
  append_field(&t, responder_name);
  t.push_back(static_cast<char>(PeerRole::kMember));  // a responder is always a node
  append_field(&t, responder_nonce);
  append_u64(&t, channel);
  return t;
}

std::string cookie(absl::string_view cookie_key, absl::string_view transcript, int64_t issued_ms) {
  std::string issued;
  append_u64(&issued, static_cast<uint64_t>(issued_ms));
  return Hmac(cookie_key).update(kCookie).update(transcript).update(issued).final();
}

std::string message_mac(absl::string_view key, char direction, const SealedMessage& m) {
  std::string header = kMessageLabel;
  header.push_back(direction);
  append_u64(&header, m.channel);
  append_u64(&header, m.seq);
  append_u64(&header, m.reply_to);
  append_u64(&header, m.payload.size());
  return Hmac(key).update(header).update(m.payload).final();
}

// The checks both ends make before looking at the sequence numbers.
absl::Status check_sealed(const ChannelKeys& keys, char direction, const SealedMessage& m) {
  if (m.mac.size() != kMacBytes || m.seq == 0) {
    return auth_status(AuthFailure::kMalformed, "malformed sealed message");
  }
  if (m.channel != keys.channel) {
    return auth_status(AuthFailure::kExpired, "sealed message for another channel");
  }
  if (!same_mac(message_mac(keys.session_key, direction, m), m.mac)) {
    return auth_status(AuthFailure::kBadMac, "sealed message with a MAC that does not match");
  }
  return absl::OkStatus();
}

}  // namespace

bool valid_peer_name(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~' || c == '=' || c == ',') return false;
  }
  return true;
}

const char* to_string(PeerRole role) {
  switch (role) {
    case PeerRole::kMember:
      return "member";
    case PeerRole::kClient:
      return "client";
  }
  return "unknown";
}

const char* to_string(AuthFailure reason) {
  switch (reason) {
    case AuthFailure::kUnsealed:
      return "unsealed";
    case AuthFailure::kMalformed:
      return "malformed";
    case AuthFailure::kBadProof:
      return "bad_proof";
    case AuthFailure::kExpired:
      return "expired";
    case AuthFailure::kBadMac:
      return "bad_mac";
    case AuthFailure::kReplay:
      return "replay";
    case AuthFailure::kWrongReply:
      return "wrong_reply";
    case AuthFailure::kForbidden:
      return "forbidden";
    case AuthFailure::kCount:
      break;
  }
  return "unknown";
}

absl::Status auth_status(AuthFailure reason, absl::string_view message) {
  absl::Status s = reload_status(ReloadError::kUnauthorized, message);
  s.SetPayload(kAuthFailurePayload, absl::Cord(std::string(1, static_cast<char>(reason))));
  return s;
}

AuthFailure auth_failure_of(const absl::Status& s) {
  auto payload = s.GetPayload(kAuthFailurePayload);
  if (!payload || payload->size() != 1) return AuthFailure::kUnsealed;
  const auto value = static_cast<uint8_t>(std::string(*payload)[0]);
  if (value >= static_cast<uint8_t>(AuthFailure::kCount)) return AuthFailure::kUnsealed;
  return static_cast<AuthFailure>(value);
}

absl::StatusOr<std::string> random_bytes(size_t bytes) {
  std::string out(bytes, '\0');
  if (bytes > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1) {
    return reload_status(ReloadError::kInternal, "OpenSSL's random generator failed");
  }
  return out;
}

HandshakeInitiator::HandshakeInitiator(std::string secret, std::string name, PeerRole role)
    : secret_(std::move(secret)) {
  hello_.name = std::move(name);
  hello_.role = role;
  // On a failing generator the nonce stays empty and the responder refuses the hello.
  hello_.nonce = random_bytes(kNonceBytes).value_or("");
}

absl::StatusOr<ChannelKeys> HandshakeInitiator::on_challenge(const AuthChallenge& challenge,
                                                             AuthFinish* finish) {
  if (!valid_peer_name(challenge.name) || challenge.nonce.size() != kNonceBytes) {
    return auth_status(AuthFailure::kMalformed, "malformed challenge from the node");
  }
  const std::string t = transcript(hello_, challenge.name, challenge.nonce, challenge.channel);
  if (secret_.size() < kMinSecretBytes ||
      !same_mac(hmac(secret_, kResponderProof, t), challenge.proof)) {
    return auth_status(AuthFailure::kBadProof,
                       absl::StrCat("node ", challenge.name,
                                    " did not prove it holds this cluster secret (the nodes were "
                                    "given different secret files?)"));
  }
  finish->hello = hello_;
  finish->channel = challenge.channel;
  finish->responder_nonce = challenge.nonce;
  finish->issued_ms = challenge.issued_ms;
  finish->cookie = challenge.cookie;
  finish->proof = hmac(secret_, kInitiatorProof, t);
  return ChannelKeys{challenge.channel, hmac(secret_, kSessionKey, t), challenge.name, hello_.role};
}

HandshakeResponder::HandshakeResponder(std::string secret, std::string name)
    : secret_(std::move(secret)), name_(std::move(name)) {
  // On a failing generator the key stays empty and every cookie check fails (closed).
  cookie_key_ = random_bytes(kMacBytes).value_or("");
}

absl::StatusOr<AuthChallenge> HandshakeResponder::on_hello(const AuthHello& hello, absl::Time now) {
  if (absl::Status s = check_hello(hello); !s.ok()) return s;
  AuthChallenge c;
  absl::StatusOr<std::string> nonce = random_bytes(kNonceBytes);
  absl::StatusOr<std::string> channel = random_bytes(sizeof(uint64_t));
  if (!nonce.ok()) return nonce.status();
  if (!channel.ok()) return channel.status();
  for (unsigned char byte : *channel) c.channel = (c.channel << 8) | byte;
  c.name = name_;
  c.nonce = std::move(*nonce);
  c.issued_ms = absl::ToUnixMillis(now);
  const std::string t = transcript(hello, c.name, c.nonce, c.channel);
  c.cookie = cookie(cookie_key_, t, c.issued_ms);
  c.proof = secret_.size() < kMinSecretBytes ? "" : hmac(secret_, kResponderProof, t);
  return c;
}

absl::StatusOr<ChannelKeys> HandshakeResponder::on_finish(const AuthFinish& finish,
                                                          absl::Time now) {
  if (absl::Status s = check_hello(finish.hello); !s.ok()) return s;
  if (finish.responder_nonce.size() != kNonceBytes) {
    return auth_status(AuthFailure::kMalformed, "bad nonce size in the handshake");
  }
  const std::string t = transcript(finish.hello, name_, finish.responder_nonce, finish.channel);
  if (!same_mac(cookie(cookie_key_, t, finish.issued_ms), finish.cookie)) {
    return auth_status(AuthFailure::kBadProof, "a handshake this node did not start");
  }
  const absl::Time issued = absl::FromUnixMillis(finish.issued_ms);
  if (now - issued > kChallengeLifetime || issued - now > absl::Seconds(1)) {
    return auth_status(AuthFailure::kExpired, "the handshake's challenge has expired");
  }
  if (secret_.size() < kMinSecretBytes ||
      !same_mac(hmac(secret_, kInitiatorProof, t), finish.proof)) {
    return auth_status(
        AuthFailure::kBadProof,
        absl::StrCat("peer ", finish.hello.name, " did not prove it holds this cluster's secret"));
  }
  {
    absl::MutexLock lock(&mu_);
    while (!accepted_.empty() && now - accepted_.begin()->first > 2 * kChallengeLifetime) {
      accepted_ids_.erase(accepted_.begin()->second);
      accepted_.erase(accepted_.begin());
    }
    if (!accepted_ids_.insert(finish.channel).second) {
      return auth_status(AuthFailure::kReplay, "a handshake that was already finished");
    }
    accepted_.emplace(now, finish.channel);
  }
  return ChannelKeys{finish.channel, hmac(secret_, kSessionKey, t), finish.hello.name,
                     finish.hello.role};
}

bool ReplayWindow::accept(uint64_t seq) {
  if (seq == 0) return false;
  if (seq > highest_) {
    const uint64_t shift = seq - highest_;
    seen_ = shift >= kWidth ? 0 : seen_ << shift;
    seen_ |= 1;
    highest_ = seq;
    return true;
  }
  const uint64_t behind = highest_ - seq;
  if (behind >= kWidth || (seen_ >> behind & 1) != 0) return false;
  seen_ |= uint64_t{1} << behind;
  return true;
}

InitiatorChannel::InitiatorChannel(ChannelKeys keys) : keys_(std::move(keys)) {}

SealedMessage InitiatorChannel::seal_request(std::string payload) {
  SealedMessage m;
  m.channel = keys_.channel;
  {
    absl::MutexLock lock(&mu_);
    m.seq = next_seq_++;
  }
  m.payload = std::move(payload);
  m.mac = message_mac(keys_.session_key, kRequest, m);
  return m;
}

absl::StatusOr<std::string> InitiatorChannel::open_reply(const SealedMessage& reply,
                                                         uint64_t request_seq) {
  if (absl::Status s = check_sealed(keys_, kReply, reply); !s.ok()) return s;
  if (reply.reply_to != request_seq) {
    return auth_status(AuthFailure::kWrongReply,
                       absl::StrCat("a reply to request ", reply.reply_to, ", not ", request_seq));
  }
  absl::MutexLock lock(&mu_);
  if (!replies_.accept(reply.seq)) {
    return auth_status(AuthFailure::kReplay, "a reply that was seen before");
  }
  return reply.payload;
}

ResponderChannel::ResponderChannel(ChannelKeys keys) : keys_(std::move(keys)) {}

absl::StatusOr<std::string> ResponderChannel::open_request(const SealedMessage& request) {
  if (absl::Status s = check_sealed(keys_, kRequest, request); !s.ok()) return s;
  if (request.reply_to != 0) {
    return auth_status(AuthFailure::kMalformed, "a request that claims to be a reply");
  }
  absl::MutexLock lock(&mu_);
  if (!requests_.accept(request.seq)) {
    return auth_status(AuthFailure::kReplay, "a request that was seen before");
  }
  return request.payload;
}

SealedMessage ResponderChannel::seal_reply(std::string payload, uint64_t request_seq) {
  SealedMessage m;
  m.channel = keys_.channel;
  {
    absl::MutexLock lock(&mu_);
    m.seq = next_seq_++;
  }
  m.reply_to = request_seq;
  m.payload = std::move(payload);
  m.mac = message_mac(keys_.session_key, kReply, m);
  return m;
}

}  // namespace cluster
}  // namespace lemon
