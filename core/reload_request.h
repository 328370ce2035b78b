// One reload request, whoever sends it: the control plane, a CAF program through the reload
// service (node/reload_service.h), a cluster peer (cluster/cluster_messages.h) or a test. The
// operation is an enum; everything else is plain data, so the same value crosses the network.
//
//   ReloadRequest r = ReloadRequest::module("counter");
//   r.force = true;
//   ReloadReport report = reloader.run(r);  // core/reloader.h
#ifndef LEMON_CORE_RELOAD_REQUEST_H_
#define LEMON_CORE_RELOAD_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/reload_report.h"

namespace lemon {

enum class ReloadOp : uint8_t {
  kModule = 1,      // target: a module name, loaded from <modules_dir>/<name>.so
  kExtension = 2,   // target: an extension source (absolute, or relative to the first root)
  kApp = 3,         // target: an app of the manifest; all of its modules or none
  kSystem = 4,      // everything that changed on disk (target is ignored)
  kSelection = 5,   // the modules, apps, extensions and code_change targets in `selection`
  kCodeChange = 6,  // target: a registered actor, migrated by its current version's code_change
  kSoftPurge = 7,   // target: a module whose old version no actor runs any more
  kHardPurge = 8,   // target: a module whose old version is dropped, its actors stopped
  // target: a module, back to its previous version (the old one, or the previous permanent one
  // from its private copy); its code_change is told it is a downgrade.
  kRollback = 9,
  kRollbackApp = 10,  // target: an app of the manifest; every module back, all or nothing
};

// The kind of report an operation returns (kSelection and kSystem: kSystem; purges: kPurge;
// rollbacks: kModule and kApp).
ReloadKind report_kind(ReloadOp op);

// "module", "extension", "app", "all", "selection", "code_change", "purge", "hard_purge",
// "rollback", "rollback_app".
const char* to_string(ReloadOp op);
absl::StatusOr<ReloadOp> parse_reload_op(absl::string_view name);

// An explicit code_change: migrate one actor's state with its current version's code_change.
struct CodeChangeTarget {
  std::string actor;  // registered name
  std::string extra;  // "" means the request's `extra`
};

// What the list form (kSelection) names.
struct ReloadSelection {
  std::vector<std::string> modules;
  std::vector<std::string> apps;
  std::vector<std::string> extensions;
  std::vector<CodeChangeTarget> code_changes;
};

struct ReloadRequest {
  ReloadOp op = ReloadOp::kSystem;
  std::string target;
  ReloadSelection selection;
  std::string extra;                 // passed to every code_change
  uint32_t timeout_ms = 10000;       // per module: every actor suspended and migrated by then
  uint32_t lock_timeout_ms = 30000;  // waiting for the reload lock
  // Hard-purge an old version that actors still run instead of skipping it with in_use.
  bool force = false;
  std::string owner = "api";  // who holds the lock, shown in lock errors
  // Who asked, as the reload history records it: "local" for a call inside the node, the
  // control plane's caller otherwise.
  std::string requested_by = "local";
  // Loads and checks the new versions and runs their code_change on snapshots of the live
  // states (the pre-flight), then drops them: nothing held, nothing changed.
  bool dry_run = false;
  // The actors per module whose states the pre-flight migrates (dry run and real reload);
  // 0: all of them.
  uint32_t sample = 0;
  // A successful reload's versions become the ones the node boots (core/release_store.h); false
  // keeps them provisional until made permanent.
  bool permanent = true;
  // The cluster commit this reload belongs to (a cluster reload's, or the one a node catches up
  // to), recorded with the versions it makes current (Release::cluster_seq); 0: none.
  uint64_t cluster_seq = 0;

  static ReloadRequest module(std::string name);
  static ReloadRequest extension(std::string path);
  static ReloadRequest app(std::string name);
  static ReloadRequest system();
  static ReloadRequest of(ReloadSelection selection);
  static ReloadRequest code_change(std::string actor, std::string extra = "");
  static ReloadRequest soft_purge(std::string module);
  static ReloadRequest hard_purge(std::string module);
  static ReloadRequest rollback(std::string module);
  static ReloadRequest rollback_app(std::string app);
};

// The largest deadlines a request may ask for (one hour each), so that no caller can make a
// deadline overflow or outlive the node's other timeouts.
inline constexpr uint64_t kMaxReloadTimeoutMs = 3600000;
inline constexpr uint64_t kMaxLockTimeoutMs = 3600000;
// The most items a selection may name, over all of its lists.
inline constexpr size_t kMaxSelectionItems = 1000;

// OK when both deadlines are within their maximum; else kInvalidArgument naming the field.
absl::Status check_reload_timeouts(uint64_t timeout_ms, uint64_t lock_timeout_ms);

// What every entry point checks before running a request that may come from outside: a known
// operation, deadlines within their maximum, a target where the operation needs one, a bounded
// selection. kInvalidArgument naming what is wrong.
absl::Status check_request(const ReloadRequest& request);

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_REQUEST_H_
