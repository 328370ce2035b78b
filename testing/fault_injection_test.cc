// Fault injection: every bad input the reload path can be given, tried on a real lemon::Runtime
// whose actors receive a steady stream of messages. Each case asserts that the error names what
// went wrong (the ReloadError and its message), and that every running actor keeps its exact state
// and keeps processing afterwards. The observed outcomes are listed in docs/reliability.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "actors/messages.h"
#include "actors/supervisor.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/code_server.h"
#include "core/extension_compiler.h"
#include "core/reload_error.h"
#include "core/reloader.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/test_node.h"

namespace lemon {
namespace {

using testing::copy_file;
using testing::read_file;
using testing::runfile;
using testing::write_file;

constexpr int kActors = 16;
constexpr auto kDeadline = std::chrono::seconds(60);

std::string counter_so(const std::string& v) {
  return runfile("extensions/counter/libcounter_v" + v + ".so");
}
std::string raw_so(const std::string& name) { return runfile("core/testdata/lib" + name + ".so"); }
std::string fault_so(const std::string& name) {
  return runfile("testing/testdata/libfault_" + name + ".so");
}

// Files in `dir` (not . and ..); -1 if it cannot be read.
int count_files(const std::string& dir) {
  std::string cmd = "ls -A '" + dir + "' 2>/dev/null | wc -l";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  int n = -1;
  if (fscanf(p, "%d", &n) != 1) n = -1;
  pclose(p);
  return n;
}

// One sender thread numbering its ticks per actor (the counter modules count order violations),
// paced so that the two cores also serve the reload.
class Load {
 public:
  Load(caf::actor_system& sys, const std::vector<caf::actor>& actors) : sent_(actors.size(), 0) {
    thread_ = std::thread([this, &sys, &actors] {
      caf::scoped_actor self{sys};
      while (!stop_.load()) {
        for (size_t i = 0; i < actors.size(); ++i) {
          self->send(actors[i], tick_atom::value, uint64_t{1}, ++sent_[i]);
        }
        rounds_.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(500));  // pacing, not waiting
      }
    });
  }
  ~Load() { stop(); }
  void wait_rounds(uint64_t n) {
    const uint64_t target = rounds_.load() + n;
    while (rounds_.load() < target && !stop_.load()) std::this_thread::yield();
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Valid after stop().
  uint64_t sent_to(size_t i) const { return sent_[i]; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};
  std::vector<uint64_t> sent_;
  std::thread thread_;
};

class FaultInjectionTest : public testing::NodeTest {
 protected:
  void SetUp() override {
    NodeTest::SetUp();
    if (HasFatalFailure()) return;
    install("counter", counter_so("1"));
    actors_ = spawn("counter", kActors);
    ASSERT_EQ(actors_.size(), size_t{kActors});
    load_ = std::make_unique<Load>(rt_->system(), actors_);
    load_->wait_rounds(2);
  }
  void TearDown() override {
    load_.reset();
    NodeTest::TearDown();
  }

  // Stops the load, then checks every counter actor: runs `version`, counted exactly its initial
  // count plus every tick sent, saw no tick out of order, and still answers (add 1).
  void expect_actors_intact(const std::string& version) {
    load_->stop();
    for (int i = 0; i < kActors; ++i) {
      SCOPED_TRACE("counter-" + std::to_string(i));
      const int64_t expected = i + static_cast<int64_t>(load_->sent_to(i));
      EXPECT_EQ(ask<int64_t>(actors_[i], get_atom::value), expected) << "messages lost";
      ActorStatus st = ask<ActorStatus>(actors_[i], sys_status_atom::value);
      EXPECT_EQ(st.version, version);
      EXPECT_FALSE(st.suspended);
      EXPECT_NE(st.state.find("\"order_violations\":0"), std::string::npos) << st.state;
      EXPECT_EQ(ask<int64_t>(actors_[i], add_atom::value, int64_t{1}), expected + 1);
      if (HasFailure()) break;
    }
  }

  // The reload was undone: counter `version` is still current and every actor is intact on it.
  void expect_rolled_back_to(const std::string& version) {
    EXPECT_EQ(rt_->code_server().current("counter")->version(), version);
    expect_actors_intact(version);
  }

