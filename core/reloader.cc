#include "core/reloader.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix) && is_file(dir + "/" + name)) {
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

ReloadReport& at(ReloadReport& root, const std::vector<size_t>& where) {
  ReloadReport* r = &root;
  for (size_t i : where) r = &r->results[i];
  return *r;
}

std::vector<size_t> under(std::vector<size_t> prefix, const std::vector<size_t>& rest) {
  prefix.insert(prefix.end(), rest.begin(), rest.end());
  return prefix;
}

void mark_rolled_back(ReloadReport& r, const std::string& module, const std::string& what) {
  r.reloaded.erase(std::remove(r.reloaded.begin(), r.reloaded.end(), module), r.reloaded.end());
  r.skipped.push_back({module, ReloadError::kRolledBack, what});
  r.rolled_back = true;
}

// Why a change stops at `r` (a module report that is not ok), e.g. "billing failed
// (code_change_failed)" or "billing was skipped (in_use)".
std::string stop_reason(const ReloadReport& r, const std::string& module) {
  if (!r.errors.empty()) {
    return absl::StrCat(module, " failed (", to_string(r.errors.front().reason), ")");
  }
  if (!r.skipped.empty()) {
    return absl::StrCat(module, " was skipped (", to_string(r.skipped.front().reason), ")");
  }
  return absl::StrCat(module, " did not reload");
}

// True if a report reloaded nothing, failed nothing, and skipped only unchanged items.
bool only_unchanged(const ReloadReport& r) {
  if (!r.reloaded.empty() || !r.errors.empty() || !r.results.empty()) return false;
  for (const SkippedItem& s : r.skipped) {
    if (s.reason != ReloadError::kUnchanged) return false;
  }
  return true;
}

// finish() on every report of the tree, children first.
void finish_tree(ReloadReport& r) {
  for (ReloadReport& child : r.results) finish_tree(child);
  r.finish();
}

// A prepare refusal that is a skip rather than an error. In an all-or-nothing change an old
// version still in use is an error: the change could not be made whole.
bool is_skip(const absl::Status& s, bool all_or_nothing) {
  const ReloadError e = reload_error_of(s);
  return e == ReloadError::kUnchanged || (e == ReloadError::kInUse && !all_or_nothing);
}

bool two_phase(ReloadOp op) {
  return op != ReloadOp::kCodeChange && op != ReloadOp::kSoftPurge && op != ReloadOp::kHardPurge;
}

}  // namespace

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

