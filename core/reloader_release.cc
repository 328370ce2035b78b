// Reloader: the release side of a reload. The pre-flight before anyone is held, rollbacks to the
// previous version, the permanent versions a node boots, and the history of reloads.
#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/reload_error.h"
#include "core/reloader.h"
#include "core/reloader_internal.h"

namespace lemon {

using reloader_internal::add_swap_failures;
using reloader_internal::at;
using reloader_internal::mark_rolled_back;
using reloader_internal::stop_reason;

absl::StatusOr<ModuleRef> Reloader::previous_version(const std::string& name) const {
  CodeServer& cs = *deps_.code_server;
  if (!cs.current(name)) {
    return reload_status(ReloadError::kNotFound, absl::StrCat("no module ", name, " is loaded"));
  }
  ModuleRef old = cs.old(name);
  std::optional<Release> target =
      deps_.releases ? deps_.releases->rollback_target(name) : std::nullopt;
  if (!target) {
    if (old) return old;
    return reload_status(ReloadError::kNotFound,
                         absl::StrCat("module ", name, " has no previous version"));
  }
  if (old && old->checksum() == target->checksum) return old;
  // The old version is gone (purged, or this node restarted): the previous one's private copy.
  return cs.prepare(target->copy, name);
}

void Reloader::prepare_rollback(ReloadChange& c, Group& g, const std::string& name,
                                std::vector<size_t> where) {
  ReloadReport& r = at(c.report_, where);
  r.metadata["rollback"] = "true";
  absl::StatusOr<ModuleRef> previous = previous_version(name);
  if (!previous.ok()) {
    g.failed = true;
    return r.add_error(name, previous.status());
  }
  add_step(c, g, *std::move(previous), std::move(where), name);
}

void Reloader::preflight(ReloadChange& c) {
  for (Group& g : c.groups_) {
    if (g.failed) continue;
    std::string stopped;  // the first failure: the group fails whole, as in a commit
    size_t failed_at = g.steps.size();
    for (size_t k = 0; k < g.steps.size(); ++k) {
      Step& s = g.steps[k];
      ReloadReport& r = at(c.report_, s.where);
      if (!stopped.empty()) {
        r.skipped.push_back({s.module, ReloadError::kRolledBack, "not attempted: " + stopped});
        continue;
      }
      if (!s.before) continue;  // a first load: no actor runs the module yet
      SwapOptions options;
      options.extra = c.request_.extra;
      options.suspend_timeout = absl::Milliseconds(c.request_.timeout_ms);
      options.downgrade = s.downgrade;
      SwapResult checked = deps_.swapper->preflight(s.next, options, c.request_.sample);
      r.metadata["preflight_actors"] = std::to_string(checked.actors);
      r.metadata["preflight_failed"] = std::to_string(checked.failures.size());
      if (checked.status.ok()) continue;
      add_swap_failures(r, s.module, checked);
      stopped = stop_reason(r, s.module);
      failed_at = k;
      if (g.app) at(c.report_, g.where).metadata["stopped_by"] = s.module;
    }
    if (stopped.empty()) continue;
    g.failed = true;
    for (size_t k = 0; k < failed_at; ++k) {
      mark_rolled_back(at(c.report_, g.steps[k].where), g.steps[k].module,
                       "prepared, then not committed because " + stopped);
    }
  }
}

void Reloader::record_releases(ReloadChange& c) {
  if (!deps_.releases) return;
  const bool permanent = c.request_.permanent || reloader_internal::is_rollback(c.request_.op);
  for (Group& g : c.groups_) {
    for (Step& s : g.steps) {
      if (!s.done) continue;
      absl::Status recorded = deps_.releases->record(*s.next, permanent, c.request_.cluster_seq);
      ReloadReport& r = at(c.report_, s.where);
      r.metadata["release"] = permanent ? "permanent" : "provisional";
      if (!recorded.ok()) {
        r.errors.push_back({s.module,
                            reload_error_of(recorded),
                            absl::StrCat("reloaded, but not recorded as the version to boot: ",
                                         recorded.message()),
                            {}});
      }
    }
  }
}

absl::StatusOr<ModuleRef> Reloader::boot_module(const std::string& name, const std::string& path) {
  std::optional<Release> release = deps_.releases ? deps_.releases->permanent(name) : std::nullopt;
  if (release) return load_file(release->copy);
  if (path.empty()) {
    return reload_status(ReloadError::kNotFound, absl::StrCat("no module ", name, " to boot"));
  }
  absl::StatusOr<ModuleRef> loaded = load_file(path);
  if (loaded.ok() && deps_.releases) {
    if (absl::Status s = deps_.releases->record(**loaded, true); !s.ok()) return s;
  }
  return loaded;
}

absl::Status Reloader::make_permanent(const std::vector<std::string>& modules) {
  if (!deps_.releases) {
    return reload_status(ReloadError::kInvalidArgument, "this node keeps no release record");
  }
  absl::Status first;
  for (const std::string& m : modules) first.Update(deps_.releases->make_permanent(m));
  return first;
}

namespace {

// The modules a report names: what it reloaded, skipped or failed, over the whole tree.
void named_modules(const ReloadReport& r, std::set<std::string>& out) {
  for (const std::string& m : r.reloaded) out.insert(m);
  for (const SkippedItem& s : r.skipped) out.insert(s.target);
  for (const ErrorItem& e : r.errors) out.insert(e.target.substr(0, e.target.find('/')));
  for (const ReloadReport& child : r.results) named_modules(child, out);
}

}  // namespace

void Reloader::record_history(const ReloadRequest& request, const ReloadReport& report) {
  if (!deps_.history) return;
  HistoryEntry e;
  e.time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  e.requested_by = request.requested_by;
  e.op = to_string(request.op);
  e.target = request.target;
  e.params = {{"dry_run", request.dry_run ? "true" : "false"},
              {"permanent", request.permanent ? "true" : "false"},
              {"force", request.force ? "true" : "false"},
              {"sample", std::to_string(request.sample)},
              {"timeout_ms", std::to_string(request.timeout_ms)},
              {"extra", request.extra}};
  const ReloadSelection& sel = request.selection;
  if (!sel.modules.empty()) e.params["modules"] = absl::StrJoin(sel.modules, ",");
  if (!sel.apps.empty()) e.params["apps"] = absl::StrJoin(sel.apps, ",");
  if (!sel.extensions.empty()) e.params["extensions"] = absl::StrJoin(sel.extensions, ",");
  e.status = to_string(report.status);
  std::set<std::string> modules;
  named_modules(report, modules);
  e.modules.assign(modules.begin(), modules.end());
  for (const ReloadReport* r = &report; r != nullptr && e.error.empty();) {
    if (!r->errors.empty()) e.error = r->errors.front().message;
    r = r->results.empty() ? nullptr : &r->results.front();
  }
  (void)deps_.history->append(std::move(e));
}

}  // namespace lemon