  std::string copy_dir() { return dir_.file("state/modules"); }

  std::vector<caf::actor> actors_;
  std::unique_ptr<Load> load_;
};

std::string first_error(const ReloadReport& r) {
  return r.errors.empty() ? "<no error>"
                          : std::string(to_string(r.errors[0].reason)) + ": " + r.errors[0].message;
}

// Prints what a case observed, for the table in docs/reliability.md.
void observed(const std::string& what, const ReloadReport& r) {
  std::printf("[observed] %s -> %s\n", what.c_str(), first_error(r).c_str());
}

// Prints `r` as observed for `what`, and expects it to have failed with `reason` first, in a
// message that contains each of `mentions`.
void expect_reload_error(const std::string& what, const ReloadReport& r, ReloadError reason,
                         std::initializer_list<std::string> mentions) {
  observed(what, r);
  EXPECT_EQ(r.status, ReloadStatus::kError);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].reason, reason) << first_error(r);
  for (const std::string& m : mentions) {
    EXPECT_NE(r.errors[0].message.find(m), std::string::npos) << first_error(r);
  }
}

TEST_F(FaultInjectionTest, EveryBadSharedObjectIsRefusedAndNothingRunningChanges) {
  const std::string truncated = dir_.file("truncated.so");
  const std::string v2 = read_file(counter_so("2"));
  write_file(truncated, v2.substr(0, v2.size() / 2));
  const std::string not_elf = dir_.file("not_elf.so");
  write_file(not_elf, "#!/bin/sh\necho this is not a shared object\n");
  const std::string empty = dir_.file("empty.so");
  write_file(empty, "");
  const std::string header_only = dir_.file("header_only.so");
  write_file(header_only, v2.substr(0, 64));
  struct Case {
    std::string what;
    std::string file;
    ReloadError reason;
    std::string message;  // a part of the error message
  };
  const std::vector<Case> cases = {
      {"missing entry point", raw_so("no_entry"), ReloadError::kBadAbi,
       "has no entry point lemon_module_entry"},
      {"wrong ABI version", raw_so("bad_abi"), ReloadError::kBadAbi, "built for module ABI 999"},
      {"fingerprint mismatch", raw_so("bad_fingerprint"), ReloadError::kFingerprintMismatch,
       "caf: host 1706, module 1800"},
      {"unresolved symbol", raw_so("unresolved"), ReloadError::kLoadFailed,
       "undefined symbol: lemon_symbol_nobody_defines"},
      {"truncated file", truncated, ReloadError::kLoadFailed, "(truncated?)"},
      {"ELF header only", header_only, ReloadError::kLoadFailed, "(truncated?)"},
      {"not ELF", not_elf, ReloadError::kLoadFailed, "not an ELF file"},
      {"empty file", empty, ReloadError::kLoadFailed, "not an ELF file"},
      {"an executable, not a shared object", "/bin/true", ReloadError::kLoadFailed,
       "cannot dynamically load position-independent executable"},
      {"another module's name", raw_so("other_name"), ReloadError::kNameMismatch,
       "holds module other, not counter"},
      // Both would kill the host inside dlopen; the probe process (core/module_probe) dies instead.
      {"a static constructor that throws", fault_so("static_ctor_throws"), ReloadError::kLoadFailed,
       "probe process failed"},
      {"a hash table that makes ld.so assert",
       runfile("testing/fuzz/crashes/module_descriptor/ld_so_gnu_hash_assertion"),
       ReloadError::kLoadFailed, "probe process failed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ReloadReport r = install_and_reload("counter", c.file);
    observed(c.what, r);
    EXPECT_EQ(r.status, ReloadStatus::kError);
    ASSERT_EQ(r.errors.size(), 1u) << first_error(r);
    EXPECT_EQ(r.errors[0].reason, c.reason) << first_error(r);
    EXPECT_NE(r.errors[0].message.find(c.message), std::string::npos) << first_error(r);
    EXPECT_EQ(rt_->code_server().current("counter")->version(), "1");
    EXPECT_EQ(rt_->code_server().old("counter"), nullptr);
    load_->wait_rounds(1);  // actors keep receiving between the attempts
  }
  // Only the current version's copy is left in the copy directory: failed loads removed theirs.
  EXPECT_EQ(count_files(copy_dir()), 1);
  // And a good version still goes in afterwards, under the same load, taking the exact counts.
  ReloadReport ok = install_and_reload("counter", counter_so("2"));
  ASSERT_EQ(ok.status, ReloadStatus::kOk) << first_error(ok);
  expect_actors_intact("2");
}

TEST_F(FaultInjectionTest, CodeChangeThatThrowsRollsEveryActorBack) {
  install("counter", counter_so("2"), false);
  ReloadRequest o = ReloadRequest::module("counter");
  o.extra = "fail";
  ReloadReport r = rt_->reloader().run(o);
  expect_reload_error("code_change throws", r, ReloadError::kCodeChangeFailed,
                      {"code_change failed as asked"});
  expect_rolled_back_to("1");
}

TEST_F(FaultInjectionTest, CodeChangeThatReturnsNoBehaviourRollsEveryActorBack) {
  ReloadReport r = install_and_reload("counter", fault_so("null_code_change"));
  expect_reload_error("code_change returns no behaviour", r, ReloadError::kCodeChangeFailed,
                      {"code_change returned no behaviour"});
  expect_rolled_back_to("1");
}

TEST_F(FaultInjectionTest, CodeChangeLongerThanTheDeadlineTimesOutAndRollsBack) {
  install("counter", fault_so("slow_code_change"), false);  // first code_change spins 3 s
  ReloadRequest o = ReloadRequest::module("counter");
  o.timeout_ms = 500;
  ReloadReport r = rt_->reloader().run(o);
  // The reload does not wait for the 3 s code_change: it gives up a grace second after the
  // deadline.
  expect_reload_error("slow code_change", r, ReloadError::kSuspendTimeout,
                      {"has not returned 1s after the 500ms deadline"});
  // The slow code_change returns late, the abandoned round aborts, every actor resumes on 1.
  expect_rolled_back_to("1");
}

TEST_F(FaultInjectionTest, AnActorStuckInAHandlerTimesOutTheSuspensionAndKeepsItsWork) {
  install("slow", runfile("actors/testdata/libslow_v1.so"));
  std::vector<caf::actor> slow = spawn("slow", 3);
  ASSERT_EQ(slow.size(), 3u);
  (*self_)->send(slow[0], ping_atom::value, uint64_t{2000});  // busy for 2 s
  install("slow", runfile("actors/testdata/libslow_v2.so"), false);
  ReloadRequest o = ReloadRequest::module("slow");
  o.timeout_ms = 300;
  ReloadReport r = rt_->reloader().run(o);
  expect_reload_error("actor stuck in a handler", r, ReloadError::kSuspendTimeout,
                      {"first: slow-0"});
  EXPECT_EQ(rt_->code_server().current("slow")->version(), "1");
  // The stuck handler completed (1 ping), the next one is handled on version 1.
  EXPECT_EQ(ask<uint64_t>(slow[0], ping_atom::value, uint64_t{0}), 2u);
  for (auto& a : slow) EXPECT_EQ(ask<ActorStatus>(a, sys_status_atom::value).version, "1");
  expect_actors_intact("1");
}

// No probation window: a reload whose new behaviour throws on its first message is a successful
// reload; CAF then terminates that actor (exception in a handler), and a supervisor restarts it
// from `create` on the current, new version. Actors outside a supervisor stay dead.
TEST_F(FaultInjectionTest, NewBehaviourThatThrowsAfterResumeIsRestartedByItsSupervisor) {
  SupervisorSpec spec;
  spec.name = "sup";
  spec.intensity = 10;
  spec.children = {{{"counter", "", "supervised", "7"}, Restart::kPermanent}};
  auto sup = spawn_supervisor(rt_->system(), rt_->registry(), rt_->code_server(), spec);
  ASSERT_TRUE(sup.ok()) << sup.status();
  (*self_)
      ->request(*sup, kDeadline, sup_watch_atom::value)
      .receive([] {}, [&](caf::error& e) { ADD_FAILURE() << rt_->system().render(e); });
  auto children = ask<std::vector<SupervisedChild>>(*sup, sup_which_atom::value);
  ASSERT_EQ(children.size(), 1u);
  caf::actor child = children[0].handle;
  EXPECT_EQ(ask<int64_t>(child, add_atom::value, int64_t{5}), 12);
  load_->stop();  // the unsupervised load actors would die at their next tick; see below

  ReloadReport r = install_and_reload("counter", fault_so("throw_after_migration"));
  ASSERT_EQ(r.status, ReloadStatus::kOk) << first_error(r);
  EXPECT_EQ(ask<ActorStatus>(child, sys_status_atom::value).version, "2-throws");

  // Its first message throws: the child dies, the supervisor restarts it on version 2-throws.
  (*self_)->send(child, add_atom::value, int64_t{1});
  std::string name;
  caf::actor restarted;
  (*self_)->receive(
      [&](sup_report_atom, std::string& n, caf::actor& h) {
        name = n;
        restarted = h;
      },
      caf::after(kDeadline) >> [] { ADD_FAILURE() << "no report from the supervisor"; });
  EXPECT_EQ(name, "supervised");
  ASSERT_TRUE(restarted);
  EXPECT_NE(restarted, child);
  ActorStatus st = ask<ActorStatus>(restarted, sys_status_atom::value);
  EXPECT_EQ(st.version, "2-throws");
  // Restarted from create("7"): the state it had (12) is gone, as in OTP.
  EXPECT_EQ(ask<int64_t>(restarted, get_atom::value), 7);
  EXPECT_EQ(ask<int64_t>(restarted, add_atom::value, int64_t{1}), 8);

  // An unsupervised actor of the module dies the same way and stays dead.
  caf::actor lone = actors_[0];
  (*self_)->monitor(lone);
  (*self_)->send(lone, get_atom::value);
  bool down = false;
  (*self_)->receive([&](caf::down_msg& m) { down = m.source == lone.address(); },
                    [&](int64_t) { ADD_FAILURE() << "the migrated actor did not throw"; },
                    caf::after(kDeadline) >> [] { ADD_FAILURE() << "no down message"; });
  EXPECT_TRUE(down);
  // Everyone else still counts (each throws once, on its own first message).
  for (int i = 1; i < kActors; ++i) {
    (*self_)
        ->request(actors_[i], kDeadline, get_atom::value)
        .receive([&](int64_t) { ADD_FAILURE() << "actor " << i << " did not throw"; },
                 [&](caf::error&) {});
  }
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
}

TEST_F(FaultInjectionTest, ExtensionCompileErrorsAndMissingHeadersChangeNothing) {
  struct Case {
    std::string what;
    std::string source;
    std::string message;  // a part of the first diagnostic
    int line;
  };
  const std::vector<Case> cases = {
      {"syntax error", "int ok() { return 1; }\nint broken( {\n", "", 2},
      {"missing header", "#include \"no/such/header.h\"\n", "no/such/header.h", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string path = dir_.file("ext/counter.cc");
    write_file(path, c.source);
    ReloadReport r = rt_->reloader().run(ReloadRequest::extension(path));
    observed(c.what, r);
    EXPECT_EQ(r.status, ReloadStatus::kError);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].reason, ReloadError::kCompileFailed) << first_error(r);
    ASSERT_FALSE(r.errors[0].diagnostics.empty()) << first_error(r);
    const Diagnostic& d = r.errors[0].diagnostics[0];
    EXPECT_EQ(d.file, path);
    EXPECT_EQ(d.line, c.line);
    EXPECT_NE(d.message.find(c.message), std::string::npos) << d.message;
    EXPECT_EQ(rt_->code_server().current("counter")->version(), "1");
  }
  expect_actors_intact("1");
}

