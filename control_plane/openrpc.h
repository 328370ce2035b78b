// The control plane described as an OpenRPC 1.2 document (https://spec.open-rpc.org), generated
// from the dispatcher's method table: each typed method's params and result JSON Schemas come from
// its rpc.proto messages' descriptors, following Protobuf's JSON mapping as this server reads and
// prints it (proto field names; int64 as a string or an integer; enums by name; repeated fields as
// arrays; maps as objects; messages as $refs into components.schemas). rpc.discover answers it.
//
//   nlohmann::json doc = lemon::openrpc_document(dispatcher.methods());
//   doc["methods"][0]["params"];   // [{"name": "scope", "schema": {"type": "string"}}, ...]
#ifndef LEMON_CONTROL_PLANE_OPENRPC_H_
#define LEMON_CONTROL_PLANE_OPENRPC_H_

#include <vector>

#include "control_plane/json_rpc.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"

namespace lemon {

// The OpenRPC version the document follows, and the control plane's API version (info.version):
// the minor part grows when methods or fields are added, the major part when one is removed or
// changes meaning.
inline constexpr char kOpenRpcVersion[] = "1.2.6";
inline constexpr char kControlPlaneApiVersion[] = "1.1.0";

// The method that answers the document; it is not listed in it (OpenRPC's convention).
inline constexpr char kRpcDiscoverMethod[] = "rpc.discover";

// The JSON Schema of `message` for its JSON form; nested messages and enums are added to
// `components` (name -> schema) and referred to as "#/components/schemas/<full name>".
nlohmann::json message_schema(const google::protobuf::Descriptor* message,
                              nlohmann::json& components);

// The document for `methods`: typed ones with their params (by name, one content descriptor per
// field) and result; untyped ones with an empty params list and an unconstrained result. Every
// method lists Lemon's application error codes (json_rpc.h); rpc.discover is left out.
nlohmann::json openrpc_document(const std::vector<JsonRpcDispatcher::MethodSignature>& methods);

// Registers rpc.discover on `dispatcher` (which it must not outlive): no params; the result is
// openrpc_document of the methods registered at the time of the call.
void register_rpc_discover(JsonRpcDispatcher& dispatcher);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_OPENRPC_H_
