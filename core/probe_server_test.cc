#include "core/probe_server.h"

#include <dirent.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::runfile;

bool exited_ok(const ProbeServer::Outcome& o) {
  return WIFEXITED(o.wait_status) && WEXITSTATUS(o.wait_status) == 0;
}

class ProbeServerTest : public ::testing::Test {
 protected:
  ProbeServer server_{runfile("core/module_probe")};
};

TEST_F(ProbeServerTest, LoadsAGoodModuleAgainAndAgain) {
  for (int i = 0; i < 3; ++i) {
    auto r = server_.probe(runfile("core/testdata/libraw_v1.so"), absl::Seconds(60));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(exited_ok(*r)) << r->wait_status << " " << r->said;
  }
}

TEST_F(ProbeServerTest, AFileThatIsNotAModuleFailsWithTheLoadersWords) {
  auto r = server_.probe(runfile("core/probe_server_test.cc.nope"), absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(exited_ok(*r));
  EXPECT_NE(r->said.find("No such file"), std::string::npos) << r->said;
}

// The loader's abort is the child's: the server answers for it and goes on serving.
TEST_F(ProbeServerTest, AModuleThatCrashesTheLoaderKillsOnlyItsChild) {
  auto r = server_.probe(runfile("testing/fuzz/crashes/module_descriptor/ld_so_gnu_hash_assertion"),
                         absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(exited_ok(*r));
  // ld.so reports its failed assertion and ends the child (exit 127).
  EXPECT_NE(r->said.find("Inconsistency detected by ld.so"), std::string::npos) << r->said;
  auto next = server_.probe(runfile("core/testdata/libraw_v1.so"), absl::Seconds(60));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(exited_ok(*next)) << next->said;
}

// A static initialiser that never returns: DeadlineExceeded; the next probe gets a new server.
TEST_F(ProbeServerTest, AHangingLoadTimesOutAndTheNextProbeStillWorks) {
  auto r = server_.probe(runfile("core/testdata/libhang.so"), absl::Milliseconds(500));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  auto next = server_.probe(runfile("core/testdata/libraw_v1.so"), absl::Seconds(60));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(exited_ok(*next)) << next->said;
}

// Every process started from `probe` (the server, and its children: they keep its command line).
std::vector<pid_t> processes_of(const std::string& probe) {
  std::vector<pid_t> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    const std::string cmdline = testing::read_file(absl::StrCat("/proc/", pid, "/cmdline"));
    if (absl::StartsWith(cmdline, probe + std::string(1, '\0'))) found.push_back(pid);
  }
  closedir(proc);
  return found;
}

// The server keeps a forked child ready for the next probe: it goes with the server.
TEST(ProbeServerLifeTest, NoChildOutlivesTheServer) {
  const std::string probe = runfile("core/module_probe");
  {
    ProbeServer server(probe);
    for (int i = 0; i < 2; ++i) {
      auto r = server.probe(runfile("core/testdata/libraw_v1.so"), absl::Seconds(60));
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(exited_ok(*r)) << r->said;
    }
    EXPECT_FALSE(processes_of(probe).empty());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::vector<pid_t> left = processes_of(probe);
  while (!left.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // polling a condition (no event to wait on)
    left = processes_of(probe);
  }
  EXPECT_TRUE(left.empty()) << left.size() << " process(es) of the probe server are still there";
}

TEST(ProbeServerStartTest, AMissingProbeBinaryIsUnavailable) {
  ProbeServer server("/nonexistent/module_probe");
  auto r = server.probe("/tmp/x.so", absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
}

}  // namespace
}  // namespace lemon
