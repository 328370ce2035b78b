#include "core/reload_report.h"

#include <utility>

namespace lemon {

const char* to_string(ReloadKind k) {
  switch (k) {
    case ReloadKind::kModule: return "module";
    case ReloadKind::kExtension: return "extension";
    case ReloadKind::kApp: return "app";
    case ReloadKind::kSystem: return "system";
    case ReloadKind::kCodeChange: return "code_change";
    case ReloadKind::kPurge: return "purge";
  }
  return "module";
}

const char* to_string(ReloadStatus s) {
  switch (s) {
    case ReloadStatus::kOk: return "ok";
    case ReloadStatus::kPartial: return "partial";
    case ReloadStatus::kError: return "error";
  }
  return "error";
}

ReloadReport ReloadReport::begin(ReloadKind kind, std::string target) {
  ReloadReport r;
  r.kind = kind;
  r.target = std::move(target);
  r.started_at = std::chrono::steady_clock::now();
  return r;
}

void ReloadReport::finish() {
  bool any_error = !errors.empty();
  bool any_skipped = !skipped.empty();
  for (const auto& child : results) {
    any_error = any_error || child.status == ReloadStatus::kError;
    any_skipped = any_skipped || child.status == ReloadStatus::kPartial;
  }
  status = any_error ? ReloadStatus::kError
                     : (any_skipped ? ReloadStatus::kPartial : ReloadStatus::kOk);
  if (started_at != std::chrono::steady_clock::time_point{}) {
    duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            started_at)
                      .count();
  }
}

std::vector<std::string> ReloadReport::all_reloaded() const {
  std::vector<std::string> out = reloaded;
  for (const ReloadReport& child : results) {
    std::vector<std::string> more = child.all_reloaded();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

void ReloadReport::add_error(const std::string& item, const absl::Status& s) {
  errors.push_back(ErrorItem{item, reload_error_of(s), std::string(s.message()), {}});
}

void ReloadReport::add_skipped(const std::string& item, const absl::Status& s) {
  skipped.push_back(SkippedItem{item, reload_error_of(s), std::string(s.message())});
}

}  // namespace lemon
