#include "control_plane/openrpc.h"

#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

constexpr char kSchemaRefPrefix[] = "#/components/schemas/";

// The errors every method may answer besides the transport-level ones (-32700, -32600, -32601):
// the codes of json_rpc.h, under the names components.errors gives them.
struct ErrorEntry {
  const char* name;
  int code;
  const char* message;
};
constexpr ErrorEntry kErrors[] = {
    {"InvalidParams", kJsonRpcInvalidParams,
     "invalid params: unknown field, wrong type, inconsistent combination"},
    {"InternalError", kJsonRpcInternalError, "internal error; the node keeps serving"},
    {"Unauthorized", kJsonRpcUnauthorized, "missing or wrong bearer token"},
    {"ReloadInProgress", kJsonRpcReloadInProgress,
     "the reload lock was not acquired in time; data.report when a reload ran"},
    {"ReloadFailed", kJsonRpcReloadFailed, "the reload ran and failed; data.report says what"},
    {"NotFound", kJsonRpcNotFound, "no such module, app, extension file or actor"},
    {"PathNotAllowed", kJsonRpcPathNotAllowed,
     "an extension path outside the configured roots, or one another user could change"},
};

// Protobuf's well-known types have their own JSON forms; nullptr for any other message.
const json* well_known_schema(const Descriptor* d) {
  static const auto* known = new std::map<std::string, json>{
      {"google.protobuf.Timestamp", {{"type", "string"}, {"format", "date-time"}}},
      {"google.protobuf.Duration", {{"type", "string"}, {"pattern", "^-?[0-9]+(\\.[0-9]+)?s$"}}},
      {"google.protobuf.FieldMask", {{"type", "string"}}},
      {"google.protobuf.Struct", {{"type", "object"}}},
      {"google.protobuf.Value", json::object()},
      {"google.protobuf.ListValue", {{"type", "array"}}},
      {"google.protobuf.Any", {{"type", "object"}}},
      {"google.protobuf.Empty", {{"type", "object"}}},
  };
  auto it = known->find(d->full_name());
  return it == known->end() ? nullptr : &it->second;
}

bool is_wrapper(const Descriptor* d) {
  return d->file()->name() == "google/protobuf/wrappers.proto";
}

json schema_ref(const std::string& full_name) {
  return {{"$ref", absl::StrCat(kSchemaRefPrefix, full_name)}};
}

json enum_ref(const EnumDescriptor* e, json& components) {
  if (!components.contains(e->full_name())) {
    json names = json::array();
    for (int i = 0; i < e->value_count(); ++i) names.push_back(e->value(i)->name());
    components[e->full_name()] = {{"type", "string"}, {"enum", names}};
  }
  return schema_ref(e->full_name());
}

json message_ref(const Descriptor* d, json& components);

// One value of field `f` (an element, for a repeated field).
json value_schema(const FieldDescriptor* f, json& components) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SFIXED32:
      return {{"type", "integer"},
              {"minimum", std::numeric_limits<int32_t>::min()},
              {"maximum", std::numeric_limits<int32_t>::max()}};
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_FIXED32:
      return {
          {"type", "integer"}, {"minimum", 0}, {"maximum", std::numeric_limits<uint32_t>::max()}};
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_SFIXED64:
      // Printed as a decimal string; read from a string or a number.
      return {{"type", {"string", "integer"}}, {"pattern", "^-?[0-9]+$"}};
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_FIXED64:
      return {{"type", {"string", "integer"}}, {"pattern", "^[0-9]+$"}, {"minimum", 0}};
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FLOAT:
      return {{"anyOf",
               {{{"type", "number"}},
                {{"type", "string"}, {"enum", {"NaN", "Infinity", "-Infinity"}}}}}};
    case FieldDescriptor::TYPE_BOOL:
      return {{"type", "boolean"}};
    case FieldDescriptor::TYPE_STRING:
      return {{"type", "string"}};
    case FieldDescriptor::TYPE_BYTES:
      return {{"type", "string"}, {"contentEncoding", "base64"}};
    case FieldDescriptor::TYPE_ENUM:
      return enum_ref(f->enum_type(), components);
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return message_ref(f->message_type(), components);
  }
  return json::object();
}

json field_schema(const FieldDescriptor* f, json& components) {
  if (f->is_map()) {
    // Keys of every type are JSON object keys (strings).
    return {{"type", "object"},
            {"additionalProperties", value_schema(f->message_type()->map_value(), components)}};
  }
  if (f->is_repeated()) return {{"type", "array"}, {"items", value_schema(f, components)}};
  return value_schema(f, components);
}

json message_ref(const Descriptor* d, json& components) {
  if (const json* known = well_known_schema(d)) return *known;
  if (is_wrapper(d)) return value_schema(d->FindFieldByName("value"), components);
  if (!components.contains(d->full_name())) {
    components[d->full_name()] = json::object();  // claimed first: a message may contain itself
    components[d->full_name()] = message_schema(d, components);
  }
  return schema_ref(d->full_name());
}

json method_entry(const JsonRpcDispatcher::MethodSignature& m, json& components) {
  json params = json::array();
  json result = {{"name", "result"}, {"schema", json::object()}};
  if (m.params != nullptr) {
    for (int i = 0; i < m.params->field_count(); ++i) {
      const FieldDescriptor* f = m.params->field(i);
      params.push_back({{"name", f->name()}, {"schema", field_schema(f, components)}});
    }
  }
  if (m.result != nullptr) {
    result = {{"name", m.result->name()}, {"schema", message_ref(m.result, components)}};
  }
  json errors = json::array();
  for (const ErrorEntry& e : kErrors) {
    errors.push_back({{"$ref", absl::StrCat("#/components/errors/", e.name)}});
  }
  return {{"name", m.name},
          {"paramStructure", "by-name"},
          {"params", params},
          {"result", result},
          {"errors", errors}};
}

}  // namespace

json message_schema(const Descriptor* message, json& components) {
  json properties = json::object();
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* f = message->field(i);
    properties[f->name()] = field_schema(f, components);
  }
  return {{"type", "object"}, {"properties", properties}};
}

json openrpc_document(const std::vector<JsonRpcDispatcher::MethodSignature>& methods) {
  json schemas = json::object();
  json entries = json::array();
  for (const JsonRpcDispatcher::MethodSignature& m : methods) {
    if (m.name != kRpcDiscoverMethod) entries.push_back(method_entry(m, schemas));
  }
  json errors = json::object();
  for (const ErrorEntry& e : kErrors) {
    errors[e.name] = {{"code", e.code}, {"message", e.message}};
  }
  return {
      {"openrpc", kOpenRpcVersion},
      {"info",
       {{"title", "Lemon control plane"},
        {"version", kControlPlaneApiVersion},
        {"description",
         "JSON-RPC 2.0 over HTTP POST /rpc with a bearer token (docs/control-plane.md). Params "
         "are named; lowerCamelCase names are accepted as well. Application errors carry "
         "data.reason and data.reason_code (a lemon::ReloadError); a failed reload also carries "
         "data.report."}}},
      {"methods", entries},
      {"components", {{"schemas", schemas}, {"errors", errors}}},
  };
}

void register_rpc_discover(JsonRpcDispatcher& dispatcher) {
  dispatcher.register_method(
      kRpcDiscoverMethod, [&dispatcher](const json& params) -> absl::StatusOr<json> {
        if (!params.empty()) {
          return reload_status(ReloadError::kInvalidArgument, "rpc.discover takes no params");
        }
        return openrpc_document(dispatcher.methods());
      });
}

}  // namespace lemon
