// The code server: keeps a current and an old version of each module (as the BEAM does) and loads,
// validates, purges and unloads the shared objects behind them.
//
//   auto cs = CodeServer::create({.copy_dir = "/tmp/lemon-code"}).value();
//   ModuleRef v1 = cs->load("libcounter_v1.so").value();   // current = 1
//   ModuleRef v2 = cs->load("libcounter_v2.so").value();   // current = 2, old = 1
//   cs->soft_purge("counter");   // drops 1 unless an actor still runs it (then kInUse)
//
// A load is validated completely (entry point, ABI version, fingerprint, name, version, schema)
// before anything changes; a failed load leaves the current version untouched. A new shared object
// is first loaded in a child process (module_probe), so that one that would crash the dynamic
// loader or throw from a static constructor is refused instead of taking the node down. Each
// version is a private copy of the file at a unique path (dlopen caches by path), opened RTLD_NOW |
// RTLD_LOCAL, and is dlclose'd only when nothing references it: the code server, a ModuleUse, or a
// ModuleRef. The copy is made first and its checksum taken from it, so the checksum is that of the
// bytes mapped; it is held locked while loaded (core/fs.h), so the copies a killed process left are
// removed by the next code server on the directory and those in use are not. Module names follow
// core/module_name.h. All methods are thread-safe.
#ifndef LEMON_CORE_CODE_SERVER_H_
#define LEMON_CORE_CODE_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/fs.h"
#include "core/module_abi.h"
#include "core/module_schema.h"

namespace lemon {

// One loaded version of one module: a mapped private copy of a shared object.
class LoadedModule {
 public:
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;
  ~LoadedModule();  // dlclose, then remove the private copy

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& checksum() const { return checksum_; }        // sha256 of the mapped bytes
  const std::string& source_path() const { return source_path_; }  // what was loaded
  const std::string& copy_path() const { return copy_.path(); }    // what is mapped
  const LemonModuleDescriptor& descriptor() const { return *descriptor_; }
  // The module's Protobuf schema (core/module_schema.h); null when it declares none.
  const ModuleSchema* schema() const { return schema_.get(); }

  // The behaviour named `name`, or nullptr.
  const LemonBehaviourDescriptor* behaviour(absl::string_view name) const;

  // Actors currently running this version (held through ModuleUse).
  int actor_count() const { return actors_.load(std::memory_order_acquire); }

 private:
  friend class CodeServer;
  friend class ModuleUse;
  explicit LoadedModule(LockedPath copy) : copy_(std::move(copy)) {}

  std::string name_, version_, checksum_, source_path_;
  LockedPath copy_;  // the private copy: locked while loaded, removed after the dlclose
  void* handle_ = nullptr;
  const LemonModuleDescriptor* descriptor_ = nullptr;
  std::unique_ptr<const ModuleSchema> schema_;  // built from descriptor_ at load
  mutable std::atomic<int> actors_{0};
};

// Shared ownership of a loaded version: it stays mapped while any ModuleRef lives.
using ModuleRef = std::shared_ptr<const LoadedModule>;

// An actor's claim on the version it runs: counts toward actor_count() and keeps it mapped.
class ModuleUse {
 public:
  ModuleUse() = default;
  explicit ModuleUse(ModuleRef module);
  ModuleUse(ModuleUse&& other) noexcept;
  ModuleUse& operator=(ModuleUse&& other) noexcept;
  ModuleUse(const ModuleUse&) = delete;
  ModuleUse& operator=(const ModuleUse&) = delete;
  ~ModuleUse();

  const ModuleRef& module() const { return module_; }
  explicit operator bool() const { return module_ != nullptr; }

  // Gives the claim up (actor_count() drops now) and returns the reference, which keeps the
  // version mapped for whatever the actor leaves behind until it is destroyed.
  ModuleRef drop_claim() &&;

 private:
  ModuleRef module_;
};

// One module as the code server sees it.
struct ModuleStatus {
  std::string name;
  ModuleRef current;  // never null in list()
  ModuleRef old;      // null when there is no old version
};

class ProbeServer;

class CodeServer {
 public:
  struct Options {
    // Where private copies of loaded shared objects go; created 0700 if missing, and refused
    // (kPathNotAllowed) unless trusted (check_trusted_path, core/fs.h).
    std::string copy_dir;
    // The module_probe binary (core/module_probe_main.cc) that loads each new shared object in a
    // child process first (a child of one `module_probe --serve` per code server, see
    // core/probe_server.h; a process of its own if that server cannot be used); empty: found in
    // this binary's runfiles (core/module_probe), and when it is not there, modules are loaded
    // without a probe.
    std::string probe_path;
    absl::Duration probe_timeout = absl::Seconds(30);
    // How long a version the code server lets go of (purged, replaced by a commit, unloaded)
    // stays mapped after that: a message built by its code (a request a handler sent, a response
    // it returned) points into it, and one still queued somewhere when the code is unmapped
    // crashes the actor that takes it (docs/modules.md). Zero: let go at once.
    absl::Duration unmap_grace = absl::ZeroDuration();
  };

