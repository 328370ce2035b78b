#include "reload/reload_manager.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "actors/reload_round.h"
#include "actors/reloadable_actor.h"
#include "actors/system_messages.h"
#include "actors/turn_slots.h"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "core/reload_error.h"
#include "reload/thread_pool.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ns_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Between two attempts to hold the actors that were busy: yield a few times (a turn usually ends
// within microseconds), then sleep, up to 1 ms.
void back_off(int attempt) {
  if (attempt < 8) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::min(1000, 10 << std::min(attempt - 8, 7))));
  }
}

// How many actors ahead of the one being moved the manager asks the CPU for the next ones' memory.
constexpr std::size_t kAhead = 8;

// How many actors a thread claims before one heavy fence and holding them: few enough that their
// memory is still in the cache when they are migrated, enough that the fence (about a
// microsecond) costs nothing next to migrating them.
constexpr std::size_t kGroup = 512;

// Rounds of fewer actors than this per thread run on one thread: handing work to another thread
// costs about as much as migrating a few hundred actors.
constexpr std::size_t kSliceMin = 4096;
constexpr std::size_t kMaxSlices = 4;

// How many threads share a round of n actors.
std::size_t workers_for(std::size_t n) {
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min({cores, kMaxSlices, n / kSliceMin}));
}

// The actors a thread takes at a time (ThreadPool::for_each_chunk): small enough that a thread that
// starts late or is preempted leaves most of the round to the others, large enough that taking a
// chunk costs nothing next to migrating it.
std::size_t chunk_for(std::size_t n, std::size_t workers) {
  return std::clamp<std::size_t>(n / (8 * workers), 64, 2048);
}

const char* why_not_held(ReloadTarget::Hold h) {
  switch (h) {
    case ReloadTarget::Hold::kDraining:
      return "continuations of requests made by the old code did not finish before the deadline";
    case ReloadTarget::Hold::kNotReady:
      return "had not started on a version before the deadline";
    default:
      return "did not acknowledge suspension before the deadline (busy in a handler)";
  }
}

// A round shared between the thread that runs it and the swap() that waits for it. swap() stops
// waiting if the round has not reached its commit point a grace period after its deadline (a
// code_change that does not return): the round then ends on its own, on the old version.
struct RoundJob {
  absl::Mutex mu;
  bool decided ABSL_GUARDED_BY(mu) = false;  // past the commit point (committed or not)
  bool done ABSL_GUARDED_BY(mu) = false;     // every actor released, gate closed
  // swap() stopped waiting: never commit. Set under mu (so the commit decision sees it), read
  // without it between two actors.
  std::atomic<bool> abandoned{false};
  std::atomic<caf::actor_id> migrating{0};  // whose code_change runs right now (0: none)
  SwapResult result;
  std::vector<Graveyard> graveyards;  // what the released actors no longer run, for the reaper
};

// How long swap() waits past the deadline for a round to reach its commit point.
constexpr absl::Duration kAbandonGrace = absl::Seconds(1);

std::string actor_label(const ActorFailure& f) {
  return f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name;
}

