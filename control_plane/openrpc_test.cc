#include "control_plane/openrpc.h"

#include <string>

#include "control_plane/fake_service.h"
#include "control_plane/methods.h"
#include "control_plane/rpc.pb.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using nlohmann::json;

class OpenRpcTest : public ::testing::Test {
 protected:
  OpenRpcTest() { register_control_plane_methods(rpc_, service_); }

  // rpc.discover's result, as a client gets it.
  json discover() {
    std::optional<std::string> reply =
        rpc_.handle(R"({"jsonrpc":"2.0","id":1,"method":"rpc.discover"})");
    EXPECT_TRUE(reply.has_value());
    json response = json::parse(reply.value_or("{}"));
    EXPECT_TRUE(response.contains("result")) << response;
    return response["result"];
  }

  // The entry of `method` in `doc`, or null.
  static json method(const json& doc, const std::string& name) {
    for (const json& m : doc["methods"]) {
      if (m["name"] == name) return m;
    }
    return nullptr;
  }

  // The schema of param `name` of `m`, or null.
  static json param(const json& m, const std::string& name) {
    for (const json& p : m["params"]) {
      if (p["name"] == name) return p["schema"];
    }
    return nullptr;
  }

  FakeService service_;
  JsonRpcDispatcher rpc_;
};

TEST_F(OpenRpcTest, ListsEveryMethodButItselfWithVersions) {
  json doc = discover();
  EXPECT_EQ(doc["openrpc"], kOpenRpcVersion);
  EXPECT_EQ(doc["info"]["version"], kControlPlaneApiVersion);
  std::vector<std::string> names;
  for (const json& m : doc["methods"]) names.push_back(m["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "actors.get_state", "actors.list", "actors.replace_state", "actors.resume",
                       "actors.statistics", "actors.suspend", "modules.list", "modules.purge",
                       "reload.history", "supervisors.list", "system.health",
                       "system.make_permanent", "system.reload", "system.rollback"}));
}

TEST_F(OpenRpcTest, AMethodRegisteredLaterIsListedWithItsMessages) {
  rpc_.register_typed_method<rpc::ModulesPurgeParams>(
      "test.later", [](const rpc::ModulesPurgeParams&) -> absl::StatusOr<rpc::ActorsListResult> {
        return rpc::ActorsListResult();
      });
  json m = method(discover(), "test.later");
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(param(m, "module"), json({{"type", "string"}}));
  EXPECT_EQ(param(m, "hard"), json({{"type", "boolean"}}));
  EXPECT_EQ(m["result"]["schema"]["$ref"], "#/components/schemas/lemon.rpc.ActorsListResult");
}

TEST_F(OpenRpcTest, ReloadParamsFollowTheProtoFields) {
  json doc = discover();
  json m = method(doc, "system.reload");
  ASSERT_TRUE(m.is_object());
  EXPECT_EQ(m["paramStructure"], "by-name");
  EXPECT_EQ(m["params"].size(),
            static_cast<size_t>(rpc::SystemReloadParams::descriptor()->field_count()));
  EXPECT_EQ(param(m, "scope"), json({{"type", "string"}}));
  EXPECT_EQ(param(m, "modules"), json({{"type", "array"}, {"items", {{"type", "string"}}}}));
  EXPECT_EQ(param(m, "timeout_ms"),
            json({{"type", "integer"}, {"minimum", 0}, {"maximum", 4294967295u}}));
  EXPECT_EQ(param(m, "code_change")["items"]["$ref"],
            "#/components/schemas/lemon.rpc.CodeChangeTarget");
  const json& target = doc["components"]["schemas"]["lemon.rpc.CodeChangeTarget"];
  EXPECT_EQ(target["properties"]["actor"], json({{"type", "string"}}));
  EXPECT_EQ(m["result"]["schema"]["$ref"], "#/components/schemas/lemon.rpc.ReloadReport");
}

TEST_F(OpenRpcTest, ReportSchemaRefersToItselfAndMapsMapsAndDoubles) {
  json schemas = discover()["components"]["schemas"];
  const json& report = schemas["lemon.rpc.ReloadReport"]["properties"];
  EXPECT_EQ(report["results"]["items"]["$ref"], "#/components/schemas/lemon.rpc.ReloadReport");
  EXPECT_EQ(report["metadata"],
            json({{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}));
  EXPECT_EQ(report["duration_ms"]["anyOf"][0], json({{"type", "number"}}));
  EXPECT_EQ(report["errors"]["items"]["$ref"], "#/components/schemas/lemon.rpc.ErrorItem");
  EXPECT_TRUE(schemas.contains("lemon.rpc.Diagnostic"));
}

TEST_F(OpenRpcTest, Int64IsAStringOrAnIntegerAndEnumsAreNames) {
  json components = json::object();
  json wrapper = message_schema(google::protobuf::Int64Value::descriptor(), components);
  EXPECT_EQ(wrapper["properties"]["value"]["type"], json({"string", "integer"}));
  json field = message_schema(google::protobuf::Field::descriptor(), components);
  EXPECT_EQ(field["properties"]["kind"]["$ref"], "#/components/schemas/google.protobuf.Field.Kind");
  const json& kind = components["google.protobuf.Field.Kind"];
  EXPECT_EQ(kind["type"], "string");
  EXPECT_EQ(kind["enum"][0], "TYPE_UNKNOWN");
  // A message field of a well-known type takes that type's JSON form.
  EXPECT_EQ(field["properties"]["options"]["items"]["$ref"],
            "#/components/schemas/google.protobuf.Option");
  EXPECT_EQ(components["google.protobuf.Option"]["properties"]["value"],
            json({{"type", "object"}}));
}

TEST_F(OpenRpcTest, EveryMethodListsTheApplicationErrors) {
  json doc = discover();
  const json& errors = doc["components"]["errors"];
  for (int code : {kJsonRpcInvalidParams, kJsonRpcUnauthorized, kJsonRpcReloadInProgress,
                   kJsonRpcReloadFailed, kJsonRpcNotFound, kJsonRpcPathNotAllowed}) {
    bool listed = false;
    for (const auto& [name, e] : errors.items()) listed = listed || e["code"] == code;
    EXPECT_TRUE(listed) << code;
  }
  for (const json& m : doc["methods"]) EXPECT_EQ(m["errors"].size(), errors.size()) << m["name"];
}

TEST_F(OpenRpcTest, DiscoverRefusesParams) {
  std::optional<std::string> reply =
      rpc_.handle(R"({"jsonrpc":"2.0","id":1,"method":"rpc.discover","params":{"x":1}})");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(json::parse(*reply)["error"]["code"], kJsonRpcInvalidParams) << *reply;
}

}  // namespace
}  // namespace lemon
