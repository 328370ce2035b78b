#include "reload/reload_manager.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "actors/instance.h"
#include "actors/system_messages.h"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"
#include "reload/swap_round.h"
#include "reload/thread_pool.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

// How long swap() waits past the deadline for a round to reach its commit point.
constexpr absl::Duration kAbandonGrace = absl::Seconds(1);

// Ends a reload of `module`: actors spawned meanwhile start on `winner` (or stop if there is none).
std::size_t close_gate(ActorRegistry& registry, const std::string& module,
                       const ModuleRef& winner) {
  std::vector<caf::actor> deferred = registry.close_gate(module);
  for (caf::actor& a : deferred) {
    if (winner) {
      caf::anon_send<caf::message_priority::high>(a, sys_init_atom::value, winner);
    } else {
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    }
  }
  return deferred.size();
}

// A pre-flight's snapshots and, once `done`, the migrations of them that failed.
struct PreflightChecks {
  std::vector<StateSnapshot> snapshots;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  std::vector<ActorFailure> failures ABSL_GUARDED_BY(mu);
};

// Runs `next`'s code_change on `snap` as a reload would on the live actor, and destroys the
// result.
absl::Status check_snapshot(const ModuleRef& next, const StateSnapshot& snap,
                            const SwapOptions& options) {
  if (!snap.error.empty()) return reload_status(ReloadError::kCodeChangeFailed, snap.error);
  StateHandoff handoff;
  handoff.old_version = snap.version;
  handoff.state_type = snap.state_type;
  handoff.state = snap.state;
  handoff.extra = options.extra;
  handoff.downgrade = options.downgrade;
  absl::StatusOr<Instance> made = code_change_instance(next, snap.behaviour, handoff);
  return made.ok() ? absl::OkStatus() : made.status();
}

}  // namespace

struct ReloadManager::Abandoned {
  std::shared_ptr<RoundOutcome> outcome;
};

ReloadManager::ReloadManager(caf::actor_system& sys, std::shared_ptr<ActorRegistry> registry,
                             CodeServer& code_server)
    : sys_(sys),
      registry_(std::move(registry)),
      code_server_(code_server),
      pool_(std::make_shared<ThreadPool>("lemon-reload")) {}

ReloadManager::~ReloadManager() {
  absl::MutexLock lock(&abandoned_mu_);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (auto& a : abandoned_) {
    // Past the deadline, its code_change still has not returned: the pool leaves its thread to end
    // on its own (the process is going anyway).
    a->outcome->mu.Lock();
    (void)a->outcome->mu.AwaitWithDeadline(absl::Condition(&a->outcome->done), deadline);
    a->outcome->mu.Unlock();
  }
}

void ReloadManager::abandon(std::shared_ptr<RoundOutcome> outcome, const SwapOptions& options,
                            SwapResult& result) {
  {
    absl::MutexLock abandoned_lock(&abandoned_mu_);
    // Forget the abandoned rounds that have ended since (their threads are done).
    for (auto it = abandoned_.begin(); it != abandoned_.end();) {
      bool done;
      {
        absl::MutexLock outcome_lock(&(*it)->outcome->mu);
        done = (*it)->outcome->done;
      }
      if (done) {
        it = abandoned_.erase(it);
      } else {
        ++it;
      }
    }
    abandoned_.push_back(std::make_unique<Abandoned>(Abandoned{outcome}));
  }
  const caf::actor_id stuck = outcome->migrating.load();
  if (stuck != 0) {
    result.failures.push_back({stuck, registry_->name_of(stuck), "code_change has not returned"});
  }
  result.status = reload_status(
      ReloadError::kSuspendTimeout,
      absl::StrCat("code_change ", result.from_version, " -> ", result.to_version, " of ",
                   result.module, " has not returned ", absl::FormatDuration(kAbandonGrace),
                   " after the ", absl::FormatDuration(options.suspend_timeout),
                   " deadline; the reload is abandoned: the module's actors stay suspended "
                   "until it returns, then resume on version ",
                   result.from_version.empty() ? "(none)" : result.from_version,
                   " with their old state"));
}

