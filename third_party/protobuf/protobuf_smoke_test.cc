// Proves Protobuf and //third_party:proto.bzl work under Bazel: a message round-trips through JSON.
#include <string>

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "third_party/protobuf/smoke.pb.h"

namespace {

TEST(ProtobufSmokeTest, MessageRoundTripsThroughJson) {
  lemon::smoke::Ping in;
  in.set_module("counter");
  in.set_version(2);
  in.add_tags("a");
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(in, &json).ok());
  lemon::smoke::Ping out;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok()) << json;
  EXPECT_EQ(out.module(), "counter");
  EXPECT_EQ(out.version(), 2);
  ASSERT_EQ(out.tags_size(), 1);
}

TEST(ProtobufSmokeTest, UnknownFieldIsRejectedAndNamed) {
  lemon::smoke::Ping out;
  auto status = google::protobuf::util::JsonStringToMessage(R"({"modul": "x"})", &out);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.ToString().find("modul"), std::string::npos) << status.ToString();
}

}  // namespace
