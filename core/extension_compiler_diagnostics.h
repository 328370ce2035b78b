// Compiler diagnostics of an extension: parsed from GCC's stderr and carried in a status.
//
// GCC run with -fdiagnostics-format=json prints a JSON array; what is not JSON (the linker, a
// compiler without the flag) is read as `file:line:col: severity: message` lines:
//
//   std::vector<Diagnostic> d = parse_compiler_diagnostics(stderr_text, {{tmp_src, "ext.cc"}});
//   absl::Status s = compile_failed_status("ext.cc did not compile", d);
//   diagnostics_of(s);  // == d, wherever the status travels
#ifndef LEMON_CORE_EXTENSION_COMPILER_DIAGNOSTICS_H_
#define LEMON_CORE_EXTENSION_COMPILER_DIAGNOSTICS_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/reload_report.h"

namespace lemon {

// The most diagnostics parse_compiler_diagnostics returns (notes count too); past it, one more
// note says how many were left out. The compiler itself stops after kMaxCompilerErrors errors
// (core/extension_compiler.h), so this bounds warnings mostly.
constexpr std::size_t kMaxDiagnostics = 100;

// The diagnostics in `stderr_text`, in order, at most kMaxDiagnostics (then a note that says how
// many more there were); notes attached to a diagnostic follow it. A file named in `file_aliases`
// (as given, or by its base name, as the linker writes it) is reported under the mapped name.
// Never throws.
std::vector<Diagnostic> parse_compiler_diagnostics(
    absl::string_view stderr_text, const std::map<std::string, std::string>& file_aliases = {});

// A kCompileFailed status whose payload holds `diagnostics`.
absl::Status compile_failed_status(absl::string_view message,
                                   const std::vector<Diagnostic>& diagnostics);

// The diagnostics carried by `status`; empty if it carries none.
std::vector<Diagnostic> diagnostics_of(const absl::Status& status);

}  // namespace lemon

#endif  // LEMON_CORE_EXTENSION_COMPILER_DIAGNOSTICS_H_
