#include "actors/reload_manager.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/reload_round.h"
#include "actors/system_messages.h"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<uint64_t> next_round_id{1};

// How often a wait re-checks whether actors that have not answered still exist.
constexpr absl::Duration kLivenessSlice = absl::Milliseconds(50);

// Waits for `done(slice)` in slices until `timeout`, marking actors that vanished from the
// registry as gone so that a dead actor does not hold a reload until its deadline.
template <class Await>
bool await_with_liveness(ReloadRound& round, const std::vector<caf::actor>& actors,
                         const ActorRegistry& registry, absl::Duration timeout, Await await) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (await(std::min(left, kLivenessSlice))) return true;
    if (left <= kLivenessSlice) return false;
    for (std::size_t i = 0; i < actors.size(); ++i) {
      if (!registry.contains(actors[i].id())) round.gone(i);
    }
  }
}

}  // namespace

ReloadManager::ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                             CodeServer& code_server)
    : sys_(sys), registry_(std::move(registry)), code_server_(code_server) {}

void ReloadManager::run_round(const ModuleRef& next, const std::vector<caf::actor>& actors,
                              const SwapOptions& options, SwapResult& result) {
  const auto started = Clock::now();
  result.actors = actors.size();
  auto round = std::make_shared<ReloadRound>(next_round_id.fetch_add(1), next, options.extra,
                                             actors.size());
  // Names are looked up only for the report of failures (cold path).
  for (std::size_t i = 0; i < actors.size(); ++i) round->describe(i, actors[i].id(), "");

  // Phase 1: every actor suspends and migrates; all must report before the deadline.
  for (std::size_t i = 0; i < actors.size(); ++i) {
    caf::anon_send<caf::message_priority::high>(actors[i], sys_suspend_atom::value, round,
                                                static_cast<uint64_t>(i));
  }
  const bool all_prepared =
      await_with_liveness(*round, actors, *registry_, options.suspend_timeout,
                          [&](absl::Duration d) { return round->await_prepared(d); });
  result.prepare_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  std::size_t not_suspended = 0, not_migrated = 0;
  std::vector<ReloadRound::Slot> slots = round->snapshot();
  for (ReloadRound::Slot& slot : slots) {
    if (slot.step != ReloadRound::Step::kMigrated) slot.name = registry_->name_of(slot.actor);
  }
  for (const ReloadRound::Slot& slot : slots) {
    switch (slot.step) {
      case ReloadRound::Step::kPending:
        ++not_suspended;
        result.failures.push_back(
            {slot.actor, slot.name, "did not acknowledge suspension before the deadline"});
        break;
      case ReloadRound::Step::kSuspended:
        ++not_migrated;
        result.failures.push_back({slot.actor, slot.name, "code_change did not finish in time"});
        break;
      case ReloadRound::Step::kFailed:
        result.failures.push_back({slot.actor, slot.name, slot.error});
        break;
      default:
        break;
    }
  }
  if (!all_prepared || !result.failures.empty()) {
    if (not_suspended > 0 || not_migrated > 0) {
      result.status = reload_status(
          ReloadError::kSuspendTimeout,
          absl::StrCat(not_suspended, " actor(s) of ", next->name(),
                       " did not acknowledge suspension and ", not_migrated,
                       " did not finish code_change within ",
                       absl::FormatDuration(options.suspend_timeout), "; first: ",
                       result.failures.empty() ? "?" : result.failures.front().actor_name));
    } else {
      const ActorFailure& first = result.failures.front();
      result.status = reload_status(
          ReloadError::kCodeChangeFailed,
          absl::StrCat(result.failures.size(), " of ", actors.size(),
                       " actor(s) failed code_change ", result.from_version, " -> ",
                       result.to_version, "; first: actor ",
                       first.actor_name.empty() ? std::to_string(first.actor_id)
                                                : first.actor_name,
                       ": ", first.message));
    }
  }

  // Commit point: the new version becomes current only if every actor migrated.
  if (result.status.ok()) {
    if (auto s = code_server_.commit(next); !s.ok()) result.status = s;
  }
  const bool committed = result.status.ok();

  // Phase 2: everyone resumes, on the new version (commit) or the old one (abort).
  const auto resume_started = Clock::now();
  for (std::size_t i = 0; i < actors.size(); ++i) {
    if (committed) {
      caf::anon_send<caf::message_priority::high>(actors[i], sys_commit_atom::value, round,
                                                  static_cast<uint64_t>(i));
    } else {
      caf::anon_send<caf::message_priority::high>(actors[i], sys_abort_atom::value, round,
                                                  static_cast<uint64_t>(i));
    }
  }
  // A stuck actor resumes when its handler returns; don't hold the caller for it after an abort.
  const absl::Duration resume_timeout =
      committed ? options.suspend_timeout + absl::Seconds(10) : absl::Milliseconds(200);
  await_with_liveness(*round, actors, *registry_, resume_timeout,
                      [&](absl::Duration d) { return round->await_resumed(d); });
  result.resume_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - resume_started).count();
  for (const ReloadRound::Slot& slot : round->snapshot()) {
    if (slot.step == ReloadRound::Step::kResumed) {
      result.pause_seconds.push_back(static_cast<double>(slot.pause_ns) * 1e-9);
    }
  }

}