// Holds every actor of `actors` between two of its turns and migrates it on this thread (an actor
// in a turn, or draining continuations, is tried again until the deadline): actors are claimed a
// group at a time, then one heavy fence and a snapshot of the running turns tell which of them
// still run (ReloadTarget::claim/hold, RunningTurns), and the others are migrated. Then it
// calls `commit` if all migrated and the job was not abandoned, and releases everyone on the new
// or the old version. Fills job.result.
void run_round(const ModuleRef& next, const std::vector<caf::actor>& actors,
               const SwapOptions& options, const ActorRegistry& registry,
               const std::function<absl::Status()>& commit, ThreadPool& pool, RoundJob& job) {
  SwapResult& result = job.result;
  const auto started = Clock::now();
  const auto deadline = started + absl::ToChronoNanoseconds(options.suspend_timeout);
  const std::size_t n = actors.size();
  result.actors = n;
  auto round = std::make_shared<ReloadRound>(n);

  // kClaimed: claimed, not (yet) known to be held; released like a held actor.
  enum class Mark : uint8_t { kWaiting, kClaimed, kHeld, kDraining, kGone };
  std::vector<Mark> marks(n, Mark::kWaiting);
  std::vector<ReloadTarget::Hold> last(n, ReloadTarget::Hold::kBusy);
  std::vector<ReloadTarget*> targets(n, nullptr);
  // What one thread of the first pass found (merged afterwards; chunks never share an actor).
  struct Findings {
    std::vector<std::pair<std::size_t, absl::Status>> failed;  // code_change failures, in order
    std::size_t late = SIZE_MAX;       // the first actor whose code_change ended past the deadline
    std::vector<std::size_t> waiting;  // not held yet
    Clock::time_point now = Clock::now();  // read once per migrated actor
  };
  // Claims actor i. kDone: it needs no more attempts (not reloadable, or gone); kClaimed: hold it
  // after the next snapshot; kLater: claim it again later (not started on a version yet).
  enum class Claim { kDone, kClaimed, kLater };
  auto claim = [&](std::size_t i, Findings& f) -> Claim {
    if (targets[i] == nullptr) targets[i] = reload_target(actors[i]);
    if (targets[i] == nullptr) {
      f.failed.emplace_back(
          i, reload_status(ReloadError::kCodeChangeFailed, "not a reloadable actor"));
      return Claim::kDone;
    }
    const ReloadTarget::Hold h = targets[i]->claim(ns_of(f.now));
    last[i] = h;
    switch (h) {
      case ReloadTarget::Hold::kClaimed:
        if (marks[i] == Mark::kWaiting) marks[i] = Mark::kClaimed;
        return Claim::kClaimed;
      case ReloadTarget::Hold::kExited:
        // Exited before it was claimed: nothing of it is ours. Exited after: release() cleans it
        // up and reports it gone.
        if (marks[i] == Mark::kWaiting) {
          marks[i] = Mark::kGone;
          round->gone(i);
        }
        return Claim::kDone;
      default:
        return Claim::kLater;
    }
  };
  // Actor i was claimed, and `running` was taken since: migrates it if it is held. True once i
  // needs no more attempts.
  auto attempt = [&](std::size_t i, const RunningTurns& running, Findings& f) -> bool {
    const ReloadTarget::Hold h = targets[i]->hold(running);
    last[i] = h;
    switch (h) {
      case ReloadTarget::Hold::kHeld: {
        marks[i] = Mark::kHeld;
        job.migrating.store(actors[i].id(), std::memory_order_relaxed);
        absl::Status s = targets[i]->migrate(next, options.extra);
        job.migrating.store(0, std::memory_order_relaxed);
        if (!s.ok()) f.failed.emplace_back(i, std::move(s));  // go on: the report names them all
        f.now = Clock::now();
        if (f.late == SIZE_MAX && f.now > deadline) f.late = i;
        return true;
      }
      case ReloadTarget::Hold::kExited:
        // Exited after the claim: still ours, release() cleans it up and reports it gone.
        return true;
      case ReloadTarget::Hold::kDraining:
        marks[i] = Mark::kDraining;
        return false;
      default:
        return false;
    }
  };
  std::atomic<bool> too_late{false};
  auto stop = [&](const Findings& f) {
    if (f.late != SIZE_MAX) too_late.store(true, std::memory_order_relaxed);
    return too_late.load(std::memory_order_relaxed) ||
           job.abandoned.load(std::memory_order_relaxed);
  };
  // Claims the actors `visit_each` hands to its callback, runs one heavy fence, then holds and
  // migrates those it claimed; the ones that need another attempt go to `later`. `claimed` is
  // the caller's scratch space.
  auto claim_then_hold = [&](Findings& f, std::vector<std::size_t>& claimed,
                             std::vector<std::size_t>& later, auto&& visit_each) {
    claimed.clear();
    visit_each([&](std::size_t i) {
      if (stop(f)) {
        later.push_back(i);
        return;
      }
      switch (claim(i, f)) {  // does nothing to an actor claimed already
        case Claim::kClaimed:
          claimed.push_back(i);
          break;
        case Claim::kLater:
          later.push_back(i);
          break;
        case Claim::kDone:
          break;
      }
    });
    // From here on, a claimed actor that is not in a turn opens none.
    const RunningTurns running = RunningTurns::after_heavy_fence();
    for (std::size_t i : claimed) {
      if (stop(f) || !attempt(i, running, f)) later.push_back(i);
    }
  };
  // First pass, in chunks on several threads for a large round: holding and migrating one actor
  // does not touch any other.
  const std::size_t workers = workers_for(n);
  const std::size_t chunk = chunk_for(n, workers);
  std::vector<Findings> found(workers);
  auto first_pass = [&](std::size_t worker, std::size_t begin, std::size_t end) {
    Findings& f = found[worker];
    std::vector<std::size_t> claimed;
    claimed.reserve(kGroup);
    for (std::size_t group = begin; group < end; group += kGroup) {
      // A group at a time: its actors' memory is still in the cache when they are migrated.
      const std::size_t group_end = std::min(end, group + kGroup);
      f.now = Clock::now();  // the group's pauses start here
      claim_then_hold(f, claimed, f.waiting, [&](auto&& visit) {
        for (std::size_t i = group; i < group_end; ++i) {
          // Each actor's memory is cold (one actor is a few hundred bytes among thousands): ask
          // for the next ones' while this one is claimed.
          if (i + 2 * kAhead < end) prefetch_actor(actors[i + 2 * kAhead]);
          if (i + kAhead < end) {
            targets[i + kAhead] = reload_target(actors[i + kAhead]);
            if (targets[i + kAhead] != nullptr) targets[i + kAhead]->prefetch();
          }
          visit(i);
        }
      });
    }
  };
  pool.for_each_chunk(n, workers, chunk, first_pass);
  std::vector<std::pair<std::size_t, absl::Status>> failed;
  std::size_t late = SIZE_MAX;
  std::vector<std::size_t> waiting;
  for (Findings& f : found) {
    for (auto& x : f.failed) failed.push_back(std::move(x));
    late = std::min(late, f.late);
    waiting.insert(waiting.end(), f.waiting.begin(), f.waiting.end());
  }
  // In actor order, whichever thread found them.
  std::sort(failed.begin(), failed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(waiting.begin(), waiting.end());
  // Then the actors that were busy, on this thread, until the deadline.
  Findings again;
  for (int k = 0; failed.empty() && late == SIZE_MAX && !stop(again) && !waiting.empty() &&
                  Clock::now() < deadline;
       ++k) {
    back_off(k);
    std::vector<std::size_t> still;
    std::vector<std::size_t> claimed;
    again.now = Clock::now();
    claim_then_hold(again, claimed, still, [&](auto&& visit) {
      for (std::size_t i : waiting) visit(i);
    });
    std::sort(still.begin(), still.end());
    waiting.swap(still);
    for (auto& x : again.failed) failed.push_back(std::move(x));
    again.failed.clear();
    if (late == SIZE_MAX) late = again.late;
  }
  result.prepare_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  if (!failed.empty()) {
    for (const auto& [i, s] : failed) {
      const caf::actor_id id = actors[i].id();
      result.failures.push_back({id, registry.name_of(id), std::string(s.message())});
    }
    result.status = reload_status(
        ReloadError::kCodeChangeFailed,
        absl::StrCat(failed.size(), " of ", n, " actor(s) failed code_change ", result.from_version,
                     " -> ", result.to_version, "; first: actor ",
                     actor_label(result.failures.front()), ": ", result.failures.front().message));
  } else if (late != SIZE_MAX || !waiting.empty()) {
    std::size_t draining = 0;
    if (late != SIZE_MAX) {
      const caf::actor_id id = actors[late].id();
      result.failures.push_back({id, registry.name_of(id), "code_change did not finish in time"});
    }
    for (std::size_t i : waiting) {
      const caf::actor_id id = actors[i].id();
      // A draining actor's last attempt may have found a continuation's turn running: still
      // draining, not busy in a handler.
      const bool still_draining = marks[i] == Mark::kDraining;
      if (still_draining) ++draining;
      const ReloadTarget::Hold why = still_draining ? ReloadTarget::Hold::kDraining : last[i];
      result.failures.push_back({id, registry.name_of(id), why_not_held(why)});
    }
    result.status =
        reload_status(ReloadError::kSuspendTimeout,
                      absl::StrCat(waiting.size() - draining, " actor(s) of ", result.module,
                                   " did not acknowledge suspension, ", draining,
                                   " did not finish their pending continuations and ",
                                   late != SIZE_MAX ? 1 : 0, " did not finish code_change within ",
                                   absl::FormatDuration(options.suspend_timeout),
                                   "; first: ", actor_label(result.failures.front())));
  }

  // Commit point: the new version becomes current only if every actor migrated in time.
  bool committed;
  {
    absl::MutexLock lock(&job.mu);
    if (job.abandoned.load() && result.status.ok()) {
      result.status = reload_status(ReloadError::kSuspendTimeout, "abandoned after the deadline");
    }
    if (result.status.ok()) {
      if (auto s = commit(); !s.ok()) result.status = s;
    }
    committed = result.status.ok();
    job.decided = true;
  }

  // Release everyone, on the new version (commit) or the old one with its untouched state
  // (abort). Each counts as resumed when it is released: it is scheduled at the front of the
  // queues, and one that kept messages meanwhile finds a wake-up first in its mailbox, which runs
  // them before anything newer. The behaviours the actors no longer run are destroyed later, by
  // the manager's reaper.
  const auto resume_started = Clock::now();
  job.graveyards.resize((n + chunk - 1) / chunk);  // one per chunk, for the reaper
  pool.for_each_chunk(n, workers, chunk, [&](std::size_t, std::size_t begin, std::size_t end) {
    ReleaseBatch batch(round, end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      if (i + kAhead < end && targets[i + kAhead] != nullptr) targets[i + kAhead]->prefetch();
      switch (marks[i]) {
        case Mark::kClaimed:
        case Mark::kHeld:
        case Mark::kDraining:
          targets[i]->release(committed, i, batch);
          break;
        case Mark::kWaiting:
          round->gone(i);  // never held: it did not pause
          break;
        case Mark::kGone:
          break;
      }
    }
    batch.flush();
    job.graveyards[begin / chunk] = std::move(batch.graveyard());
  });
  // Every actor was released (resumed) or found gone above: nothing is left to wait for.
  result.resume_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - resume_started).count();
  const std::vector<uint64_t> pauses = round->pauses_ns();
  result.pause_seconds.reserve(pauses.size());
  for (uint64_t ns : pauses) result.pause_seconds.push_back(static_cast<double>(ns) * 1e-9);
}

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

}  // namespace

