#include "core/reload_history.h"

#include <algorithm>
#include <string>

#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::ScratchDir;

HistoryEntry entry(int n, const std::string& target) {
  HistoryEntry e;
  e.time_unix_ms = n;
  e.requested_by = "local";
  e.op = "module";
  e.target = target;
  e.params = {{"dry_run", "false"}};
  e.status = "ok";
  e.modules = {target};
  return e;
}

TEST(ReloadHistoryTest, KeepsTheLastEntriesAcrossAReopen) {
  ScratchDir dir;
  const std::string path = dir.file("history.jsonl");
  {
    auto h = ReloadHistory::open(path, /*max_entries=*/5);
    ASSERT_TRUE(h.ok()) << h.status();
    for (int i = 1; i <= 12; ++i) ASSERT_TRUE((*h)->append(entry(i, "m")).ok());
  }
  auto reopened = ReloadHistory::open(path, 5);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  std::vector<HistoryEntry> all = (*reopened)->last(100, "");
  ASSERT_EQ(all.size(), 5u) << "bounded at max_entries";
  EXPECT_EQ(all.front().time_unix_ms, 12) << "newest first";
  EXPECT_EQ(all.back().time_unix_ms, 8);
  EXPECT_EQ(all.front().params.at("dry_run"), "false");
  std::string text = testing::read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << "the file is bounded too";
}

TEST(ReloadHistoryTest, FiltersByModuleAndLimit) {
  ScratchDir dir;
  auto h = ReloadHistory::open(dir.file("history.jsonl"));
  ASSERT_TRUE(h.ok()) << h.status();
  for (int i = 1; i <= 6; ++i) {
    ASSERT_TRUE((*h)->append(entry(i, i % 2 == 0 ? "even" : "odd")).ok());
  }
  std::vector<HistoryEntry> even = (*h)->last(2, "even");
  ASSERT_EQ(even.size(), 2u);
  EXPECT_EQ(even[0].time_unix_ms, 6);
  EXPECT_EQ(even[1].time_unix_ms, 4);
  EXPECT_TRUE((*h)->last(10, "none").empty());
}

TEST(ReloadHistoryTest, ALineThatDoesNotParseIsDropped) {
  ScratchDir dir;
  testing::write_file(dir.file("h.jsonl"),
                      "{\"op\":\"module\",\"target\":\"a\"}\nnot json\n{\"op\":\"app\"}\n");
  auto h = ReloadHistory::open(dir.file("h.jsonl"));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ((*h)->last(10, "").size(), 2u);
}

}  // namespace
}  // namespace lemon