TEST_F(FaultInjectionTest, AHangingCompilerIsKilledAtTheTimeout) {
  const std::string pid_file = dir_.file("compiler.pid");
  const std::string compiler = dir_.file("hanging-cc");
  write_file(compiler, "#!/bin/sh\necho $$ > '" + pid_file + "'\nexec sleep 600\n");
  ASSERT_EQ(chmod(compiler.c_str(), 0700), 0);
  ExtensionCompiler::Options co;
  co.extension_roots = {dir_.file("ext")};
  co.cache_dir = dir_.file("hang-cache");
  co.compiler = compiler;
  co.timeout = absl::Seconds(1);
  auto hanging = ExtensionCompiler::create(co);
  ASSERT_TRUE(hanging.ok()) << hanging.status();
  Reloader::Deps deps{&rt_->code_server(), &rt_->reload_manager(), hanging->get(), &rt_->lock(),
                      &rt_->telemetry()};
  Reloader reloader(deps, rt_->reloader().layout());
  const std::string path = dir_.file("ext/counter.cc");
  copy_file(runfile("extensions/counter/counter_v2.cc"), path);
  const auto start = std::chrono::steady_clock::now();
  ReloadReport r = reloader.run(ReloadRequest::extension(path));
  const auto took = std::chrono::steady_clock::now() - start;
  expect_reload_error("hanging compiler", r, ReloadError::kTimeout, {"compiler killed after 1s"});
  EXPECT_LT(took, std::chrono::seconds(30));
  // The compiler process is gone (killed with its process group and reaped).
  const std::string pid = read_file(pid_file);
  ASSERT_FALSE(pid.empty());
  EXPECT_NE(kill(std::stoi(pid), 0), 0);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_FALSE(rt_->lock().holder().has_value());
  expect_actors_intact("1");
}

