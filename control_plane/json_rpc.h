// A transport-free JSON-RPC 2.0 dispatcher: hand it a request body, get back the response body.
// It implements the whole spec (single and batch requests, notifications, ids echoed exactly, the
// standard error codes) plus Lemon's application codes, mapped from a handler's absl::Status. A
// body is parsed under limits (nesting depth, batch size) before anything copies or prints it.
//
//   lemon::JsonRpcDispatcher rpc;
//   rpc.register_typed_method<lemon::rpc::ActorsListParams>(
//       "actors.list", [&](const lemon::rpc::ActorsListParams& p) { return svc.list_actors(p); });
//   std::optional<std::string> reply =
//       rpc.handle(R"({"jsonrpc":"2.0","id":1,"method":"actors.list"})");
#ifndef LEMON_CONTROL_PLANE_JSON_RPC_H_
#define LEMON_CONTROL_PLANE_JSON_RPC_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace lemon {

// JSON-RPC 2.0 error codes; the -320xx ones are Lemon's and stable.
inline constexpr int kJsonRpcParseError = -32700;
inline constexpr int kJsonRpcInvalidRequest = -32600;
inline constexpr int kJsonRpcMethodNotFound = -32601;
inline constexpr int kJsonRpcInvalidParams = -32602;
inline constexpr int kJsonRpcInternalError = -32603;
inline constexpr int kJsonRpcUnauthorized = -32001;
inline constexpr int kJsonRpcReloadInProgress = -32002;
inline constexpr int kJsonRpcReloadFailed = -32003;
inline constexpr int kJsonRpcNotFound = -32004;
inline constexpr int kJsonRpcPathNotAllowed = -32005;

// Nesting of arrays and objects a request body may have, counted from its outermost value (a batch
// is one level); a deeper body is answered with -32700 without being parsed further.
inline constexpr int kJsonRpcMaxDepth = 64;
// Requests one batch may hold; a larger batch is answered with one -32600 and none of it runs.
inline constexpr size_t kJsonRpcMaxBatch = 100;

// The JSON-RPC error code for a handler's non-OK status: the one with_json_rpc_error set, else
// from the ReloadError it carries
// (unauthorized, reload_in_progress, not_found, path_not_allowed, invalid_argument, other reload
// errors = reload failed), else from its canonical code (invalid argument, not found,
// unauthenticated), else internal error.
int json_rpc_code_for(const absl::Status& status);

// `status` answered with exactly `code`, and `data`'s members added to error.data (after reason
// and reason_code): for an error richer than one ReloadError, such as a reload that ran and failed
// (code from all of its failures, its report in data).
absl::Status with_json_rpc_error(absl::Status status, int code, const nlohmann::json& data);

// A complete error response object {"jsonrpc":"2.0","error":{code,message[,data]},"id":id}.
nlohmann::json json_rpc_error(const nlohmann::json& id, int code, const std::string& message,
                              const nlohmann::json& data = nullptr);

// Parses `params` (a JSON object) into `message`, rejecting unknown fields; InvalidArgument with
// protobuf's text, which names the offending field.
absl::Status json_to_proto(const nlohmann::json& params, google::protobuf::Message* message);

// `message` as JSON with proto field names and every primitive field printed.
absl::StatusOr<nlohmann::json> proto_to_json(const google::protobuf::Message& message);

class JsonRpcDispatcher {
 public:
  // Gets the request's params: the object or array sent, or an empty object when absent. A
  // non-OK status becomes an error response (see json_rpc_code_for); an exception becomes -32603.
  using Handler = std::function<absl::StatusOr<nlohmann::json>(const nlohmann::json& params)>;

  // A registered method's name and, for a typed one, its params and result messages.
  struct MethodSignature {
    std::string name;
    const google::protobuf::Descriptor* params = nullptr;  // nullptr: untyped
    const google::protobuf::Descriptor* result = nullptr;
  };

  // Registers `handler` for `method`, replacing any earlier one; `params` and `result` describe
  // it when typed. Thread-safe.
  void register_method(const std::string& method, Handler handler,
                       const google::protobuf::Descriptor* params = nullptr,
                       const google::protobuf::Descriptor* result = nullptr);

  // Registers a method whose params parse into the proto `Params` and whose `fn(const Params&)`
  // returns absl::StatusOr<some proto message>, printed as the result. Thread-safe.
  template <typename Params, typename Fn>
  void register_typed_method(const std::string& method, Fn fn);

  // Every registered method, by name. Thread-safe.
  std::vector<MethodSignature> methods() const;

  // Answers one request body (a single request or a batch); nullopt when nothing is to be sent
  // (notifications only). A numeric id comes back as the exact text sent. Never throws.
  // Thread-safe: handlers run on the caller's thread.
  std::optional<std::string> handle(const std::string& body) const;

 private:
  std::optional<nlohmann::json> handle_one(const nlohmann::json& request) const;
  std::shared_ptr<const Handler> find(const std::string& method) const;

  struct Entry {
    std::shared_ptr<const Handler> handler;
    MethodSignature signature;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> methods_ ABSL_GUARDED_BY(mu_);
};

template <typename Params, typename Fn>
void JsonRpcDispatcher::register_typed_method(const std::string& method, Fn fn) {
  using Result = std::decay_t<decltype(*fn(std::declval<const Params&>()))>;
  register_method(
      method,
      [fn = std::move(fn)](const nlohmann::json& params) -> absl::StatusOr<nlohmann::json> {
        Params typed;
        if (absl::Status parsed = json_to_proto(params, &typed); !parsed.ok()) return parsed;
        auto result = fn(static_cast<const Params&>(typed));
        if (!result.ok()) return result.status();
        return proto_to_json(*result);
      },
      Params::descriptor(), Result::descriptor());
}

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_JSON_RPC_H_
