#include "core/malloc_tuning.h"

#include <malloc.h>

namespace lemon {

absl::Status raise_fast_bin_limit() {
  constexpr int kMaxFast = 80 * sizeof(std::size_t) / 4;
  if (mallopt(M_MXFAST, kMaxFast) != 1) {
    return absl::InternalError("mallopt(M_MXFAST) was refused");
  }
  return absl::OkStatus();
}

}  // namespace lemon
