#include "actors/reload_manager.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
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

// How often a wait looks at its progress, and whether the actors that have not answered exist.
constexpr absl::Duration kLivenessSlice = absl::Milliseconds(50);
// Up to this many missing answers are checked for liveness at every slice; more only when no
// actor answered during the last slice (checking 100,000 actors while they answer would only
// slow them down).
constexpr std::size_t kAlwaysCheck = 1024;

enum class Phase { kPrepare, kResume };

// Waits until every actor of `round` finished `phase`, or `timeout`; marks actors that vanished
// from the registry as gone, so that a dead actor does not hold a reload until its deadline.
bool await_phase(ReloadRound& round, Phase phase, const std::vector<caf::actor>& actors,
                 const ActorRegistry& registry, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::size_t last = SIZE_MAX;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    const absl::Duration slice = std::min(left, kLivenessSlice);
    if (phase == Phase::kPrepare ? round.await_prepared(slice) : round.await_resumed(slice)) {
      return true;
    }
    if (left <= kLivenessSlice) return false;
    const std::size_t missing = phase == Phase::kPrepare ? round.to_prepare() : round.to_resume();
    const bool progressing = missing < last;
    last = missing;
    if (progressing && missing > kAlwaysCheck) continue;
    for (std::size_t i : phase == Phase::kPrepare ? round.not_prepared() : round.not_resumed()) {
      if (!registry.contains(actors[i].id())) round.gone(i);
    }
  }
}

// Sends (atom, round, index) to every actor, with high priority so that it overtakes queued work.
// One thread sends both phases in order, so no actor sees the end of a round before its start.
template <class Atom>
void send_all(const std::vector<caf::actor>& actors, Atom atom, const ReloadRoundPtr& round) {
  for (std::size_t i = 0; i < actors.size(); ++i) {
    caf::anon_send<caf::message_priority::high>(actors[i], atom, round, static_cast<uint64_t>(i));
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

  // Phase 1: every actor suspends and migrates; all must report before the deadline.
  send_all(actors, sys_suspend_atom::value, round);
  const bool all_prepared =
      await_phase(*round, Phase::kPrepare, actors, *registry_, options.suspend_timeout);
  result.prepare_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (!all_prepared || round->failed() > 0) report_failures(*round, actors, options, result);

  // Commit point: the new version becomes current only if every actor migrated.
  if (result.status.ok()) {
    if (auto s = code_server_.commit(next); !s.ok()) result.status = s;
  }
  const bool committed = result.status.ok();

  // Phase 2: everyone resumes, on the new version (commit) or the old one (abort).
  const auto resume_started = Clock::now();
  if (committed) {
    send_all(actors, sys_commit_atom::value, round);
  } else {
    send_all(actors, sys_abort_atom::value, round);
  }
  // A stuck actor resumes when its handler returns; don't hold the caller for it after an abort.
  const absl::Duration resume_timeout =
      committed ? options.suspend_timeout + absl::Seconds(10) : absl::Milliseconds(200);
  await_phase(*round, Phase::kResume, actors, *registry_, resume_timeout);
  result.resume_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - resume_started).count();
  const std::vector<uint64_t> pauses = round->pauses_ns();
  result.pause_seconds.reserve(pauses.size());
  for (uint64_t ns : pauses) result.pause_seconds.push_back(static_cast<double>(ns) * 1e-9);
}

void ReloadManager::report_failures(const ReloadRound& round, const std::vector<caf::actor>& actors,
                                    const SwapOptions& options, SwapResult& result) {
  std::size_t not_suspended = 0, not_migrated = 0;
  for (const ReloadRound::Slot& slot : round.snapshot()) {
    const char* why = nullptr;
    switch (slot.step) {
      case ReloadRound::Step::kPending:
        ++not_suspended;
        why = "did not acknowledge suspension before the deadline";
        break;
      case ReloadRound::Step::kSuspended:
        ++not_migrated;
        why = "code_change did not finish in time";
        break;
      case ReloadRound::Step::kFailed:
        break;
      default:
        continue;
    }
    const caf::actor_id id = actors[slot.index].id();
    result.failures.push_back({id, registry_->name_of(id), why ? why : slot.error});
  }
  if (result.failures.empty()) return;  // the stragglers left meanwhile
  if (not_suspended > 0 || not_migrated > 0) {
    result.status = reload_status(
        ReloadError::kSuspendTimeout,
        absl::StrCat(not_suspended, " actor(s) of ", result.module,
                     " did not acknowledge suspension and ", not_migrated,
                     " did not finish code_change within ",
                     absl::FormatDuration(options.suspend_timeout),
                     "; first: ", result.failures.front().actor_name));
  } else {
    const ActorFailure& first = result.failures.front();
    result.status = reload_status(
        ReloadError::kCodeChangeFailed,
        absl::StrCat(result.failures.size(), " of ", actors.size(), " actor(s) failed code_change ",
                     result.from_version, " -> ", result.to_version, "; first: actor ",
                     first.actor_name.empty() ? std::to_string(first.actor_id) : first.actor_name,
                     ": ", first.message));
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
