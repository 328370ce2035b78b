// The largest deadlines a reload request may ask for, and the check every entry point applies (the
// JSON-RPC control plane and the reload service's CAF interface), so that no caller can make a
// deadline overflow or outlive the node's other timeouts.
//
//   if (absl::Status s = check_reload_timeouts(req.timeout_ms, req.lock_timeout_ms); !s.ok()) {
//     return s;  // kInvalidArgument naming the field
//   }
#ifndef LEMON_CORE_RELOAD_LIMITS_H_
#define LEMON_CORE_RELOAD_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {

// A reload's per-module deadline (`timeout_ms`): one hour.
inline constexpr uint64_t kMaxReloadTimeoutMs = 3600000;
// The wait for the reload lock (`lock_timeout_ms`): one hour.
inline constexpr uint64_t kMaxLockTimeoutMs = 3600000;

// OK when both deadlines are within their maximum; else kInvalidArgument naming the first field
// over it. 0 is accepted (callers read it as "the default").
inline absl::Status check_reload_timeouts(uint64_t timeout_ms, uint64_t lock_timeout_ms) {
  struct Limit {
    const char* field;
    uint64_t value;
    uint64_t max;
  };
  for (const Limit& l : {Limit{"timeout_ms", timeout_ms, kMaxReloadTimeoutMs},
                         Limit{"lock_timeout_ms", lock_timeout_ms, kMaxLockTimeoutMs}}) {
    if (l.value > l.max) {
      return reload_status(ReloadError::kInvalidArgument,
                           absl::StrCat(l.field, " is ", l.value, "; the maximum is ", l.max));
    }
  }
  return absl::OkStatus();
}

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_LIMITS_H_
