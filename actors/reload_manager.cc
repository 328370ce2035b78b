#include "actors/reload_manager.h"

#include <atomic>
#include <chrono>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/system_messages.h"
#include "caf/actor_system.hpp"
#include "caf/after.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> next_reload_id{1};

std::chrono::milliseconds left_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

Clock::time_point deadline_after(absl::Duration d) {
  return Clock::now() + absl::ToChronoNanoseconds(d);
}

}  // namespace

ReloadManager::ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                             CodeServer& code_server)
    : sys_(sys), registry_(std::move(registry)), code_server_(code_server) {}

SwapResult ReloadManager::swap(const ModuleRef& next, const SwapOptions& options) {
  const auto started = Clock::now();
  SwapResult result;
  result.module = next->name();
  result.to_version = next->version();
  if (ModuleRef before = code_server_.current(next->name())) result.from_version = before->version();

  auto snapshot = registry_->open_gate(next->name());
  if (!snapshot.ok()) {
    result.status = reload_status(ReloadError::kReloadInProgress, snapshot.status().message());
    return result;
  }
  const uint64_t reload_id = next_reload_id.fetch_add(1);
  caf::scoped_actor self{sys_};
  std::map<caf::actor_id, caf::actor> actors;  // still alive and part of this reload
  for (caf::actor& a : *snapshot) {
    self->monitor(a);
    actors.emplace(a.id(), a);
  }
  result.actors = actors.size();
  std::map<caf::actor_id, std::string> names;
  for (const ActorEntry& e : registry_->list()) names[e.handle.id()] = e.name;

  // Removes an actor that exited during the reload; it no longer takes part.
  auto on_down = [&](caf::down_msg& down) { actors.erase(down.source.id()); };

  // Phase 1: suspend everyone, wait for every acknowledgement.
  for (auto& [id, a] : actors) {
    self->send<caf::message_priority::high>(a, sys_suspend_atom::value, reload_id,
                                            caf::actor{self});
  }
  std::map<caf::actor_id, bool> acked;
  auto deadline = deadline_after(options.suspend_timeout);
  bool timed_out = false;
  while (!timed_out && acked.size() < actors.size()) {
    self->receive(
        [&](suspended_atom, uint64_t rid, caf::actor_id id) {
          if (rid == reload_id && actors.count(id) > 0) acked[id] = true;
        },
        on_down, caf::after(left_until(deadline)) >> [&] { timed_out = true; });
    for (auto it = acked.begin(); it != acked.end();) {
      it = actors.count(it->first) > 0 ? std::next(it) : acked.erase(it);
    }
  }
  if (timed_out) {
    std::size_t missing = 0;
    for (auto& [id, a] : actors) {
      if (acked.count(id) == 0) {
        ++missing;
        result.failures.push_back({id, names[id], "did not acknowledge suspension in time"});
      }
    }
    result.status = reload_status(
        ReloadError::kSuspendTimeout,
        absl::StrCat(missing, " of ", actors.size(), " actor(s) of ", next->name(),
                     " did not acknowledge suspension within ",
                     absl::FormatDuration(options.suspend_timeout)));
  }

  // Phase 2: migrate every actor's state with the new version's code_change.
  if (result.status.ok()) {
    for (auto& [id, a] : actors) {
      self->send<caf::message_priority::high>(a, sys_change_atom::value, reload_id, next,
                                              options.extra, caf::actor{self});
    }
    std::map<caf::actor_id, bool> changed;
    deadline = deadline_after(options.change_timeout);
    while (!timed_out && changed.size() < actors.size()) {
      self->receive(
          [&](changed_atom, uint64_t rid, caf::actor_id id, bool ok, std::string& error) {
            if (rid != reload_id || actors.count(id) == 0) return;
            changed[id] = ok;
            if (!ok) result.failures.push_back({id, names[id], std::move(error)});
          },
          on_down, caf::after(left_until(deadline)) >> [&] { timed_out = true; });
      for (auto it = changed.begin(); it != changed.end();) {
        it = actors.count(it->first) > 0 ? std::next(it) : changed.erase(it);
      }
    }
    if (timed_out) {
      for (auto& [id, a] : actors) {
        if (changed.count(id) == 0) {
          result.failures.push_back({id, names[id], "code_change did not finish in time"});
        }
      }
      result.status = reload_status(
          ReloadError::kTimeout,
          absl::StrCat("code_change of ", next->name(), " did not finish within ",
                       absl::FormatDuration(options.change_timeout)));
    } else if (!result.failures.empty()) {
      const ActorFailure& first = result.failures.front();
      result.status = reload_status(
          ReloadError::kCodeChangeFailed,
          absl::StrCat(result.failures.size(), " of ", actors.size(), " actor(s) failed code_change ",
                       result.from_version, " -> ", result.to_version, "; first: actor ",
                       first.actor_name.empty() ? std::to_string(first.actor_id) : first.actor_name,
                       ": ", first.message));
    }
  }

  // Commit point: the new version becomes current only if every actor migrated.
  if (result.status.ok()) {
    if (auto s = code_server_.commit(next); !s.ok()) result.status = s;
  }
  const bool committed = result.status.ok();

  // Phase 3: resume everyone, on the new version (commit) or the old one (abort).
  for (auto& [id, a] : actors) {
    if (committed) {
      self->send<caf::message_priority::high>(a, sys_commit_atom::value, reload_id,
                                              caf::actor{self});
    } else {
      self->send<caf::message_priority::high>(a, sys_abort_atom::value, reload_id,
                                              caf::actor{self});
    }
  }
  std::map<caf::actor_id, bool> resumed;
  deadline = deadline_after(options.suspend_timeout + options.change_timeout);
  bool resume_timed_out = false;
  while (!resume_timed_out && resumed.size() < actors.size()) {
    self->receive(
        [&](resumed_atom, uint64_t rid, caf::actor_id id, uint64_t pause_ns) {
          if (rid != reload_id || actors.count(id) == 0) return;
          if (resumed.emplace(id, true).second) {
            result.pause_seconds.push_back(static_cast<double>(pause_ns) * 1e-9);
          }
        },
        on_down, caf::after(left_until(deadline)) >> [&] { resume_timed_out = true; });
    for (auto it = resumed.begin(); it != resumed.end();) {
      it = actors.count(it->first) > 0 ? std::next(it) : resumed.erase(it);
    }
  }
  for (auto& [id, a] : actors) self->demonitor(a);

  // Actors spawned meanwhile start on the version that won.
  ModuleRef winner = code_server_.current(next->name());
  std::vector<caf::actor> deferred = registry_->close_gate(next->name());
  result.deferred = deferred.size();
  for (caf::actor& a : deferred) {
    if (winner) {
      self->send<caf::message_priority::high>(a, sys_init_atom::value, winner);
    } else {
      self->send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
  result.duration_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

}  // namespace lemon
