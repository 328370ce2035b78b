// Which version of each module a node boots: the permanent one, recorded after a successful reload
// (or rollback) together with a private copy of its bytes, so that a restart boots what ran and
// not whatever sits in the modules directory (a file whose reload failed is never booted).
//
//   auto store = ReleaseStore::open(state_dir + "/releases").value();
//   store->record(*module_ref, /*permanent=*/true);   // after the reload committed
//   std::optional<Release> boot = store->permanent("counter");
//
// A version recorded with permanent = false is provisional: it runs, but the permanent one is
// still what boots, until make_permanent. The record (<dir>/releases.json) is written to a
// temporary file and renamed over the old one, so a crash leaves the old record or the new one.
// Copies no record names any more are removed. Thread-safe.
#ifndef LEMON_CORE_RELEASE_STORE_H_
#define LEMON_CORE_RELEASE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/code_server.h"

namespace lemon {

struct Release {
  std::string version;
  std::string checksum;  // sha256 of the bytes, hex
  std::string copy;      // the private copy of those bytes
  // The cluster commit that made this version the cluster's (cluster/cluster.h): a logical clock,
  // higher for later commits; 0 for a version made current outside a cluster reload.
  uint64_t cluster_seq = 0;
};

class ReleaseStore {
 public:
  // Opens (creating it 0700) the store in `dir` and reads its record; kIoError or
  // kInvalidArgument naming the record when it cannot be read.
  static absl::StatusOr<std::unique_ptr<ReleaseStore>> open(const std::string& dir);

  // Records `m` as its module's permanent version (the permanent one before becomes the
  // previous one), or, unless `permanent`, as its provisional version, with `cluster_seq`.
  absl::Status record(const LoadedModule& m, bool permanent, uint64_t cluster_seq = 0);

  // The provisional version of `module` becomes permanent; kNotFound when it has none.
  absl::Status make_permanent(const std::string& module);

  std::optional<Release> permanent(const std::string& module) const;
  std::optional<Release> provisional(const std::string& module) const;
  // What a rollback of `module` goes back to: the permanent version while a provisional one
  // runs, else the permanent version before the current one.
  std::optional<Release> rollback_target(const std::string& module) const;
  // The modules with a permanent version, by name.
  std::vector<std::string> modules() const;
  // The release of `module` (permanent, previous or provisional) whose bytes have `checksum`.
  std::optional<Release> with_checksum(const std::string& module,
                                       const std::string& checksum) const;
  // The highest cluster_seq of any release recorded (0: none came from a cluster reload).
  uint64_t highest_cluster_seq() const;

 private:
  struct Entry {
    std::optional<Release> permanent, previous, provisional;
  };
  explicit ReleaseStore(std::string dir) : dir_(std::move(dir)) {}
  absl::Status load();
  // Writes the record, then removes the copies it no longer names.
  absl::Status save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Release> get(const std::string& module, std::optional<Release> Entry::*which) const;

  const std::string dir_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> modules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELEASE_STORE_H_
