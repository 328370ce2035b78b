#include "reload/swap_round.h"

#include <algorithm>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ns_of(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// How many actors ahead of the one being moved the round asks the CPU for the next ones' memory.
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

// The actors a thread takes at a time (ThreadPool::for_each_chunk): small enough that a thread
// that starts late or is preempted leaves most of the round to the others, large enough that
// taking a chunk costs nothing next to migrating it.
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

std::string actor_label(const ActorFailure& f) {
  return f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name;
}

}  // namespace

SwapRound::SwapRound(const ModuleRef& next, const std::vector<caf::actor>& actors,
                     const SwapOptions& options, const ActorRegistry& registry, ThreadPool& pool,
                     RoundOutcome& outcome)
    : next_(next),
      actors_(actors),
      options_(options),
      registry_(registry),
      pool_(pool),
      outcome_(outcome),
      result_(outcome.result),
      n_(actors.size()),
      started_(Clock::now()),
      deadline_(started_ + absl::ToChronoNanoseconds(options.suspend_timeout)),
      workers_(workers_for(n_)),
      chunk_(chunk_for(n_, workers_)),
      resumes_(std::make_shared<ResumeTracker>(n_)),
      marks_(n_, Mark::kWaiting),
      last_(n_, ReloadTarget::Hold::kBusy),
      targets_(n_, nullptr) {}

SwapRound::Claim SwapRound::claim(std::size_t i, Findings& f) {
  if (targets_[i] == nullptr) targets_[i] = reload_target(actors_[i]);
  if (targets_[i] == nullptr) {
    f.failed.emplace_back(i,
                          reload_status(ReloadError::kCodeChangeFailed, "not a reloadable actor"));
    return Claim::kDone;
  }
  const ReloadTarget::Hold h = targets_[i]->claim(ns_of(f.now));
  last_[i] = h;
  switch (h) {
    case ReloadTarget::Hold::kClaimed:
      if (marks_[i] == Mark::kWaiting) marks_[i] = Mark::kClaimed;
      return Claim::kClaimed;
    case ReloadTarget::Hold::kExited:
      // Exited before it was claimed: nothing of it is ours. Exited after: release() cleans it
      // up and reports it gone.
      if (marks_[i] == Mark::kWaiting) {
        marks_[i] = Mark::kGone;
        resumes_->gone(i);
      }
      return Claim::kDone;
    default:
      return Claim::kLater;
  }
}

bool SwapRound::attempt(std::size_t i, const RunningTurns& running, Findings& f) {
  const ReloadTarget::Hold h = targets_[i]->hold(running);
  last_[i] = h;
  switch (h) {
    case ReloadTarget::Hold::kHeld: {
      marks_[i] = Mark::kHeld;
      outcome_.migrating.store(actors_[i].id(), std::memory_order_relaxed);
      absl::Status s = targets_[i]->migrate(next_, options_.extra, options_.downgrade);
      outcome_.migrating.store(0, std::memory_order_relaxed);
      if (!s.ok()) f.failed.emplace_back(i, std::move(s));  // go on: the report names them all
      f.now = Clock::now();
      if (f.late == kNone && f.now > deadline_) f.late = i;
      return true;
    }
    case ReloadTarget::Hold::kExited:
      // Exited after the claim: still ours, release() cleans it up and reports it gone.
      return true;
    case ReloadTarget::Hold::kDraining:
      marks_[i] = Mark::kDraining;
      return false;
    default:
      return false;
  }
}

bool SwapRound::stop(const Findings& f) {
  if (f.late != kNone) too_late_.store(true, std::memory_order_relaxed);
  return too_late_.load(std::memory_order_relaxed) ||
         outcome_.abandoned.load(std::memory_order_relaxed);
}

template <typename VisitEach>
void SwapRound::claim_then_hold(Findings& f, std::vector<std::size_t>& claimed,
                                std::vector<std::size_t>& later, VisitEach&& visit_each) {
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
}

void SwapRound::run(const std::function<absl::Status()>& commit) {
  result_.actors = n_;
  hold_and_migrate_all();
  retry_busy_until_deadline();
  result_.prepare_ms = ms_since(started_);
  report_failures();
  const bool committed = commit_or_abort(commit);
  const auto resume_started = Clock::now();
  release_all(committed);
  // Every actor was released (resumed) or found gone: nothing is left to wait for.
  result_.resume_ms = ms_since(resume_started);
  collect_pauses();
}

void SwapRound::hold_and_migrate_all() {
  // In chunks on several threads for a large round: holding and migrating one actor does not
  // touch any other.
  std::vector<Findings> found(workers_);
  pool_.for_each_chunk(n_, workers_, chunk_,
                       [&](std::size_t worker, std::size_t begin, std::size_t end) {
                         hold_and_migrate_chunk(found[worker], begin, end);
                       });
  for (Findings& f : found) {
    for (auto& x : f.failed) failed_.push_back(std::move(x));
    late_ = std::min(late_, f.late);
    waiting_.insert(waiting_.end(), f.waiting.begin(), f.waiting.end());
  }
  // In actor order, whichever thread found them.
  std::sort(failed_.begin(), failed_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(waiting_.begin(), waiting_.end());
}

void SwapRound::hold_and_migrate_chunk(Findings& f, std::size_t begin, std::size_t end) {
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
        if (i + 2 * kAhead < end) prefetch_actor(actors_[i + 2 * kAhead]);
        if (i + kAhead < end) {
          targets_[i + kAhead] = reload_target(actors_[i + kAhead]);
          if (targets_[i + kAhead] != nullptr) targets_[i + kAhead]->prefetch();
        }
        visit(i);
      }
    });
  }
}

