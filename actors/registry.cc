#include "actors/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "caf/exit_reason.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

// AlreadyExists, as callers of spawn expect, with the ReloadError payload that reports and the
// control plane read.
absl::Status name_taken(const std::string& name) {
  absl::Status s = reload_status(ReloadError::kInvalidArgument,
                                 absl::StrCat("an actor named ", name, " already exists"));
  absl::Status out = absl::AlreadyExistsError(s.message());
  s.ForEachPayload(
      [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace

void ActorRegistry::set_counts_hook(CountsHook hook) {
  absl::MutexLock hook_lock(&hook_mu_);
  hook_ = std::move(hook);
  absl::MutexLock lock(&mu_);
  hooked_ = static_cast<bool>(hook_);
  dirty_.clear();
}

void ActorRegistry::report_counts() {
  // hook_mu_ makes the calls one at a time; whoever gets it reports every module changed so far,
  // so a burst of spawns from many threads becomes a few calls.
  absl::MutexLock hook_lock(&hook_mu_);
  std::map<std::string, std::size_t> counts;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& module : dirty_) {
      auto m = by_module_.find(module);
      counts[module] = m == by_module_.end() ? 0 : m->second.size();
    }
    dirty_.clear();
  }
  if (!counts.empty() && hook_) hook_(counts);
}

void ActorRegistry::ModuleActors::insert(const caf::actor& a) {
  if (!index.emplace(a.id(), handles.size()).second) return;
  handles.push_back(a);
}

caf::actor ActorRegistry::ModuleActors::erase(caf::actor_id id) {
  auto it = index.find(id);
  if (it == index.end()) return caf::actor{};
  const std::size_t hole = it->second;
  index.erase(it);
  caf::actor out = std::move(handles[hole]);
  if (hole + 1 != handles.size()) {
    handles[hole] = std::move(handles.back());
    index[handles[hole].id()] = hole;
  }
  handles.pop_back();
  return out;
}

absl::StatusOr<caf::actor> ActorRegistry::spawn_registered(
    const std::string& module, const std::string& behaviour, const std::string& name,
    const std::string& parent,
    const std::function<absl::StatusOr<caf::actor>(bool deferred)>& spawn) {
  caf::actor a;
  bool report = false;
  {
    absl::MutexLock lock(&mu_);
    if (!name.empty() && names_.count(name) > 0) return name_taken(name);
    auto gate = gates_.find(module);
    const bool deferred = gate != gates_.end();
    auto spawned = spawn(deferred);
    if (!spawned.ok()) return spawned.status();
    a = *spawned;
    actors_[a.id()] = ActorEntry{a, name, module, behaviour, parent};
    if (!name.empty()) names_[name] = a.id();
    by_module_[module].insert(a);
    if (deferred) gate->second.push_back(a);
    if (hooked_) report = dirty_.insert(module).second;
  }
  // Only the thread that marked the module reports it; the others' changes are in its report or,
  // if it already ran, in a later one.
  if (report) report_counts();
  return a;
}

void ActorRegistry::unregister(caf::actor_id id) {
  ActorEntry dropped;  // released after the lock
  caf::actor dropped_handle;
  bool report = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = actors_.find(id);
    if (it == actors_.end()) return;
    if (!it->second.name.empty()) names_.erase(it->second.name);
    auto m = by_module_.find(it->second.module);
    if (m != by_module_.end()) {
      dropped_handle = m->second.erase(id);
      if (m->second.empty()) by_module_.erase(m);
    }
    if (hooked_) report = dirty_.insert(it->second.module).second;
    drop_held(it->second.module, id);
    dropped = std::move(it->second);
    actors_.erase(it);
  }
  if (report) report_counts();
}

caf::actor ActorRegistry::whereis(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = names_.find(name);
  if (it == names_.end()) return caf::actor{};
  return actors_.at(it->second).handle;
}

std::vector<caf::actor> ActorRegistry::actors_of(const std::string& module) const {
  absl::MutexLock lock(&mu_);
  auto m = by_module_.find(module);
  if (m == by_module_.end()) return {};
  return m->second.handles;
}

std::vector<ActorEntry> ActorRegistry::list() const {
  absl::MutexLock lock(&mu_);
  std::vector<ActorEntry> out;
  for (const auto& [id, entry] : actors_) out.push_back(entry);
  return out;
}

void ActorRegistry::stop_all() const {
  for (const ActorEntry& e : list()) caf::anon_send_exit(e.handle, caf::exit_reason::user_shutdown);
}

