// Giving freed heap memory back to the kernel after a reload.
//
//   ReloadReport r = ...;      // a reload: actors' mailboxes grew while they were suspended
//   request_heap_trim();       // soon, on a background thread: the pages those messages used
//                              // are returned, RSS falls back; the caller does not wait
//
// A reload is a memory peak by design: messages that arrive while actors are suspended are kept,
// and every actor holds its old and its migrated state at once. glibc's malloc keeps the freed
// memory (it only returns the top of a heap, and long-lived objects allocated during the reload,
// such as the new behaviours, sit above the freed messages), so without this the process's RSS
// ratchets up to the largest peak seen and creeps with fragmentation (docs/reliability.md, Soak).
#ifndef LEMON_CORE_HEAP_TRIM_H_
#define LEMON_CORE_HEAP_TRIM_H_

#include "absl/time/time.h"

namespace lemon {

// Returns the whole free pages of every malloc arena to the kernel (glibc's malloc_trim(0)); true
// if any memory was returned. A no-op returning false where heap_trim_supported() is false.
// Takes each arena's lock in turn while it walks that arena's free chunks, so call it on a cold
// path, not per message. Thread-safe.
bool release_free_heap();

// Asks the process's trimmer thread (started at the first request) to run release_free_heap()
// soon; returns at once. Requests made while a trim is pending or running are served by one more
// trim, so a burst of reloads costs at most two. A no-op where heap_trim_supported() is false.
// Reloads call it after releasing the reload lock: trimming (milliseconds, more with a large
// heap) is never part of a reload's duration or of an actor's pause.
void request_heap_trim();

// Until every trim requested so far has finished (true) or `timeout` passed (false). For
// measurements that must not see memory a requested trim is about to return (testing/soak.cc).
bool await_heap_trims(absl::Duration timeout);

// Whether release_free_heap can return anything: glibc's malloc, no sanitizer's allocator.
bool heap_trim_supported();

}  // namespace lemon

#endif  // LEMON_CORE_HEAP_TRIM_H_