SwapResult ReloadManager::swap(const ModuleRef& next, const SwapOptions& options) {
  const auto started = Clock::now();
  SwapResult result;
  result.module = next->name();
  result.to_version = next->version();
  if (ModuleRef before = code_server_.current(next->name())) {
    result.from_version = before->version();
  }

  auto snapshot = registry_->open_gate(next->name());
  if (!snapshot.ok()) {
    result.status = reload_status(ReloadError::kReloadInProgress, snapshot.status().message());
    return result;
  }
  run_round(next, *snapshot, options, result);

  // Actors spawned meanwhile start on the version that won.
  ModuleRef winner = code_server_.current(next->name());
  std::vector<caf::actor> deferred = registry_->close_gate(next->name());
  result.deferred = deferred.size();
  for (caf::actor& a : deferred) {
    if (winner) {
      caf::anon_send<caf::message_priority::high>(a, sys_init_atom::value, winner);
    } else {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
  result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

SwapResult ReloadManager::change_code(const std::string& actor_name, const SwapOptions& options) {
  const auto started = Clock::now();
  SwapResult result;
  caf::actor actor = registry_->whereis(actor_name);
  std::string module;
  for (const ActorEntry& e : registry_->list()) {
    if (e.handle == actor) module = e.module;
  }
  ModuleRef current = module.empty() ? nullptr : code_server_.current(module);
  if (!actor || !current) {
    result.status = reload_status(ReloadError::kNotFound, absl::StrCat("no actor ", actor_name));
    return result;
  }
  result.module = module;
  result.from_version = result.to_version = current->version();
  // Holding the module's gate keeps a module reload from running at the same time.
  auto gate = registry_->open_gate(module);
  if (!gate.ok()) {
    result.status = reload_status(ReloadError::kReloadInProgress, gate.status().message());
    return result;
  }
  result.actors = 1;
  run_round(current, {actor}, options, result);
  ModuleRef winner = code_server_.current(module);
  for (caf::actor& a : registry_->close_gate(module)) {
    caf::anon_send<caf::message_priority::high>(a, sys_init_atom::value, winner);
  }
  result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

int ReloadManager::stop_actors(const ModuleRef& version, absl::Duration timeout) {
  caf::scoped_actor self{sys_};
  std::vector<caf::actor> victims;
  for (caf::actor& a : registry_->actors_of(version->name())) {
    self->request(a, caf::infinite, sys_status_atom::value)
        .receive(
            [&](ActorStatus& s) {
              if (s.version == version->version()) victims.push_back(a);
            },
            [](caf::error&) {});
  }
  for (caf::actor& a : victims) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::kill);
  }
  std::size_t down = 0;
  bool timed_out = false;
  while (!timed_out && down < victims.size()) {
    self->receive([&](caf::down_msg&) { ++down; },
                  caf::after(absl::ToChronoMilliseconds(timeout)) >> [&] { timed_out = true; });
  }
  // The module reference is released in each actor's cleanup, right after its down message.
  for (caf::actor& a : victims) registry_->await_gone(a.id(), timeout);
  return static_cast<int>(victims.size());
}

std::map<std::string, std::size_t> ReloadManager::actor_counts() const {
  return registry_->counts();
}

}  // namespace lemon
