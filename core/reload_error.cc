#include "core/reload_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace lemon {
namespace {

constexpr char kPayloadUrl[] = "type.lemon/ReloadError";

}  // namespace

const char* to_string(ReloadError e) {
  switch (e) {
    case ReloadError::kOk:
      return "ok";
    case ReloadError::kNotFound:
      return "not_found";
    case ReloadError::kInUse:
      return "in_use";
    case ReloadError::kBadAbi:
      return "bad_abi";
    case ReloadError::kFingerprintMismatch:
      return "fingerprint_mismatch";
    case ReloadError::kCompileFailed:
      return "compile_failed";
    case ReloadError::kUnchanged:
      return "unchanged";
    case ReloadError::kLoadFailed:
      return "load_failed";
    case ReloadError::kNameMismatch:
      return "name_mismatch";
    case ReloadError::kCodeChangeFailed:
      return "code_change_failed";
    case ReloadError::kSuspendTimeout:
      return "suspend_timeout";
    case ReloadError::kReloadInProgress:
      return "reload_in_progress";
    case ReloadError::kInvalidArgument:
      return "invalid_argument";
    case ReloadError::kPathNotAllowed:
      return "path_not_allowed";
    case ReloadError::kIoError:
      return "io_error";
    case ReloadError::kTimeout:
      return "timeout";
    case ReloadError::kSameVersion:
      return "same_version";
    case ReloadError::kInternal:
      return "internal";
    case ReloadError::kUnauthorized:
      return "unauthorized";
    case ReloadError::kRolledBack:
      return "rolled_back";
    case ReloadError::kSchemaIncompatible:
      return "schema_incompatible";
    case ReloadError::kUnreachable:
      return "unreachable";
  }
  return "internal";
}

absl::StatusCode canonical_code(ReloadError e) {
  switch (e) {
    case ReloadError::kOk:
      return absl::StatusCode::kOk;
    case ReloadError::kNotFound:
      return absl::StatusCode::kNotFound;
    case ReloadError::kInUse:
      return absl::StatusCode::kFailedPrecondition;
    case ReloadError::kBadAbi:
    case ReloadError::kFingerprintMismatch:
    case ReloadError::kNameMismatch:
    case ReloadError::kSameVersion:
    case ReloadError::kSchemaIncompatible:
    case ReloadError::kLoadFailed:
    case ReloadError::kCompileFailed:
      return absl::StatusCode::kFailedPrecondition;
    case ReloadError::kUnchanged:
      return absl::StatusCode::kAlreadyExists;
    case ReloadError::kCodeChangeFailed:
      return absl::StatusCode::kAborted;
    case ReloadError::kSuspendTimeout:
    case ReloadError::kTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case ReloadError::kReloadInProgress:
    case ReloadError::kUnreachable:
      return absl::StatusCode::kUnavailable;
    case ReloadError::kInvalidArgument:
      return absl::StatusCode::kInvalidArgument;
    case ReloadError::kPathNotAllowed:
      return absl::StatusCode::kPermissionDenied;
    case ReloadError::kIoError:
      return absl::StatusCode::kUnavailable;
    case ReloadError::kInternal:
      return absl::StatusCode::kInternal;
    case ReloadError::kUnauthorized:
      return absl::StatusCode::kUnauthenticated;
    case ReloadError::kRolledBack:
      return absl::StatusCode::kAborted;
  }
  return absl::StatusCode::kInternal;
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
