#include "control_plane/json_rpc.h"

#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"
#include "google/protobuf/util/json_util.h"

namespace lemon {
namespace {

using nlohmann::json;

std::string dump(const json& j) {
  // Handlers may return strings that are not valid UTF-8; replace rather than throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json reason_data(ReloadError e) {
  return json{{"reason", to_string(e)}, {"reason_code", static_cast<int>(e)}};
}

json status_error(const json& id, const absl::Status& status) {
  int code = json_rpc_code_for(status);
  ReloadError e = reload_error_of(status);
  std::string message(status.message());
  if (code == kJsonRpcInvalidParams) message = absl::StrCat("Invalid params: ", message);
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  return json_rpc_error(id, code, message, reason_data(e));
}

const google::protobuf::FieldDescriptor* find_field(const google::protobuf::Descriptor* d,
                                                    const std::string& name) {
  if (const auto* f = d->FindFieldByName(name); f != nullptr) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == name) return d->field(i);
  }
  return nullptr;
}

// Protobuf's JSON parser is lenient where a client's mistake should be an error: it reads any
// string but "false" as true and a scalar as a one-element list. Checked here first; unknown
// fields are left for protobuf to name.
absl::Status check_shapes(const json& object, const google::protobuf::Descriptor* d,
                          const std::string& prefix) {
  using google::protobuf::FieldDescriptor;
  for (const auto& [key, value] : object.items()) {
    const FieldDescriptor* f = find_field(d, key);
    if (f == nullptr || value.is_null()) continue;
    const std::string name = absl::StrCat(prefix, f->name());
    if (f->is_map()) {
      if (!value.is_object()) {
        return reload_status(ReloadError::kInvalidArgument,
                             absl::StrCat("(", name, "): expected an object"));
      }
      continue;
    }
    if (f->is_repeated() && !value.is_array()) {
      return reload_status(ReloadError::kInvalidArgument,
                           absl::StrCat("(", name, "): expected an array"));
    }
    const json items = f->is_repeated() ? value : json::array({value});
    for (const json& item : items) {
      if (f->type() == FieldDescriptor::TYPE_BOOL && !item.is_boolean()) {
        return reload_status(
            ReloadError::kInvalidArgument,
            absl::StrCat("(", name, "): expected true or false, got ", dump(item)));
      }
      if (f->type() == FieldDescriptor::TYPE_MESSAGE && item.is_object()) {
        if (absl::Status s = check_shapes(item, f->message_type(), name + "."); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

json result_response(const json& id, json result) {
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

}  // namespace

int json_rpc_code_for(const absl::Status& status) {
  switch (reload_error_of(status)) {
    case ReloadError::kOk:
      return kJsonRpcInternalError;  // an OK status is not an error
    case ReloadError::kUnauthorized:
      return kJsonRpcUnauthorized;
    case ReloadError::kReloadInProgress:
      return kJsonRpcReloadInProgress;
    case ReloadError::kNotFound:
      return kJsonRpcNotFound;
    case ReloadError::kPathNotAllowed:
      return kJsonRpcPathNotAllowed;
    case ReloadError::kInvalidArgument:
      return kJsonRpcInvalidParams;
    case ReloadError::kInternal:
      // Also what reload_error_of answers for a status that carries no ReloadError.
      switch (status.code()) {
        case absl::StatusCode::kInvalidArgument:
          return kJsonRpcInvalidParams;
        case absl::StatusCode::kNotFound:
          return kJsonRpcNotFound;
        case absl::StatusCode::kUnauthenticated:
          return kJsonRpcUnauthorized;
        default:
          return kJsonRpcInternalError;
      }
    default:
      return kJsonRpcReloadFailed;
  }
}

json json_rpc_error(const json& id, int code, const std::string& message, const json& data) {
  json error = {{"code", code}, {"message", message}};
  if (!data.is_null()) error["data"] = data;
  return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

absl::Status json_to_proto(const json& params, google::protobuf::Message* message) {
  if (params.is_array() && params.empty()) return absl::OkStatus();
  if (!params.is_object()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "params must be an object of named parameters");
  }
  if (absl::Status s = check_shapes(params, message->GetDescriptor(), ""); !s.ok()) return s;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto parsed = google::protobuf::util::JsonStringToMessage(dump(params), message, options);
  if (!parsed.ok()) {
    return reload_status(ReloadError::kInvalidArgument, std::string(parsed.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> proto_to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  auto printed = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!printed.ok()) {
    return reload_status(
        ReloadError::kInternal,
        absl::StrCat("cannot print ", message.GetTypeName(), ": ", std::string(printed.message())));
  }
  json out = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    return reload_status(ReloadError::kInternal,
                         absl::StrCat("protobuf printed invalid JSON for ", message.GetTypeName()));
  }
  return out;
}

void JsonRpcDispatcher::register_method(const std::string& method, Handler handler) {
  auto shared = std::make_shared<const Handler>(std::move(handler));
  absl::MutexLock lock(&mu_);
  methods_[method] = std::move(shared);
}

std::shared_ptr<const JsonRpcDispatcher::Handler> JsonRpcDispatcher::find(
    const std::string& method) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = methods_.find(method);
  return it == methods_.end() ? nullptr : it->second;
}

std::optional<std::string> JsonRpcDispatcher::handle(const std::string& body) const {
  try {
    json request;
    try {
      request = json::parse(body);
    } catch (const json::parse_error& e) {
      return dump(
          json_rpc_error(nullptr, kJsonRpcParseError, absl::StrCat("Parse error: ", e.what())));
    }
    if (!request.is_array()) {
      std::optional<json> response = handle_one(request);
      if (!response) return std::nullopt;
      return dump(*response);
    }
    if (request.empty()) {
      return dump(json_rpc_error(nullptr, kJsonRpcInvalidRequest, "Invalid Request: empty batch"));
    }
    json responses = json::array();
    for (const json& one : request) {
      std::optional<json> response = handle_one(one);
      if (response) responses.push_back(std::move(*response));
    }
    if (responses.empty()) return std::nullopt;
    return dump(responses);
  } catch (const std::exception& e) {
    return dump(
        json_rpc_error(nullptr, kJsonRpcInternalError, absl::StrCat("Internal error: ", e.what())));
  } catch (...) {
    return dump(json_rpc_error(nullptr, kJsonRpcInternalError, "Internal error"));
  }
}

std::optional<json> JsonRpcDispatcher::handle_one(const json& request) const {
  // An invalid Request object is always answered (with id null when no valid id is found), as
  // the spec's examples do; a well-formed notification is never answered, even on error.
  if (!request.is_object()) {
    return json_rpc_error(nullptr, kJsonRpcInvalidRequest, "Invalid Request: not an object");
  }
  auto id_it = request.find("id");
  const bool is_notification = id_it == request.end();
  json id = nullptr;
  if (!is_notification) {
    if (!id_it->is_string() && !id_it->is_number() && !id_it->is_null()) {
      return json_rpc_error(nullptr, kJsonRpcInvalidRequest,
                            "Invalid Request: id must be a string, a number or null");
    }
    id = *id_it;
  }
  auto version = request.find("jsonrpc");
  if (version == request.end() || !version->is_string() || *version != "2.0") {
    return json_rpc_error(id, kJsonRpcInvalidRequest, "Invalid Request: jsonrpc must be \"2.0\"");
  }
  auto method_it = request.find("method");
  if (method_it == request.end() || !method_it->is_string()) {
    return json_rpc_error(id, kJsonRpcInvalidRequest, "Invalid Request: method must be a string");
  }
  json params = json::object();
  if (auto params_it = request.find("params"); params_it != request.end()) {
    if (!params_it->is_object() && !params_it->is_array()) {
      return json_rpc_error(id, kJsonRpcInvalidRequest,
                            "Invalid Request: params must be an object or an array");
    }
    params = *params_it;
  }
  const std::string method = method_it->get<std::string>();
  std::shared_ptr<const Handler> handler = find(method);
  if (handler == nullptr) {
    if (is_notification) return std::nullopt;
    return json_rpc_error(id, kJsonRpcMethodNotFound, absl::StrCat("Method not found: ", method),
                          json{{"method", method}});
  }
  json response;
  try {
    absl::StatusOr<json> result = (*handler)(params);
    response =
        result.ok() ? result_response(id, std::move(*result)) : status_error(id, result.status());
  } catch (const std::exception& e) {
    response = json_rpc_error(id, kJsonRpcInternalError,
                              absl::StrCat("Internal error in ", method, ": ", e.what()),
                              reason_data(ReloadError::kInternal));
  } catch (...) {
    response = json_rpc_error(id, kJsonRpcInternalError,
                              absl::StrCat("Internal error in ", method, ": unknown exception"),
                              reason_data(ReloadError::kInternal));
  }
  if (is_notification) return std::nullopt;
  return response;
}

}  // namespace lemon
