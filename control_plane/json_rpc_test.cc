#include "control_plane/json_rpc.h"

#include <dirent.h>

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control_plane/fake_service.h"
#include "control_plane/methods.h"
#include "control_plane/rpc.pb.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using nlohmann::json;

class JsonRpcTest : public ::testing::Test {
 protected:
  JsonRpcTest() {
    register_control_plane_methods(rpc_, service_);
    rpc_.register_method("test.echo",
                         [](const json& params) -> absl::StatusOr<json> { return params; });
    rpc_.register_method("test.throw", [](const json&) -> absl::StatusOr<json> {
      throw std::runtime_error("boom");
    });
  }

  // The parsed response to `body`; fails the test when there is none.
  json call(const std::string& body) {
    std::optional<std::string> reply = rpc_.handle(body);
    EXPECT_TRUE(reply.has_value()) << body;
    if (!reply) return nullptr;
    return json::parse(*reply);
  }

  void expect_error(const json& response, int code, const json& id) {
    ASSERT_TRUE(response.is_object()) << response;
    EXPECT_EQ(response["jsonrpc"], "2.0");
    EXPECT_EQ(response["id"], id) << response;
    ASSERT_TRUE(response.contains("error")) << response;
    EXPECT_FALSE(response.contains("result"));
    EXPECT_EQ(response["error"]["code"], code) << response;
    EXPECT_TRUE(response["error"]["message"].is_string());
  }

  // The response to `method` called with `params` (a JSON object's text) and id 1.
  json call_method(absl::string_view method, absl::string_view params) {
    return call(absl::StrCat(R"({"jsonrpc":"2.0","method":")", method, R"(","id":1,"params":)",
                             params, "}"));
  }

  // system.reload with `params` is refused as invalid params, its message naming `named`; the
  // response is returned for further checks.
  json expect_invalid_reload_params(absl::string_view params, absl::string_view named) {
    json r = call_method("system.reload", params);
    expect_error(r, kJsonRpcInvalidParams, 1);
    EXPECT_TRUE(absl::StrContains(r["error"]["message"].get<std::string>(), named)) << r;
    return r;
  }

  // A system.reload params object (JSON text) and what refusing it must name.
  struct InvalidReloadParams {
    const char* params;
    const char* named;
  };

  // expect_invalid_reload_params for each case, traced by its params.
  void expect_each_invalid_reload_params(std::initializer_list<InvalidReloadParams> cases) {
    for (const InvalidReloadParams& c : cases) {
      SCOPED_TRACE(c.params);
      expect_invalid_reload_params(c.params, c.named);
    }
  }

  FakeService service_;
  JsonRpcDispatcher rpc_;
};

TEST_F(JsonRpcTest, MalformedJsonIsParseErrorWithIdNull) {
  expect_error(call(R"({"jsonrpc":"2.0","method":"system.health","id":1)"), kJsonRpcParseError,
               nullptr);
  expect_error(call(""), kJsonRpcParseError, nullptr);
}

TEST_F(JsonRpcTest, MalformedRequestObjectsAreInvalidRequest) {
  struct Case {
    const char* name;
    const char* body;
    json id;
  };
  const Case cases[] = {
      {"not an object", R"("hello")", nullptr},
      {"number", "42", nullptr},
      {"jsonrpc missing", R"({"method":"system.health","id":7})", 7},
      {"jsonrpc 1.0", R"({"jsonrpc":"1.0","method":"system.health","id":7})", 7},
      {"jsonrpc number", R"({"jsonrpc":2.0,"method":"system.health","id":7})", 7},
      {"method missing", R"({"jsonrpc":"2.0","id":7})", 7},
      {"method number", R"({"jsonrpc":"2.0","method":1,"params":"bar","id":"x"})", "x"},
      {"params string", R"({"jsonrpc":"2.0","method":"test.echo","params":"bar","id":7})", 7},
      {"params null", R"({"jsonrpc":"2.0","method":"test.echo","params":null,"id":7})", 7},
      {"id object", R"({"jsonrpc":"2.0","method":"test.echo","id":{"a":1}})", nullptr},
      {"id bool", R"({"jsonrpc":"2.0","method":"test.echo","id":true})", nullptr},
      {"no id, bad method", R"({"jsonrpc":"2.0","method":1})", nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_error(call(c.body), kJsonRpcInvalidRequest, c.id);
  }
}

TEST_F(JsonRpcTest, UnknownMethodIsMethodNotFoundNamingIt) {
  json r = call(R"({"jsonrpc":"2.0","method":"no.such","id":3})");
  expect_error(r, kJsonRpcMethodNotFound, 3);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("no.such"), std::string::npos) << r;
}

