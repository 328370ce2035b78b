#include "core/malloc_tuning.h"

#include "core/glibc_heap.h"

#if LEMON_GLIBC_HEAP
#include <malloc.h>
#endif

namespace lemon {

absl::Status raise_fast_bin_limit() {
#if LEMON_GLIBC_HEAP
  constexpr int kMaxFast = 80 * sizeof(std::size_t) / 4;
  if (mallopt(M_MXFAST, kMaxFast) != 1) {
    return absl::InternalError("mallopt(M_MXFAST) was refused");
  }
  return absl::OkStatus();
#else
  return absl::UnimplementedError("glibc's malloc does not own this process's heap");
#endif
}

}  // namespace lemon