ReloadReport Reloader::run(const ReloadRequest& request) {
  ReloadReport report = ReloadReport::begin(report_kind(request.op), request.target);
  if (absl::Status bad = check_request(request); !bad.ok()) {
    report.add_error(request.target, bad);
    report.finish();
    return report;
  }
  const std::string kind = to_string(report.kind);
  Telemetry* telemetry = deps_.telemetry;
  if (telemetry) {
    telemetry->emit({kReloadStart, {}, {{"kind", kind}, {"target", request.target}}});
  }
  try {
    auto guard = deps_.lock->acquire(
        absl::StrCat(request.owner, " (", to_string(request.op), " ", request.target, ")"),
        absl::Milliseconds(request.lock_timeout_ms));
    if (!guard.ok()) {
      report.add_error(request.target, guard.status());
      report.finish();
    } else {
      std::unique_ptr<ReloadChange> change = prepare(request, /*all_or_nothing=*/false);
      commit_locked(*change);
      report = std::move(change->report_);
      report.lock_token = guard->token();
      report.metadata["lock_token"] = std::to_string(guard->token());
    }
    // reload.stop is emitted while the lock is still held, so that observers see operations as
    // disjoint intervals.
    emit_modules();
    if (telemetry) {
      TelemetryEvent e{
          kReloadStop,
          {{"duration_seconds", report.duration_ms / 1e3}},
          {{"kind", kind}, {"target", request.target}, {"status", to_string(report.status)}}};
      if (report.lock_token != 0) e.metadata["lock_token"] = std::to_string(report.lock_token);
      telemetry->emit(e);
    }
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

std::unique_ptr<ReloadChange> Reloader::prepare(const ReloadRequest& request, bool all_or_nothing) {
  auto c = std::make_unique<ReloadChange>();
  c->request_ = request;
  c->all_or_nothing_ = all_or_nothing;
  c->report_ = ReloadReport::begin(report_kind(request.op), request.target);
  if (absl::Status bad = check_request(request); !bad.ok()) {
    c->report_.add_error(request.target, bad);
  } else if (request.op == ReloadOp::kModule || request.op == ReloadOp::kExtension) {
    Group g;
    if (request.op == ReloadOp::kModule) {
      prepare_module(*c, g, request.target, "", {});
    } else {
      prepare_extension(*c, g, request.target, {});
    }
    c->groups_.push_back(std::move(g));
  } else if (request.op == ReloadOp::kApp) {
    auto manifest = apps();
    const AppSpec* spec = manifest.ok() ? manifest->find(request.target) : nullptr;
    if (!manifest.ok()) {
      c->report_.add_error(request.target, manifest.status());
    } else if (spec == nullptr) {
      c->report_.add_error(request.target,
                           reload_status(ReloadError::kNotFound, "no app " + request.target));
    } else {
      prepare_app(*c, *spec, {});
    }
  } else if (request.op == ReloadOp::kSystem) {
    prepare_system(*c);
  } else if (request.op == ReloadOp::kSelection) {
    prepare_selection(*c);
  }
  if (all_or_nothing && !request.selection.code_changes.empty()) {
    c->report_.add_error(request.target,
                         reload_status(ReloadError::kInvalidArgument,
                                       "code_change targets cannot be part of an all-or-nothing "
                                       "change"));
  }
  if (all_or_nothing && !two_phase(request.op)) {
    c->report_.add_error(
        request.target, reload_status(ReloadError::kInvalidArgument,
                                      absl::StrCat("a ", to_string(request.op),
                                                   " cannot be part of an all-or-nothing change")));
  }
  finish_tree(c->report_);
  c->ok_ = c->report_.status != ReloadStatus::kError;
  return c;
}

void Reloader::prepare_module(ReloadChange& c, Group& g, const std::string& name, std::string path,
                              std::vector<size_t> where) {
  ReloadReport& r = at(c.report_, where);
  if (path.empty()) {
    auto p = module_path(name);
    if (!p.ok()) {
      g.failed = true;
      return r.add_error(name, p.status());
    }
    path = *p;
  }
  r.metadata["path"] = path;
  CodeServer& cs = *deps_.code_server;
  // A forced reload hard-purges an old version still in use at commit, not now: prepare changes
  // nothing.
  auto prepared = cs.prepare(
      path, name, c.request_.force ? CodeServer::OldInUse::kAllow : CodeServer::OldInUse::kRefuse);
  if (!prepared.ok()) {
    if (is_skip(prepared.status(), c.all_or_nothing_))
      return r.add_skipped(name, prepared.status());
    g.failed = true;
    return r.add_error(name, prepared.status());
  }
  if (c.has_step(name, g)) {
    return r.skipped.push_back({name, ReloadError::kUnchanged, "named twice in this reload"});
  }
  Step s;
  s.module = (*prepared)->name();
  s.next = *prepared;
  s.before = cs.current(s.module);
  s.where = std::move(where);
  r.metadata["to_version"] = s.next->version();
  if (s.before) r.metadata["from_version"] = s.before->version();
  g.steps.push_back(std::move(s));
}

void Reloader::prepare_extension(ReloadChange& c, Group& g, const std::string& given,
                                 std::vector<size_t> where) {
  ReloadReport& r = at(c.report_, where);
  const std::string path = extension_source(given);
  g.failed = true;
  if (path.empty()) {
    return r.add_error(path, reload_status(ReloadError::kInvalidArgument, "empty extension path"));
  }
  if (deps_.compiler == nullptr) {
    return r.add_error(path, reload_status(ReloadError::kInvalidArgument,
                                           "this node has no extension roots configured"));
  }
  r.metadata["path"] = path;
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
  // The module name is inside the compiled file; a refusal with in_use names the module.
  auto prepared = deps_.code_server->prepare(
      compiled->so_path, "",
      c.request_.force ? CodeServer::OldInUse::kAllow : CodeServer::OldInUse::kRefuse);
  if (!prepared.ok()) {
    const std::string in_use = in_use_module(prepared.status());
    if (!in_use.empty()) r.metadata["module"] = in_use;
    if (is_skip(prepared.status(), c.all_or_nothing_)) {
      g.failed = false;
      return r.add_skipped(path, prepared.status());
    }
    return r.add_error(path, prepared.status());
  }
  g.failed = false;
  if (c.has_step((*prepared)->name(), g)) {
    return r.skipped.push_back(
        {path, ReloadError::kUnchanged, (*prepared)->name() + " is named twice in this reload"});
  }
  Step s;
  s.module = (*prepared)->name();
  s.next = *prepared;
  s.before = deps_.code_server->current(s.module);
  s.where = std::move(where);
  r.metadata["module"] = s.module;
  r.metadata["to_version"] = s.next->version();
  if (s.before) r.metadata["from_version"] = s.before->version();
  g.steps.push_back(std::move(s));
}

void Reloader::prepare_app(ReloadChange& c, const AppSpec& app, std::vector<size_t> where) {
  Group g;
  g.app = true;
  g.where = where;
  std::vector<std::string> unchanged_modules;
  std::string stopped;  // why the app stopped: a module that failed or was skipped
  for (const std::string& module : app.modules) {
    ReloadReport& ar = at(c.report_, where);
    if (!stopped.empty()) {
      ar.skipped.push_back({module, ReloadError::kRolledBack, "not attempted: " + stopped});
      continue;
    }
    auto path = module_path(module);
    if (path.ok() && unchanged(*deps_.code_server, module, *path)) {
      unchanged_modules.push_back(module);
      continue;
    }
    ar.results.push_back(ReloadReport::begin(ReloadKind::kModule, module));
    std::vector<size_t> child = under(where, {ar.results.size() - 1});
    const size_t steps = g.steps.size();
    prepare_module(c, g, module, path.ok() ? *path : "", child);
    ReloadReport& cr = at(c.report_, child);
    cr.finish();
    // All or nothing: a module skipped (in_use, say) stops the app as a failed one does.
    if (g.steps.size() == steps || cr.status != ReloadStatus::kOk) {
      stopped = stop_reason(cr, module);
      at(c.report_, where).metadata["stopped_by"] = module;
    }
  }
  ReloadReport& ar = at(c.report_, where);
  if (!unchanged_modules.empty()) ar.metadata["unchanged"] = absl::StrJoin(unchanged_modules, ",");
  if (!stopped.empty()) {
    // Nothing of the app is committed: what was prepared before the stop is dropped.
    for (Step& s : g.steps) {
      mark_rolled_back(at(c.report_, s.where), s.module,
                       "prepared, then not committed because " + stopped);
    }
    g.steps.clear();
    g.failed = true;
  }
  c.groups_.push_back(std::move(g));
}

void Reloader::attach(ReloadChange& c, ReloadReport child, Group g) {
  const size_t index = c.report_.results.size();
  c.report_.results.push_back(std::move(child));
  g.where = under({index}, g.where);
  for (Step& s : g.steps) s.where = under({index}, s.where);
  c.groups_.push_back(std::move(g));
}

void Reloader::prepare_system(ReloadChange& c) {
  auto manifest = apps();
  if (!manifest.ok()) return c.report_.add_error(layout_.apps_manifest, manifest.status());
  std::set<std::string> in_apps;
  for (const AppSpec& app : manifest->apps) {
    for (const auto& m : app.modules) in_apps.insert(m);
    bool any_changed = false;
    for (const auto& m : app.modules) {
      auto path = module_path(m);
      any_changed = any_changed || !path.ok() || !unchanged(*deps_.code_server, m, *path);
    }
    if (!any_changed) continue;
    c.report_.results.push_back(ReloadReport::begin(ReloadKind::kApp, app.name));
    prepare_app(c, app, {c.report_.results.size() - 1});
  }
  if (!layout_.modules_dir.empty()) {
    for (const std::string& file : files_with_suffix(layout_.modules_dir, ".so")) {
      const std::string name = file.substr(0, file.size() - 3);
      const std::string path = layout_.modules_dir + "/" + file;
      if (in_apps.count(name) > 0 || unchanged(*deps_.code_server, name, path)) continue;
      c.report_.results.push_back(ReloadReport::begin(ReloadKind::kModule, name));
      Group g;
      g.where = {c.report_.results.size() - 1};
      prepare_module(c, g, name, path, g.where);
      c.groups_.push_back(std::move(g));
    }
  }
  for (const std::string& dir : layout_.extension_dirs) {
    for (const std::string& file : files_with_suffix(dir, ".cc")) {
      ReloadChange scratch;  // prepared apart: dropped if the extension is unchanged
      scratch.request_ = c.request_;
      scratch.all_or_nothing_ = c.all_or_nothing_;
      scratch.report_ = ReloadReport::begin(ReloadKind::kExtension, dir + "/" + file);
      Group g;
      prepare_extension(scratch, g, dir + "/" + file, {});
      if (only_unchanged(scratch.report_)) continue;
      attach(c, std::move(scratch.report_), std::move(g));
    }
  }
}

void Reloader::prepare_selection(ReloadChange& c) {
  const ReloadSelection& sel = c.request_.selection;
  auto manifest = apps();
  for (const std::string& app : sel.apps) {
    c.report_.results.push_back(ReloadReport::begin(ReloadKind::kApp, app));
    const std::vector<size_t> where = {c.report_.results.size() - 1};
    const AppSpec* spec = manifest.ok() ? manifest->find(app) : nullptr;
    if (!manifest.ok() || spec == nullptr) {
      at(c.report_, where)
          .add_error(app, manifest.ok() ? reload_status(ReloadError::kNotFound, "no app " + app)
                                        : manifest.status());
      Group failed;
      failed.failed = true;
      failed.where = where;
      c.groups_.push_back(std::move(failed));
      continue;
    }
    prepare_app(c, *spec, where);
  }
  for (const std::string& module : sel.modules) {
    c.report_.results.push_back(ReloadReport::begin(ReloadKind::kModule, module));
    Group g;
    g.where = {c.report_.results.size() - 1};
    prepare_module(c, g, module, "", g.where);
    c.groups_.push_back(std::move(g));
  }
  for (const std::string& path : sel.extensions) {
    c.report_.results.push_back(ReloadReport::begin(ReloadKind::kExtension, path));
    Group g;
    g.where = {c.report_.results.size() - 1};
    prepare_extension(c, g, path, g.where);
    c.groups_.push_back(std::move(g));
  }
}

void Reloader::commit(ReloadChange& change) {
  const std::string kind = to_string(change.report_.kind);
  const std::string& target = change.request_.target;
  if (deps_.telemetry) {
    deps_.telemetry->emit({kReloadStart, {}, {{"kind", kind}, {"target", target}}});
  }
  const auto started = std::chrono::steady_clock::now();
  commit_locked(change);
  emit_modules();
  if (deps_.telemetry) {
    deps_.telemetry->emit(
        {kReloadStop,
         {{"duration_seconds",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}},
         {{"kind", kind}, {"target", target}, {"status", to_string(change.report_.status)}}});
  }
}

void Reloader::commit_locked(ReloadChange& c) {
  if (c.committed_) return;
  c.committed_ = true;
  if (!c.ok_ && c.all_or_nothing_) return finish_tree(c.report_);
  std::string stopped;  // the first failure: it stops its group (or, all or nothing, everything)
  for (Group& g : c.groups_) {
    if (g.failed) continue;
    if (!c.all_or_nothing_) stopped.clear();
    for (Step& s : g.steps) {
      ReloadReport& r = at(c.report_, s.where);
      if (!stopped.empty()) {
        mark_rolled_back(r, s.module, "not attempted: " + stopped);
        r.rolled_back = false;
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
    r.add_error(s.module, swap.status);
    for (std::size_t i = 0; i < swap.failures.size() && i < kMaxActorErrors; ++i) {
      const ActorFailure& f = swap.failures[i];
      r.errors.push_back(
          {absl::StrCat(s.module, "/",
                        f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name),
           reload_error_of(swap.status),
           f.message,
           {}});
    }
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
    for (const Step& s : g.steps) change.report_.rolled_back &= !s.done;
  }
  emit_modules();
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