TEST_F(JsonRpcTest, UnknownParamFieldIsInvalidParamsNamingTheField) {
  json r = call(R"({"jsonrpc":"2.0","method":"system.reload",)"
                R"("params":{"scope":"all","bogus_field":1},"id":1})");
  expect_error(r, kJsonRpcInvalidParams, 1);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("bogus_field"), std::string::npos) << r;
  EXPECT_FALSE(service_.last_reload.has_value());
}

TEST_F(JsonRpcTest, ParamOfWrongTypeIsInvalidParamsNamingTheField) {
  expect_each_invalid_reload_params({
      {R"({"force":"yes"})", "force"},
      {R"({"force":"false"})", "force"},
      {R"({"force":1})", "force"},
      {R"({"cluster":[true]})", "cluster"},
      {R"({"modules":"counter"})", "modules"},
      {R"({"modules":[1]})", "modules"},
      {R"({"timeout_ms":-1})", "timeout_ms"},
      {R"({"timeout_ms":"soon"})", "timeout_ms"},
      {R"({"scope":5})", "scope"},
  });
}

TEST_F(JsonRpcTest, CamelCaseParamNamesAreAccepted) {
  json r = call(R"({"jsonrpc":"2.0","method":"system.reload","id":1,
                    "params":{"timeoutMs":250,"lock_timeout_ms":50}})");
  ASSERT_TRUE(r.contains("result")) << r;
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.last_reload->timeout_ms(), 250u);
  EXPECT_EQ(service_.last_reload->lock_timeout_ms(), 50u);
}

TEST_F(JsonRpcTest, PositionalParamsAreInvalidForTypedMethods) {
  expect_error(call(R"({"jsonrpc":"2.0","method":"actors.list","params":["counter"],"id":1})"),
               kJsonRpcInvalidParams, 1);
}

TEST_F(JsonRpcTest, InconsistentReloadParamsAreInvalidParams) {
  struct Case {
    const char* params;
    const char* mentions;
  };
  const Case cases[] = {
      {R"({"scope":"module"})", "module"},
      {R"({"scope":"app"})", "app"},
      {R"({"scope":"extension"})", "path"},
      {R"({"scope":"everything"})", "everything"},
      {R"({"scope":"all","module":"counter"})", "module"},
      {R"({"scope":"module","module":"counter","modules":["x"]})", "lists"},
      {R"({"scope":"module","module":"counter","path":"/x.cc"})", "path"},
      {R"({"module":"counter","app":"demo"})", "only one"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.params);
    json r = expect_invalid_reload_params(c.params, c.mentions);
    EXPECT_EQ(r["error"]["data"]["reason"], "invalid_argument");
  }
  EXPECT_FALSE(service_.last_reload.has_value());
}

TEST_F(JsonRpcTest, PurgeWithoutModuleIsInvalidParams) {
  expect_error(call(R"({"jsonrpc":"2.0","method":"modules.purge","params":{"hard":true},"id":1})"),
               kJsonRpcInvalidParams, 1);
}

TEST_F(JsonRpcTest, HandlerExceptionIsInternalErrorAndTheDispatcherKeepsWorking) {
  json r = call(R"({"jsonrpc":"2.0","method":"test.throw","id":"t"})");
  expect_error(r, kJsonRpcInternalError, "t");
  EXPECT_NE(r["error"]["message"].get<std::string>().find("boom"), std::string::npos) << r;
  json ok = call(R"({"jsonrpc":"2.0","method":"test.echo","params":{"a":1},"id":2})");
  EXPECT_EQ(ok["result"], json({{"a", 1}}));
}

