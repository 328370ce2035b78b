// The last reloads a node ran, newest last, kept in a JSON-lines file so that they survive a
// restart: who asked, when, with which parameters, and what came of it.
//
//   auto history = ReloadHistory::open(state_dir + "/reload_history.jsonl").value();
//   history->append(entry);
//   std::vector<HistoryEntry> last = history->last(20, "counter");  // newest first
//
// Bounded: past `max_entries` the oldest are dropped. Every append rewrites the file to a
// temporary one and renames it over the old (write_file_atomic, core/fs.h), so a crash leaves
// the history before or after the append, never a torn line. Thread-safe.
#ifndef LEMON_CORE_RELOAD_HISTORY_H_
#define LEMON_CORE_RELOAD_HISTORY_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace lemon {

struct HistoryEntry {
  int64_t time_unix_ms = 0;
  std::string requested_by;  // "local", or the control plane's caller
  std::string op;            // to_string(ReloadOp)
  std::string target;
  std::map<std::string, std::string> params;  // the request's other fields, as text
  std::string status;                         // to_string(ReloadStatus)
  std::vector<std::string> modules;           // the modules the report names
  std::string error;                          // the first error's message, if any
};

class ReloadHistory {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 200;

  // Reads the history at `path` (missing: empty); lines that do not parse are dropped.
  static absl::StatusOr<std::unique_ptr<ReloadHistory>> open(
      std::string path, std::size_t max_entries = kDefaultMaxEntries);

  absl::Status append(HistoryEntry entry);

  // At most `limit` entries, newest first, of `module` only unless it is empty.
  std::vector<HistoryEntry> last(std::size_t limit, const std::string& module) const;

 private:
  ReloadHistory(std::string path, std::size_t max_entries)
      : path_(std::move(path)), max_entries_(max_entries) {}

  const std::string path_;
  const std::size_t max_entries_;
  mutable absl::Mutex mu_;
  std::deque<HistoryEntry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_HISTORY_H_
