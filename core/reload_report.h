// What every reload operation returns: kind, target, status, what was reloaded, skipped and failed.
//
//   ReloadReport r = ReloadReport::begin(ReloadKind::kModule, "counter");
//   r.reloaded.push_back("counter");
//   r.finish();              // sets status from the lists and duration from the start time
#ifndef LEMON_CORE_RELOAD_REPORT_H_
#define LEMON_CORE_RELOAD_REPORT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/reload_error.h"

namespace lemon {

enum class ReloadKind { kModule, kExtension, kApp, kSystem, kCodeChange, kPurge };
enum class ReloadStatus { kOk, kPartial, kError };

const char* to_string(ReloadKind k);
const char* to_string(ReloadStatus s);

// One compiler diagnostic (extension compile errors).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string severity;  // "error", "warning", "note", "fatal error"
  std::string message;
};

struct SkippedItem {
  std::string target;
  ReloadError reason = ReloadError::kOk;  // e.g. kUnchanged, kInUse
  std::string message;
};

struct ErrorItem {
  std::string target;
  ReloadError reason = ReloadError::kInternal;
  std::string message;
  std::vector<Diagnostic> diagnostics;
};

// The report of one operation. Plain data: copyable, comparable by field.
struct ReloadReport {
  ReloadKind kind = ReloadKind::kModule;
  std::string target;
  ReloadStatus status = ReloadStatus::kOk;
  // What this report itself moved to new code; a parent (app, system) does not repeat its
  // children's, so that counting over the tree counts each item once (see all_reloaded()).
  std::vector<std::string> reloaded;
  std::vector<SkippedItem> skipped;
  std::vector<ErrorItem> errors;
  double duration_ms = 0;
  // The reload lock's fencing token, when the operation took the lock (0: it did not).
  uint64_t lock_token = 0;
  // This item's change was made and then undone (an app or cluster reload stopped later).
  bool rolled_back = false;
  std::map<std::string, std::string> metadata;  // for display only; nothing decides on it
  std::vector<ReloadReport> results;            // children, for app and system reloads
  std::chrono::steady_clock::time_point started_at{};

  static ReloadReport begin(ReloadKind kind, std::string target);

  // Status from the lists: error if any error (here or in a child), else partial if anything was
  // skipped, else ok. Duration from started_at.
  void finish();

  // `reloaded` of this report and of all its descendants, depth first.
  std::vector<std::string> all_reloaded() const;

  // Adds an error item built from a non-OK status.
  void add_error(const std::string& target, const absl::Status& s);
  void add_skipped(const std::string& target, const absl::Status& s);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_REPORT_H_
