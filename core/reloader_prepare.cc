// Reloader, phase 1: what a request names, loaded and checked; no actor is touched.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/extension_compiler_diagnostics.h"
#include "core/module_name.h"
#include "core/reload_error.h"
#include "core/reloader.h"
#include "core/reloader_internal.h"
#include "core/schema_gate.h"
#include "core/sha256.h"

namespace lemon {

using reloader_internal::at;
using reloader_internal::finish_tree;
using reloader_internal::is_file;
using reloader_internal::is_rollback;
using reloader_internal::is_skip;
using reloader_internal::mark_rolled_back;
using reloader_internal::only_unchanged;
using reloader_internal::stop_reason;
using reloader_internal::two_phase;
using reloader_internal::under;

namespace {

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
}  // namespace

std::unique_ptr<ReloadChange> Reloader::prepare(const ReloadRequest& request, bool all_or_nothing) {
  return prepare_from(request, all_or_nothing, "");
}

std::unique_ptr<ReloadChange> Reloader::prepare_from(const ReloadRequest& request,
                                                     bool all_or_nothing,
                                                     const std::string& module_file) {
  auto c = std::make_unique<ReloadChange>();
  c->request_ = request;
  c->all_or_nothing_ = all_or_nothing;
  c->report_ = ReloadReport::begin(report_kind(request.op), request.target);
  if (absl::Status bad = check_request(request); !bad.ok()) {
    c->report_.add_error(request.target, bad);
  } else if (request.op == ReloadOp::kModule || request.op == ReloadOp::kExtension ||
             request.op == ReloadOp::kRollback) {
    Group g;
    if (request.op != ReloadOp::kExtension) {
      prepare_module(*c, g, request.target, module_file, {});
    } else {
      prepare_extension(*c, g, request.target, {});
    }
    c->groups_.push_back(std::move(g));
  } else if (request.op == ReloadOp::kApp || request.op == ReloadOp::kRollbackApp) {
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
  preflight(*c);
  finish_tree(c->report_);
  c->ok_ = c->report_.status != ReloadStatus::kError;
  return c;
}

void Reloader::prepare_module(ReloadChange& c, Group& g, const std::string& name, std::string path,
                              std::vector<size_t> where) {
  if (is_rollback(c.request_.op)) return prepare_rollback(c, g, name, std::move(where));
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
  add_step(c, g, *prepared, std::move(where), name);
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
  r.metadata["module"] = (*prepared)->name();
  add_step(c, g, *prepared, std::move(where), path);
}

void Reloader::add_step(ReloadChange& c, Group& g, ModuleRef next, std::vector<size_t> where,
                        const std::string& item) {
  ReloadReport& r = at(c.report_, where);
  if (c.has_step(next->name(), g)) {
    return r.skipped.push_back(
        {item, ReloadError::kUnchanged, next->name() + " is named twice in this reload"});
  }
  Step s;
  s.module = next->name();
  s.before = deps_.code_server->current(s.module);
  s.downgrade = is_rollback(c.request_.op);
  // Before any actor is held: a schema that breaks the current one's, unless forced. A rollback
  // returns to a schema that ran before; its code_change is told it is a downgrade.
  if (s.before && !c.request_.force && !s.downgrade) {
    if (absl::Status gate = check_schema_change(*s.before, *next); !gate.ok()) {
      g.failed = true;
      return r.add_error(item, gate);
    }
  }
  s.where = std::move(where);
  r.metadata["to_version"] = next->version();
  if (s.before) r.metadata["from_version"] = s.before->version();
  s.next = std::move(next);
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
    const bool nothing_to_do = is_rollback(c.request_.op)
                                   ? !previous_version(module).ok()
                                   : path.ok() && unchanged(*deps_.code_server, module, *path);
    if (nothing_to_do) {
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

}  // namespace lemon