struct ReloadManager::Abandoned {
  std::shared_ptr<RoundJob> job;
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
    a->job->mu.Lock();
    (void)a->job->mu.AwaitWithDeadline(absl::Condition(&a->job->done), deadline);
    a->job->mu.Unlock();
  }
}

void ReloadManager::run_guarded(const ModuleRef& next, const ModuleRef& before,
                                std::vector<caf::actor> actors, const SwapOptions& options,
                                SwapResult& result) {
  auto job = std::make_shared<RoundJob>();
  job->result = result;
  std::shared_ptr<ActorRegistry> registry = registry_;
  CodeServer* code_server = &code_server_;
  const std::string module = result.module;
  std::shared_ptr<ThreadPool> pool = pool_;  // the round may outlive the manager (abandoned)
  pool_->run([job, registry, code_server, pool, next = ModuleRef(next), before = ModuleRef(before),
              module, options, actors = std::move(actors)]() mutable {
    run_round(
        next, actors, options, *registry, [&] { return code_server->commit(next); }, *pool, *job);
    // Read under the lock that also covers `decided`: the result is complete from here on.
    const bool committed = job->result.status.ok();
    const std::size_t deferred = close_gate(*registry, module, committed ? next : before);
    // Let go of the versions and the actors before the caller hears that the round is over: a
    // purge right after swap() must not find them still referenced by this thread.
    next = nullptr;
    before = nullptr;
    actors = {};
    absl::MutexLock lock(&job->mu);
    job->result.deferred = deferred;
    job->done = true;
  });
  const absl::Time give_up = absl::Now() + options.suspend_timeout + kAbandonGrace;
  job->mu.Lock();
  if (!job->mu.AwaitWithDeadline(absl::Condition(&job->decided), give_up)) {
    // A code_change is still running, past the deadline: stop waiting. The round aborts on its own
    // when it returns; until then the module's actors stay held and its gate stays closed.
    job->abandoned.store(true);
    job->mu.Unlock();
    {
      absl::MutexLock abandoned_lock(&abandoned_mu_);
      // Forget the abandoned rounds that have ended since (their threads are done).
      for (auto it = abandoned_.begin(); it != abandoned_.end();) {
        bool done;
        {
          absl::MutexLock job_lock(&(*it)->job->mu);
          done = (*it)->job->done;
        }
        if (done) {
          it = abandoned_.erase(it);
        } else {
          ++it;
        }
      }
      abandoned_.push_back(std::make_unique<Abandoned>(Abandoned{job}));
    }
    const caf::actor_id stuck = job->migrating.load();
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
    return;
  }
  job->mu.Await(absl::Condition(&job->done));
  result = std::move(job->result);
  std::vector<Graveyard> graveyards = std::move(job->graveyards);
  job->mu.Unlock();
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
