#include "core/telemetry.h"

#include <cstdio>
#include <exception>
#include <utility>

namespace lemon {

absl::Status Telemetry::attach(std::string handler_id, std::vector<std::string> event_names,
                               Handler fn) {
  if (!fn) return absl::InvalidArgumentError("telemetry handler '" + handler_id + "' is empty");
  auto entry =
      std::make_shared<const Entry>(Entry{handler_id, std::move(event_names), std::move(fn)});
  absl::MutexLock lock(&mu_);
  if (by_id_.count(handler_id) != 0) {
    return absl::AlreadyExistsError("telemetry handler '" + handler_id + "' is already attached");
  }
  auto index = std::make_shared<Index>(*index_);
  for (const std::string& name : entry->event_names) {
    Entries& entries = (*index)[name];
    // Listing a name twice subscribes once.
    if (!entries.empty() && entries.back() == entry) continue;
    entries.push_back(entry);
  }
  by_id_.emplace(std::move(handler_id), entry);
  index_ = std::move(index);
  return absl::OkStatus();
}

bool Telemetry::detach(absl::string_view handler_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(std::string(handler_id));
  if (it == by_id_.end()) return false;
  index_ = without(*index_, it->second.get());
  by_id_.erase(it);
  return true;
}

void Telemetry::detach_entry(const Entry* entry) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(entry->id);
  if (it == by_id_.end() || it->second.get() != entry) return;
  index_ = without(*index_, entry);
  by_id_.erase(it);
}

std::shared_ptr<const Telemetry::Index> Telemetry::without(const Index& index, const Entry* entry) {
  auto next = std::make_shared<Index>();
  for (const auto& [name, entries] : index) {
    Entries kept;
    for (const auto& e : entries) {
      if (e.get() != entry) kept.push_back(e);
    }
    if (!kept.empty()) next->emplace(name, std::move(kept));
  }
  return next;
}

void Telemetry::emit(const TelemetryEvent& event) noexcept {
  std::shared_ptr<const Index> index;
  {
    absl::MutexLock lock(&mu_);
    index = index_;
  }
  auto it = index->find(event.name);
  if (it == index->end()) return;
  // `index` keeps every entry alive even if a handler detaches itself or another one.
  for (const auto& entry : it->second) {
    std::string what;
    try {
      entry->fn(event);
      continue;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    std::fprintf(stderr, "lemon telemetry: handler '%s' threw on '%s' (%s); detached\n",
                 entry->id.c_str(), event.name.c_str(), what.c_str());
    detach_entry(entry.get());
  }
}

std::vector<std::string> Telemetry::handler_ids() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> ids;
  ids.reserve(by_id_.size());
  for (const auto& [id, entry] : by_id_) ids.push_back(id);
  return ids;
}

}  // namespace lemon
