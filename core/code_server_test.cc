#include "core/code_server.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/reload_error.h"
#include "core/sha256.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::runfile;

std::string counter(int v) {
  return runfile("extensions/counter/libcounter_v" + std::to_string(v) + ".so");
}

std::string raw(const std::string& name) { return runfile("core/testdata/lib" + name + ".so"); }

std::string read_maps() { return testing::read_file("/proc/self/maps"); }

// The names in `dir`, without . and ..
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    closedir(d);
  }
  return out;
}

class CodeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cs = CodeServer::create({dir_.file("copies")});
    ASSERT_TRUE(cs.ok()) << cs.status();
    cs_ = std::move(*cs);
  }
  void TearDown() override { cs_.reset(); }

  // A second code server, in its own copy directory, that keeps let-go versions for `grace`.
  std::unique_ptr<CodeServer> with_grace(absl::Duration grace) {
    CodeServer::Options o;
    o.copy_dir = dir_.file("grace");
    o.unmap_grace = grace;
    return std::move(CodeServer::create(o).value());
  }

  std::string write_file(const std::string& name, const std::string& bytes) {
    std::string path = dir_.file(name);
    testing::write_file(path, bytes);
    return path;
  }

  std::string copy_to(const std::string& from, const std::string& name) {
    return write_file(name, testing::read_file(from));
  }

  testing::ScratchDir dir_;
  std::unique_ptr<CodeServer> cs_;
};

TEST_F(CodeServerTest, LoadingANewVersionMakesTheCurrentOneOld) {
  auto v1 = cs_->load(counter(1));
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->name(), "counter");
  EXPECT_EQ((*v1)->version(), "1");
  ASSERT_NE((*v1)->behaviour("counter"), nullptr);
  EXPECT_EQ((*v1)->behaviour("nope"), nullptr);
  auto v2 = cs_->load(counter(2), "counter");
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(cs_->current("counter")->version(), "2");
  EXPECT_EQ(cs_->old("counter")->version(), "1");
  auto listed = cs_->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].current->checksum(), (*v2)->checksum());
}

TEST_F(CodeServerTest, SameBytesAreUnchanged) {
  ASSERT_TRUE(cs_->load(counter(1)).ok());
  auto again = cs_->load(counter(1));
  EXPECT_EQ(reload_error_of(again.status()), ReloadError::kUnchanged) << again.status();
  EXPECT_EQ(cs_->old("counter"), nullptr);
}

TEST_F(CodeServerTest, ReplacingTheFileAtTheSamePathLoadsTheNewVersion) {
  // dlopen caches by path: without a private copy per version, v2 would come back as v1.
  const std::string path = copy_to(counter(1), "counter.so");
  ASSERT_TRUE(cs_->load(path).ok());
  copy_to(counter(2), "counter.so");
  auto v2 = cs_->load(path);
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ((*v2)->version(), "2");
  EXPECT_EQ(cs_->old("counter")->version(), "1");
  EXPECT_NE(cs_->old("counter")->copy_path(), (*v2)->copy_path());
}

TEST_F(CodeServerTest, SoftPurgeIsRefusedWhileAnActorRunsOldCode) {
  auto v1 = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(v1.ok()) << v1.status();
  ModuleUse actor_a(*v1), actor_b(*v1);
  ASSERT_TRUE(cs_->load(raw("raw_v2")).ok());
  auto s = cs_->soft_purge("raw");
  EXPECT_EQ(reload_error_of(s), ReloadError::kInUse) << s;
  EXPECT_NE(s.message().find("2 actor(s)"), absl::string_view::npos) << s;
  // A further load must purge the old version first, so it is refused too and nothing changes.
  auto v3 = cs_->load(raw("raw_v3"));
  EXPECT_EQ(reload_error_of(v3.status()), ReloadError::kInUse) << v3.status();
  EXPECT_EQ(cs_->current("raw")->version(), "2");
  EXPECT_EQ(cs_->old("raw")->version(), "1");
  actor_a = ModuleUse();
  actor_b = ModuleUse();
  EXPECT_TRUE(cs_->soft_purge("raw").ok());
  EXPECT_EQ(cs_->old("raw"), nullptr);
  EXPECT_TRUE(cs_->load(raw("raw_v3")).ok());
}

