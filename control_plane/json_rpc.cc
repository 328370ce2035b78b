#include "control_plane/json_rpc.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
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

// Why a body was not accepted; each maps to one JSON-RPC error.
enum class BodyProblem { kNone, kSyntax, kTooDeep, kBatchTooLarge };

// A request body as parsed: the value, and the exact text of each request's numeric id (indexed by
// position in the batch, or [0] for a single request; empty when the id is not a number).
struct ParsedBody {
  BodyProblem problem = BodyProblem::kNone;
  std::string message;  // for a problem
  json value;
  std::vector<std::string> raw_ids;
};

// Builds the DOM from nlohmann's SAX events (its parser is iterative), refusing nesting deeper than
// kJsonRpcMaxDepth and batches larger than kJsonRpcMaxBatch as soon as they show, so that no
// recursive copy, dump or destruction ever sees an unbounded value.
class BodyParser : public nlohmann::json_sax<json> {
 public:
  ParsedBody take() { return std::move(out_); }

  bool null() override { return value(nullptr); }
  bool boolean(bool b) override { return value(b); }
  bool number_integer(number_integer_t n) override {
    // Only a lexeme with a minus sign arrives here, so 0 was written "-0".
    return number(n, n == 0 ? "-0" : std::to_string(n));
  }
  bool number_unsigned(number_unsigned_t n) override { return number(n, std::to_string(n)); }
  bool number_float(number_float_t x, const string_t& text) override { return number(x, text); }
  bool string(string_t& s) override { return value(std::move(s)); }
  bool binary(binary_t& b) override { return value(json::binary(std::move(b))); }
  bool start_object(std::size_t) override { return open(json::value_t::object); }
  bool start_array(std::size_t) override { return open(json::value_t::array); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    id_next_ = at_request_level() && k == "id";
    element_ = &(*stack_.back())[k];
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    return fail(BodyProblem::kSyntax, e.what());
  }

 private:
  // Inside a request object: the outermost object, or an object directly in the outermost array.
  bool at_request_level() const {
    return (stack_.size() == 1 && out_.value.is_object()) ||
           (stack_.size() == 2 && out_.value.is_array() && stack_.back()->is_object());
  }

  bool fail(BodyProblem problem, std::string message) {
    if (out_.problem == BodyProblem::kNone) {
      out_.problem = problem;
      out_.message = std::move(message);
    }
    return false;
  }

  template <typename Number>
  bool number(Number n, std::string text) {
    if (id_next_) {
      out_.raw_ids.resize(request_index_ + 1);
      out_.raw_ids[request_index_] = std::move(text);
    }
    return value(n);
  }

  template <typename Value>
  bool value(Value&& v) {
    return place(json(std::forward<Value>(v))) != nullptr;
  }

  // Puts `v` where the parse is; nullptr when the batch limit refuses it.
  json* place(json v) {
    id_next_ = false;
    if (stack_.empty()) {
      out_.value = std::move(v);
      return &out_.value;
    }
    json* top = stack_.back();
    if (!top->is_array()) {
      *element_ = std::move(v);
      return element_;
    }
    if (stack_.size() == 1) {
      if (top->size() >= kJsonRpcMaxBatch) {
        fail(BodyProblem::kBatchTooLarge, absl::StrCat("Invalid Request: a batch holds at most ",
                                                       kJsonRpcMaxBatch, " requests"));
        return nullptr;
      }
      request_index_ = top->size();
    }
    top->push_back(std::move(v));
    return &top->back();
  }

  bool open(json::value_t type) {
    if (stack_.size() >= static_cast<size_t>(kJsonRpcMaxDepth)) {
      return fail(BodyProblem::kTooDeep,
                  absl::StrCat("Parse error: nesting deeper than ", kJsonRpcMaxDepth, " levels"));
    }
    json* container = place(json(type));
    if (container == nullptr) return false;
    stack_.push_back(container);
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  ParsedBody out_;
  std::vector<json*> stack_;  // the open containers, outermost first
  json* element_ = nullptr;   // where the value after a key goes
  size_t request_index_ = 0;  // the batch element being parsed
  bool id_next_ = false;      // the next value is a request's id
};

ParsedBody parse_body(const std::string& body) {
  BodyParser parser;
  if (!json::sax_parse(body, &parser)) {
    ParsedBody failed = parser.take();
    if (failed.problem == BodyProblem::kNone) failed.problem = BodyProblem::kSyntax;
    failed.value = nullptr;
    return failed;
  }
  return parser.take();
}

// `response` as text, with a numeric id printed as `raw_id` (the text the request sent) when given.
std::string dump_response(const json& response, const std::string& raw_id) {
  if (raw_id.empty() || !response.contains("id") || !response["id"].is_number()) {
    return dump(response);
  }
  std::string out = "{";
  for (const auto& [key, value] : response.items()) {
    if (out.size() > 1) out += ",";
    absl::StrAppend(&out, dump(json(key)), ":", key == "id" ? raw_id : dump(value));
  }
  return out + "}";
}

// Where with_json_rpc_error keeps the code and data: {"code": int, "data": object}.
constexpr char kErrorPayloadUrl[] = "lemon.json_rpc.error";

// The {"code", "data"} with_json_rpc_error attached to `status`, or null.
json attached_error(const absl::Status& status) {
  auto payload = status.GetPayload(kErrorPayloadUrl);
  if (!payload) return nullptr;
  json attached = json::parse(std::string(*payload), nullptr, /*allow_exceptions=*/false);
  return attached.is_object() && attached["code"].is_number_integer() ? attached : json();
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
  json data = reason_data(e);
  if (json attached = attached_error(status);
      attached.is_object() && attached["data"].is_object()) {
    for (auto& [key, value] : attached["data"].items()) data[key] = std::move(value);
  }
  return json_rpc_error(id, code, message, data);
}

const google::protobuf::FieldDescriptor* find_field(const google::protobuf::Descriptor* d,
                                                    const std::string& name) {
  if (const auto* f = d->FindFieldByName(name); f != nullptr) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == name) return d->field(i);
  }
  return nullptr;
}

