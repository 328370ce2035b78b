#include "core/module_name.h"

#include <string>

#include "absl/strings/match.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ModuleNameTest, AcceptsLettersDigitsAndUnderscoreDotDashAndNothingElse) {
  const struct {
    std::string name;
    bool ok;
    std::string message;  // a part of the refusal
  } cases[] = {
      {"counter", true, ""},
      {"app_a", true, ""},
      {"Counter-2.v1", true, ""},
      {std::string(kMaxModuleNameBytes, 'a'), true, ""},
      {"", false, "empty module name"},
      {std::string(kMaxModuleNameBytes + 1, 'a'), false, "129 bytes, more than 128"},
      {std::string("counter\0x", 9), false, "byte 7 is \\x00"},
      {"../counter", false, "starts with '.'"},
      {".", false, "starts with '.'"},
      {"..", false, "starts with '.'"},
      {".hidden", false, "starts with '.'"},
      {"-rf", false, "starts with '-'"},
      {"a/b", false, "byte 1 is \\x2f"},
      {"a b", false, "byte 1 is \\x20"},
      {"a\nb", false, "byte 1 is \\x0a"},
      {"caf\xc3\xa9", false, "byte 3 is \\xc3"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = check_module_name(c.name);
    EXPECT_EQ(s.ok(), c.ok) << s;
    if (!c.ok) {
      EXPECT_EQ(reload_error_of(s), ReloadError::kInvalidArgument) << s;
      EXPECT_TRUE(absl::StrContains(s.message(), c.message)) << s;
      EXPECT_FALSE(absl::StrContains(s.message(), std::string(1, '\0'))) << "raw NUL in message";
    }
  }
}

}  // namespace
}  // namespace lemon
