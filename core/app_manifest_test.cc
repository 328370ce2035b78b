#include "core/app_manifest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(AppManifestTest, ParsesAppsInOrder) {
  auto m = parse_app_manifest(R"({"apps": [{"name": "demo", "modules": ["counter", "kv"]}, )"
                              R"({"name": "b", "modules": ["x"]}]})");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->find("demo"), nullptr);
  EXPECT_EQ(m->find("demo")->modules, (std::vector<std::string>{"counter", "kv"}));
  EXPECT_EQ(m->find("nope"), nullptr);
}

TEST(AppManifestTest, RejectsBadManifestsWithAReason) {
  const char* bad[] = {
      "{",
      R"([])",
      R"({"apps": [{"modules": ["a"]}]})",
      R"({"apps": [{"name": "a", "modules": []}]})",
      R"({"apps": [{"name": "a", "modules": ["m"]}, {"name": "a", "modules": ["n"]}]})",
      R"({"apps": [{"name": "a", "modules": ["m"]}, {"name": "b", "modules": ["m"]}]})",
      R"({"apps": [{"name": "a", "modules": [1]}]})",
      R"({"apps": [{"name": "a", "modules": ["counter\u0000x"]}]})",
      R"({"apps": [{"name": "a", "modules": ["../counter"]}]})",
  };
  for (const char* text : bad) {
    SCOPED_TRACE(text);
    auto m = parse_app_manifest(text);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(reload_error_of(m.status()), ReloadError::kInvalidArgument);
  }
}

TEST(AppManifestTest, AModuleNameWithOddBytesIsRefusedNamingIt) {
  auto m = parse_app_manifest(R"({"apps": [{"name": "a", "modules": ["ok", "counter\u0000x"]}]})");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(reload_error_of(m.status()), ReloadError::kInvalidArgument);
  EXPECT_NE(m.status().message().find("bad module name \"counter\\x00x\""), absl::string_view::npos)
      << m.status();
}

TEST(AppManifestTest, AManifestThatIsNotARegularFileIsRefusedWithoutBlocking) {
  const testing::ScratchDir dir;
  const std::string fifo = dir.file("apps-fifo.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto m = load_app_manifest(fifo);  // a writer never comes: a blocking open would hang here
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(reload_error_of(m.status()), ReloadError::kInvalidArgument) << m.status();
  EXPECT_NE(m.status().message().find("not a regular file"), absl::string_view::npos) << m.status();
}

TEST(AppManifestTest, MissingFileIsAnEmptyManifest) {
  auto m = load_app_manifest("/nonexistent/apps.json");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->apps.empty());
}

}  // namespace
}  // namespace lemon
