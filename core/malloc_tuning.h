// Process-wide settings of glibc's malloc that message passing between threads depends on.
//
// glibc frees a chunk of at most its fast-bin limit (128 bytes by default) lock-free; a larger one
// takes its arena's lock. A mailbox element is allocated by the sender's thread and freed by the
// receiver's, so with a larger element every message takes the sender's arena lock twice (malloc
// and free), and a sender and an actor on two cores contend on it. A lemon::Message's mailbox
// element is 152 bytes (actors/message.h): raise_fast_bin_limit() lets it, like a small host
// struct's, go through the fast bins. lemon::Runtime calls it at creation.
#ifndef LEMON_CORE_MALLOC_TUNING_H_
#define LEMON_CORE_MALLOC_TUNING_H_

#include <cstddef>

#include "absl/status/status.h"

namespace lemon {

// The largest allocation (in bytes) the fast bins serve once the limit is raised: glibc's
// maximum for M_MXFAST on a 64-bit machine (80 * sizeof(size_t) / 4), less a chunk's header.
inline constexpr std::size_t kFastBinMaxRequest = 152;

// Raises glibc's fast-bin limit to its maximum (mallopt M_MXFAST). Process-wide and idempotent;
// kInternal if glibc refuses, kUnimplemented where glibc's malloc does not own the heap (under a
// sanitizer, whose allocator replaces it).
absl::Status raise_fast_bin_limit();

}  // namespace lemon

#endif  // LEMON_CORE_MALLOC_TUNING_H_