void SwapRound::retry_busy_until_deadline() {
  Findings again;
  for (int k = 0; failed_.empty() && late_ == kNone && !stop(again) && !waiting_.empty() &&
                  Clock::now() < deadline_;
       ++k) {
    back_off(k);
    std::vector<std::size_t> still;
    std::vector<std::size_t> claimed;
    again.now = Clock::now();
    claim_then_hold(again, claimed, still, [&](auto&& visit) {
      for (std::size_t i : waiting_) visit(i);
    });
    std::sort(still.begin(), still.end());
    waiting_.swap(still);
    for (auto& x : again.failed) failed_.push_back(std::move(x));
    again.failed.clear();
    if (late_ == kNone) late_ = again.late;
  }
}

void SwapRound::report_failures() {
  if (!failed_.empty()) {
    for (const auto& [i, s] : failed_) {
      const caf::actor_id id = actors_[i].id();
      result_.failures.push_back({id, registry_.name_of(id), std::string(s.message())});
    }
    result_.status =
        reload_status(ReloadError::kCodeChangeFailed,
                      absl::StrCat(failed_.size(), " of ", n_, " actor(s) failed code_change ",
                                   result_.from_version, " -> ", result_.to_version,
                                   "; first: actor ", actor_label(result_.failures.front()), ": ",
                                   result_.failures.front().message));
    return;
  }
  if (late_ == kNone && waiting_.empty()) return;
  std::size_t draining = 0;
  if (late_ != kNone) {
    const caf::actor_id id = actors_[late_].id();
    result_.failures.push_back({id, registry_.name_of(id), "code_change did not finish in time"});
  }
  for (std::size_t i : waiting_) {
    const caf::actor_id id = actors_[i].id();
    // A draining actor's last attempt may have found a continuation's turn running: still
    // draining, not busy in a handler.
    const bool still_draining = marks_[i] == Mark::kDraining;
    if (still_draining) ++draining;
    const ReloadTarget::Hold why = still_draining ? ReloadTarget::Hold::kDraining : last_[i];
    result_.failures.push_back({id, registry_.name_of(id), why_not_held(why)});
  }
  result_.status =
      reload_status(ReloadError::kSuspendTimeout,
                    absl::StrCat(waiting_.size() - draining, " actor(s) of ", result_.module,
                                 " did not acknowledge suspension, ", draining,
                                 " did not finish their pending continuations and ",
                                 late_ != kNone ? 1 : 0, " did not finish code_change within ",
                                 absl::FormatDuration(options_.suspend_timeout),
                                 "; first: ", actor_label(result_.failures.front())));
}

bool SwapRound::commit_or_abort(const std::function<absl::Status()>& commit) {
  // The new version becomes current only if every actor migrated in time.
  absl::MutexLock lock(&outcome_.mu);
  if (outcome_.abandoned.load() && result_.status.ok()) {
    result_.status = reload_status(ReloadError::kSuspendTimeout, "abandoned after the deadline");
  }
  if (result_.status.ok()) {
    if (auto s = commit(); !s.ok()) result_.status = s;
  }
  outcome_.decided = true;
  return result_.status.ok();
}

void SwapRound::release_all(bool committed) {
  // Each actor counts as resumed when it is released: it is scheduled at the front of the
  // queues, and one that kept messages meanwhile finds a wake-up first in its mailbox, which runs
  // them before anything newer. The behaviours the actors no longer run are destroyed later, by
  // the manager's reaper.
  outcome_.graveyards.resize((n_ + chunk_ - 1) / chunk_);  // one per chunk, for the reaper
  pool_.for_each_chunk(n_, workers_, chunk_, [&](std::size_t, std::size_t begin, std::size_t end) {
    ReleaseBatch batch(resumes_, end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      if (i + kAhead < end && targets_[i + kAhead] != nullptr) targets_[i + kAhead]->prefetch();
      switch (marks_[i]) {
        case Mark::kClaimed:
        case Mark::kHeld:
        case Mark::kDraining:
          targets_[i]->release(committed, i, batch);
          break;
        case Mark::kWaiting:
          resumes_->gone(i);  // never held: it did not pause
          break;
        case Mark::kGone:
          break;
      }
    }
    batch.flush();
    outcome_.graveyards[begin / chunk_] = std::move(batch.graveyard());
  });
}

void SwapRound::collect_pauses() {
  const std::vector<uint64_t> pauses = resumes_->pauses_ns();
  result_.pause_seconds.reserve(pauses.size());
  for (uint64_t ns : pauses) result_.pause_seconds.push_back(static_cast<double>(ns) * 1e-9);
}

}  // namespace lemon
