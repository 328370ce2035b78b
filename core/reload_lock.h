// The reload lock: at most one reload runs at a time. Callers queue in arrival order (FIFO, none
// starves), wait up to a deadline, then get kReloadInProgress naming the holder. Holding is RAII:
// the guard releases on destruction, also when an exception unwinds. Every acquisition carries a
// fencing token larger than all before it, for fencing writes done under the lock.
//
//   ReloadLock lock(&telemetry);
//   absl::StatusOr<ReloadLock::Guard> guard = lock.acquire("rpc:system.reload", absl::Seconds(5));
//   if (!guard.ok()) return guard.status();   // kReloadInProgress: "<holder> holds the ..."
//   do_reload(guard->token());
#ifndef LEMON_CORE_RELOAD_LOCK_H_
#define LEMON_CORE_RELOAD_LOCK_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/telemetry.h"

namespace lemon {

// Who holds a lock, for status pages and error messages.
struct HolderInfo {
  std::string owner;
  uint64_t token = 0;
  absl::Time since;
};

// The shape of a reload lock, local (ReloadLock) or spanning a cluster.
class LockService {
 public:
  // Proof of holding the lock: move-only; releases when destroyed or on release(). An empty guard
  // (default-constructed or moved from) holds nothing. Not thread-safe; REQUIRES: the LockService
  // outlives it.
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&& other) noexcept;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { release(); }

    // True until released or moved from.
    bool held() const { return service_ != nullptr; }
    // The fencing token of this acquisition; 0 for an empty guard.
    uint64_t token() const { return token_; }
    const std::string& owner() const { return owner_; }
    // Releases the lock now; does nothing on an empty guard.
    void release() noexcept;

   private:
    friend class LockService;
    Guard(LockService* service, std::string owner, uint64_t token)
        : service_(service), owner_(std::move(owner)), token_(token) {}

    LockService* service_ = nullptr;
    std::string owner_;
    uint64_t token_ = 0;
  };

  virtual ~LockService() = default;

  // Waits until the lock is free and every earlier caller has had its turn, at most `timeout`;
  // then fails with kReloadInProgress, naming the holder. Thread-safe.
  virtual absl::StatusOr<Guard> acquire(std::string owner, absl::Duration timeout) = 0;

  // The current holder, if any. Thread-safe.
  virtual std::optional<HolderInfo> holder() const = 0;

 protected:
  // Wraps a successful acquisition; the guard will call release(token) exactly once.
  Guard make_guard(std::string owner, uint64_t token) {
    return Guard(this, std::move(owner), token);
  }
  // Ends the acquisition `token`. Called once per guard; must not throw.
  virtual void release(uint64_t token) noexcept = 0;
};

// The reload lock of one process: a fair ticket lock over absl::Mutex.
class ReloadLock : public LockService {
 public:
  // Emits "lock.wait" to `telemetry` (may be null) after each acquire. `telemetry` must outlive
  // the lock.
  explicit ReloadLock(Telemetry* telemetry = nullptr) : telemetry_(telemetry) {}
  ReloadLock(const ReloadLock&) = delete;
  ReloadLock& operator=(const ReloadLock&) = delete;

  absl::StatusOr<Guard> acquire(std::string owner, absl::Duration timeout) override;
  std::optional<HolderInfo> holder() const override;

  // How many callers wait for the lock now (the holder excluded). Thread-safe.
  size_t waiting() const;

  // Blocks until at least `n` callers wait, at most `timeout`; true if they do. For tests and
  // tools that must order callers. Thread-safe.
  bool await_waiting(size_t n, absl::Duration timeout) const;

 protected:
  void release(uint64_t token) noexcept override;

 private:
  void emit_wait(const std::string& owner, absl::Duration waited, const char* outcome,
                 uint64_t token);

  Telemetry* const telemetry_;
  mutable absl::Mutex mu_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_token_ ABSL_GUARDED_BY(mu_) = 0;
  // Tickets of the waiting callers in arrival order; only the front may take the lock.
  std::deque<uint64_t> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<HolderInfo> holder_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lemon

#endif  // LEMON_CORE_RELOAD_LOCK_H_