TEST_F(JsonRpcTest, ServiceErrorsMapToApplicationCodesWithTheReloadErrorInData) {
  struct Case {
    ReloadError error;
    int code;
  };
  const Case cases[] = {
      {ReloadError::kUnauthorized, kJsonRpcUnauthorized},
      {ReloadError::kReloadInProgress, kJsonRpcReloadInProgress},
      {ReloadError::kCompileFailed, kJsonRpcReloadFailed},
      {ReloadError::kCodeChangeFailed, kJsonRpcReloadFailed},
      {ReloadError::kSuspendTimeout, kJsonRpcReloadFailed},
      {ReloadError::kNotFound, kJsonRpcNotFound},
      {ReloadError::kPathNotAllowed, kJsonRpcPathNotAllowed},
      {ReloadError::kInvalidArgument, kJsonRpcInvalidParams},
      {ReloadError::kInternal, kJsonRpcInternalError},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(to_string(c.error));
    service_.reload_result = reload_status(c.error, "it went wrong");
    json r = call(R"({"jsonrpc":"2.0","method":"system.reload","id":9})");
    expect_error(r, c.code, 9);
    EXPECT_NE(r["error"]["message"].get<std::string>().find("it went wrong"), std::string::npos);
    EXPECT_EQ(r["error"]["data"]["reason"], to_string(c.error));
    EXPECT_EQ(r["error"]["data"]["reason_code"], static_cast<int>(c.error));
  }
}

TEST_F(JsonRpcTest, EachRequestOfABatchGetsItsOwnError) {
  service_.reload_result =
      with_json_rpc_error(reload_status(ReloadError::kNotFound, "no module nosuch"),
                          kJsonRpcNotFound, {{"report", {{"status", "error"}}}});
  service_.purge_result = reload_status(ReloadError::kInUse, "3 actors run it");
  json r = call(R"([{"jsonrpc":"2.0","method":"system.reload","id":1,"params":{"module":"x"}},
                    {"jsonrpc":"2.0","method":"system.health","id":2},
                    {"jsonrpc":"2.0","method":"modules.purge","id":3,"params":{"module":"x"}},
                    {"jsonrpc":"2.0","method":"system.reload","id":4,"params":{"scope":"?"}}])");
  ASSERT_TRUE(r.is_array()) << r;
  ASSERT_EQ(r.size(), 4u) << r;
  expect_error(r[0], kJsonRpcNotFound, 1);
  EXPECT_EQ(r[0]["error"]["data"]["reason"], "not_found");
  EXPECT_EQ(r[0]["error"]["data"]["report"]["status"], "error");
  EXPECT_TRUE(r[1].contains("result")) << r[1];
  expect_error(r[2], kJsonRpcReloadFailed, 3);
  EXPECT_EQ(r[2]["error"]["data"]["reason"], "in_use");
  EXPECT_FALSE(r[2]["error"]["data"].contains("report"));
  expect_error(r[3], kJsonRpcInvalidParams, 4);
}

TEST_F(JsonRpcTest, PlainStatusesMapByCanonicalCode) {
  EXPECT_EQ(json_rpc_code_for(absl::InvalidArgumentError("x")), kJsonRpcInvalidParams);
  EXPECT_EQ(json_rpc_code_for(absl::NotFoundError("x")), kJsonRpcNotFound);
  EXPECT_EQ(json_rpc_code_for(absl::UnauthenticatedError("x")), kJsonRpcUnauthorized);
  EXPECT_EQ(json_rpc_code_for(absl::FailedPreconditionError("x")), kJsonRpcInternalError);
}

