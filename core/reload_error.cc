#include "core/reload_error.h"

#include <cstddef>
#include <iterator>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace lemon {
namespace {

constexpr char kPayloadUrl[] = "type.lemon/ReloadError";

// One row per ReloadError, in the order of their numbers (checked below): its name and the absl
// canonical code that best matches it.
struct ErrorInfo {
  ReloadError error;
  const char* name;
  absl::StatusCode code;
};

constexpr ErrorInfo kErrors[] = {
    {ReloadError::kOk, "ok", absl::StatusCode::kOk},
    {ReloadError::kNotFound, "not_found", absl::StatusCode::kNotFound},
    {ReloadError::kInUse, "in_use", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kBadAbi, "bad_abi", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kFingerprintMismatch, "fingerprint_mismatch",
     absl::StatusCode::kFailedPrecondition},
    {ReloadError::kCompileFailed, "compile_failed", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kUnchanged, "unchanged", absl::StatusCode::kAlreadyExists},
    {ReloadError::kLoadFailed, "load_failed", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kNameMismatch, "name_mismatch", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kCodeChangeFailed, "code_change_failed", absl::StatusCode::kAborted},
    {ReloadError::kSuspendTimeout, "suspend_timeout", absl::StatusCode::kDeadlineExceeded},
    {ReloadError::kReloadInProgress, "reload_in_progress", absl::StatusCode::kUnavailable},
    {ReloadError::kInvalidArgument, "invalid_argument", absl::StatusCode::kInvalidArgument},
    {ReloadError::kPathNotAllowed, "path_not_allowed", absl::StatusCode::kPermissionDenied},
    {ReloadError::kIoError, "io_error", absl::StatusCode::kUnavailable},
    {ReloadError::kTimeout, "timeout", absl::StatusCode::kDeadlineExceeded},
    {ReloadError::kSameVersion, "same_version", absl::StatusCode::kFailedPrecondition},
    {ReloadError::kInternal, "internal", absl::StatusCode::kInternal},
    {ReloadError::kUnauthorized, "unauthorized", absl::StatusCode::kUnauthenticated},
    {ReloadError::kRolledBack, "rolled_back", absl::StatusCode::kAborted},
    {ReloadError::kSchemaIncompatible, "schema_incompatible",
     absl::StatusCode::kFailedPrecondition},
    {ReloadError::kUnreachable, "unreachable", absl::StatusCode::kUnavailable},
};

constexpr bool rows_in_number_order() {
  for (size_t i = 0; i < std::size(kErrors); ++i) {
    if (static_cast<size_t>(kErrors[i].error) != i) return false;
  }
  return true;
}
static_assert(std::size(kErrors) == static_cast<size_t>(kLastReloadError) + 1,
              "one row per ReloadError");
static_assert(rows_in_number_order(), "row i is ReloadError i");

// The row of `e`, or nullptr for a number outside the enum.
const ErrorInfo* info(ReloadError e) {
  const auto n = static_cast<size_t>(e);
  return n < std::size(kErrors) ? &kErrors[n] : nullptr;
}

}  // namespace

const char* to_string(ReloadError e) {
  const ErrorInfo* row = info(e);
  return row ? row->name : "internal";
}

absl::StatusCode canonical_code(ReloadError e) {
  const ErrorInfo* row = info(e);
  return row ? row->code : absl::StatusCode::kInternal;
}

absl::Status reload_status(ReloadError e, absl::string_view message) {
  if (e == ReloadError::kOk) return absl::OkStatus();
  absl::Status s(canonical_code(e), message);
  s.SetPayload(kPayloadUrl, absl::Cord(std::to_string(static_cast<int>(e))));
  return s;
}

ReloadError reload_error_of(const absl::Status& s) {
  if (s.ok()) return ReloadError::kOk;
  auto payload = s.GetPayload(kPayloadUrl);
  int n = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &n)) return ReloadError::kInternal;
  if (n < 0 || n > static_cast<int>(kLastReloadError)) {
    return ReloadError::kInternal;
  }
  return static_cast<ReloadError>(n);
}

}  // namespace lemon
