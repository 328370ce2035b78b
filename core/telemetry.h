// An event bus for what Lemon does, like Erlang's :telemetry: code emits named events with
// measurements and metadata; handlers attached to those names receive them on the emitting thread.
// A handler that throws is detached and never disturbs the emitter or the other handlers.
//
//   Telemetry telemetry;
//   telemetry.attach("log-reloads", {kReloadStop}, [](const TelemetryEvent& e) {
//     std::cout << e.metadata.at("target") << " took " << e.measurements.at("duration_seconds");
//   });
//   telemetry.emit({kReloadStop, {{"duration_seconds", 0.12}},
//                   {{"kind", "module"}, {"target", "counter"}, {"status", "ok"}}});
#ifndef LEMON_CORE_TELEMETRY_H_
#define LEMON_CORE_TELEMETRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace lemon {

// --- Event names -------------------------------------------------------------------------------
// Durations are in seconds (double). Metadata values are strings; `kind` is to_string(ReloadKind),
// `status` to_string(ReloadStatus), `reason` to_string(ReloadError).

// A reload operation begins. Measurements: none. Metadata: kind, target.
inline constexpr char kReloadStart[] = "reload.start";
// A reload operation returned a report (whatever its status). Measurements: duration_seconds.
// Metadata: kind, target, status ("ok", "partial", "error").
inline constexpr char kReloadStop[] = "reload.stop";
// A reload operation ended without a report (it threw, or broke an invariant); it has no
// reload.stop. Measurements: duration_seconds. Metadata: kind, target, reason, message.
inline constexpr char kReloadException[] = "reload.exception";
// One actor was suspended and resumed during a reload. Measurements: duration_seconds (how long
// its mailbox was paused). Metadata: module (no actor name: names are not looked up per actor).
inline constexpr char kActorSuspend[] = "actor.suspend";
// An acquisition of the reload lock ended. Measurements: wait_seconds. Metadata: owner,
// outcome ("acquired" or "timeout"), and token on success.
inline constexpr char kLockWait[] = "lock.wait";
// A module version became loaded (current). Measurements: none. Metadata: module, version.
inline constexpr char kModuleLoaded[] = "module.loaded";
// A module version was unloaded (purged). Measurements: none. Metadata: module, version; without
// version, every version of the module is gone.
inline constexpr char kModulePurged[] = "module.purged";
// The number of actors running a module changed: after spawns and exits (coalesced when they come
// faster than they are reported) and after every reload. Measurements: count. Metadata: module.
inline constexpr char kActorsCount[] = "actors.count";

struct TelemetryEvent {
  std::string name;
  std::map<std::string, double> measurements;
  std::map<std::string, std::string> metadata;
};

class Telemetry {
 public:
  // Called on the emitting thread; may attach, detach (itself too) and emit.
  using Handler = std::function<void(const TelemetryEvent&)>;

  Telemetry() = default;
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Subscribes `fn` under `handler_id` to every name in `event_names`. AlreadyExists if the id is
  // taken, InvalidArgument if `fn` is empty. Thread-safe.
  absl::Status attach(std::string handler_id, std::vector<std::string> event_names, Handler fn);

  // Unsubscribes the handler; false if no handler has that id. An emit already under way on
  // another thread may still deliver one event to it. Thread-safe.
  bool detach(absl::string_view handler_id);

  // Delivers `event` to every handler attached to its name, in attach order, without holding any
  // lock while they run. A handler that throws is detached. Thread-safe; never throws.
  void emit(const TelemetryEvent& event) noexcept;

  // The ids of the attached handlers, sorted. Thread-safe.
  std::vector<std::string> handler_ids() const;

 private:
  struct Entry {
    std::string id;
    std::vector<std::string> event_names;
    Handler fn;
  };
  using Entries = std::vector<std::shared_ptr<const Entry>>;
  // Event name -> handlers in attach order. Never modified once published: attach and detach
  // build a new index, so emit only needs to copy the pointer.
  using Index = std::unordered_map<std::string, Entries>;

  // Removes `entry` if it is still attached (not a later handler that reuses its id).
  void detach_entry(const Entry* entry);
  static std::shared_ptr<const Index> without(const Index& index, const Entry* entry);

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> by_id_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Index> index_ ABSL_GUARDED_BY(mu_) = std::make_shared<const Index>();
};

}  // namespace lemon

#endif  // LEMON_CORE_TELEMETRY_H_