TEST_F(JsonRpcTest, IdsAreEchoedExactly) {
  const char* ids[] = {"9007199254740993",
                       "-9007199254740993",
                       "18446744073709551615",
                       "18446744073709551616",
                       "123456789012345678901234567890",
                       "-123456789012345678901234567890",
                       "0",
                       "-0",
                       "-0.0",
                       "1.50",
                       "1e2",
                       "1E+2",
                       "0.10",
                       "1.5",
                       "0.1",
                       "-2.5e-07",
                       "\"abc\"",
                       "\"\"",
                       "null"};
  for (const char* id : ids) {
    SCOPED_TRACE(id);
    std::optional<std::string> reply =
        rpc_.handle(absl::StrCat(R"({"jsonrpc":"2.0","method":"test.echo","id":)", id, "}"));
    ASSERT_TRUE(reply.has_value());
    EXPECT_NE(reply->find(absl::StrCat("\"id\":", id, ",")), std::string::npos) << *reply;
    EXPECT_TRUE(json::accept(*reply)) << *reply;
  }
}

TEST_F(JsonRpcTest, IdsInABatchAreEchoedExactlyEachWithItsResponse) {
  std::optional<std::string> reply = rpc_.handle(R"([
    {"jsonrpc":"2.0","method":"test.echo","id":123456789012345678901234567890},
    {"jsonrpc":"2.0","method":"no.such","id":1.50},
    {"jsonrpc":"2.0","method":"test.echo"},
    {"jsonrpc":"2.0","method":"test.echo","params":{"id":2.50},"id":"s"},
    {"jsonrpc":"2.0","method":"test.echo","id":-0}
  ])");
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(json::accept(*reply)) << *reply;
  json r = json::parse(*reply);
  ASSERT_EQ(r.size(), 4u) << *reply;
  EXPECT_NE(reply->find(R"("id":123456789012345678901234567890,)"), std::string::npos) << *reply;
  EXPECT_NE(reply->find(R"("id":1.50,)"), std::string::npos) << *reply;
  EXPECT_EQ(r[1]["error"]["code"], kJsonRpcMethodNotFound);
  EXPECT_EQ(r[2]["id"], "s");
  EXPECT_EQ(r[2]["result"], json({{"id", 2.5}}));
  EXPECT_NE(reply->find(R"("id":-0,)"), std::string::npos) << *reply;
}

// The body that crashed the node: 100,000 nested arrays inside params (200 KB).
TEST_F(JsonRpcTest, DeeplyNestedParamsAreParseErrorAndTheDispatcherKeepsWorking) {
  const std::string body = absl::StrCat(R"({"jsonrpc":"2.0","method":"test.echo","id":1,"params":)",
                                        std::string(100000, '['), std::string(100000, ']'), "}");
  json r = call(body);
  expect_error(r, kJsonRpcParseError, nullptr);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("nesting"), std::string::npos) << r;
  // Unterminated, and as a batch of such requests: the same answer.
  expect_error(call(std::string(100000, '[')), kJsonRpcParseError, nullptr);
  json ok = call(R"({"jsonrpc":"2.0","method":"test.echo","params":{"a":1},"id":2})");
  EXPECT_EQ(ok["result"], json({{"a", 1}}));
}

TEST_F(JsonRpcTest, NestingIsAcceptedUpToTheLimitAndRefusedOneBeyond) {
  // The request object and its params are two levels; the rest are arrays inside params.
  for (int depth : {2, kJsonRpcMaxDepth, kJsonRpcMaxDepth + 1}) {
    SCOPED_TRACE(depth);
    const std::string arrays =
        absl::StrCat(std::string(depth - 2, '['), "7", std::string(depth - 2, ']'));
    json r = call(absl::StrCat(R"({"jsonrpc":"2.0","method":"test.echo","id":1,"params":{"a":)",
                               arrays, "}}"));
    if (depth <= kJsonRpcMaxDepth) {
      EXPECT_TRUE(r.contains("result")) << r;
    } else {
      expect_error(r, kJsonRpcParseError, nullptr);
    }
  }
}

