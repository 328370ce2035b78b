#include "core/release_store.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/fs.h"
#include "core/reload_error.h"
#include "nlohmann/json.hpp"

namespace lemon {
namespace {

constexpr char kRecord[] = "releases.json";
constexpr std::size_t kMaxRecordBytes = 16 << 20;

nlohmann::json to_json(const std::optional<Release>& r) {
  if (!r) return nullptr;
  return {{"version", r->version},
          {"checksum", r->checksum},
          {"copy", r->copy},
          {"cluster_seq", r->cluster_seq}};
}

std::optional<Release> release_of(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  return Release{j.value("version", ""), j.value("checksum", ""), j.value("copy", ""),
                 j.value("cluster_seq", uint64_t{0})};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReleaseStore>> ReleaseStore::open(const std::string& dir) {
  if (absl::Status s = make_dirs(dir, 0700); !s.ok()) return s;
  std::unique_ptr<ReleaseStore> store(new ReleaseStore(dir));
  if (absl::Status s = store->load(); !s.ok()) return s;
  return store;
}

absl::Status ReleaseStore::load() {
  const std::string path = absl::StrCat(dir_, "/", kRecord);
  absl::StatusOr<std::string> text = read_file_at(path, kMaxRecordBytes);
  if (reload_error_of(text.status()) == ReloadError::kNotFound) return absl::OkStatus();
  if (!text.ok()) return text.status();
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return reload_status(ReloadError::kInvalidArgument, path + " is not a JSON object");
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [module, e] : j.items()) {
    Entry& entry = modules_[module];
    entry.permanent = release_of(e.value("permanent", nlohmann::json()));
    entry.previous = release_of(e.value("previous", nlohmann::json()));
    entry.provisional = release_of(e.value("provisional", nlohmann::json()));
  }
  return absl::OkStatus();
}

absl::Status ReleaseStore::save() {
  nlohmann::json j = nlohmann::json::object();
  std::set<std::string> named;
  for (const auto& [module, e] : modules_) {
    j[module] = {{"permanent", to_json(e.permanent)},
                 {"previous", to_json(e.previous)},
                 {"provisional", to_json(e.provisional)}};
    for (const auto* r : {&e.permanent, &e.previous, &e.provisional}) {
      if (*r) named.insert((*r)->copy);
    }
  }
  absl::StatusOr<bool> written =
      write_file_atomic(absl::StrCat(dir_, "/", kRecord), j.dump(1), 0600, /*replace=*/true);
  if (!written.ok()) return written.status();
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir_.c_str()), closedir);
  if (!d) return absl::OkStatus();
  while (dirent* e = readdir(d.get())) {
    const std::string path = absl::StrCat(dir_, "/", e->d_name);
    if (absl::EndsWith(e->d_name, ".so") && named.count(path) == 0) unlink(path.c_str());
  }
  return absl::OkStatus();
}

absl::Status ReleaseStore::record(const LoadedModule& m, bool permanent, uint64_t cluster_seq) {
  // The mapped copy's bytes are those the checksum was taken of.
  Release r{m.version(), m.checksum(),
            absl::StrCat(dir_, "/", m.name(), "-", m.checksum().substr(0, 16), ".so"), cluster_seq};
  absl::StatusOr<bool> copied = copy_file_atomic(m.copy_path(), r.copy, 0600, /*replace=*/false);
  if (!copied.ok()) return copied.status();
  absl::MutexLock lock(&mu_);
  Entry& e = modules_[m.name()];
  if (!permanent) {
    e.provisional = r;
  } else {
    if (e.permanent && e.permanent->checksum != r.checksum) e.previous = e.permanent;
    e.permanent = r;
    e.provisional.reset();
  }
  return save();
}

absl::Status ReleaseStore::make_permanent(const std::string& module) {
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(module);
  if (it == modules_.end() || !it->second.provisional) {
    return reload_status(ReloadError::kNotFound,
                         absl::StrCat("module ", module, " has no provisional version"));
  }
  Entry& e = it->second;
  if (e.permanent) e.previous = e.permanent;
  e.permanent = std::move(e.provisional);
  e.provisional.reset();
  return save();
}

std::optional<Release> ReleaseStore::get(const std::string& module,
                                         std::optional<Release> Entry::*which) const {
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(module);
  return it == modules_.end() ? std::nullopt : it->second.*which;
}

std::optional<Release> ReleaseStore::permanent(const std::string& module) const {
  return get(module, &Entry::permanent);
}

std::optional<Release> ReleaseStore::provisional(const std::string& module) const {
  return get(module, &Entry::provisional);
}

std::optional<Release> ReleaseStore::rollback_target(const std::string& module) const {
  if (provisional(module)) return permanent(module);
  return get(module, &Entry::previous);
}

std::vector<std::string> ReleaseStore::modules() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [module, e] : modules_) {
    if (e.permanent) out.push_back(module);
  }
  return out;
}

std::optional<Release> ReleaseStore::with_checksum(const std::string& module,
                                                   const std::string& checksum) const {
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(module);
  if (it == modules_.end()) return std::nullopt;
  const Entry& e = it->second;
  for (const auto* r : {&e.permanent, &e.provisional, &e.previous}) {
    if (*r && (*r)->checksum == checksum) return *r;
  }
  return std::nullopt;
}

uint64_t ReleaseStore::highest_cluster_seq() const {
  absl::MutexLock lock(&mu_);
  uint64_t out = 0;
  for (const auto& [module, e] : modules_) {
    for (const auto* r : {&e.permanent, &e.previous, &e.provisional}) {
      if (*r) out = std::max(out, (*r)->cluster_seq);
    }
  }
  return out;
}

}  // namespace lemon