TEST_F(CodeServerTest, AFourthLoadIsRefusedWhileTheOldVersionIsReferenced) {
  ASSERT_TRUE(cs_->load(raw("raw_v1")).ok());
  auto v2 = cs_->load(raw("raw_v2"));
  ASSERT_TRUE(v2.ok());
  auto use = std::make_unique<ModuleUse>(*v2);
  const std::string v2_copy = (*v2)->copy_path();
  v2 = ModuleRef();
  ASSERT_TRUE(cs_->load(raw("raw_v3")).ok()) << "v1 was unused: purged by the load of v3";
  auto v4 = cs_->load(raw("raw_v4"));
  EXPECT_EQ(reload_error_of(v4.status()), ReloadError::kInUse) << v4.status();
  EXPECT_EQ(in_use_module(v4.status()), "raw") << "the refusal names the module";
  EXPECT_EQ(in_use_module(absl::NotFoundError("x")), "");
  EXPECT_EQ(cs_->current("raw")->version(), "3");
  EXPECT_EQ(reload_error_of(cs_->soft_purge("raw")), ReloadError::kInUse);
  use.reset();
  ASSERT_TRUE(cs_->soft_purge("raw").ok());
  EXPECT_EQ(read_maps().find(v2_copy), std::string::npos) << "purged v2 is still mapped";
  EXPECT_TRUE(cs_->load(raw("raw_v4")).ok());
}

TEST_F(CodeServerTest, CommittingTheOldVersionSwapsCurrentAndOld) {
  auto v1 = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(cs_->load(raw("raw_v2")).ok());
  ModuleUse still_on_v1(*v1);  // a rollback stages actors on v1 before the commit
  ASSERT_TRUE(cs_->commit(*v1).ok());
  EXPECT_EQ(cs_->current("raw")->version(), "1");
  EXPECT_EQ(cs_->old("raw")->version(), "2");
}

TEST_F(CodeServerTest, SoftPurgedVersionIsReallyUnmapped) {
  std::string v1_copy;
  {
    auto v1 = cs_->load(counter(1));
    ASSERT_TRUE(v1.ok()) << v1.status();
    v1_copy = (*v1)->copy_path();
  }
  ASSERT_NE(read_maps().find(v1_copy), std::string::npos) << "v1 should be mapped";
  ASSERT_TRUE(cs_->load(counter(2)).ok());
  ASSERT_NE(read_maps().find(v1_copy), std::string::npos) << "old code stays mapped";
  ASSERT_TRUE(cs_->soft_purge("counter").ok());
  EXPECT_EQ(read_maps().find(v1_copy), std::string::npos) << "purged v1 is still mapped";
  struct stat st;
  EXPECT_NE(stat(v1_copy.c_str(), &st), 0) << "private copy not removed";
}