TEST_F(JsonRpcTest, BatchOverTheLimitIsOneInvalidRequestAndNothingRuns) {
  auto batch = [](size_t n) {
    std::string body = "[";
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppend(&body, i ? "," : "",
                      R"({"jsonrpc":"2.0","method":"actors.list","params":{"module":"m"},"id":)", i,
                      "}");
    }
    return body + "]";
  };
  json at_limit = call(batch(kJsonRpcMaxBatch));
  ASSERT_TRUE(at_limit.is_array());
  EXPECT_EQ(at_limit.size(), kJsonRpcMaxBatch);
  {
    absl::MutexLock lock(&service_.mu);
    service_.last_actors.reset();
  }
  for (size_t n : {kJsonRpcMaxBatch + 1, size_t{100000}}) {
    SCOPED_TRACE(n);
    json r = call(batch(n));
    expect_error(r, kJsonRpcInvalidRequest, nullptr);
    EXPECT_NE(r["error"]["message"].get<std::string>().find(std::to_string(kJsonRpcMaxBatch)),
              std::string::npos)
        << r;
  }
  absl::MutexLock lock(&service_.mu);
  EXPECT_FALSE(service_.last_actors.has_value());
}

TEST_F(JsonRpcTest, NumbersOutOfRangeForTheirFieldAreInvalidParamsNamingTheField) {
  expect_each_invalid_reload_params({
      {R"({"timeout_ms":-1})", "timeout_ms"},
      {R"({"timeout_ms":1e30})", "timeout_ms"},
      {R"({"timeout_ms":4294967296})", "timeout_ms"},
      {R"({"timeout_ms":123456789012345678901234567890})", "timeout_ms"},
      {R"({"timeout_ms":1.5})", "timeout_ms"},
      {R"({"timeout_ms":3600001})", "timeout_ms"},
      {R"({"lock_timeout_ms":4294327296})", "lock_timeout_ms"},
      {R"({"lock_timeout_ms":3600001})", "lock_timeout_ms"},
      {R"({"lock_timeout_ms":-1e-300})", "lock_timeout_ms"},
  });
  absl::MutexLock lock(&service_.mu);
  EXPECT_FALSE(service_.last_reload.has_value());
}

TEST_F(JsonRpcTest, WholeNumbersWithinTheCapsAreAccepted) {
  for (const char* params : {R"({"timeout_ms":3600000,"lock_timeout_ms":3600000})",
                             R"({"timeout_ms":2.0,"lock_timeout_ms":1e3})"}) {
    SCOPED_TRACE(params);
    json r = call_method("system.reload", params);
    EXPECT_TRUE(r.contains("result")) << r;
  }
}

TEST_F(JsonRpcTest, ActorsListLimitDefaultsAndIsCapped) {
  struct Case {
    const char* params;
    uint32_t limit;  // 0: refused with -32602 naming limit
  };
  const Case cases[] = {
      {R"({})", kActorsListDefaultLimit},
      {R"({"limit":0})", kActorsListDefaultLimit},
      {R"({"limit":7,"cursor":"42"})", 7},
      {R"({"limit":10000})", kActorsListMaxLimit},
      {R"({"limit":10001})", 0},
      {R"({"limit":-1})", 0},
      {R"({"limit":1e30})", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.params);
    {
      absl::MutexLock lock(&service_.mu);
      service_.last_actors.reset();
    }
    json r = call_method("actors.list", c.params);
    absl::MutexLock lock(&service_.mu);
    if (c.limit == 0) {
      expect_error(r, kJsonRpcInvalidParams, 1);
      EXPECT_NE(r["error"]["message"].get<std::string>().find("limit"), std::string::npos) << r;
      EXPECT_FALSE(service_.last_actors.has_value());
      continue;
    }
    ASSERT_TRUE(service_.last_actors.has_value()) << r;
    EXPECT_EQ(service_.last_actors->limit(), c.limit);
  }
}

