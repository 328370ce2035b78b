// What core/reloader.cc and core/reloader_prepare.cc share: walking a change's report tree and
// the rules both phases apply. Not a public interface.
#ifndef LEMON_CORE_RELOADER_INTERNAL_H_
#define LEMON_CORE_RELOADER_INTERNAL_H_

#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/module_swapper.h"
#include "core/reload_error.h"
#include "core/reload_report.h"
#include "core/reload_request.h"

namespace lemon {
namespace reloader_internal {

inline bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

inline ReloadReport& at(ReloadReport& root, const std::vector<size_t>& where) {
  ReloadReport* r = &root;
  for (size_t i : where) r = &r->results[i];
  return *r;
}

inline std::vector<size_t> under(std::vector<size_t> prefix, const std::vector<size_t>& rest) {
  prefix.insert(prefix.end(), rest.begin(), rest.end());
  return prefix;
}

inline void mark_rolled_back(ReloadReport& r, const std::string& module, const std::string& what) {
  r.reloaded.erase(std::remove(r.reloaded.begin(), r.reloaded.end(), module), r.reloaded.end());
  r.skipped.push_back({module, ReloadError::kRolledBack, what});
  r.rolled_back = true;
}

// Why a change stops at `r` (a module report that is not ok), e.g. "billing failed
// (code_change_failed)" or "billing was skipped (in_use)".
inline std::string stop_reason(const ReloadReport& r, const std::string& module) {
  if (!r.errors.empty()) {
    return absl::StrCat(module, " failed (", to_string(r.errors.front().reason), ")");
  }
  if (!r.skipped.empty()) {
    return absl::StrCat(module, " was skipped (", to_string(r.skipped.front().reason), ")");
  }
  return absl::StrCat(module, " did not reload");
}

// Adds `swap`'s failure to `r`: its status, then the first per-actor failures (each item
// "<module>/<actor>").
inline void add_swap_failures(ReloadReport& r, const std::string& module, const SwapResult& swap) {
  constexpr std::size_t kMaxActorErrors = 20;  // per-actor failures a report lists
  r.add_error(module, swap.status);
  for (std::size_t i = 0; i < swap.failures.size() && i < kMaxActorErrors; ++i) {
    const ActorFailure& f = swap.failures[i];
    r.errors.push_back(
        {absl::StrCat(module, "/",
                      f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name),
         reload_error_of(swap.status),
         f.message,
         {}});
  }
}

// True if a report reloaded nothing, failed nothing, and skipped only unchanged items.
inline bool only_unchanged(const ReloadReport& r) {
  if (!r.reloaded.empty() || !r.errors.empty() || !r.results.empty()) return false;
  for (const SkippedItem& s : r.skipped) {
    if (s.reason != ReloadError::kUnchanged) return false;
  }
  return true;
}

// finish() on every report of the tree, children first.
inline void finish_tree(ReloadReport& r) {
  for (ReloadReport& child : r.results) finish_tree(child);
  r.finish();
}

// A prepare refusal that is a skip rather than an error. In an all-or-nothing change an old
// version still in use is an error: the change could not be made whole.
inline bool is_skip(const absl::Status& s, bool all_or_nothing) {
  const ReloadError e = reload_error_of(s);
  return e == ReloadError::kUnchanged || (e == ReloadError::kInUse && !all_or_nothing);
}

inline bool is_rollback(ReloadOp op) {
  return op == ReloadOp::kRollback || op == ReloadOp::kRollbackApp;
}

inline bool two_phase(ReloadOp op) {
  return op != ReloadOp::kCodeChange && op != ReloadOp::kSoftPurge && op != ReloadOp::kHardPurge;
}

}  // namespace reloader_internal
}  // namespace lemon

#endif  // LEMON_CORE_RELOADER_INTERNAL_H_
