#include "core/module_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {

absl::Status check_module_name(absl::string_view name) {
  auto bad = [name](absl::string_view why) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("bad module name \"", absl::CHexEscape(name.substr(0, 64)),
                                      name.size() > 64 ? "...\"" : "\"", ": ", why));
  };
  if (name.empty()) return reload_status(ReloadError::kInvalidArgument, "empty module name");
  if (name.size() > kMaxModuleNameBytes) {
    return bad(absl::StrCat(name.size(), " bytes, more than ", kMaxModuleNameBytes));
  }
  if (name[0] == '.' || name[0] == '-')
    return bad(absl::StrCat("it starts with '", name.substr(0, 1), "'"));
  for (std::size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '-') {
      return bad(absl::StrCat("byte ", i, " is \\x", absl::Hex(c, absl::kZeroPad2),
                              "; only letters, digits, '_', '.' and '-' are allowed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace lemon
