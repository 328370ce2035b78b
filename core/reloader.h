// The one place that changes which version of a module is current. Every reload, whoever asks for
// it (the control plane, the reload service, a cluster peer), is a ReloadRequest run here.
//
//   Reloader reloader({&code_server, &swapper, &compiler, &lock, &telemetry},
//                     {.modules_dir = "/srv/lemon/modules", .apps_manifest = ".../apps.json"});
//   ReloadReport r = reloader.run(ReloadRequest::module("counter"));  // <modules_dir>/counter.so
//   r = reloader.run(ReloadRequest::app("shop"));                      // all or nothing
//
// A run takes the reload lock, prepares (loads every new version the request names; no actor is
// touched), commits (moves the actors, one app or module at a time, each all or nothing) and
// emits reload.start/stop telemetry. A caller that holds the lock itself, as a cluster node does
// for its coordinator, uses the two phases directly:
//
//   std::unique_ptr<ReloadChange> change = reloader.prepare(request, /*all_or_nothing=*/true);
//   if (change->ok()) reloader.commit(*change);   // the whole change, or none of it
//   ...
//   reloader.rollback(*change);                    // back to the versions before the commit
//
// Reports never throw; status is ok, partial (something skipped: unchanged, in_use) or error.
// All methods are thread-safe.
#ifndef LEMON_CORE_RELOADER_H_
#define LEMON_CORE_RELOADER_H_

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/app_manifest.h"
#include "core/code_server.h"
#include "core/extension_compiler.h"
#include "core/module_swapper.h"
#include "core/release_store.h"
#include "core/reload_history.h"
#include "core/reload_lock.h"
#include "core/reload_report.h"
#include "core/reload_request.h"
#include "core/telemetry.h"

namespace lemon {

// What Reloader::prepare made ready: the new versions loaded and checked, no actor touched.
// Destroying it before a commit discards them.
class ReloadChange {
 public:
  // Prepare's report, then commit's and rollback's (kind and target of the request).
  const ReloadReport& report() const { return report_; }
  // Prepared with no error (skipped items, such as unchanged modules, are no error).
  bool ok() const { return ok_; }
  // A commit would change some version or actor.
  bool changes_anything() const;
  const ReloadRequest& request() const { return request_; }

 private:
  friend class Reloader;
  // One module's new version, and where its report is in the report tree (indexes into results).
  struct Step {
    std::string module;
    ModuleRef next;
    ModuleRef before;  // null: a first load
    std::vector<size_t> where;
    bool done = false;       // committed
    bool downgrade = false;  // a rollback: code_change is told so
  };
  // What commits or rolls back together: an app, or one module or extension.
  struct Group {
    std::vector<Step> steps;
    std::vector<size_t> where;  // the app's report, or the module's
    bool app = false;
    bool failed = false;  // prepare failed: nothing of it is committed
  };

  // A step for `module` is in this change already (in a group, or in `current`, being prepared).
  bool has_step(const std::string& module, const Group& current) const;

  ReloadRequest request_;
  bool all_or_nothing_ = false;
  bool ok_ = true;
  bool committed_ = false;
  ReloadReport report_;
  std::vector<Group> groups_;
};

class Reloader {
 public:
  struct Deps {
    CodeServer* code_server = nullptr;      // required
    ModuleSwapper* swapper = nullptr;       // required
    ExtensionCompiler* compiler = nullptr;  // null: extensions are refused
    LockService* lock = nullptr;            // required
    Telemetry* telemetry = nullptr;         // may be null
    ReleaseStore* releases = nullptr;       // null: nothing is recorded as permanent
    ReloadHistory* history = nullptr;       // null: no history is kept
  };
  struct Layout {
    std::string modules_dir;                  // <modules_dir>/<name>.so is module <name>
    std::vector<std::string> extension_dirs;  // scanned for *.cc by a system reload
    std::string apps_manifest;                // JSON, see core/app_manifest.h; may not exist
  };

  Reloader(Deps deps, Layout layout);

  // Checks `request` (check_request), takes the lock, prepares and commits it (a dry run is
  // prepared only), and adds it to the history.
  ReloadReport run(const ReloadRequest& request);
  // run() of a module request whose new version is the file at `path` rather than
  // <modules_dir>/<name>.so: what a cluster node catching up loads (bytes it fetched, or found).
  // kInvalidArgument in the report for another operation or an empty path.
  ReloadReport run_file(const ReloadRequest& request, const std::string& path);

