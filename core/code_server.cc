#include "core/code_server.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/elf_check.h"
#include "core/fs.h"
#include "core/module_name.h"
#include "core/probe_server.h"
#include "core/reload_error.h"
#include "core/runfiles.h"
#include "core/sha256.h"

namespace lemon {
namespace {

// Status payload of a kInUse refusal: the name of the module whose old version is still run.
constexpr char kInUseModuleUrl[] = "type.lemon/InUseModule";

// Private copies are `<copy_dir>/module-XXXXXX.so`, held locked while loaded (core/fs.h).
constexpr absl::string_view kCopyPrefix = "module-";
constexpr absl::string_view kCopySuffix = ".so";

bool is_copy_name(absl::string_view name) {
  return name.size() == kCopyPrefix.size() + 6 + kCopySuffix.size() &&
         absl::StartsWith(name, kCopyPrefix) && absl::EndsWith(name, kCopySuffix);
}

// core/module_probe in this binary's runfiles, or "".
std::string find_probe() {
  const std::string path = find_runfile("core/module_probe");
  return !path.empty() && access(path.c_str(), X_OK) == 0 ? path : std::string();
}

}  // namespace

std::string fingerprint_difference(absl::string_view host, absl::string_view module) {
  if (host == module) return "";
  std::map<std::string, std::string> h, m;
  for (absl::string_view f : absl::StrSplit(host, ';')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(f, absl::MaxSplits('=', 1));
    h[kv.first] = kv.second;
  }
  for (absl::string_view f : absl::StrSplit(module, ';')) {
    std::pair<std::string, std::string> kv = absl::StrSplit(f, absl::MaxSplits('=', 1));
    m[kv.first] = kv.second;
  }
  std::string out;
  for (const auto& [key, value] : h) {
    auto it = m.find(key);
    std::string theirs = it == m.end() ? "<missing>" : it->second;
    if (theirs != value) {
      absl::StrAppend(&out, out.empty() ? "" : ", ", key, ": host ", value, ", module ", theirs);
    }
  }
  for (const auto& [key, value] : m) {
    if (h.count(key) == 0) {
      absl::StrAppend(&out, out.empty() ? "" : ", ", key, ": host <missing>, module ", value);
    }
  }
  return out.empty() ? "fingerprints differ" : out;
}

LoadedModule::~LoadedModule() {
  if (handle_ != nullptr) dlclose(handle_);  // then copy_ removes the private copy
}

const LemonBehaviourDescriptor* LoadedModule::behaviour(absl::string_view name) const {
  for (uint32_t i = 0; i < descriptor_->behaviour_count; ++i) {
    if (name == descriptor_->behaviours[i].name) return &descriptor_->behaviours[i];
  }
  return nullptr;
}

ModuleUse::ModuleUse(ModuleRef module) : module_(std::move(module)) {
  if (module_) module_->actors_.fetch_add(1, std::memory_order_acq_rel);
}

ModuleUse::ModuleUse(ModuleUse&& other) noexcept : module_(std::move(other.module_)) {}

ModuleUse& ModuleUse::operator=(ModuleUse&& other) noexcept {
  if (this != &other) {
    if (module_) module_->actors_.fetch_sub(1, std::memory_order_acq_rel);
    module_ = std::move(other.module_);
  }
  return *this;
}

ModuleRef ModuleUse::drop_claim() && {
  if (module_) module_->actors_.fetch_sub(1, std::memory_order_acq_rel);
  return std::move(module_);
}

ModuleUse::~ModuleUse() {
  if (module_) module_->actors_.fetch_sub(1, std::memory_order_acq_rel);
}

absl::StatusOr<std::unique_ptr<CodeServer>> CodeServer::create(Options options) {
  if (options.copy_dir.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "CodeServer needs a copy_dir");
  }
  if (options.probe_path.empty()) options.probe_path = find_probe();
  if (auto s = make_dirs(options.copy_dir, 0700); !s.ok()) return s;
  if (auto s = check_trusted_path(options.copy_dir, PathKind::kDirectory); !s.ok()) return s;
  // Copies a killed process left behind; those of live processes stay locked.
  if (auto swept = sweep_unlocked(options.copy_dir, is_copy_name); !swept.ok()) {
    return swept.status();
  }
  return std::unique_ptr<CodeServer>(new CodeServer(std::move(options)));
}