// The fuzzer's seeds (testing/fuzz/corpus/json_rpc, with the deeply nested body and the huge
// batch): each gets a JSON answer, and the dispatcher still serves afterwards.
TEST_F(JsonRpcTest, EveryFuzzSeedIsAnsweredWithJson) {
  const std::string dir = testing::runfile("testing/fuzz/corpus/json_rpc");
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  int seeds = 0;
  int answered = 0;  // notifications get no reply
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    SCOPED_TRACE(e->d_name);
    const std::string body = testing::read_file(dir + "/" + e->d_name);
    std::optional<std::string> reply = rpc_.handle(body);
    if (reply) {
      EXPECT_TRUE(json::accept(*reply)) << reply->substr(0, 200);
      ++answered;
    }
    ++seeds;
  }
  closedir(d);
  EXPECT_GE(seeds, 8);
  EXPECT_GE(answered, seeds / 2) << "most seeds are requests, and a request is answered";
  json ok = call(R"({"jsonrpc":"2.0","method":"test.echo","params":{"a":1},"id":2})");
  EXPECT_EQ(ok["result"], json({{"a", 1}}));
}

TEST_F(JsonRpcTest, NumbersJsonCannotRepresentAreParseErrors) {
  for (const char* number : {"1e400", "-1e400"}) {
    SCOPED_TRACE(number);
    expect_error(call(absl::StrCat(R"({"jsonrpc":"2.0","method":"system.reload","id":1,)",
                                   R"("params":{"timeout_ms":)", number, "}}")),
                 kJsonRpcParseError, nullptr);
  }
}

TEST_F(JsonRpcTest, NotificationsGetNoResponseEvenOnError) {
  const char* bodies[] = {
      R"({"jsonrpc":"2.0","method":"system.health"})",
      R"({"jsonrpc":"2.0","method":"no.such"})",
      R"({"jsonrpc":"2.0","method":"test.throw"})",
      R"({"jsonrpc":"2.0","method":"system.reload","params":{"bogus":1}})",
  };
  for (const char* body : bodies) {
    SCOPED_TRACE(body);
    EXPECT_FALSE(rpc_.handle(body).has_value());
  }
}

TEST_F(JsonRpcTest, NotificationsStillRunTheirMethod) {
  EXPECT_FALSE(rpc_.handle(R"({"jsonrpc":"2.0","method":"actors.list","params":{"module":"m"}})")
                   .has_value());
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_actors.has_value());
  EXPECT_EQ(service_.last_actors->module(), "m");
}

TEST_F(JsonRpcTest, BatchAnswersEachRequestButNotTheNotifications) {
  json r = call(R"([
    {"jsonrpc":"2.0","method":"test.echo","params":[1,2],"id":"a"},
    {"jsonrpc":"2.0","method":"test.echo","params":{"n":1}},
    {"foo":"boo"},
    {"jsonrpc":"2.0","method":"no.such","id":"c"},
    {"jsonrpc":"2.0","method":"system.health","id":"d"}
  ])");
  ASSERT_TRUE(r.is_array()) << r;
  ASSERT_EQ(r.size(), 4u) << r;
  EXPECT_EQ(r[0]["id"], "a");
  EXPECT_EQ(r[0]["result"], json({1, 2}));
  expect_error(r[1], kJsonRpcInvalidRequest, nullptr);
  expect_error(r[2], kJsonRpcMethodNotFound, "c");
  EXPECT_EQ(r[3]["id"], "d");
  EXPECT_TRUE(r[3].contains("result"));
}

TEST_F(JsonRpcTest, EmptyBatchIsOneInvalidRequest) {
  json r = call("[]");
  expect_error(r, kJsonRpcInvalidRequest, nullptr);
}

TEST_F(JsonRpcTest, BatchOfNonObjectsAnswersEachAsInvalid) {
  json r = call("[1,2,3]");
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.size(), 3u);
  for (const json& one : r) expect_error(one, kJsonRpcInvalidRequest, nullptr);
}

TEST_F(JsonRpcTest, BatchOfNotificationsGetsNoResponse) {
  EXPECT_FALSE(rpc_.handle(R"([{"jsonrpc":"2.0","method":"system.health"},
                               {"jsonrpc":"2.0","method":"no.such"}])")
                   .has_value());
}

