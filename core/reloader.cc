#include "core/reloader.h"

#include <sys/stat.h>

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/heap_trim.h"
#include "core/module_name.h"
#include "core/reload_error.h"
#include "core/reloader_internal.h"

namespace lemon {
using reloader_internal::add_swap_failures;
using reloader_internal::at;
using reloader_internal::finish_tree;
using reloader_internal::is_file;
using reloader_internal::mark_rolled_back;
using reloader_internal::stop_reason;
using reloader_internal::two_phase;

bool ReloadChange::changes_anything() const {
  if (!two_phase(request_.op) || !request_.selection.code_changes.empty()) return true;
  for (const Group& g : groups_) {
    if (!g.failed && !g.steps.empty()) return true;
  }
  return false;
}

bool ReloadChange::has_step(const std::string& module, const Group& current) const {
  for (const Group& g : groups_) {
    for (const Step& s : g.steps) {
      if (s.module == module) return true;
    }
  }
  return std::any_of(current.steps.begin(), current.steps.end(),
                     [&](const Step& s) { return s.module == module; });
}

Reloader::Reloader(Deps deps, Layout layout) : deps_(deps), layout_(std::move(layout)) {}

absl::StatusOr<AppManifest> Reloader::apps() const {
  if (layout_.apps_manifest.empty()) return AppManifest{};
  return load_app_manifest(layout_.apps_manifest);
}

absl::StatusOr<std::string> Reloader::module_path(const std::string& name) const {
  // Before the name becomes part of a path: `counter\0x` would name the file `counter`.
  if (absl::Status s = check_module_name(name); !s.ok()) return s;
  if (!layout_.modules_dir.empty()) {
    std::string path = absl::StrCat(layout_.modules_dir, "/", name, ".so");
    if (is_file(path)) return path;
  }
  if (ModuleRef current = deps_.code_server->current(name)) {
    if (is_file(current->source_path())) return current->source_path();
  }
  return reload_status(ReloadError::kNotFound,
                       absl::StrCat("no module ", name, " (no file ", layout_.modules_dir, "/",
                                    name, ".so and none loaded)"));
}

// A relative extension path names a file under the first extension root: each cluster node
// compiles its own copy under its own root.
std::string Reloader::extension_source(const std::string& path) const {
  if (path.empty() || path[0] == '/' || layout_.extension_dirs.empty()) return path;
  return absl::StrCat(layout_.extension_dirs.front(), "/", path);
}

absl::StatusOr<ModuleRef> Reloader::load_file(const std::string& path) {
  auto loaded = deps_.code_server->load(path);
  emit_modules();
  return loaded;
}

ReloadReport Reloader::run(const ReloadRequest& request) { return run_from(request, ""); }

ReloadReport Reloader::run_file(const ReloadRequest& request, const std::string& path) {
  if (request.op != ReloadOp::kModule || path.empty()) {
    ReloadReport report = ReloadReport::begin(report_kind(request.op), request.target);
    report.add_error(request.target,
                     reload_status(ReloadError::kInvalidArgument,
                                   "a reload from a given file takes a module and a path"));
    report.finish();
    return report;
  }
  return run_from(request, path);
}

ReloadReport Reloader::run_from(const ReloadRequest& request, const std::string& module_file) {
  ReloadReport report = ReloadReport::begin(report_kind(request.op), request.target);
  if (absl::Status bad = check_request(request); !bad.ok()) {
    report.add_error(request.target, bad);
    report.finish();
    return report;
  }
  const std::string kind = to_string(report.kind);
  Telemetry* telemetry = deps_.telemetry;
  emit_start(kind, request.target);
  try {
    auto guard = deps_.lock->acquire(
        absl::StrCat(request.owner, " (", to_string(request.op), " ", request.target, ")"),
        absl::Milliseconds(request.lock_timeout_ms));
    if (!guard.ok()) {
      report.add_error(request.target, guard.status());
      report.finish();
    } else {
      std::unique_ptr<ReloadChange> change =
          prepare_from(request, /*all_or_nothing=*/false, module_file);
      commit_locked(*change);
      report = std::move(change->report_);
      report.lock_token = guard->token();
      report.metadata["lock_token"] = std::to_string(guard->token());
    }
    record_history(request, report);
    // reload.stop is emitted while the lock is still held, so that observers see operations as
    // disjoint intervals.
    emit_modules();
    emit_stop(kind, request.target, report, report.duration_ms / 1e3);
    if (guard.ok()) guard->release();
    // A reload is a memory peak (messages kept while actors were suspended, every actor's state
    // held twice); malloc keeps what was freed, so the free pages are given back, in the
    // background and after the lock (core/heap_trim.h).
    request_heap_trim();
    return report;
  } catch (const std::exception& e) {
    // The guard was released while unwinding: the next reload can proceed.
    report.errors.push_back(
        {request.target, ReloadError::kInternal, absl::StrCat("reload threw: ", e.what()), {}});
    report.finish();
    emit_modules();
    if (telemetry) {
      telemetry->emit({kReloadException,
                       {{"duration_seconds", report.duration_ms / 1e3}},
                       {{"kind", kind},
                        {"target", request.target},
                        {"reason", "internal"},
                        {"message", e.what()}}});
    }
    return report;
  }
}

void Reloader::commit(ReloadChange& change) {
  const std::string kind = to_string(change.report_.kind);
  const std::string& target = change.request_.target;
  emit_start(kind, target);
  const auto started = std::chrono::steady_clock::now();
  commit_locked(change);
  record_history(change.request_, change.report_);
  emit_modules();
  emit_stop(kind, target, change.report_,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void Reloader::emit_start(const std::string& kind, const std::string& target) {
  if (deps_.telemetry) {
    deps_.telemetry->emit({kReloadStart, {}, {{"kind", kind}, {"target", target}}});
  }
}

void Reloader::emit_stop(const std::string& kind, const std::string& target,
                         const ReloadReport& report, double seconds) {
  if (!deps_.telemetry) return;
  TelemetryEvent e{kReloadStop,
                   {{"duration_seconds", seconds}},
                   {{"kind", kind}, {"target", target}, {"status", to_string(report.status)}}};
  if (report.lock_token != 0) e.metadata["lock_token"] = std::to_string(report.lock_token);
  deps_.telemetry->emit(e);
}

void Reloader::commit_locked(ReloadChange& c) {
  if (c.committed_) return;
  c.committed_ = true;
  if (c.request_.dry_run) {
    c.report_.metadata["dry_run"] = "true";
    return finish_tree(c.report_);
  }
  if (!c.ok_ && c.all_or_nothing_) return finish_tree(c.report_);
  std::string stopped;  // the first failure: it stops its group (or, all or nothing, everything)
  for (Group& g : c.groups_) {
    if (g.failed) continue;
    if (!c.all_or_nothing_) stopped.clear();
    for (Step& s : g.steps) {
      ReloadReport& r = at(c.report_, s.where);
      if (!stopped.empty()) {
        r.skipped.push_back({s.module, ReloadError::kRolledBack, "not attempted: " + stopped});
        continue;
      }
      if (!commit_step(c, s)) {
        stopped = stop_reason(r, s.module);
        if (g.app) at(c.report_, g.where).metadata["stopped_by"] = s.module;
      }
    }
    if (!c.all_or_nothing_ && !stopped.empty()) undo(c, g, stopped);
  }
  if (c.all_or_nothing_ && !stopped.empty()) {
    for (size_t k = c.groups_.size(); k-- > 0;) undo(c, c.groups_[k], stopped);
  }
  record_releases(c);
  run_direct(c);
  finish_tree(c.report_);
}

bool Reloader::commit_step(ReloadChange& c, Step& s) {
  ReloadReport& r = at(c.report_, s.where);
  CodeServer& cs = *deps_.code_server;
  if (c.request_.force) {
    ModuleRef old = cs.old(s.module);
    if (old && old->actor_count() > 0 && old != s.before) {
      auto stopped = cs.purge(s.module);
      if (!stopped.ok()) {
        r.add_error(s.module, stopped.status());
        return false;
      }
      r.metadata["purged_actors"] = std::to_string(*stopped);
    }
  }
  if (!s.before) {
    if (absl::Status st = cs.commit(s.next); !st.ok()) {
      r.add_error(s.module, st);
      return false;
    }
    s.done = true;
    r.reloaded.push_back(s.module);
    return true;
  }
  SwapOptions options;
  options.extra = c.request_.extra;
  options.suspend_timeout = absl::Milliseconds(c.request_.timeout_ms);
  options.downgrade = s.downgrade;
  SwapResult swap = deps_.swapper->swap(s.next, options);
  emit_swap(swap);
  double max_pause = 0;
  for (double p : swap.pause_seconds) max_pause = std::max(max_pause, p);
  r.metadata["actors"] = std::to_string(swap.actors);
  r.metadata["deferred_actors"] = std::to_string(swap.deferred);
  r.metadata["max_pause_ms"] = absl::StrCat(max_pause * 1e3);
  r.metadata["swap_ms"] = absl::StrCat(swap.duration_ms);
  r.metadata["prepare_ms"] = absl::StrCat(swap.prepare_ms);
  r.metadata["resume_ms"] = absl::StrCat(swap.resume_ms);
  if (!swap.status.ok()) {
    add_swap_failures(r, s.module, swap);
    return false;
  }
  s.done = true;
  r.reloaded.push_back(s.module);
  return true;
}

// Undoes what `g`'s committed steps changed, newest first: swap back to the previous version, or
// unload a module that the change loaded for the first time.
void Reloader::undo(ReloadChange& c, Group& g, const std::string& because) {
  for (size_t k = g.steps.size(); k-- > 0;) {
    Step& s = g.steps[k];
    if (!s.done) continue;
    ReloadReport& r = at(c.report_, s.where);
    if (!s.before) {
      absl::Status st = deps_.code_server->unload(s.module);
      if (st.ok()) {
        s.done = false;
        mark_rolled_back(r, s.module, "loaded, then unloaded because " + because);
      } else {
        r.errors.push_back(
            {s.module,
             reload_error_of(st),
             absl::StrCat("rollback (unload of the first load) failed: ", st.message()),
             {}});
      }
      continue;
    }
    SwapOptions back;
    back.suspend_timeout = absl::Milliseconds(c.request_.timeout_ms);
    back.downgrade = !s.downgrade;
    SwapResult result = deps_.swapper->swap(s.before, back);
    emit_swap(result);
    if (result.status.ok()) {
      s.done = false;
      mark_rolled_back(r, s.module, "swapped, then undone because " + because);
    } else {
      r.errors.push_back({s.module,
                          reload_error_of(result.status),
                          absl::StrCat("rollback to version ", s.before->version(),
                                       " failed: ", result.status.message()),
                          {}});
    }
  }
}

void Reloader::rollback(ReloadChange& change) {
  for (size_t k = change.groups_.size(); k-- > 0;) {
    undo(change, change.groups_[k], "another node failed");
  }
  finish_tree(change.report_);
  change.report_.rolled_back = true;
  for (const Group& g : change.groups_) {
    for (const Step& s : g.steps) {
      change.report_.rolled_back &= !s.done;
      if (!s.done && s.before && deps_.releases) restore_release(s.module, *s.before);
    }
  }
  emit_modules();
}

void Reloader::restore_release(const std::string& module, const LoadedModule& before) {
  // The version the commit replaced is what boots again, with the cluster commit it came from.
  std::optional<Release> was = deps_.releases->with_checksum(module, before.checksum());
  (void)deps_.releases->record(before, true, was ? was->cluster_seq : 0);
}

void Reloader::code_change_target(const ReloadRequest& request, const CodeChangeTarget& target,
                                  ReloadReport& r) {
  SwapOptions options;
  options.extra = target.extra.empty() ? request.extra : target.extra;
  options.suspend_timeout = absl::Milliseconds(request.timeout_ms);
  SwapResult swap = deps_.swapper->change_code(target.actor, options);
  emit_swap(swap);
  r.metadata["module"] = swap.module;
  r.metadata["version"] = swap.to_version;
  if (!swap.status.ok()) {
    r.add_error(target.actor, swap.status);
    for (const ActorFailure& f : swap.failures) {
      r.errors.push_back({target.actor, reload_error_of(swap.status), f.message, {}});
    }
    return;
  }
  r.reloaded.push_back(target.actor);
}

void Reloader::run_direct(ReloadChange& c) {
  const ReloadRequest& req = c.request_;
  ReloadReport& r = c.report_;
  CodeServer& cs = *deps_.code_server;
  if (req.op == ReloadOp::kCodeChange) {
    return code_change_target(req, {req.target, req.extra}, r);
  }
  if (req.op == ReloadOp::kSoftPurge || req.op == ReloadOp::kHardPurge) {
    ModuleRef old = cs.old(req.target);
    if (req.op == ReloadOp::kSoftPurge) {
      absl::Status s = cs.soft_purge(req.target);
      if (reload_error_of(s) == ReloadError::kInUse) return r.add_skipped(req.target, s);
      if (!s.ok()) return r.add_error(req.target, s);
    } else {
      auto stopped = cs.purge(req.target);
      if (!stopped.ok()) return r.add_error(req.target, stopped.status());
      r.metadata["hard"] = "true";
      r.metadata["stopped_actors"] = std::to_string(*stopped);
    }
    r.metadata["purged_version"] = old ? old->version() : "";
    if (old) r.reloaded.push_back(req.target);
    return;
  }
  if (c.all_or_nothing_) return;
  for (const CodeChangeTarget& target : req.selection.code_changes) {
    ReloadReport child = ReloadReport::begin(ReloadKind::kCodeChange, target.actor);
    if (target.actor.empty()) {
      child.add_error(target.actor,
                      reload_status(ReloadError::kInvalidArgument, "code_change needs an actor"));
    } else {
      code_change_target(req, target, child);
    }
    r.results.push_back(std::move(child));
  }
}

void Reloader::emit_swap(const SwapResult& swap) {
  if (!deps_.telemetry) return;
  // One event object for all of them: 100,000 actors make 100,000 events.
  TelemetryEvent event{kActorSuspend, {{"duration_seconds", 0.0}}, {{"module", swap.module}}};
  double& duration = event.measurements.begin()->second;
  for (double pause : swap.pause_seconds) {
    duration = pause;
    deps_.telemetry->emit(event);
  }
}

void Reloader::emit_modules() {
  if (!deps_.telemetry) return;
  absl::MutexLock lock(&emit_mu_);
  auto& known = known_versions_;
  std::set<std::pair<std::string, std::string>> now;
  for (const ModuleStatus& m : deps_.code_server->list()) {
    now.insert({m.name, m.current->version()});
    if (m.old) now.insert({m.name, m.old->version()});
  }
  for (const auto& [module, version] : now) {
    if (known.count({module, version}) == 0) {
      deps_.telemetry->emit({kModuleLoaded, {}, {{"module", module}, {"version", version}}});
    }
  }
  for (const auto& [module, version] : known) {
    if (now.count({module, version}) == 0) {
      deps_.telemetry->emit({kModulePurged, {}, {{"module", module}, {"version", version}}});
    }
  }
  known = std::move(now);
  std::map<std::string, std::size_t> counts = deps_.swapper->actor_counts();
  for (const ModuleStatus& m : deps_.code_server->list()) {
    deps_.telemetry->emit(
        {kActorsCount, {{"count", static_cast<double>(counts[m.name])}}, {{"module", m.name}}});
  }
}

}  // namespace lemon