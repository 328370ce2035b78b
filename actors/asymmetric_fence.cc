#include "actors/asymmetric_fence.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lemon {
namespace {

#if defined(__linux__) && defined(SYS_membarrier)
long membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

// Registers the process for private expedited membarrier if the kernel offers it, unless
// LEMON_FULL_FENCES=1 asks for full fences on both sides.
bool register_membarrier() {
  const char* full = std::getenv("LEMON_FULL_FENCES");
  if (full != nullptr && std::string_view(full) == "1") return false;
  const long commands = membarrier(MEMBARRIER_CMD_QUERY);
  if (commands < 0 || (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}
#else
bool register_membarrier() { return false; }
#endif

}  // namespace

namespace internal {
const bool membarrier_registered = register_membarrier();
}  // namespace internal

void heavy_fence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__linux__) && defined(SYS_membarrier)
  if (asymmetric_fences()) {
    // Cannot fail once registered (the kernel would have refused the registration).
    (void)membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
#endif
}

}  // namespace lemon
