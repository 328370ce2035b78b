#include "core/extension_compiler_diagnostics.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// What GCC 12 prints with -fdiagnostics-format=json for a missing ';' and an unused variable.
constexpr char kGccJson[] =
    R"([{"kind": "error", "column-origin": 1, "children": [], "locations": [{"caret": )"
    R"({"byte-column": 19, "display-column": 19, "line": 2, "file": "/tmp/x/extension.cc", )"
    R"("column": 19}}], "message": "expected ';' before '}' token", "escape-source": false}, )"
    R"({"kind": "warning", "locations": [{"caret": {"line": 3, "file": "/tmp/x/extension.cc", )"
    R"("column": 20}}], "children": [{"kind": "note", "locations": [{"caret": {"line": 1, )"
    R"("file": "other.h", "column": 5}}], "message": "declared here [with ']' inside]"}], )"
    R"("option": "-Wunused-variable", "message": "unused variable 'y'"}])"
    "\n";

// Expects every field of `d` to be that of `want`.
void expect_diagnostic(const Diagnostic& d, const Diagnostic& want) {
  EXPECT_EQ(d.file, want.file);
  EXPECT_EQ(d.line, want.line);
  EXPECT_EQ(d.column, want.column);
  EXPECT_EQ(d.severity, want.severity);
  EXPECT_EQ(d.message, want.message);
}

// Expects `d` to be `want`, diagnostic by diagnostic.
void expect_diagnostics(const std::vector<Diagnostic>& d, const std::vector<Diagnostic>& want) {
  ASSERT_EQ(d.size(), want.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    SCOPED_TRACE(i);
    expect_diagnostic(d[i], want[i]);
  }
}

TEST(ParseCompilerDiagnostics, ReadsGccJsonWithNotesAndMapsTheFile) {
  expect_diagnostics(parse_compiler_diagnostics(kGccJson, {{"/tmp/x/extension.cc", "ext/a.cc"}}),
                     {{"ext/a.cc", 2, 19, "error", "expected ';' before '}' token"},
                      {"ext/a.cc", 3, 20, "warning", "unused variable 'y'"},
                      {"other.h", 1, 5, "note", "declared here [with ']' inside]"}});
}

TEST(ParseCompilerDiagnostics, ReadsTextLinesWhenThereIsNoJson) {
  const char* text =
      "In file included from a.cc:1:\n"
      "a.cc:4:7: error: 'foo' was not declared in this scope\n"
      "a.cc:9: warning: no column here\n"
      "cc1plus: fatal error: nope.h: No such file or directory\n"
      "compilation terminated.\n";
  // The file is mapped even though the linker and some tools name only the base name.
  expect_diagnostics(parse_compiler_diagnostics(text, {{"/tmp/x/a.cc", "ext/a.cc"}}),
                     {{"ext/a.cc", 4, 7, "error", "'foo' was not declared in this scope"},
                      {"ext/a.cc", 9, 0, "warning", "no column here"},
                      {"", 0, 0, "fatal error", "cc1plus: nope.h: No such file or directory"}});
}

TEST(ParseCompilerDiagnostics, ReadsLinkerErrorsAfterAnEmptyJsonArray) {
  const char* text =
      "[]\n"
      "/usr/bin/ld: /tmp/ccX.o: in function `entry':\n"
      "extension.cc:(.text+0x5): undefined reference to `missing()'\n"
      "collect2: error: ld returned 1 exit status\n";
  expect_diagnostics(parse_compiler_diagnostics(text, {{"/tmp/x/extension.cc", "ext/a.cc"}}),
                     {{"ext/a.cc", 0, 0, "error", "undefined reference to `missing()'"},
                      {"", 0, 0, "error", "collect2: ld returned 1 exit status"}});
}

TEST(ParseCompilerDiagnostics, SurvivesBrokenJsonAndGarbage) {
  for (const char* text : {"[{\"kind\": \"error\", \"locations\": [", "[1, 2, \"x\"]", "[[[", "]]]",
                           "[{\"kind\": 5, \"locations\": {}}]", "\x01\xff\xfe garbage"}) {
    SCOPED_TRACE(text);
    auto d = parse_compiler_diagnostics(text);
    for (const Diagnostic& x : d) EXPECT_NE(x.severity, "note");
  }
}

TEST(CompileFailedStatus, CarriesItsDiagnostics) {
  Diagnostic d{"ext/a.cc", 3, 14, "error", "expected ';' \xff"};
  absl::Status s = compile_failed_status("ext/a.cc did not compile", {d});
  EXPECT_EQ(reload_error_of(s), ReloadError::kCompileFailed);
  auto back = diagnostics_of(s);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].file, "ext/a.cc");
  EXPECT_EQ(back[0].line, 3);
  EXPECT_EQ(back[0].column, 14);
  EXPECT_EQ(back[0].severity, "error");
  EXPECT_TRUE(diagnostics_of(absl::InternalError("x")).empty());
}

// `n` text error lines.
std::string text_errors(std::size_t n) {
  std::string text;
  for (std::size_t i = 0; i < n; ++i) absl::StrAppend(&text, "a.cc:", i + 1, ":1: error: e\n");
  return text;
}

// A GCC JSON array of `n` warnings.
std::string json_warnings(std::size_t n) {
  std::string text = "[";
  for (std::size_t i = 0; i < n; ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ",", R"({"kind": "warning", "message": "w"})");
  }
  return text + "]\n";
}

TEST(ParseCompilerDiagnostics, KeepsAtMostMaxDiagnosticsAndSaysHowManyMoreThereWere) {
  const struct {
    std::string what;
    std::string text;
    std::size_t count;
  } cases[] = {
      {"text lines", text_errors(1000), 1000},
      {"a JSON array", json_warnings(300), 300},
      {"exactly the cap", text_errors(kMaxDiagnostics), kMaxDiagnostics},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    const std::vector<Diagnostic> d = parse_compiler_diagnostics(c.text);
    if (c.count <= kMaxDiagnostics) {
      EXPECT_EQ(d.size(), c.count);
      continue;
    }
    ASSERT_EQ(d.size(), kMaxDiagnostics + 1);
    EXPECT_EQ(d.back().severity, "note");
    EXPECT_EQ(d.back().message,
              absl::StrCat(c.count - kMaxDiagnostics, " more diagnostics not shown (at most ",
                           kMaxDiagnostics, " are kept)"));
  }
}

}  // namespace
}  // namespace lemon
