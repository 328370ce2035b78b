#include "core/reload_request.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

constexpr std::pair<ReloadOp, const char*> kOps[] = {
    {ReloadOp::kModule, "module"},
    {ReloadOp::kExtension, "extension"},
    {ReloadOp::kApp, "app"},
    {ReloadOp::kSystem, "all"},
    {ReloadOp::kSelection, "selection"},
    {ReloadOp::kCodeChange, "code_change"},
    {ReloadOp::kSoftPurge, "purge"},
    {ReloadOp::kHardPurge, "hard_purge"},
    {ReloadOp::kRollback, "rollback"},
    {ReloadOp::kRollbackApp, "rollback_app"},
};

ReloadRequest with_target(ReloadOp op, std::string target) {
  ReloadRequest r;
  r.op = op;
  r.target = std::move(target);
  return r;
}

}  // namespace

const char* to_string(ReloadOp op) {
  for (const auto& [o, name] : kOps) {
    if (o == op) return name;
  }
  return "unknown";
}

absl::StatusOr<ReloadOp> parse_reload_op(absl::string_view name) {
  for (const auto& [op, n] : kOps) {
    if (name == n) return op;
  }
  return reload_status(ReloadError::kInvalidArgument,
                       absl::StrCat("unknown reload operation '", name,
                                    "' (module, extension, app, all, selection, code_change, "
                                    "purge, hard_purge, rollback, rollback_app)"));
}

ReloadRequest ReloadRequest::module(std::string name) {
  return with_target(ReloadOp::kModule, std::move(name));
}
ReloadRequest ReloadRequest::extension(std::string path) {
  return with_target(ReloadOp::kExtension, std::move(path));
}
ReloadRequest ReloadRequest::app(std::string name) {
  return with_target(ReloadOp::kApp, std::move(name));
}
ReloadRequest ReloadRequest::system() { return with_target(ReloadOp::kSystem, "all"); }
ReloadRequest ReloadRequest::of(ReloadSelection selection) {
  ReloadRequest r = with_target(ReloadOp::kSelection, "selection");
  r.selection = std::move(selection);
  return r;
}
ReloadRequest ReloadRequest::code_change(std::string actor, std::string extra) {
  ReloadRequest r = with_target(ReloadOp::kCodeChange, std::move(actor));
  r.extra = std::move(extra);
  return r;
}
ReloadRequest ReloadRequest::soft_purge(std::string module) {
  return with_target(ReloadOp::kSoftPurge, std::move(module));
}
ReloadRequest ReloadRequest::hard_purge(std::string module) {
  return with_target(ReloadOp::kHardPurge, std::move(module));
}

ReloadRequest ReloadRequest::rollback(std::string module) {
  return with_target(ReloadOp::kRollback, std::move(module));
}
ReloadRequest ReloadRequest::rollback_app(std::string app) {
  return with_target(ReloadOp::kRollbackApp, std::move(app));
}

ReloadKind report_kind(ReloadOp op) {
  switch (op) {
    case ReloadOp::kModule:
    case ReloadOp::kRollback:
      return ReloadKind::kModule;
    case ReloadOp::kExtension:
      return ReloadKind::kExtension;
    case ReloadOp::kApp:
    case ReloadOp::kRollbackApp:
      return ReloadKind::kApp;
    case ReloadOp::kCodeChange:
      return ReloadKind::kCodeChange;
    case ReloadOp::kSoftPurge:
    case ReloadOp::kHardPurge:
      return ReloadKind::kPurge;
    case ReloadOp::kSystem:
    case ReloadOp::kSelection:
      return ReloadKind::kSystem;
  }
  return ReloadKind::kSystem;
}

absl::Status check_reload_timeouts(uint64_t timeout_ms, uint64_t lock_timeout_ms) {
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

absl::Status check_request(const ReloadRequest& r) {
  if (absl::Status s = check_reload_timeouts(r.timeout_ms, r.lock_timeout_ms); !s.ok()) return s;
  const bool known = parse_reload_op(to_string(r.op)).ok();
  if (!known) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("unknown reload operation ", static_cast<int>(r.op)));
  }
  const ReloadSelection& s = r.selection;
  const size_t items =
      s.modules.size() + s.apps.size() + s.extensions.size() + s.code_changes.size();
  if (items > kMaxSelectionItems) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("the selection names ", items, " items; the most is ", kMaxSelectionItems));
  }
  if (r.op != ReloadOp::kSystem && r.op != ReloadOp::kSelection && r.target.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("a ", to_string(r.op), " reload needs a target"));
  }
  if (r.dry_run && (!r.selection.code_changes.empty() || r.op == ReloadOp::kCodeChange ||
                    r.op == ReloadOp::kSoftPurge || r.op == ReloadOp::kHardPurge)) {
    return reload_status(ReloadError::kInvalidArgument,
                         "a dry run checks module, extension, app and system reloads and "
                         "rollbacks; not code_change targets or purges");
  }
  return absl::OkStatus();
}

}  // namespace lemon
