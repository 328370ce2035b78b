#include "core/extension_compiler_diagnostics.h"

#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/reload_error.h"
#include "nlohmann/json.hpp"

namespace lemon {
namespace {

constexpr char kPayloadUrl[] = "type.lemon/CompileDiagnostics";

using Json = nlohmann::json;

std::string alias_of(const std::string& file, const std::map<std::string, std::string>& aliases) {
  auto it = aliases.find(file);
  if (it != aliases.end()) return it->second;
  for (const auto& [from, to] : aliases) {
    auto slash = from.rfind('/');
    if (slash != std::string::npos && from.compare(slash + 1, std::string::npos, file) == 0) {
      return to;
    }
  }
  return file;
}

int int_field(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string string_field(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One GCC JSON diagnostic and, after it, its children (notes).
void append_json_diagnostic(const Json& d, const std::map<std::string, std::string>& aliases,
                            std::vector<Diagnostic>* out) {
  if (!d.is_object()) return;
  Diagnostic diag;
  diag.severity = string_field(d, "kind");
  diag.message = string_field(d, "message");
  auto locations = d.find("locations");
  if (locations != d.end() && locations->is_array() && !locations->empty()) {
    const Json& first = (*locations)[0];
    auto caret = first.is_object() ? first.find("caret") : first.end();
    if (first.is_object() && caret != first.end() && caret->is_object()) {
      diag.file = alias_of(string_field(*caret, "file"), aliases);
      diag.line = int_field(*caret, "line");
      diag.column = int_field(*caret, "column");
    }
  }
  out->push_back(std::move(diag));
  auto children = d.find("children");
  if (children != d.end() && children->is_array()) {
    for (const Json& child : *children) append_json_diagnostic(child, aliases, out);
  }
}

// The end (one past the closing bracket) of the JSON array starting at text[begin], or npos.
size_t json_array_end(absl::string_view text, size_t begin) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = begin; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return absl::string_view::npos;
}

// Parses a JSON array of GCC diagnostics; false if `text` is not one.
bool parse_json_diagnostics(absl::string_view text,
                            const std::map<std::string, std::string>& aliases,
                            std::vector<Diagnostic>* out) {
  try {
    Json parsed = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_array()) return false;
    std::vector<Diagnostic> found;
    for (const Json& d : parsed) append_json_diagnostic(d, aliases, &found);
    out->insert(out->end(), found.begin(), found.end());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool parse_positive(absl::string_view text, int* out) {
  if (text.empty() || text.size() > 9) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, out);
}

// One line of GCC's text output (`file:line[:col]: severity: message`, `tool: severity: message`)
// or the linker's (`file:(section+offset): message`); false if it is no diagnostic.
bool parse_text_line(absl::string_view line, const std::map<std::string, std::string>& aliases,
                     std::vector<Diagnostic>* out) {
  static constexpr absl::string_view kSeverities[] = {"fatal error", "error", "warning", "note"};
  size_t at = absl::string_view::npos;
  absl::string_view severity;
  for (absl::string_view s : kSeverities) {
    size_t p = line.find(absl::StrCat(": ", s, ": "));
    if (p < at) {
      at = p;
      severity = s;
    }
  }
  Diagnostic diag;
  if (at != absl::string_view::npos) {
    absl::string_view where = line.substr(0, at);
    diag.severity = std::string(severity);
    diag.message = std::string(line.substr(at + severity.size() + 4));
    int numbers[2] = {0, 0};
    int count = 0;
    for (size_t colon; count < 2 && (colon = where.rfind(':')) != absl::string_view::npos;) {
      if (!parse_positive(where.substr(colon + 1), &numbers[count])) break;
      ++count;
      where = where.substr(0, colon);
    }
    if (count == 0) {
      diag.message = absl::StrCat(where, ": ", diag.message);
    } else {
      diag.file = alias_of(std::string(where), aliases);
      diag.line = numbers[count - 1];
      diag.column = count == 2 ? numbers[0] : 0;
    }
  } else {
    size_t open = line.find(":(");
    size_t close = open == absl::string_view::npos ? open : line.find("): ", open);
    if (close == absl::string_view::npos) return false;
    diag.file = alias_of(std::string(line.substr(0, open)), aliases);
    diag.severity = "error";
    diag.message = std::string(line.substr(close + 3));
  }
  out->push_back(std::move(diag));
  return true;
}

}  // namespace

std::vector<Diagnostic> parse_compiler_diagnostics(
    absl::string_view stderr_text, const std::map<std::string, std::string>& file_aliases) {
  std::vector<Diagnostic> out;
  try {
    size_t pos = 0;
    while (pos < stderr_text.size()) {
      if (stderr_text[pos] == '[') {
        size_t end = json_array_end(stderr_text, pos);
        if (end != absl::string_view::npos &&
            parse_json_diagnostics(stderr_text.substr(pos, end - pos), file_aliases, &out)) {
          pos = end;
          continue;
        }
      }
      size_t eol = stderr_text.find('\n', pos);
      if (eol == absl::string_view::npos) eol = stderr_text.size();
      absl::string_view line =
          absl::StripTrailingAsciiWhitespace(stderr_text.substr(pos, eol - pos));
      if (!line.empty()) parse_text_line(line, file_aliases, &out);
      pos = eol + 1;
    }
  } catch (const std::exception&) {
    // Only allocation can fail here; keep what was parsed.
  }
  if (out.size() > kMaxDiagnostics) {
    Diagnostic omitted;
    omitted.severity = "note";
    omitted.message =
        absl::StrCat(out.size() - kMaxDiagnostics, " more diagnostics not shown (at most ",
                     kMaxDiagnostics, " are kept)");
    out.resize(kMaxDiagnostics);
    out.push_back(std::move(omitted));
  }
  return out;
}

absl::Status compile_failed_status(absl::string_view message,
                                   const std::vector<Diagnostic>& diagnostics) {
  absl::Status status = reload_status(ReloadError::kCompileFailed, message);
  Json array = Json::array();
  for (const Diagnostic& d : diagnostics) {
    array.push_back({{"file", d.file},
                     {"line", d.line},
                     {"column", d.column},
                     {"severity", d.severity},
                     {"message", d.message}});
  }
  // Invalid UTF-8 in a message (a non-UTF-8 source) is replaced rather than thrown about.
  status.SetPayload(kPayloadUrl,
                    absl::Cord(array.dump(-1, ' ', false, Json::error_handler_t::replace)));
  return status;
}

std::vector<Diagnostic> diagnostics_of(const absl::Status& status) {
  std::vector<Diagnostic> out;
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return out;
  std::string text(*payload);
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_array()) return out;
  for (const Json& d : parsed) {
    if (!d.is_object()) continue;
    Diagnostic diag;
    diag.file = string_field(d, "file");
    diag.line = int_field(d, "line");
    diag.column = int_field(d, "column");
    diag.severity = string_field(d, "severity");
    diag.message = string_field(d, "message");
    out.push_back(std::move(diag));
  }
  return out;
}

}  // namespace lemon
