// The five reload operations of the seed (`Lemon.Reload`), done for real: each takes the reload
// lock, emits reload.start/stop/exception telemetry, and returns a ReloadReport.
//
//   Reloader reloader({&code_server, &reload_manager, &compiler, &lock, &telemetry},
//                     {.modules_dir = "/srv/lemon/modules", .apps_manifest = ".../apps.json"});
//   ReloadReport r = reloader.reload_module("counter", {});      // from <modules_dir>/counter.so
//   r = reloader.reload_extension("/srv/lemon/ext/greeter.cc", {});
//   r = reloader.reload_app("demo", {});                          // all or nothing
//   r = reloader.reload_system({});                               // everything changed on disk
//   r = reloader.soft_purge_module("counter", {});
//
// Reports never throw; status is ok, partial (something skipped: unchanged, in_use) or error.
// All operations are thread-safe and exclude each other through the lock.
#ifndef LEMON_CORE_RELOADER_H_
#define LEMON_CORE_RELOADER_H_

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/app_manifest.h"
#include "core/code_server.h"
#include "core/extension_compiler.h"
#include "core/module_swapper.h"
#include "core/reload_lock.h"
#include "core/reload_report.h"
#include "core/telemetry.h"

namespace lemon {

struct ReloadOptions {
  // Hard-purge an old version that actors still run instead of skipping with in_use (their
  // actors are stopped, as code:purge does).
  bool force = false;
  absl::Duration timeout = absl::Seconds(10);       // per module: all actors suspended+migrated
  absl::Duration lock_timeout = absl::Seconds(30);  // waiting for the reload lock
  std::string extra;                                // passed to every code_change
  std::string owner = "api";                        // who holds the lock (shown in errors)
};

// An explicit code_change: migrate one actor's state with its current version's code_change.
struct CodeChangeTarget {
  std::string actor;  // registered name
  std::string extra;
};

// What one reload of the seed's list form asks for (`modules`, `apps`, `extensions`), plus
// explicit code_change targets.
struct ReloadSelection {
  std::vector<std::string> modules;
  std::vector<std::string> apps;
  std::vector<std::string> extensions;
  std::vector<CodeChangeTarget> code_changes;
};

class Reloader {
 public:
  struct Deps {
    CodeServer* code_server = nullptr;    // required
    ModuleSwapper* swapper = nullptr;     // required
    ExtensionCompiler* compiler = nullptr;  // null: extensions are refused
    LockService* lock = nullptr;          // required
    Telemetry* telemetry = nullptr;       // may be null
  };
  struct Layout {
    std::string modules_dir;               // <modules_dir>/<name>.so is module <name>
    std::vector<std::string> extension_dirs;  // scanned for *.cc by reload_system
    std::string apps_manifest;             // JSON, see core/app_manifest.h; may not exist
  };

  Reloader(Deps deps, Layout layout);

  ReloadReport reload_module(const std::string& name, const ReloadOptions& options);
  ReloadReport reload_extension(const std::string& path, const ReloadOptions& options);
  ReloadReport reload_app(const std::string& app, const ReloadOptions& options);
  // Everything that changed on disk: apps (in manifest order), other modules, extensions.
  ReloadReport reload_system(const ReloadOptions& options);
  // The seed's list form, in one orchestration under the lock (kind "system").
  ReloadReport reload_selection(const ReloadSelection& selection, const ReloadOptions& options);
  // OTP's sys:change_code on one live actor without a new version (kind "code_change").
  ReloadReport code_change(const CodeChangeTarget& target, const ReloadOptions& options);
  ReloadReport soft_purge_module(const std::string& name, const ReloadOptions& options);
  ReloadReport purge_module(const std::string& name, const ReloadOptions& options);

  // Loads a module file with no actors yet (node start-up). Not locked against reloads.
  absl::StatusOr<ModuleRef> load_file(const std::string& path);

  absl::StatusOr<AppManifest> apps() const;
  const Layout& layout() const { return layout_; }

 private:
  template <class Body>
  ReloadReport run(ReloadKind kind, const std::string& target, const ReloadOptions& options,
                   Body body);

  // What an app reload undoes when a later module of the app fails: a swap (back to `previous`)
  // or a first load (`previous` null: the module is unloaded, as if never loaded).
  struct Undo {
    std::string module;
    ModuleRef previous;
    std::size_t child = 0;  // the module's report in the app report's results (set by app_locked)
  };

  // The bodies, called with the lock held; each fills `report`. module_locked appends to `undo`
  // (if given) what it changed.
  void module_locked(const std::string& name, const std::string& path,
                     const ReloadOptions& options, ReloadReport& report, std::vector<Undo>* undo);
  void extension_locked(const std::string& path, const ReloadOptions& options,
                        ReloadReport& report);
  void app_locked(const AppSpec& app, const ReloadOptions& options, ReloadReport& report);
  void system_locked(const ReloadOptions& options, ReloadReport& report);
  void code_change_locked(const CodeChangeTarget& target, const ReloadOptions& options,
                          ReloadReport& report);

  absl::StatusOr<std::string> module_path(const std::string& name) const;
  // The name of the module in the shared object at `path`, read by preparing it (also when the
  // module's old version is in use); kUnchanged or another error when it cannot be prepared.
  absl::StatusOr<std::string> module_name_in(const std::string& path);
  void emit_swap(const SwapResult& swap);
  void emit_modules();

  Deps deps_;
  Layout layout_;
  absl::Mutex emit_mu_;
  std::set<std::pair<std::string, std::string>> known_versions_ ABSL_GUARDED_BY(emit_mu_);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELOADER_H_