// Versions let go of, each kept mapped until its time; a thread of its own drops them then.
class CodeServer::Lingering {
 public:
  Lingering() : thread_([this] { run(); }) {}
  ~Lingering() {  // what is left goes with the code server
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      woken_ = true;
    }
    thread_.join();
  }

  void keep(ModuleRef version, absl::Time until) {
    absl::MutexLock lock(&mu_);
    items_.push_back({std::move(version), until});
    woken_ = true;
  }

  std::size_t drop_all() {
    std::vector<Item> gone;
    {
      absl::MutexLock lock(&mu_);
      gone.swap(items_);
    }
    return gone.size();  // dropped here, outside the lock: dlclose may run destructors
  }

  std::size_t size() const {  // until a version is really let go, it counts
    absl::MutexLock lock(&mu_);
    return items_.size() + releasing_;
  }

 private:
  struct Item {
    ModuleRef version;
    absl::Time until;
  };

  void run() {
    pthread_setname_np(pthread_self(), "lemon-unmap");
    absl::MutexLock lock(&mu_);
    while (!stop_) {
      const absl::Time now = absl::Now();
      std::vector<ModuleRef> due;
      absl::Time next = absl::InfiniteFuture();
      for (auto it = items_.begin(); it != items_.end();) {
        if (it->until <= now) {
          due.push_back(std::move(it->version));
          it = items_.erase(it);
        } else {
          next = std::min(next, it->until);
          ++it;
        }
      }
      if (!due.empty()) {
        releasing_ = due.size();
        mu_.Unlock();
        due.clear();  // outside the lock: dlclose may run destructors
        mu_.Lock();
        releasing_ = 0;
        continue;
      }
      woken_ = false;
      mu_.AwaitWithDeadline(absl::Condition(&woken_), next);
    }
  }

  mutable absl::Mutex mu_;
  std::vector<Item> items_ ABSL_GUARDED_BY(mu_);
  std::size_t releasing_ ABSL_GUARDED_BY(mu_) = 0;  // taken out of items_, being dropped
  bool woken_ ABSL_GUARDED_BY(mu_) = false;         // something changed: look again
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

CodeServer::CodeServer(Options options) : options_(std::move(options)) {
  if (!options_.probe_path.empty()) {
    probe_server_ = std::make_unique<ProbeServer>(options_.probe_path);
  }
  if (options_.unmap_grace > absl::ZeroDuration()) lingering_ = std::make_unique<Lingering>();
}

CodeServer::~CodeServer() = default;

void CodeServer::linger(ModuleRef& dropped) {
  if (dropped && lingering_) {
    lingering_->keep(std::move(dropped), absl::Now() + options_.unmap_grace);
    dropped = nullptr;
  }
}

std::size_t CodeServer::unmap_lingering() { return lingering_ ? lingering_->drop_all() : 0; }

std::size_t CodeServer::lingering() const { return lingering_ ? lingering_->size() : 0; }

namespace {

// What a probe's end means: OK if it exited 0, else kLoadFailed with how it ended and what it said.
absl::Status probe_verdict(int status, std::string said) {
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  const std::string how = WIFSIGNALED(status)
                              ? absl::StrCat("was killed by signal ", WTERMSIG(status))
                              : absl::StrCat("exited with ", WEXITSTATUS(status));
  return reload_status(ReloadError::kLoadFailed,
                       absl::StrCat("loading it in a probe process failed (the probe ", how,
                                    said.empty() ? "" : ": ", said, ")"));
}

absl::Status probe_timed_out(absl::Duration timeout) {
  return reload_status(
      ReloadError::kLoadFailed,
      absl::StrCat("loading it did not finish within ", absl::FormatDuration(timeout),
                   " (a static initialiser that hangs?)"));
}

}  // namespace

