#include "core/malloc_tuning.h"

#include <malloc.h>

#include <cstdlib>
#include <vector>

#include "core/glibc_heap.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

// Bytes held in freed fast-bin chunks after `n` blocks of `size` bytes are freed (the first few
// go to the thread's cache, the rest to a bin).
size_t fast_bin_bytes_after_freeing(size_t size, int n) {
  std::vector<void*> blocks;
  for (int i = 0; i < n; ++i) blocks.push_back(std::malloc(size));
  const size_t before = mallinfo2().fsmblks;
  for (void* p : blocks) std::free(p);
  return mallinfo2().fsmblks - before;
}

TEST(MallocTuningTest, AMessageSizedBlockIsFreedIntoTheFastBins) {
  if (!LEMON_GLIBC_HEAP) GTEST_SKIP() << "a sanitizer's allocator owns the heap";
  ASSERT_TRUE(raise_fast_bin_limit().ok());
  EXPECT_GE(fast_bin_bytes_after_freeing(kFastBinMaxRequest, 40), 20 * kFastBinMaxRequest)
      << "a " << kFastBinMaxRequest << "-byte block went to a locked bin";
}

TEST(MallocTuningTest, RaisingTheLimitTwiceIsHarmless) {
  if (!LEMON_GLIBC_HEAP) {
    EXPECT_EQ(raise_fast_bin_limit().code(), absl::StatusCode::kUnimplemented);
    return;
  }
  EXPECT_TRUE(raise_fast_bin_limit().ok());
  EXPECT_TRUE(raise_fast_bin_limit().ok());
}

}  // namespace
}  // namespace lemon