ActorRegistry::Page ActorRegistry::page(caf::actor_id after, std::size_t limit,
                                        const std::string& module) const {
  absl::MutexLock lock(&mu_);
  Page out;
  for (auto it = actors_.upper_bound(after); it != actors_.end(); ++it) {
    if (!module.empty() && it->second.module != module) continue;
    if (out.actors.size() == limit) {
      out.more = true;
      break;
    }
    out.actors.push_back(it->second);
  }
  return out;
}

std::size_t ActorRegistry::count(const std::string& module) const {
  absl::MutexLock lock(&mu_);
  auto m = by_module_.find(module);
  return m == by_module_.end() ? 0 : m->second.size();
}

std::map<std::string, std::size_t> ActorRegistry::counts() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::size_t> out;
  for (const auto& [module, ids] : by_module_) out[module] = ids.size();
  return out;
}

absl::StatusOr<std::vector<caf::actor>> ActorRegistry::open_gate(const std::string& module) {
  absl::MutexLock lock(&mu_);
  if (gates_.count(module) > 0) {
    return absl::FailedPreconditionError(absl::StrCat("a reload of ", module, " is running"));
  }
  if (auto held = held_.find(module); held != held_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("actor ", name_or_id(*held->second.begin()), " of ", module,
                     " is held for maintenance (actors.suspend): resume it first"));
  }
  gates_[module];
  auto m = by_module_.find(module);
  if (m == by_module_.end()) return std::vector<caf::actor>{};
  return m->second.handles;
}

std::vector<caf::actor> ActorRegistry::close_gate(const std::string& module) {
  absl::MutexLock lock(&mu_);
  auto gate = gates_.find(module);
  if (gate == gates_.end()) return {};
  std::vector<caf::actor> deferred = std::move(gate->second);
  gates_.erase(gate);
  return deferred;
}

absl::Status ActorRegistry::mark_held(caf::actor_id id) {
  absl::MutexLock lock(&mu_);
  auto it = actors_.find(id);
  if (it == actors_.end()) return absl::NotFoundError(absl::StrCat("no actor #", id));
  if (gates_.count(it->second.module) > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("a reload of ", it->second.module, " is running"));
  }
  held_[it->second.module].insert(id);
  return absl::OkStatus();
}

void ActorRegistry::unmark_held(caf::actor_id id) {
  absl::MutexLock lock(&mu_);
  auto it = actors_.find(id);
  if (it != actors_.end()) drop_held(it->second.module, id);
}

void ActorRegistry::drop_held(const std::string& module, caf::actor_id id) {
  auto held = held_.find(module);
  if (held == held_.end()) return;
  held->second.erase(id);
  if (held->second.empty()) held_.erase(held);
}

std::string ActorRegistry::name_or_id(caf::actor_id id) const {
  auto it = actors_.find(id);
  if (it == actors_.end() || it->second.name.empty()) return absl::StrCat("#", id);
  return it->second.name;
}

void ActorRegistry::register_supervisor(SupervisorEntry entry) {
  absl::MutexLock lock(&mu_);
  const caf::actor_id id = entry.handle.id();
  supervisors_[id] = std::move(entry);
}

void ActorRegistry::unregister_supervisor(caf::actor_id id) {
  SupervisorEntry dropped;  // its handle is released after the lock
  absl::MutexLock lock(&mu_);
  auto it = supervisors_.find(id);
  if (it == supervisors_.end()) return;
  dropped = std::move(it->second);
  supervisors_.erase(it);
}

std::vector<SupervisorEntry> ActorRegistry::supervisors() const {
  absl::MutexLock lock(&mu_);
  std::vector<SupervisorEntry> out;
  out.reserve(supervisors_.size());
  for (const auto& [id, entry] : supervisors_) out.push_back(entry);
  return out;
}

void ActorRegistry::count_restart(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ++restarts_[name];
}

uint64_t ActorRegistry::restarts(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = restarts_.find(name);
  return it == restarts_.end() ? 0 : it->second;
}

std::string ActorRegistry::name_of(caf::actor_id id) const {
  absl::MutexLock lock(&mu_);
  auto it = actors_.find(id);
  return it == actors_.end() ? std::string() : it->second.name;
}

bool ActorRegistry::await_gone(caf::actor_id id, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return actors_.count(id) == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool ActorRegistry::await_name_free(const std::string& name, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return names_.count(name) == 0; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool ActorRegistry::gate_open(const std::string& module) const {
  absl::MutexLock lock(&mu_);
  return gates_.count(module) > 0;
}

bool ActorRegistry::await_count(const std::string& module, std::size_t n,
                                absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto m = by_module_.find(module);
    return (m == by_module_.end() ? 0 : m->second.size()) == n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

bool ActorRegistry::await_gate(const std::string& module, bool open, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return (gates_.count(module) > 0) == open; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

}  // namespace lemon