// A JSON number for an integer field: OK when it is a whole number in the field's range (a float
// such as 2.0 or 1e3 included, as protobuf reads them); else the field named and why.
absl::Status check_integer(const json& item, const google::protobuf::FieldDescriptor* f,
                           const std::string& name) {
  using google::protobuf::FieldDescriptor;
  const FieldDescriptor::CppType type = f->cpp_type();
  const bool is_signed =
      type == FieldDescriptor::CPPTYPE_INT32 || type == FieldDescriptor::CPPTYPE_INT64;
  const bool wide =
      type == FieldDescriptor::CPPTYPE_INT64 || type == FieldDescriptor::CPPTYPE_UINT64;
  if (!is_signed && !wide && type != FieldDescriptor::CPPTYPE_UINT32) return absl::OkStatus();
  // long double holds every 64-bit integer exactly; the field takes [lo, hi).
  const long double span = std::ldexp(1.0L, wide ? 64 : 32);
  const long double lo = is_signed ? -span / 2 : 0;
  const long double hi = is_signed ? span / 2 : span;
  const long double v = item.is_number_unsigned()  ? item.get<uint64_t>()
                        : item.is_number_integer() ? item.get<int64_t>()
                                                   : item.get<double>();
  if (std::floor(v) != v) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("(", name, "): expected an integer, got ", dump(item)));
  }
  if (v < lo || v >= hi) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("(", name, "): ", dump(item), " is out of range for ", f->cpp_type_name()));
  }
  return absl::OkStatus();
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
      if (item.is_number()) {
        if (absl::Status s = check_integer(item, f, name); !s.ok()) return s;
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

absl::Status with_json_rpc_error(absl::Status status, int code, const json& data) {
  status.SetPayload(kErrorPayloadUrl, absl::Cord(dump(json{{"code", code}, {"data", data}})));
  return status;
}

int json_rpc_code_for(const absl::Status& status) {
  if (json attached = attached_error(status); attached.is_object()) {
    return attached["code"].get<int>();
  }
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

void JsonRpcDispatcher::register_method(const std::string& method, Handler handler,
                                        const google::protobuf::Descriptor* params,
                                        const google::protobuf::Descriptor* result) {
  Entry entry{std::make_shared<const Handler>(std::move(handler)), {method, params, result}};
  absl::MutexLock lock(&mu_);
  methods_[method] = std::move(entry);
}

std::vector<JsonRpcDispatcher::MethodSignature> JsonRpcDispatcher::methods() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<MethodSignature> out;
  for (const auto& [name, entry] : methods_) out.push_back(entry.signature);
  return out;
}

std::shared_ptr<const JsonRpcDispatcher::Handler> JsonRpcDispatcher::find(
    const std::string& method) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = methods_.find(method);
  return it == methods_.end() ? nullptr : it->second.handler;
}

std::optional<std::string> JsonRpcDispatcher::handle(const std::string& body) const {
  try {
    ParsedBody parsed = parse_body(body);
    switch (parsed.problem) {
      case BodyProblem::kNone:
        break;
      case BodyProblem::kSyntax:
        return dump(json_rpc_error(nullptr, kJsonRpcParseError,
                                   absl::StrCat("Parse error: ", parsed.message)));
      case BodyProblem::kTooDeep:
        return dump(json_rpc_error(nullptr, kJsonRpcParseError, parsed.message));
      case BodyProblem::kBatchTooLarge:
        return dump(json_rpc_error(nullptr, kJsonRpcInvalidRequest, parsed.message));
    }
    parsed.raw_ids.resize(parsed.value.is_array() ? parsed.value.size() : 1);
    if (!parsed.value.is_array()) {
      std::optional<json> response = handle_one(parsed.value);
      if (!response) return std::nullopt;
      return dump_response(*response, parsed.raw_ids[0]);
    }
    if (parsed.value.empty()) {
      return dump(json_rpc_error(nullptr, kJsonRpcInvalidRequest, "Invalid Request: empty batch"));
    }
    std::string responses;
    for (size_t i = 0; i < parsed.value.size(); ++i) {
      std::optional<json> response = handle_one(parsed.value[i]);
      if (!response) continue;
      absl::StrAppend(&responses, responses.empty() ? "[" : ",",
                      dump_response(*response, parsed.raw_ids[i]));
    }
    if (responses.empty()) return std::nullopt;
    return responses + "]";
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