  // The two phases, for a caller holding the reload lock. prepare loads and checks every new
  // version `request` names (module, extension, app, system, selection, rollback), then runs the
  // pre-flight: each new version's code_change on snapshots of its module's actors' states
  // (ModuleSwapper::preflight), so that a migration that would fail fails here, before any actor
  // is held; a code_change target or a purge is done by commit. With `all_or_nothing`, commit
  // changes everything or nothing, and an old version still in use is an error rather than a
  // skip.
  std::unique_ptr<ReloadChange> prepare(const ReloadRequest& request, bool all_or_nothing);
  // Emits reload.start/stop around the commit, records the versions it made current (permanent
  // unless request.permanent is false) and adds it to the history. Call once, after prepare; a
  // dry run commits nothing.
  void commit(ReloadChange& change);
  // Undoes a commit: every module back to the version before it (a first load is unloaded).
  void rollback(ReloadChange& change);

  // Loads a module file with no actors yet (node start-up). Not locked against reloads.
  absl::StatusOr<ModuleRef> load_file(const std::string& path);

  // Loads module `name` at node start-up: its permanent version from the release store's private
  // copy, or, when it has none, the file at `path` (empty: none), which then becomes permanent.
  absl::StatusOr<ModuleRef> boot_module(const std::string& name, const std::string& path);

  // The provisional versions of `modules` become permanent; the first error (kNotFound for a
  // module with no provisional version), after trying them all.
  absl::Status make_permanent(const std::vector<std::string>& modules);

  // Null when the node keeps no history (or no release store).
  ReloadHistory* history() const { return deps_.history; }
  ReleaseStore* releases() const { return deps_.releases; }

  absl::StatusOr<AppManifest> apps() const;
  const Layout& layout() const { return layout_; }

 private:
  using Group = ReloadChange::Group;
  using Step = ReloadChange::Step;

  // run() and prepare(), a module request's file being `module_file` unless it is empty.
  ReloadReport run_from(const ReloadRequest& request, const std::string& module_file);
  std::unique_ptr<ReloadChange> prepare_from(const ReloadRequest& request, bool all_or_nothing,
                                             const std::string& module_file);
  // Records `before` as `module`'s permanent version again after a rollback.
  void restore_release(const std::string& module, const LoadedModule& before);

  void prepare_module(ReloadChange& c, Group& g, const std::string& name, std::string path,
                      std::vector<size_t> where);
  void prepare_extension(ReloadChange& c, Group& g, const std::string& path,
                         std::vector<size_t> where);
  // Adds the step that makes `next` current, unless its module is in the change already (then
  // `item` is skipped as named twice).
  void add_step(ReloadChange& c, Group& g, ModuleRef next, std::vector<size_t> where,
                const std::string& item);
  void prepare_app(ReloadChange& c, const AppSpec& app, std::vector<size_t> where);
  // The step back to `name`'s previous version (ReleaseStore::rollback_target, else its old one).
  void prepare_rollback(ReloadChange& c, Group& g, const std::string& name,
                        std::vector<size_t> where);
  // The version a rollback of `name` goes back to; kNotFound when there is none.
  absl::StatusOr<ModuleRef> previous_version(const std::string& name) const;
  // The pre-flight of every step of `c` not failed yet; a group with a failure fails.
  void preflight(ReloadChange& c);
  void prepare_system(ReloadChange& c);
  void prepare_selection(ReloadChange& c);
  // Adds `child` to the top report, with `g` (its paths relative to the child) as a group.
  void attach(ReloadChange& c, ReloadReport child, Group g);

  void commit_locked(ReloadChange& c);
  // The versions `c`'s committed steps made current, in the release store.
  void record_releases(ReloadChange& c);
  void record_history(const ReloadRequest& request, const ReloadReport& report);
  bool commit_step(ReloadChange& c, Step& s);
  void undo(ReloadChange& c, Group& g, const std::string& because);
  void run_direct(ReloadChange& c);  // code_change and purges
  void code_change_target(const ReloadRequest& request, const CodeChangeTarget& target,
                          ReloadReport& r);

  absl::StatusOr<std::string> module_path(const std::string& name) const;
  std::string extension_source(const std::string& path) const;
  // reload.start, and reload.stop with the report's status (and lock token, when it has one).
  void emit_start(const std::string& kind, const std::string& target);
  void emit_stop(const std::string& kind, const std::string& target, const ReloadReport& report,
                 double seconds);
  void emit_swap(const SwapResult& swap);
  void emit_modules();

  Deps deps_;
  Layout layout_;
  absl::Mutex emit_mu_;
  std::set<std::pair<std::string, std::string>> known_versions_ ABSL_GUARDED_BY(emit_mu_);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELOADER_H_
