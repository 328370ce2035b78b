#include "core/heap_trim.h"

#include <cstdint>
#include <cstdlib>  // defines __GLIBC__ with glibc
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/glibc_heap.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lemon {

bool heap_trim_supported() { return LEMON_GLIBC_HEAP != 0; }

bool release_free_heap() {
#if LEMON_GLIBC_HEAP
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

namespace {

// The trimmer: one thread for the process, started on first use and never stopped (it only
// waits on a condition; a process may exit while it waits).
struct Trimmer {
  absl::Mutex mu;
  uint64_t requested ABSL_GUARDED_BY(mu) = 0;
  uint64_t done ABSL_GUARDED_BY(mu) = 0;
  bool started ABSL_GUARDED_BY(mu) = false;

  bool pending() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return requested > done; }
  bool idle() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return requested == done; }

  void loop() {
    for (;;) {
      uint64_t serving = 0;
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(this, &Trimmer::pending));
        serving = requested;  // every request up to here is served by this trim
      }
      release_free_heap();
      absl::MutexLock lock(&mu);
      done = serving;
    }
  }
};

Trimmer& trimmer() {
  static Trimmer* const t = new Trimmer;  // never destroyed: its thread may outlive main
  return *t;
}

}  // namespace

void request_heap_trim() {
  if (!heap_trim_supported()) return;
  Trimmer& t = trimmer();
  absl::MutexLock lock(&t.mu);
  ++t.requested;
  if (!t.started) {
    t.started = true;
    std::thread([&t] { t.loop(); }).detach();
  }
}

bool await_heap_trims(absl::Duration timeout) {
  Trimmer& t = trimmer();
  absl::MutexLock lock(&t.mu);
  return t.mu.AwaitWithTimeout(absl::Condition(&t, &Trimmer::idle), timeout);
}

}  // namespace lemon
