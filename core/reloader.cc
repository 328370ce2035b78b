#include "core/reloader.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/extension_compiler_diagnostics.h"
#include "core/heap_trim.h"
#include "core/module_name.h"
#include "core/reload_error.h"
#include "core/sha256.h"

namespace lemon {
namespace {

// How many per-actor failures a report lists (the rest are counted in the message).
constexpr std::size_t kMaxActorErrors = 20;

bool is_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> files_with_suffix(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix) &&
        is_file(dir + "/" + name)) {
      out.push_back(name);
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// True if `path`'s bytes are those of `name`'s current version.
bool unchanged(const CodeServer& cs, const std::string& name, const std::string& path) {
  ModuleRef current = cs.current(name);
  if (!current) return false;
  auto sum = sha256_file(path);
  return sum.ok() && *sum == current->checksum();
}

void mark_rolled_back(ReloadReport& child, const std::string& module, const std::string& what) {
  child.reloaded.erase(std::remove(child.reloaded.begin(), child.reloaded.end(), module),
                       child.reloaded.end());
  child.skipped.push_back({module, ReloadError::kRolledBack, what});
  child.metadata["rolled_back"] = "true";
  child.finish();
}

// Why an app reload stops at `child` (a module report that is not ok), e.g. "billing failed
// (code_change_failed)" or "billing was skipped (in_use)".
std::string stop_reason(const ReloadReport& child) {
  if (!child.errors.empty()) {
    return absl::StrCat(child.target, " failed (", to_string(child.errors.front().reason), ")");
  }
  if (!child.skipped.empty()) {
    return absl::StrCat(child.target, " was skipped (", to_string(child.skipped.front().reason),
                        ")");
  }
  return absl::StrCat(child.target, " did not reload");
}

// True if a report reloaded nothing, failed nothing, and skipped only unchanged items.
bool only_unchanged(const ReloadReport& r) {
  if (!r.reloaded.empty() || !r.errors.empty() || !r.results.empty()) return false;
  for (const SkippedItem& s : r.skipped) {
    if (s.reason != ReloadError::kUnchanged) return false;
  }
  return true;
}

}  // namespace

Reloader::Reloader(Deps deps, Layout layout) : deps_(deps), layout_(std::move(layout)) {
  ModuleSwapper* swapper = deps_.swapper;
  deps_.code_server->set_purge_hook([swapper](const ModuleRef& version) {
    return swapper->stop_actors(version, absl::Seconds(30));
  });
}

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

absl::StatusOr<ModuleRef> Reloader::load_file(const std::string& path) {
  auto loaded = deps_.code_server->load(path);
  emit_modules();
  return loaded;
}

template <class Body>
ReloadReport Reloader::run(ReloadKind kind, const std::string& target,
                           const ReloadOptions& options, Body body) {
  ReloadReport report = ReloadReport::begin(kind, target);
  const std::string kind_name = to_string(kind);
  Telemetry* telemetry = deps_.telemetry;
  if (telemetry) telemetry->emit({kReloadStart, {}, {{"kind", kind_name}, {"target", target}}});
  // reload.stop is emitted while the lock is still held, so that observers see operations as
  // disjoint intervals.
  auto stop = [&] {
    report.finish();
    emit_modules();
    if (!telemetry) return;
    TelemetryEvent e{kReloadStop,
                     {{"duration_seconds", report.duration_ms / 1e3}},
                     {{"kind", kind_name}, {"target", target}, {"status", to_string(report.status)}}};
    auto token = report.metadata.find("lock_token");
    if (token != report.metadata.end()) e.metadata["lock_token"] = token->second;
    telemetry->emit(e);
  };
  try {
    auto guard = deps_.lock->acquire(absl::StrCat(options.owner, " (", kind_name, " ", target, ")"),
                                     options.lock_timeout);
    if (!guard.ok()) {
      report.add_error(target, guard.status());
      stop();
      return report;
    }
    report.metadata["lock_token"] = std::to_string(guard->token());
    body(report);
    stop();
    guard->release();
    // A reload is a memory peak (messages kept while actors were suspended, every actor's state
    // held twice); malloc keeps what was freed, so the free pages are given back, or RSS ratchets
    // up with every reload (core/heap_trim.h, docs/reliability.md). In the background, after the
    // lock: never part of the reload's duration.
    request_heap_trim();
    return report;
  } catch (const std::exception& e) {
    // The guard was released while unwinding: the next reload can proceed.
    report.errors.push_back({target, ReloadError::kInternal,
                             absl::StrCat("reload threw: ", e.what()), {}});
    report.finish();
    emit_modules();
    if (telemetry) {
      telemetry->emit({kReloadException,
                       {{"duration_seconds", report.duration_ms / 1e3}},
                       {{"kind", kind_name},
                        {"target", target},
                        {"reason", "internal"},
                        {"message", e.what()}}});
    }
    return report;
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

void Reloader::module_locked(const std::string& name, const std::string& given_path,
                             const ReloadOptions& options, ReloadReport& r,
                             std::vector<Undo>* undo) {
  std::string path = given_path;
  if (path.empty()) {
    auto p = module_path(name);
    if (!p.ok()) return r.add_error(name, p.status());
    path = *p;
  }
  r.metadata["path"] = path;
  CodeServer& cs = *deps_.code_server;
  auto prepared = cs.prepare(path, name);
  if (!prepared.ok() && reload_error_of(prepared.status()) == ReloadError::kInUse &&
      options.force) {
    auto stopped = cs.purge(name);
    if (!stopped.ok()) return r.add_error(name, stopped.status());
    r.metadata["purged_actors"] = std::to_string(*stopped);
    prepared = cs.prepare(path, name);
  }
  if (!prepared.ok()) {
    const ReloadError e = reload_error_of(prepared.status());
    if (e == ReloadError::kUnchanged || e == ReloadError::kInUse) {
      return r.add_skipped(name, prepared.status());
    }
    return r.add_error(name, prepared.status());
  }
  ModuleRef before = cs.current(name);
  r.metadata["to_version"] = (*prepared)->version();
  if (!before) {
    if (auto s = cs.commit(*prepared); !s.ok()) return r.add_error(name, s);
    r.reloaded.push_back(name);
    if (undo) undo->push_back({name, nullptr});
    return;
  }
  r.metadata["from_version"] = before->version();
  SwapOptions swap_options;
  swap_options.extra = options.extra;
  swap_options.suspend_timeout = options.timeout;
  SwapResult swap = deps_.swapper->swap(*prepared, swap_options);
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
    r.add_error(name, swap.status);
    for (std::size_t i = 0; i < swap.failures.size() && i < kMaxActorErrors; ++i) {
      const ActorFailure& f = swap.failures[i];
      r.errors.push_back(
          {absl::StrCat(name, "/", f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name),
           reload_error_of(swap.status), f.message, {}});
    }
    return;
  }
  r.reloaded.push_back(name);
  if (undo) undo->push_back({name, before});
}

absl::StatusOr<std::string> Reloader::module_name_in(const std::string& path) {
  // Released before any real load. A refusal with in_use names the module (the code server read
  // the name before it found the old version still in use).
  auto probe = deps_.code_server->prepare(path);
  if (probe.ok()) return (*probe)->name();
  std::string in_use = in_use_module(probe.status());
  if (!in_use.empty()) return in_use;
  return probe.status();
}

void Reloader::extension_locked(const std::string& path, const ReloadOptions& options,
                                ReloadReport& r) {
  if (path.empty()) {
    return r.add_error(path, reload_status(ReloadError::kInvalidArgument, "empty extension path"));
  }
  if (deps_.compiler == nullptr) {
    return r.add_error(path, reload_status(ReloadError::kInvalidArgument,
                                           "this node has no extension roots configured"));
  }
  auto compiled = deps_.compiler->compile(path);
  if (!compiled.ok()) {
    r.errors.push_back({path, reload_error_of(compiled.status()),
                        std::string(compiled.status().message()),
                        diagnostics_of(compiled.status())});
    return;
  }
  r.metadata["compiled_ms"] = absl::StrCat(compiled->compile_ms);
  r.metadata["cached"] = compiled->cached ? "true" : "false";
  r.metadata["so_path"] = compiled->so_path;
  // The module name is inside the compiled file; then it is reloaded by name, as a module (with
  // `force` applying to an old version in use).
  auto name = module_name_in(compiled->so_path);
  if (!name.ok()) {
    const ReloadError e = reload_error_of(name.status());
    if (e == ReloadError::kUnchanged || e == ReloadError::kInUse) {
      return r.add_skipped(path, name.status());
    }
    return r.add_error(path, name.status());
  }
  r.metadata["module"] = *name;
  module_locked(*name, compiled->so_path, options, r, nullptr);
}

void Reloader::app_locked(const AppSpec& app, const ReloadOptions& options, ReloadReport& r) {
  std::vector<Undo> undo;  // what the modules reloaded so far changed
  std::vector<std::string> unchanged_modules;
  std::string stopped;  // why the app stopped: a child that failed or skipped something
  for (const std::string& module : app.modules) {
    if (!stopped.empty()) {
      r.skipped.push_back({module, ReloadError::kRolledBack, "not attempted: " + stopped});
      continue;
    }
    auto path = module_path(module);
    if (path.ok() && unchanged(*deps_.code_server, module, *path)) {
      unchanged_modules.push_back(module);
      continue;
    }
    ReloadReport child = ReloadReport::begin(ReloadKind::kModule, module);
    const std::size_t before = undo.size();
    module_locked(module, path.ok() ? *path : "", options, child, &undo);
    child.finish();
    if (undo.size() > before) undo.back().child = r.results.size();
    // All or nothing: a module skipped (in_use, say) stops the app as a failed one does.
    if (child.status != ReloadStatus::kOk) {
      stopped = stop_reason(child);
      r.metadata["stopped_by"] = module;
    }
    r.results.push_back(std::move(child));
  }
  if (!unchanged_modules.empty()) {
    std::string list;
    for (const auto& m : unchanged_modules) absl::StrAppend(&list, list.empty() ? "" : ",", m);
    r.metadata["unchanged"] = list;
  }
  if (stopped.empty()) return;
  // Undo what the modules before it changed, newest first: swap back to the previous version, or
  // unload a module that this reload loaded for the first time.
  for (std::size_t k = undo.size(); k-- > 0;) {
    const Undo& u = undo[k];
    ReloadReport& child = r.results[u.child];
    if (!u.previous) {
      absl::Status s = deps_.code_server->unload(u.module);
      if (s.ok()) {
        mark_rolled_back(child, u.module, "loaded, then unloaded because " + stopped);
      } else {
        r.errors.push_back({u.module, reload_error_of(s),
                            absl::StrCat("rollback (unload of the first load) failed: ",
                                         s.message()),
                            {}});
      }
      continue;
    }
    SwapOptions back;
    back.suspend_timeout = options.timeout;
    SwapResult result = deps_.swapper->swap(u.previous, back);
    emit_swap(result);
    if (result.status.ok()) {
      mark_rolled_back(child, u.module, "swapped, then undone because " + stopped);
    } else {
      r.errors.push_back({u.module, reload_error_of(result.status),
                          absl::StrCat("rollback to version ", u.previous->version(),
                                       " failed: ", result.status.message()),
                          {}});
    }
  }
}

void Reloader::system_locked(const ReloadOptions& options, ReloadReport& r) {
  auto manifest = apps();
  if (!manifest.ok()) return r.add_error(layout_.apps_manifest, manifest.status());
  std::set<std::string> in_apps;
  for (const AppSpec& app : manifest->apps) {
    for (const auto& m : app.modules) in_apps.insert(m);
    bool any_changed = false;
    for (const auto& m : app.modules) {
      auto path = module_path(m);
      any_changed = any_changed || !path.ok() || !unchanged(*deps_.code_server, m, *path);
    }
    if (!any_changed) continue;
    ReloadReport child = ReloadReport::begin(ReloadKind::kApp, app.name);
    app_locked(app, options, child);
    child.finish();
    r.results.push_back(std::move(child));
  }
  if (!layout_.modules_dir.empty()) {
    for (const std::string& file : files_with_suffix(layout_.modules_dir, ".so")) {
      const std::string name = file.substr(0, file.size() - 3);
      const std::string path = layout_.modules_dir + "/" + file;
      if (in_apps.count(name) > 0 || unchanged(*deps_.code_server, name, path)) continue;
      ReloadReport child = ReloadReport::begin(ReloadKind::kModule, name);
      module_locked(name, path, options, child, nullptr);
      child.finish();
      r.results.push_back(std::move(child));
    }
  }
  for (const std::string& dir : layout_.extension_dirs) {
    for (const std::string& file : files_with_suffix(dir, ".cc")) {
      ReloadReport child = ReloadReport::begin(ReloadKind::kExtension, dir + "/" + file);
      extension_locked(dir + "/" + file, options, child);
      child.finish();
      if (only_unchanged(child)) continue;
      r.results.push_back(std::move(child));
    }
  }
}

ReloadReport Reloader::reload_module(const std::string& name, const ReloadOptions& options) {
  return run(ReloadKind::kModule, name, options,
             [&](ReloadReport& r) { module_locked(name, "", options, r, nullptr); });
}

ReloadReport Reloader::reload_extension(const std::string& path, const ReloadOptions& options) {
  return run(ReloadKind::kExtension, path, options,
             [&](ReloadReport& r) { extension_locked(path, options, r); });
}

ReloadReport Reloader::reload_app(const std::string& app, const ReloadOptions& options) {
  return run(ReloadKind::kApp, app, options, [&](ReloadReport& r) {
    auto manifest = apps();
    if (!manifest.ok()) return r.add_error(app, manifest.status());
    const AppSpec* spec = manifest->find(app);
    if (spec == nullptr) {
      return r.add_error(app, reload_status(ReloadError::kNotFound, absl::StrCat("no app ", app)));
    }
    app_locked(*spec, options, r);
  });
}

ReloadReport Reloader::reload_system(const ReloadOptions& options) {
  return run(ReloadKind::kSystem, "all", options,
             [&](ReloadReport& r) { system_locked(options, r); });
}

ReloadReport Reloader::reload_selection(const ReloadSelection& selection,
                                        const ReloadOptions& options) {
  return run(ReloadKind::kSystem, "selection", options, [&](ReloadReport& r) {
    auto manifest = apps();
    for (const std::string& app : selection.apps) {
      ReloadReport child = ReloadReport::begin(ReloadKind::kApp, app);
      const AppSpec* spec = manifest.ok() ? manifest->find(app) : nullptr;
      if (!manifest.ok()) {
        child.add_error(app, manifest.status());
      } else if (spec == nullptr) {
        child.add_error(app, reload_status(ReloadError::kNotFound, absl::StrCat("no app ", app)));
      } else {
        app_locked(*spec, options, child);
      }
      child.finish();
      r.results.push_back(std::move(child));
    }
    for (const std::string& module : selection.modules) {
      ReloadReport child = ReloadReport::begin(ReloadKind::kModule, module);
      module_locked(module, "", options, child, nullptr);
      child.finish();
      r.results.push_back(std::move(child));
    }
    for (const std::string& path : selection.extensions) {
      ReloadReport child = ReloadReport::begin(ReloadKind::kExtension, path);
      extension_locked(path, options, child);
      child.finish();
      r.results.push_back(std::move(child));
    }
    for (const CodeChangeTarget& target : selection.code_changes) {
      ReloadReport child = ReloadReport::begin(ReloadKind::kCodeChange, target.actor);
      code_change_locked(target, options, child);
      child.finish();
      r.results.push_back(std::move(child));
    }
  });
}

void Reloader::code_change_locked(const CodeChangeTarget& target, const ReloadOptions& options,
                                  ReloadReport& r) {
  if (target.actor.empty()) {
    return r.add_error(target.actor,
                       reload_status(ReloadError::kInvalidArgument, "code_change needs an actor"));
  }
  SwapOptions swap_options;
  swap_options.extra = target.extra.empty() ? options.extra : target.extra;
  swap_options.suspend_timeout = options.timeout;
  SwapResult swap = deps_.swapper->change_code(target.actor, swap_options);
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

ReloadReport Reloader::code_change(const CodeChangeTarget& target, const ReloadOptions& options) {
  return run(ReloadKind::kCodeChange, target.actor, options,
             [&](ReloadReport& r) { code_change_locked(target, options, r); });
}

ReloadReport Reloader::soft_purge_module(const std::string& name, const ReloadOptions& options) {
  return run(ReloadKind::kPurge, name, options, [&](ReloadReport& r) {
    ModuleRef old = deps_.code_server->old(name);
    absl::Status s = deps_.code_server->soft_purge(name);
    if (reload_error_of(s) == ReloadError::kInUse) return r.add_skipped(name, s);
    if (!s.ok()) return r.add_error(name, s);
    r.metadata["purged_version"] = old ? old->version() : "";
    if (old) r.reloaded.push_back(name);
  });
}

ReloadReport Reloader::purge_module(const std::string& name, const ReloadOptions& options) {
  return run(ReloadKind::kPurge, name, options, [&](ReloadReport& r) {
    ModuleRef old = deps_.code_server->old(name);
    auto stopped = deps_.code_server->purge(name);
    if (!stopped.ok()) return r.add_error(name, stopped.status());
    r.metadata["hard"] = "true";
    r.metadata["stopped_actors"] = std::to_string(*stopped);
    r.metadata["purged_version"] = old ? old->version() : "";
    if (old) r.reloaded.push_back(name);
  });
}

}  // namespace lemon