TEST_F(JsonRpcTest, SeedFormIsASystemReloadOfTheListedTargets) {
  rpc::ReloadReport report;
  report.set_kind("system");
  report.set_status("ok");
  report.add_reloaded("MyModule");
  service_.reload_result = report;
  json r = call(R"({"jsonrpc":"2.0","method":"system.reload","id":1,"params":{
      "modules":["MyModule"],"extensions":["/path/to/skill.ex"],"apps":["my_app"]}})");
  ASSERT_TRUE(r.contains("result")) << r;
  EXPECT_EQ(r["result"]["kind"], "system");
  EXPECT_EQ(r["result"]["reloaded"], json({"MyModule"}));
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_reload.has_value());
  EXPECT_EQ(service_.last_reload->scope(), "all");
  ASSERT_EQ(service_.last_reload->modules_size(), 1);
  EXPECT_EQ(service_.last_reload->modules(0), "MyModule");
  EXPECT_EQ(service_.last_reload->apps(0), "my_app");
  EXPECT_EQ(service_.last_reload->extensions(0), "/path/to/skill.ex");
}

TEST_F(JsonRpcTest, ScopeIsInferredFromASingleTarget) {
  struct Case {
    const char* params;
    const char* scope;
  };
  const Case cases[] = {
      {R"({})", "all"},
      {R"({"module":"counter","force":true,"timeout_ms":500})", "module"},
      {R"({"app":"demo"})", "app"},
      {R"({"path":"/ext/hello.cc"})", "extension"},
      {R"({"scope":"module","module":"counter"})", "module"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.params);
    json r = call_method("system.reload", c.params);
    EXPECT_TRUE(r.contains("result")) << r;
    absl::MutexLock lock(&service_.mu);
    ASSERT_TRUE(service_.last_reload.has_value());
    EXPECT_EQ(service_.last_reload->scope(), c.scope);
  }
}

TEST_F(JsonRpcTest, ResultsUseProtoFieldNamesAndPrintDefaults) {
  rpc::SystemHealthResult health;
  health.set_status("ok");
  health.set_node("n1");
  service_.health_result = health;
  json r = call(R"({"jsonrpc":"2.0","method":"system.health","id":1})");
  const json& result = r["result"];
  EXPECT_EQ(result["status"], "ok");
  EXPECT_EQ(result["reload_in_progress"], false);
  EXPECT_EQ(result["uptime_seconds"], 0);
  EXPECT_EQ(result["actors"], 0);

  rpc::ActorsListResult actors;
  rpc::ActorInfo* a = actors.add_actors();
  a->set_name("counter-1");
  a->set_mailbox_size(3);
  a->set_state_summary(R"({"count":4})");
  service_.actors_result = actors;
  json listed = call(R"({"jsonrpc":"2.0","method":"actors.list","id":2})");
  EXPECT_EQ(listed["result"]["actors"][0]["mailbox_size"], 3);
  EXPECT_EQ(listed["result"]["actors"][0]["state_summary"], R"({"count":4})");
  EXPECT_EQ(listed["result"]["actors"][0]["status"], "");
}

TEST_F(JsonRpcTest, ModulesListAndPurgeReachTheService) {
  rpc::ModulesListResult modules;
  rpc::ModuleInfo* m = modules.add_modules();
  m->set_name("counter");
  m->set_current_version("2");
  service_.modules_result = modules;
  json r = call(R"({"jsonrpc":"2.0","method":"modules.list","id":1})");
  EXPECT_EQ(r["result"]["modules"][0]["current_version"], "2");
  EXPECT_EQ(r["result"]["modules"][0]["actors_old"], 0);

  call(R"({"jsonrpc":"2.0","method":"modules.purge",)"
       R"("params":{"module":"counter","hard":true},"id":2})");
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_purge.has_value());
  EXPECT_EQ(service_.last_purge->module(), "counter");
  EXPECT_TRUE(service_.last_purge->hard());
}

}  // namespace
}  // namespace lemon