  // Stops the actors that run `version` and returns how many were stopped (hard purge).
  using PurgeHook = std::function<int(const ModuleRef& version)>;

  static absl::StatusOr<std::unique_ptr<CodeServer>> create(Options options);
  ~CodeServer();  // ends the probe server

  // Maps and validates the module at `path` without changing anything: the result is not yet
  // current. Fails with kUnchanged (same bytes as a current version), kInvalidArgument, kNotFound,
  // kIoError, kLoadFailed, kBadAbi, kFingerprintMismatch, kNameMismatch (when `expected_name` is
  // given), kSameVersion, or kInUse (an old version exists that actors still run; the status names
  // the module: in_use_module()).
  // With OldInUse::kAllow, an old version in use is no refusal (for a caller that hard-purges it
  // before the commit).
  enum class OldInUse { kRefuse, kAllow };
  absl::StatusOr<ModuleRef> prepare(const std::string& path, absl::string_view expected_name = "",
                                    OldInUse old_in_use = OldInUse::kRefuse);

  // Makes a prepared version current; the current one becomes old and any previous old version
  // is dropped. kInUse if that previous old version is still run by actors. Committing the old
  // version itself (a rollback) makes current and old trade places.
  absl::Status commit(const ModuleRef& prepared);

  // prepare + commit.
  absl::StatusOr<ModuleRef> load(const std::string& path, absl::string_view expected_name = "");

  // Drops the old version of `name` if no actor runs it (OK when there is none); else kInUse with
  // the number of actors. kNotFound for an unknown module.
  absl::Status soft_purge(absl::string_view name);

  // Stops the actors running the old version of `name` (through the purge hook), then drops it.
  // Returns how many actors were stopped.
  absl::StatusOr<int> purge(absl::string_view name);

  // Forgets `name` entirely when no actor runs any of its versions (kInUse otherwise).
  absl::Status unload(absl::string_view name);

  void set_purge_hook(PurgeHook hook);

  // Lets go at once of the versions still within their unmap grace (for measurements that must
  // see them unmapped); returns how many there were.
  std::size_t unmap_lingering();

  // How many versions are let go of but not released yet (within their unmap grace, or being
  // released right now).
  std::size_t lingering() const;

  ModuleRef current(absl::string_view name) const;
  ModuleRef old(absl::string_view name) const;
  std::vector<ModuleStatus> list() const;

 private:
  explicit CodeServer(Options options);

  struct Entry {
    ModuleRef current;
    ModuleRef old;
  };

  struct MappedCopy;  // a dlopen handle and its private copy, until they go to a LoadedModule
  // Checks the private copy in `copy` as ELF, probes it and maps it (kLoadFailed naming `path`).
  absl::Status map(const std::string& path, MappedCopy& copy) const;
  absl::Status check_old_purgeable(const std::string& name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  using Modules = std::map<std::string, Entry, std::less<>>;
  // The entry of module `name`: kInvalidArgument for a name check_module_name refuses, kNotFound
  // ("no module <name>") for one not loaded.
  absl::StatusOr<Modules::iterator> find_module(absl::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the old version of `it` (kInUse, as check_old_purgeable, while actors run it); the
  // version goes to `dropped` as for linger.
  absl::Status drop_old(Modules::iterator it, ModuleRef& dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Loads `path` in a module_probe child process; kLoadFailed if that process does not succeed.
  absl::Status probe(const std::string& path) const;

  // Takes `dropped` (a version the code server no longer lists) to keep it mapped for
  // unmap_grace; with no grace, leaves it for the caller to drop after the lock.
  void linger(ModuleRef& dropped) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  class Lingering;  // the versions within their grace, and the thread that lets them go

  const Options options_;
  std::unique_ptr<ProbeServer> probe_server_;  // null without a probe binary
  std::unique_ptr<Lingering> lingering_;       // null without an unmap grace
  mutable absl::Mutex mu_;
  Modules modules_ ABSL_GUARDED_BY(mu_);
  PurgeHook purge_hook_ ABSL_GUARDED_BY(mu_);
};

// The fields of two fingerprints that differ, e.g. "caf=1706 vs caf=1800"; "" when equal.
std::string fingerprint_difference(absl::string_view host, absl::string_view module);

// The module a kInUse refusal of the code server is about ("" for any other status).
std::string in_use_module(const absl::Status& s);

}  // namespace lemon

#endif  // LEMON_CORE_CODE_SERVER_H_
