#include "core/heap_trim.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace lemon {
namespace {

// RssAnon of this process in kB (anonymous memory: the heap, not mapped files).
long rss_anon_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
  }
  return -1;
}

// 64 MB in small blocks (below the mmap threshold, so they come from the heap), touched, then
// freed except for every 256th: the blocks kept pin the free memory between them, so free()
// alone cannot give it back (what happens after a reload). Each kept block is filled with its
// own byte; the kept blocks are freed on destruction.
class FragmentedHeap {
 public:
  static constexpr size_t kBlock = 4096;

  FragmentedHeap() {
    constexpr int kBlocks = 16384;
    std::vector<char*> blocks;
    blocks.reserve(kBlocks);
    for (int i = 0; i < kBlocks; ++i) {
      blocks.push_back(static_cast<char*>(std::malloc(kBlock)));
      volatile char* b = blocks.back();
      for (size_t j = 0; j < kBlock; j += 512) b[j] = 1;  // touched: counted in RSS
    }
    for (int i = 0; i < kBlocks; ++i) {
      if (i % 256 == 255) {
        std::memset(blocks[i], fill_of(kept_.size()), kBlock);
        kept_.push_back(blocks[i]);
      } else {
        std::free(blocks[i]);
      }
    }
  }
  ~FragmentedHeap() {
    for (char* b : kept_) std::free(b);
  }

  // How many bytes of the kept blocks no longer hold what was written to them.
  size_t damaged_bytes() const {
    size_t damaged = 0;
    for (size_t i = 0; i < kept_.size(); ++i) {
      for (size_t j = 0; j < kBlock; ++j) damaged += kept_[i][j] != fill_of(i) ? 1 : 0;
    }
    return damaged;
  }

 private:
  static char fill_of(size_t i) { return static_cast<char>(0x5a ^ (i & 0xff)); }
  std::vector<char*> kept_;
};

TEST(HeapTrim, ReturnsFreePagesBetweenLiveBlocks) {
  if (!heap_trim_supported()) GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?)";
  FragmentedHeap heap;
  const long before = rss_anon_kb();
  ASSERT_GT(before, 0);

  EXPECT_TRUE(release_free_heap());

  const long after = rss_anon_kb();
  EXPECT_LT(after, before - 32 * 1024) << "RssAnon " << before << " kB -> " << after << " kB";
}

TEST(HeapTrim, RequestedTrimsRunInTheBackgroundAndCanBeAwaited) {
  if (!heap_trim_supported()) GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?)";
  FragmentedHeap heap;
  const long before = rss_anon_kb();
  for (int i = 0; i < 100; ++i) request_heap_trim();  // a burst: coalesced, never blocks
  ASSERT_TRUE(await_heap_trims(absl::Seconds(60)));
  const long after = rss_anon_kb();
  EXPECT_LT(after, before - 32 * 1024) << "RssAnon " << before << " kB -> " << after << " kB";
  EXPECT_TRUE(await_heap_trims(absl::ZeroDuration()));  // nothing pending any more
}

// Trimming returns only free pages: the blocks still in use keep every byte, through a first
// trim that returns memory and a second that finds nothing more to return.
TEST(HeapTrim, LiveBlocksKeepTheirContents) {
  if (!heap_trim_supported()) GTEST_SKIP() << "not glibc's malloc (a sanitizer's allocator?)";
  FragmentedHeap heap;
  release_free_heap();
  release_free_heap();
  EXPECT_EQ(heap.damaged_bytes(), 0u);
}

}  // namespace
}  // namespace lemon
