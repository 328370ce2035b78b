#include "cluster/auth_messages.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/sec.hpp"

namespace lemon {
namespace cluster {

void add_auth_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<AuthHello>("lemon.AuthHello");
  cfg.add_message_type<AuthChallenge>("lemon.AuthChallenge");
  cfg.add_message_type<AuthFinish>("lemon.AuthFinish");
  cfg.add_message_type<SealedMessage>("lemon.SealedMessage");
}

std::string encode_content(caf::actor_system& sys, const caf::message& content) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  caf::message copy = content;
  // Only registered types are sent; a failure leaves a prefix that the receiver cannot decode.
  if (sink(copy)) buf.clear();
  return std::string(buf.begin(), buf.end());
}

absl::StatusOr<caf::message> decode_content(caf::actor_system& sys, const std::string& bytes) {
  caf::binary_deserializer source{sys, bytes.data(), bytes.size()};
  caf::message content;
  if (auto err = source(content)) {
    return auth_status(AuthFailure::kMalformed,
                       absl::StrCat("sealed content does not decode: ", sys.render(err)));
  }
  if (source.remaining() != 0) {
    return auth_status(AuthFailure::kMalformed, "sealed content with trailing bytes");
  }
  return content;
}

std::string agent_identity(const caf::actor& agent) {
  if (!agent) return "";
  return absl::StrCat(caf::to_string(agent.node()), "#", agent.id());
}

caf::error refused_error() { return caf::make_error(caf::sec::unexpected_message); }

}  // namespace cluster
}  // namespace lemon