void ReloadManager::run_guarded(const ModuleRef& next, const ModuleRef& before,
                                std::vector<caf::actor> actors, const SwapOptions& options,
                                SwapResult& result) {
  auto outcome = std::make_shared<RoundOutcome>();
  outcome->result = result;
  std::shared_ptr<ActorRegistry> registry = registry_;
  CodeServer* code_server = &code_server_;
  const std::string module = result.module;
  std::shared_ptr<ThreadPool> pool = pool_;  // the round may outlive the manager (abandoned)
  pool_->run([outcome, registry, code_server, pool, next = ModuleRef(next),
              before = ModuleRef(before), module, options, actors = std::move(actors)]() mutable {
    SwapRound(next, actors, options, *registry, *pool, *outcome).run([&] {
      return code_server->commit(next);
    });
    // Read under the lock that also covers `decided`: the result is complete from here on.
    const bool committed = outcome->result.status.ok();
    const std::size_t deferred = close_gate(*registry, module, committed ? next : before);
    // Let go of the versions and the actors before the caller hears that the round is over: a
    // purge right after swap() must not find them still referenced by this thread.
    next = nullptr;
    before = nullptr;
    actors = {};
    absl::MutexLock lock(&outcome->mu);
    outcome->result.deferred = deferred;
    outcome->done = true;
  });
  const absl::Time give_up = absl::Now() + options.suspend_timeout + kAbandonGrace;
  outcome->mu.Lock();
  if (!outcome->mu.AwaitWithDeadline(absl::Condition(&outcome->decided), give_up)) {
    // A code_change is still running, past the deadline: stop waiting. The round aborts on its own
    // when it returns; until then the module's actors stay held and its gate stays closed.
    outcome->abandoned.store(true);
    outcome->mu.Unlock();
    abandon(outcome, options, result);
    return;
  }
  outcome->mu.Await(absl::Condition(&outcome->done));
  result = std::move(outcome->result);
  std::vector<Graveyard> graveyards = std::move(outcome->graveyards);
  outcome->mu.Unlock();
  for (Graveyard& g : graveyards) reaper_.bury(std::move(g));
}

SwapResult ReloadManager::swap(const ModuleRef& next, const SwapOptions& options) {
  const auto started = Clock::now();
  SwapResult result;
  result.module = next->name();
  result.to_version = next->version();
  ModuleRef before = code_server_.current(next->name());
  if (before) result.from_version = before->version();

  auto snapshot = registry_->open_gate(next->name());
  if (!snapshot.ok()) {
    result.status = reload_status(ReloadError::kReloadInProgress, snapshot.status().message());
    return result;
  }
  run_guarded(next, before, std::move(*snapshot), options, result);
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
  run_guarded(current, current, {actor}, options, result);
  result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return result;
}

SwapResult ReloadManager::preflight(const ModuleRef& next, const SwapOptions& options,
                                    std::size_t sample) {
  const auto started = Clock::now();
  const absl::Time give_up = absl::Now() + options.suspend_timeout + kAbandonGrace;
  SwapResult result;
  result.module = next->name();
  result.to_version = next->version();
  if (ModuleRef before = code_server_.current(next->name())) {
    result.from_version = before->version();
  }
  std::vector<caf::actor> actors = registry_->actors_of(next->name());
  if (sample > 0 && actors.size() > sample) actors.resize(sample);
  // Plain sends, each answer an ordinary message: no per-request bookkeeping for thousands. An
  // actor that does not answer by the deadline (busy in a handler, or gone) is not checked: the
  // swap meets it with its own deadline.
  auto checks = std::make_shared<PreflightChecks>();
  {
    caf::scoped_actor self{sys_};
    for (const caf::actor& a : actors) self->send(a, sys_snapshot_atom::value);
    const absl::Time end = absl::Now() + options.suspend_timeout;
    bool timed_out = false;
    while (checks->snapshots.size() < actors.size() && !timed_out) {
      const absl::Duration left = std::max(end - absl::Now(), absl::ZeroDuration());
      self->receive([&](StateSnapshot& snap) { checks->snapshots.push_back(std::move(snap)); },
                    caf::after(absl::ToChronoMilliseconds(left)) >> [&] { timed_out = true; });
    }
  }
  result.actors = checks->snapshots.size();
  // On a pool thread, so that a code_change that does not return cannot hold the caller.
  pool_->run([checks, next = ModuleRef(next), options] {
    std::vector<ActorFailure> failures;
    for (const StateSnapshot& snap : checks->snapshots) {
      absl::Status checked = check_snapshot(next, snap, options);
      if (!checked.ok()) failures.push_back({snap.id, snap.name, std::string(checked.message())});
    }
    absl::MutexLock lock(&checks->mu);
    checks->failures = std::move(failures);
    checks->done = true;
  });
  checks->mu.Lock();
  const bool done = checks->mu.AwaitWithDeadline(absl::Condition(&checks->done), give_up);
  if (done) result.failures = checks->failures;
  checks->mu.Unlock();
  if (!done) {
    result.status = reload_status(
        ReloadError::kSuspendTimeout,
        absl::StrCat(
            "pre-flight: code_change ", result.from_version, " -> ", result.to_version, " of ",
            result.module, " has not returned ", absl::FormatDuration(kAbandonGrace), " after the ",
            absl::FormatDuration(options.suspend_timeout), " deadline; no actor was held"));
  } else if (!result.failures.empty()) {
    result.status = reload_status(
        ReloadError::kCodeChangeFailed,
        absl::StrCat("pre-flight: code_change ", result.from_version, " -> ", result.to_version,
                     " of ", result.module, " fails for ", result.failures.size(), " of ",
                     result.actors, " actors checked (first: ", result.failures[0].message, ")"));
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