// With an unmap grace, a purged version stays mapped (messages its code built may still wait in
// mailboxes) and is unmapped, its private copy removed, once the grace has passed.
TEST_F(CodeServerTest, APurgedVersionStaysMappedForItsGraceThenGoes) {
  auto cs = with_grace(absl::Milliseconds(300));
  std::string v1_copy;
  {
    auto v1 = cs->load(counter(1));
    ASSERT_TRUE(v1.ok()) << v1.status();
    v1_copy = (*v1)->copy_path();
  }
  ASSERT_TRUE(cs->load(counter(2)).ok());
  ASSERT_TRUE(cs->soft_purge("counter").ok());
  EXPECT_EQ(cs->old("counter"), nullptr) << "purged: no longer listed";
  EXPECT_NE(read_maps().find(v1_copy), std::string::npos) << "unmapped before its grace";
  EXPECT_EQ(cs->lingering(), 1u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (cs->lingering() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(cs->lingering(), 0u);
  EXPECT_EQ(read_maps().find(v1_copy), std::string::npos) << "still mapped after its grace";
  struct stat st;
  EXPECT_NE(stat(v1_copy.c_str(), &st), 0) << "private copy not removed";
}

TEST_F(CodeServerTest, LingeringVersionsCanBeLetGoAtOnce) {
  auto cs = with_grace(absl::Hours(1));
  ASSERT_TRUE(cs->load(raw("raw_v1")).ok());
  ASSERT_TRUE(cs->load(raw("raw_v2")).ok());  // v1 becomes old
  ASSERT_TRUE(cs->load(raw("raw_v3")).ok());  // v1 is let go (replaced as old by v2)
  ASSERT_TRUE(cs->soft_purge("raw").ok());    // v2 too
  EXPECT_EQ(cs->lingering(), 2u);
  EXPECT_EQ(cs->unmap_lingering(), 2u);
  EXPECT_EQ(cs->lingering(), 0u);
  ASSERT_TRUE(cs->unload("raw").ok());  // v3, current: lingers as well
  EXPECT_EQ(cs->lingering(), 1u);
}

TEST_F(CodeServerTest, HardPurgeStopsActorsOnOldCodeThenDropsIt) {
  auto v1 = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(v1.ok());
  auto actor = std::make_unique<ModuleUse>(*v1);
  v1 = ModuleRef();
  ASSERT_TRUE(cs_->load(raw("raw_v2")).ok());
  auto without_hook = cs_->purge("raw");
  EXPECT_EQ(reload_error_of(without_hook.status()), ReloadError::kInUse);
  std::string hooked_version;
  cs_->set_purge_hook([&](const ModuleRef& m) {
    hooked_version = m->version();
    actor.reset();
    return 1;
  });
  auto stopped = cs_->purge("raw");
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(*stopped, 1);
  EXPECT_EQ(hooked_version, "1");
  EXPECT_EQ(cs_->old("raw"), nullptr);
  EXPECT_EQ(cs_->current("raw")->version(), "2");
}

TEST_F(CodeServerTest, BadModulesAreRefusedAndTheCurrentVersionIsUntouched) {
  auto v1 = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(v1.ok()) << v1.status();
  const std::string not_elf = write_file("not_elf.so", "this is not a shared object\n");
  const std::string bytes = testing::read_file(raw("raw_v2"));
  const std::string truncated = write_file("truncated.so", bytes.substr(0, bytes.size() / 3));
  struct Case {
    std::string what;
    std::string path;
    std::string expected_name;
    ReloadError error;
  };
  const Case cases[] = {
      {"empty path", "", "", ReloadError::kInvalidArgument},
      {"missing file", dir_.file("nope.so"), "", ReloadError::kNotFound},
      {"directory", dir_.path(), "", ReloadError::kInvalidArgument},
      {"not ELF", not_elf, "", ReloadError::kLoadFailed},
      {"truncated", truncated, "", ReloadError::kLoadFailed},
      {"no entry point", raw("no_entry"), "", ReloadError::kBadAbi},
      {"wrong ABI", raw("bad_abi"), "", ReloadError::kBadAbi},
      {"fingerprint", raw("bad_fingerprint"), "", ReloadError::kFingerprintMismatch},
      {"unresolved symbol", raw("unresolved"), "", ReloadError::kLoadFailed},
      {"wrong name", raw("other_name"), "raw", ReloadError::kNameMismatch},
      {"same version", raw("raw_v1_other_bytes"), "", ReloadError::kSameVersion},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = cs_->load(c.path, c.expected_name);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(reload_error_of(r.status()), c.error) << r.status();
    EXPECT_FALSE(r.status().message().empty());
    EXPECT_EQ(cs_->current("raw"), *v1);
    EXPECT_EQ(cs_->old("raw"), nullptr);
  }
  // Nothing of the failed loads stays behind in the copy directory.
  std::string cmd = "test $(ls '" + dir_.file("copies") + "' | wc -l) -eq 1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST_F(CodeServerTest, AModuleThatWouldCrashTheLoaderIsRefusedAndTheHostSurvives) {
  // A real counter module with a few bytes of its .gnu.hash table changed (found by the module
  // descriptor fuzzer): it passes the ELF checks, and glibc's ld.so asserts (aborts) on dlopen.
  // The probe process takes the abort; the code server answers load_failed.
  auto v1 = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(v1.ok());
  auto r = cs_->load(runfile("testing/fuzz/crashes/module_descriptor/ld_so_gnu_hash_assertion"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kLoadFailed) << r.status();
  EXPECT_NE(r.status().message().find("probe"), absl::string_view::npos) << r.status();
  EXPECT_EQ(cs_->current("raw"), *v1);
}

TEST_F(CodeServerTest, AProbeProgramThatCannotStartRefusesTheLoadAndNamesTheProgram) {
  // Neither the probe server nor a probe process of its own can start: nothing is loaded unprobed.
  CodeServer::Options o;
  o.copy_dir = dir_.file("copies_no_probe");
  o.probe_path = dir_.file("no_such_probe");
  auto cs = CodeServer::create(o);
  ASSERT_TRUE(cs.ok()) << cs.status();
  auto r = (*cs)->load(raw("raw_v1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kLoadFailed) << r.status();
  EXPECT_NE(r.status().message().find("cannot start " + o.probe_path + ": No such file"),
            absl::string_view::npos)
      << r.status();
  EXPECT_FALSE((*cs)->current("raw"));
}

// While a version loads, the file at its path flips between two versions as fast as renames go:
// the checksum must still be that of the bytes mapped, and name the version they hold.
TEST_F(CodeServerTest, TheChecksumIsThatOfTheBytesMappedEvenWhenTheFileChanges) {
  const std::string v1 = copy_to(raw("raw_v1"), "v1.so"), v2 = copy_to(raw("raw_v2"), "v2.so");
  const std::map<std::string, std::string> version_of = {{sha256_file(v1).value(), "1"},
                                                         {sha256_file(v2).value(), "2"}};
  const std::string path = copy_to(v1, "flipping.so"), next = dir_.file("next.so");
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (link((i % 2 == 0 ? v2 : v1).c_str(), next.c_str()) == 0) {
        rename(next.c_str(), path.c_str());
      }
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int loads = 0;
  while (std::chrono::steady_clock::now() < deadline && loads < 300 && !HasFailure()) {
    auto m = cs_->prepare(path);  // prepared only: nothing is committed
    ASSERT_TRUE(m.ok()) << m.status();
    ++loads;
    absl::StatusOr<std::string> mapped = sha256_file((*m)->copy_path());
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    EXPECT_EQ((*m)->checksum(), *mapped) << "after " << loads << " loads";
    auto it = version_of.find((*m)->checksum());
    ASSERT_NE(it, version_of.end()) << "the checksum is of neither version";
    EXPECT_EQ((*m)->version(), it->second);
  }
  stop = true;
  flipper.join();
  std::printf("%d loads while the file flipped\n", loads);
}

// `raw\0x` is the file `raw` to every C call: a name like it is refused before any file is opened
// (the module's) or created (a private copy).
TEST_F(CodeServerTest, ABadExpectedNameIsRefusedBeforeAnyFileIsTouched) {
  const std::string path = copy_to(raw("raw_v1"), "raw");
  const int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, path.c_str(), IN_OPEN), 0);
  ASSERT_GE(inotify_add_watch(watch, dir_.file("copies").c_str(), IN_CREATE), 0);
  for (const std::string& name : {std::string("raw\0x", 5), std::string("../raw"),
                                  std::string("raw/"), std::string(".raw")}) {
    SCOPED_TRACE(name);
    auto prepared = cs_->prepare(path, name);
    EXPECT_EQ(reload_error_of(prepared.status()), ReloadError::kInvalidArgument)
        << prepared.status();
    EXPECT_NE(prepared.status().message().find("bad module name"), absl::string_view::npos)
        << prepared.status();
    EXPECT_EQ(reload_error_of(cs_->soft_purge(name)), ReloadError::kInvalidArgument);
    EXPECT_EQ(reload_error_of(cs_->purge(name).status()), ReloadError::kInvalidArgument);
    EXPECT_EQ(reload_error_of(cs_->unload(name)), ReloadError::kInvalidArgument);
  }
  char events[4096];
  EXPECT_LT(read(watch, events, sizeof(events)), 0) << "a file was opened or created";
  close(watch);
  EXPECT_TRUE(cs_->list().empty());
}

// The private copies of a process killed with SIGKILL stay behind; the next code server on the
// directory removes them, and leaves the copies of versions still loaded alone.
TEST_F(CodeServerTest, CopiesAKilledProcessLeftAreSweptAndCopiesInUseStay) {
  auto live = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(live.ok()) << live.status();
  const std::string copies = dir_.file("copies");
  EXPECT_EXIT(
      {
        auto cs = CodeServer::create({copies});
        if (cs.ok() && (*cs)->load(raw("raw_v2")).ok()) raise(SIGKILL);
        _exit(1);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  ASSERT_EQ(entries(copies).size(), 2u) << "the killed process left no copy";
  auto restarted = CodeServer::create({copies});
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  const std::string live_copy = (*live)->copy_path();
  EXPECT_EQ(entries(copies), std::vector<std::string>{live_copy.substr(live_copy.rfind('/') + 1)});
  EXPECT_TRUE((*restarted)->load(raw("raw_v2")).ok());
}

TEST_F(CodeServerTest, ACopyDirectoryAnotherUserCouldChangeIsRefused) {
  const std::string open_dir = dir_.file("open");
  ASSERT_EQ(mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0775), 0);
  auto cs = CodeServer::create({open_dir});
  EXPECT_EQ(reload_error_of(cs.status()), ReloadError::kPathNotAllowed) << cs.status();
  EXPECT_NE(cs.status().message().find("untrusted directory " + open_dir), absl::string_view::npos)
      << cs.status();
  // One it creates itself is private.
  ASSERT_TRUE(CodeServer::create({dir_.file("new/copies")}).ok());
  struct stat st;
  ASSERT_EQ(stat(dir_.file("new/copies").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST(FingerprintDifferenceTest, NamesTheFieldsThatDiffer) {
  EXPECT_EQ(fingerprint_difference("abi=1;caf=1706", "abi=1;caf=1706"), "");
  std::string d = fingerprint_difference("abi=1;caf=1706", "abi=1;caf=1800");
  EXPECT_NE(d.find("caf: host 1706, module 1800"), std::string::npos) << d;
  // The host's real fingerprint splits into whole fields.
  std::string real = fingerprint_difference(kHostFingerprint, "abi=1");
  EXPECT_EQ(real.find("<missing>, module"), std::string::npos) << real;
  EXPECT_NE(real.find("protobuf: host "), std::string::npos) << real;
}

TEST_F(CodeServerTest, ALoadedVersionCarriesTheSchemaItsModuleEmbeds) {
  auto bank = cs_->load(raw("bank_v1"));
  ASSERT_TRUE(bank.ok()) << bank.status();
  const ModuleSchema* schema = (*bank)->schema();
  ASSERT_NE(schema, nullptr);
  EXPECT_TRUE(schema->has_type("bank.Account"));
  auto state = schema->from_json("bank.Account", R"({"owner":"ann","balance":"7"})");
  ASSERT_TRUE(state.ok()) << state.status();
  auto json = schema->to_json("bank.Account", *state);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, R"({"owner":"ann","balance":"7"})");
  auto plain = cs_->load(raw("raw_v1"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->schema(), nullptr) << "a module without protos has no schema";
}

}  // namespace
}  // namespace lemon
