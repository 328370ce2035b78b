#include "core/reload_history.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_split.h"
#include "core/fs.h"
#include "core/reload_error.h"
#include "nlohmann/json.hpp"

namespace lemon {
namespace {

constexpr std::size_t kMaxLineBytes = 64 << 10;

nlohmann::json to_json(const HistoryEntry& e) {
  return {{"time_unix_ms", e.time_unix_ms},
          {"requested_by", e.requested_by},
          {"op", e.op},
          {"target", e.target},
          {"params", e.params},
          {"status", e.status},
          {"modules", e.modules},
          {"error", e.error}};
}

bool from_json(const nlohmann::json& j, HistoryEntry& e) {
  if (!j.is_object()) return false;
  try {
    e.time_unix_ms = j.value("time_unix_ms", int64_t{0});
    e.requested_by = j.value("requested_by", "");
    e.op = j.value("op", "");
    e.target = j.value("target", "");
    e.params = j.value("params", std::map<std::string, std::string>{});
    e.status = j.value("status", "");
    e.modules = j.value("modules", std::vector<std::string>{});
    e.error = j.value("error", "");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReloadHistory>> ReloadHistory::open(std::string path,
                                                                   std::size_t max_entries) {
  std::unique_ptr<ReloadHistory> h(new ReloadHistory(std::move(path), max_entries));
  absl::StatusOr<std::string> text = read_file_at(h->path_, max_entries * kMaxLineBytes);
  if (reload_error_of(text.status()) == ReloadError::kNotFound) return h;
  if (!text.ok()) return text.status();
  absl::MutexLock lock(&h->mu_);
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipEmpty())) {
    HistoryEntry e;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (from_json(j, e)) h->entries_.push_back(std::move(e));
  }
  while (h->entries_.size() > max_entries) h->entries_.pop_front();
  return h;
}

absl::Status ReloadHistory::append(HistoryEntry entry) {
  absl::MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
  while (entries_.size() > max_entries_) entries_.pop_front();
  std::string text;
  for (const HistoryEntry& e : entries_) {
    std::string line = to_json(e).dump();
    if (line.size() >= kMaxLineBytes) {
      HistoryEntry shortened = e;
      shortened.error.resize(std::min<std::size_t>(e.error.size(), 1024));
      shortened.modules.resize(std::min<std::size_t>(e.modules.size(), 100));
      line = to_json(shortened).dump();
    }
    text += line;
    text += '\n';
  }
  absl::StatusOr<bool> written = write_file_atomic(path_, text, 0600, /*replace=*/true);
  return written.ok() ? absl::OkStatus() : written.status();
}

std::vector<HistoryEntry> ReloadHistory::last(std::size_t limit, const std::string& module) const {
  absl::MutexLock lock(&mu_);
  std::vector<HistoryEntry> out;
  for (auto it = entries_.rbegin(); it != entries_.rend() && out.size() < limit; ++it) {
    if (!module.empty() && it->target != module &&
        std::find(it->modules.begin(), it->modules.end(), module) == it->modules.end()) {
      continue;
    }
    out.push_back(*it);
  }
  return out;
}

}  // namespace lemon
