// Lemon's one error enum for reload outcomes: stable numbers, each with a one-line meaning.
//
// Errors cross Lemon's APIs as absl::Status; the ReloadError travels in the status payload so that
// callers (the control plane, reports, metrics) can name it exactly:
//
//   absl::Status s = reload_status(ReloadError::kInUse, "3 actors still run counter 1");
//   ReloadError e = reload_error_of(s);   // kInUse
//   to_string(e);                         // "in_use"
#ifndef LEMON_CORE_RELOAD_ERROR_H_
#define LEMON_CORE_RELOAD_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lemon {

// Numbers are stable: they appear in JSON-RPC error data and logs. Append only.
enum class ReloadError : int {
  kOk = 0,                   // nothing went wrong
  kNotFound = 1,             // no such module, app, extension file or actor
  kInUse = 2,                // old code is still run by actors (soft purge refused)
  kBadAbi = 3,               // the shared object is not a Lemon module of this ABI version
  kFingerprintMismatch = 4,  // built against another CAF, compiler, sanitizer or Protobuf
  kCompileFailed = 5,        // the extension did not compile; diagnostics attached
  kUnchanged = 6,            // the same bytes are already the current version
  kLoadFailed = 7,           // dlopen failed (not ELF, truncated, unresolved symbol, ...)
  kNameMismatch = 8,         // the module inside the file has another name than expected
  kCodeChangeFailed = 9,     // an actor's code_change threw or returned an error
  kSuspendTimeout = 10,      // an actor did not acknowledge suspension before the deadline
  kReloadInProgress = 11,    // the reload lock was not acquired before the deadline
  kInvalidArgument = 12,     // malformed request: empty path, unknown scope, ...
  kPathNotAllowed = 13,      // an extension path outside the roots, or a path others could change
  kIoError = 14,             // copying or reading a file failed (disk full, permissions)
  kTimeout = 15,             // an operation (compile, reload) exceeded its deadline
  kSameVersion = 16,         // new bytes but the same version string as the current one
  kInternal = 17,            // a broken invariant inside Lemon
  kUnauthorized = 18,        // control plane: missing or wrong token
  kRolledBack = 19,          // undone because another part of the same app/system reload failed
  kSchemaIncompatible = 20,  // the new version's Protobuf schema breaks the current one's
  kUnreachable = 21,         // a known cluster member was down and took no part
};

// The highest ReloadError value (for checks of numbers read back).
inline constexpr ReloadError kLastReloadError = ReloadError::kUnreachable;

// Stable snake_case name, e.g. "in_use".
const char* to_string(ReloadError e);

// The absl canonical code that best matches `e`.
absl::StatusCode canonical_code(ReloadError e);

// A status with canonical_code(e), `message`, and `e` in its payload.
absl::Status reload_status(ReloadError e, absl::string_view message);

// The ReloadError carried by `s`; kOk for OK, kInternal for a status made elsewhere.
ReloadError reload_error_of(const absl::Status& s);

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_ERROR_H_