absl::Status CodeServer::probe(const std::string& path) const {
  // Usually in a child of the probe server; a probe process of its own if the server is not usable.
  if (probe_server_) {
    auto served = probe_server_->probe(path, options_.probe_timeout);
    if (served.ok()) return probe_verdict(served->wait_status, std::move(served->said));
    if (absl::IsDeadlineExceeded(served.status())) return probe_timed_out(options_.probe_timeout);
  }
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return reload_status(ReloadError::kIoError, absl::StrCat("pipe: ", errno_text(errno)));
  }
  const absl::StatusOr<pid_t> spawned =
      spawn_probe(options_.probe_path, path, err_pipe[1], {STDERR_FILENO}, STDOUT_FILENO);
  close(err_pipe[1]);
  if (!spawned.ok()) {
    close(err_pipe[0]);
    return spawned.status();
  }
  const pid_t pid = *spawned;
  // Read what the probe says until it exits (its stderr closes) or the deadline passes.
  std::string said;
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(options_.probe_timeout);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{err_pipe[0], POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buf[512];
    const ssize_t got = read(err_pipe[0], buf, sizeof(buf));
    if (got <= 0) break;
    if (said.size() < 4096) said.append(buf, static_cast<size_t>(got));
  }
  close(err_pipe[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return probe_timed_out(options_.probe_timeout);
  return probe_verdict(status, std::move(said));
}

std::string in_use_module(const absl::Status& s) {
  if (reload_error_of(s) != ReloadError::kInUse) return "";
  auto payload = s.GetPayload(kInUseModuleUrl);
  return payload ? std::string(*payload) : "";
}

absl::Status CodeServer::check_old_purgeable(const std::string& name) const {
  auto it = modules_.find(name);
  if (it == modules_.end() || !it->second.old) return absl::OkStatus();
  int n = it->second.old->actor_count();
  if (n == 0) return absl::OkStatus();
  absl::Status s = reload_status(ReloadError::kInUse,
                                 absl::StrCat(n, " actor(s) still run ", name, " version ",
                                              it->second.old->version(), "; old code not purged"));
  s.SetPayload(kInUseModuleUrl, absl::Cord(name));
  return s;
}

namespace {

// The descriptor of the module mapped at `handle` (loaded from `path`), checked: entry point, ABI
// version, size, fingerprint, name (core/module_name.h), version and behaviour table.
absl::StatusOr<const LemonModuleDescriptor*> checked_descriptor(const std::string& path,
                                                                void* handle) {
  auto entry = reinterpret_cast<LemonModuleEntryFn>(dlsym(handle, kModuleEntrySymbol));
  if (entry == nullptr) {
    return reload_status(
        ReloadError::kBadAbi,
        absl::StrCat(path, " has no entry point ", kModuleEntrySymbol, ": not a Lemon module"));
  }
  const LemonModuleDescriptor* d = entry();
  if (d == nullptr) {
    return reload_status(ReloadError::kBadAbi, absl::StrCat(path, ": entry point returned null"));
  }
  if (d->abi_version != kModuleAbiVersion) {
    return reload_status(ReloadError::kBadAbi,
                         absl::StrCat(path, " was built for module ABI ", d->abi_version,
                                      "; this host has ABI ", kModuleAbiVersion));
  }
  if (d->struct_size != sizeof(LemonModuleDescriptor)) {
    return reload_status(ReloadError::kBadAbi,
                         absl::StrCat(path, ": descriptor size ", d->struct_size, ", expected ",
                                      sizeof(LemonModuleDescriptor)));
  }
  if (d->fingerprint == nullptr || absl::string_view(d->fingerprint) != kHostFingerprint) {
    return reload_status(
        ReloadError::kFingerprintMismatch,
        absl::StrCat(path, " does not match this host (",
                     fingerprint_difference(kHostFingerprint, d->fingerprint ? d->fingerprint : ""),
                     ")"));
  }
  if (d->name == nullptr || *d->name == '\0' || d->version == nullptr || *d->version == '\0') {
    return reload_status(ReloadError::kBadAbi,
                         absl::StrCat(path, ": module without name or version"));
  }
  if (absl::Status s = check_module_name(d->name); !s.ok()) {
    return reload_status(ReloadError::kBadAbi, absl::StrCat(path, ": ", s.message()));
  }
  if (d->behaviour_count > 0 && d->behaviours == nullptr) {
    return reload_status(ReloadError::kBadAbi, absl::StrCat(path, ": null behaviour table"));
  }
  for (uint32_t i = 0; i < d->behaviour_count; ++i) {
    const auto& b = d->behaviours[i];
    if (b.name == nullptr || b.create == nullptr || b.code_change == nullptr ||
        b.destroy == nullptr) {
      return reload_status(ReloadError::kBadAbi,
                           absl::StrCat(path, ": behaviour ", i, " is incomplete"));
    }
  }
  return d;
}

}  // namespace

struct CodeServer::MappedCopy {
  void* handle = nullptr;
  std::optional<LockedPath> file;
  ~MappedCopy() {
    if (handle != nullptr) dlclose(handle);  // before the file goes
  }
};

absl::Status CodeServer::map(const std::string& path, MappedCopy& copy) const {
  const std::string& file = copy.file->path();
  if (auto s = check_shared_object(file); !s.ok()) {
    return reload_status(ReloadError::kLoadFailed,
                         absl::StrCat("cannot load ", path, ": ", s.message()));
  }
  if (!options_.probe_path.empty()) {
    if (auto s = probe(file); !s.ok()) {
      return reload_status(ReloadError::kLoadFailed,
                           absl::StrCat("cannot load ", path, ": ", s.message()));
    }
  }
  dlerror();
  copy.handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (copy.handle == nullptr) {
    const char* why = dlerror();
    return reload_status(ReloadError::kLoadFailed,
                         absl::StrCat("cannot load ", path, ": ", why ? why : "dlopen failed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModuleRef> CodeServer::prepare(const std::string& path,
                                              absl::string_view expected_name,
                                              OldInUse old_in_use) {
  if (path.empty()) return reload_status(ReloadError::kInvalidArgument, "empty module path");
  if (!expected_name.empty()) {
    if (absl::Status s = check_module_name(expected_name); !s.ok()) return s;
  }
  // The private copy is made first and hashed, so the checksum describes the bytes mapped.
  MappedCopy copy;
  absl::StatusOr<LockedPath> file =
      copy_to_new_file(path, options_.copy_dir, kCopyPrefix, kCopySuffix);
  if (!file.ok()) return file.status();
  copy.file = std::move(*file);
  absl::StatusOr<std::string> checksum = sha256_file(copy.file->path());
  if (!checksum.ok()) return checksum.status();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, entry] : modules_) {
      if (entry.current->checksum() == *checksum &&
          (expected_name.empty() || expected_name == name)) {
        return reload_status(ReloadError::kUnchanged,
                             absl::StrCat(path, " is unchanged: ", name, " version ",
                                          entry.current->version(), " is current"));
      }
    }
  }
  if (absl::Status s = map(path, copy); !s.ok()) return s;
  absl::StatusOr<const LemonModuleDescriptor*> d = checked_descriptor(path, copy.handle);
  if (!d.ok()) return d.status();
  absl::StatusOr<std::unique_ptr<ModuleSchema>> schema = ModuleSchema::of(**d);
  if (!schema.ok()) {
    return reload_status(ReloadError::kBadAbi, absl::StrCat(path, ": ", schema.status().message()));
  }
  const std::string name = (*d)->name;
  if (!expected_name.empty() && expected_name != name) {
    return reload_status(ReloadError::kNameMismatch,
                         absl::StrCat(path, " holds module ", name, ", not ", expected_name));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = modules_.find(name);
    if (it != modules_.end() && it->second.current->version() == (*d)->version) {
      return reload_status(ReloadError::kSameVersion,
                           absl::StrCat(path, ": ", name, " version ", (*d)->version,
                                        " is already current with other bytes; bump the version"));
    }
    if (old_in_use == OldInUse::kRefuse) {
      if (auto s = check_old_purgeable(name); !s.ok()) return s;
    }
  }
  auto module = std::shared_ptr<LoadedModule>(new LoadedModule(std::move(*copy.file)));
  module->name_ = name;
  module->version_ = (*d)->version;
  module->checksum_ = *checksum;
  module->source_path_ = path;
  module->descriptor_ = *d;
  module->schema_ = std::move(*schema);
  module->handle_ = copy.handle;
  copy.handle = nullptr;
  return ModuleRef(std::move(module));
}

absl::Status CodeServer::commit(const ModuleRef& prepared) {
  if (!prepared) return reload_status(ReloadError::kInvalidArgument, "commit of a null module");
  ModuleRef dropped;  // released after the lock: dlclose may run destructors
  absl::MutexLock lock(&mu_);
  Entry& e = modules_[prepared->name()];
  if (e.current == prepared) return absl::OkStatus();
  if (e.old == prepared) {  // going back to the old version (a rollback): the two trade places
    std::swap(e.old, e.current);
    return absl::OkStatus();
  }
  if (auto s = check_old_purgeable(prepared->name()); !s.ok()) return s;
  dropped = std::move(e.old);
  linger(dropped);
  e.old = std::move(e.current);
  e.current = prepared;
  return absl::OkStatus();
}

absl::StatusOr<ModuleRef> CodeServer::load(const std::string& path,
                                           absl::string_view expected_name) {
  auto prepared = prepare(path, expected_name);
  if (!prepared.ok()) return prepared.status();
  if (auto s = commit(*prepared); !s.ok()) return s;
  return prepared;
}

absl::StatusOr<CodeServer::Modules::iterator> CodeServer::find_module(absl::string_view name) {
  if (absl::Status s = check_module_name(name); !s.ok()) return s;
  auto it = modules_.find(name);
  if (it == modules_.end()) {
    return reload_status(ReloadError::kNotFound, absl::StrCat("no module ", name));
  }
  return it;
}

absl::Status CodeServer::drop_old(Modules::iterator it, ModuleRef& dropped) {
  if (auto s = check_old_purgeable(it->first); !s.ok()) return s;
  dropped = std::move(it->second.old);
  linger(dropped);
  return absl::OkStatus();
}

absl::Status CodeServer::soft_purge(absl::string_view name) {
  ModuleRef dropped;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Modules::iterator> it = find_module(name);
  if (!it.ok()) return it.status();
  return drop_old(*it, dropped);
}

absl::StatusOr<int> CodeServer::purge(absl::string_view name) {
  ModuleRef old_version;
  PurgeHook hook;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Modules::iterator> it = find_module(name);
    if (!it.ok()) return it.status();
    old_version = (*it)->second.old;
    hook = purge_hook_;
  }
  if (!old_version) return 0;
  int stopped = 0;
  if (old_version->actor_count() > 0) {
    if (!hook) {
      return reload_status(
          ReloadError::kInUse,
          absl::StrCat(old_version->actor_count(), " actor(s) run ", name, " version ",
                       old_version->version(), " and no purge hook can stop them"));
    }
    stopped = hook(old_version);
  }
  ModuleRef dropped;
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(name);
  if (it == modules_.end() || it->second.old != old_version) return stopped;
  if (auto s = drop_old(it, dropped); !s.ok()) return s;
  return stopped;
}

absl::Status CodeServer::unload(absl::string_view name) {
  Entry dropped;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Modules::iterator> found = find_module(name);
  if (!found.ok()) return found.status();
  auto it = *found;
  int n = it->second.current->actor_count() + (it->second.old ? it->second.old->actor_count() : 0);
  if (n > 0) {
    return reload_status(ReloadError::kInUse,
                         absl::StrCat(n, " actor(s) still run ", name, "; not unloaded"));
  }
  dropped = std::move(it->second);
  linger(dropped.current);
  linger(dropped.old);
  modules_.erase(it);
  return absl::OkStatus();
}

void CodeServer::set_purge_hook(PurgeHook hook) {
  absl::MutexLock lock(&mu_);
  purge_hook_ = std::move(hook);
}

ModuleRef CodeServer::current(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(name);
  return it == modules_.end() ? nullptr : it->second.current;
}

ModuleRef CodeServer::old(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = modules_.find(name);
  return it == modules_.end() ? nullptr : it->second.old;
}

std::vector<ModuleStatus> CodeServer::list() const {
  absl::MutexLock lock(&mu_);
  std::vector<ModuleStatus> out;
  for (const auto& [name, e] : modules_) out.push_back({name, e.current, e.old});
  return out;
}

}  // namespace lemon