TEST_F(FaultInjectionTest, AModulesCopyDirectoryThatCannotBeWrittenIsAnIoError) {
  // Root ignores permission bits, so make the copy directory impossible instead: a regular file
  // stands where the directory was.
  const std::string away = dir_.file("state/modules.away");
  ASSERT_EQ(rename(copy_dir().c_str(), away.c_str()), 0);
  write_file(copy_dir(), "not a directory");
  ReloadReport r = install_and_reload("counter", counter_so("2"));
  expect_reload_error("copy directory cannot be written", r, ReloadError::kIoError,
                      {"cannot create a file in " + copy_dir(), "Not a directory"});
  EXPECT_EQ(rt_->code_server().current("counter")->version(), "1");
  // Once the directory is back, the same reload goes through.
  ASSERT_EQ(unlink(copy_dir().c_str()), 0);
  ASSERT_EQ(rename(away.c_str(), copy_dir().c_str()), 0);
  load_->wait_rounds(1);
  ReloadReport ok = rt_->reloader().run(ReloadRequest::module("counter"));
  EXPECT_EQ(ok.status, ReloadStatus::kOk) << first_error(ok);
  load_->stop();
  for (int i = 0; i < kActors; ++i) {
    EXPECT_EQ(ask<int64_t>(actors_[i], get_atom::value),
              i + static_cast<int64_t>(load_->sent_to(i)));
    EXPECT_EQ(ask<ActorStatus>(actors_[i], sys_status_atom::value).version, "2");
  }
}

// "Disk full" without root or a tiny file system: RLIMIT_FSIZE makes the copy's write() fail
// part-way (EFBIG, with SIGXFSZ ignored), exactly where ENOSPC would.
TEST_F(FaultInjectionTest, ADiskThatFillsUpWhileCopyingAModuleIsAnIoErrorAndLeavesNoPartialCopy) {
  install("counter", counter_so("2"), false);
  const int files_before = count_files(copy_dir());
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit tiny = old_limit;
  tiny.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tiny), 0);
  ReloadReport r = rt_->reloader().run(ReloadRequest::module("counter"));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  signal(SIGXFSZ, old_handler);
  expect_reload_error("disk full while copying", r, ReloadError::kIoError, {"File too large"});
  EXPECT_EQ(count_files(copy_dir()), files_before) << "a partial copy was left behind";
  expect_rolled_back_to("1");
}

}  // namespace
}  // namespace lemon
