#include "core/extension_compiler.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/fs.h"
#include "core/module_abi.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

namespace fs = std::filesystem;

// A module without CAF code: compiles in well under a second.
constexpr char kTinyModule[] = "extern \"C\" int lemon_module_entry() { return 1; }\n";

using testing::read_file;
using testing::runfile;
using testing::write_file;

// Dead or a zombie waiting for its new parent to reap it.
bool is_gone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = read_file(absl::StrCat("/proc/", pid, "/stat"));
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

class ExtensionCompilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = base_.file("ext");
    cache_ = base_.file("cache");
    outside_ = base_.file("outside");
    fs::create_directories(root_);
    fs::create_directories(outside_);
  }

  std::unique_ptr<ExtensionCompiler> make(ExtensionCompiler::Options options = {}) {
    options.extension_roots = {root_};
    options.cache_dir = cache_;
    auto compiler = ExtensionCompiler::create(options);
    EXPECT_TRUE(compiler.ok()) << compiler.status();
    return compiler.ok() ? *std::move(compiler) : nullptr;
  }

  // Files in the cache directory: modules and leftovers of private build directories (the
  // modules' hash records `<key>.sha256` aside).
  std::vector<std::string> cache_entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(cache_)) {
      if (e.path().extension() != ".sha256") out.push_back(e.path().filename());
    }
    return out;
  }

  testing::ScratchDir base_;
  std::string root_, cache_, outside_;
};

TEST_F(ExtensionCompilerTest, CompilesCounterIntoAModuleTheHostAccepts) {
  const std::string counter = root_ + "/counter.cc";
  write_file(counter, read_file(runfile("extensions/counter/counter_v1.cc")));
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);

  auto r = compiler->compile(counter);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cerr << "counter_v1.cc compiled in " << r->compile_ms << " ms\n";
  EXPECT_FALSE(r->cached);
  EXPECT_EQ(r->so_path.rfind(cache_ + "/", 0), 0u);
  EXPECT_EQ(r->source_hash.size(), 64u);

  void* handle = dlopen(r->so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto entry = reinterpret_cast<LemonModuleEntryFn>(dlsym(handle, kModuleEntrySymbol));
  ASSERT_NE(entry, nullptr);
  const LemonModuleDescriptor* d = entry();
  EXPECT_EQ(d->abi_version, kModuleAbiVersion);
  EXPECT_STREQ(d->name, "counter");
  EXPECT_STREQ(d->version, "1");
  EXPECT_STREQ(d->fingerprint, kHostFingerprint);
  dlclose(handle);

  auto again = compiler->compile(counter);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->cached);
  EXPECT_EQ(again->so_path, r->so_path);

  // A fresh compiler on the same cache (a restarted host) finds the module too.
  auto after_restart = make()->compile(counter);
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_TRUE(after_restart->cached);

  write_file(counter, read_file(counter) + "// changed\n");
  auto changed = compiler->compile(counter);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(changed->cached);
  EXPECT_NE(changed->so_path, r->so_path);
  EXPECT_NE(changed->source_hash, r->source_hash);
  EXPECT_EQ(cache_entries().size(), 2u);  // two modules, no build directory left
}

TEST_F(ExtensionCompilerTest, ConcurrentCompilesOfOneSourceBuildItOnce) {
  write_file(root_ + "/tiny.cc", kTinyModule);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  std::vector<absl::StatusOr<CompileResult>> results(4, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&] { result = compiler->compile(root_ + "/tiny.cc"); });
  }
  for (auto& t : threads) t.join();
  int compiled = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->so_path, results[0]->so_path);
    if (!r->cached) ++compiled;
  }
  EXPECT_EQ(compiled, 1);
  EXPECT_EQ(cache_entries().size(), 1u);
}

TEST_F(ExtensionCompilerTest, SyntaxErrorComesBackAsDiagnosticsAndNoModule) {
  const std::string path = root_ + "/broken.cc";
  write_file(path, "int f() {\n  return 1\n}\n");
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  auto r = compiler->compile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kCompileFailed) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "broken.cc:2:11")) << r.status();
  auto diagnostics = diagnostics_of(r.status());
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_EQ(diagnostics[0].file, path);
  EXPECT_EQ(diagnostics[0].line, 2);
  EXPECT_EQ(diagnostics[0].column, 11);
  EXPECT_EQ(diagnostics[0].severity, "error");
  EXPECT_TRUE(absl::StrContains(diagnostics[0].message, "expected ';'")) << diagnostics[0].message;
  EXPECT_TRUE(cache_entries().empty());

  write_file(path, "#include \"no_such_header.h\"\n");
  r = compiler->compile(path);
  ASSERT_FALSE(r.ok());
  diagnostics = diagnostics_of(r.status());
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_EQ(diagnostics[0].file, path);
  EXPECT_EQ(diagnostics[0].line, 1);
  EXPECT_EQ(diagnostics[0].severity, "fatal error");
  EXPECT_TRUE(absl::StrContains(diagnostics[0].message, "no_such_header.h"));
  EXPECT_TRUE(cache_entries().empty());
}

TEST_F(ExtensionCompilerTest, WarningsComeWithTheModule) {
  write_file(root_ + "/warns.cc",
             "extern \"C\" int lemon_module_entry() { int unused; return 1; }\n");
  auto r = make()->compile(root_ + "/warns.cc");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_EQ(r->warnings[0].severity, "warning");
  EXPECT_EQ(r->warnings[0].line, 1);
}

TEST_F(ExtensionCompilerTest, RefusesPathsOutsideTheRootsAndBadPaths) {
  write_file(outside_ + "/evil.cc", kTinyModule);
  write_file(root_ + "/inside.cc", kTinyModule);
  fs::create_symlink(outside_ + "/evil.cc", root_ + "/link.cc");
  fs::create_directory_symlink(outside_, root_ + "/linked_dir");
  fs::create_symlink(root_ + "/inside.cc", root_ + "/inside_link.cc");
  fs::create_directory(root_ + "/sub");
  ASSERT_EQ(mkfifo((root_ + "/fifo.cc").c_str(), 0600), 0);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);

  const struct {
    std::string path;
    ReloadError expected;
  } cases[] = {
      {outside_ + "/evil.cc", ReloadError::kPathNotAllowed},
      {root_ + "/../outside/evil.cc", ReloadError::kPathNotAllowed},
      {root_ + "/link.cc", ReloadError::kPathNotAllowed},
      {root_ + "/linked_dir/evil.cc", ReloadError::kPathNotAllowed},
      {outside_ + "/missing.cc", ReloadError::kPathNotAllowed},
      {root_, ReloadError::kPathNotAllowed},
      {"/etc/passwd", ReloadError::kPathNotAllowed},
      {root_ + "/missing.cc", ReloadError::kNotFound},
      {root_ + "/no/such/dir/x.cc", ReloadError::kNotFound},
      {"", ReloadError::kInvalidArgument},
      {root_ + "/sub", ReloadError::kInvalidArgument},
      {root_ + "/fifo.cc", ReloadError::kInvalidArgument},
      {root_ + "/sub/../inside.cc", ReloadError::kOk},
      {root_ + "/inside_link.cc", ReloadError::kOk},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    auto r = compiler->compile(c.path);
    EXPECT_EQ(reload_error_of(r.status()), c.expected) << r.status();
  }
}

TEST_F(ExtensionCompilerTest, HangingCompilerIsKilledAtTheTimeout) {
  const std::string pids = base_.file("pids");
  const std::string script = base_.file("hang.sh");
  write_file(script, absl::StrCat("#!/bin/sh\necho $$ > ", pids, "\nsleep 1000 &\necho $! >> ",
                                  pids, "\nwait\n"));
  fs::permissions(script, fs::perms::owner_all);
  write_file(root_ + "/tiny.cc", kTinyModule);
  ExtensionCompiler::Options options;
  options.compiler = script;
  options.timeout = absl::Seconds(1);
  auto compiler = make(options);
  ASSERT_NE(compiler, nullptr);

  const auto start = std::chrono::steady_clock::now();
  auto r = compiler->compile(root_ + "/tiny.cc");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kTimeout) << r.status();
  EXPECT_LT(took, std::chrono::seconds(30));

  std::ifstream in(pids);
  std::vector<pid_t> started;
  for (pid_t pid; in >> pid;) started.push_back(pid);
  ASSERT_EQ(started.size(), 2u) << "the script did not start its sleep";
  for (pid_t pid : started) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!is_gone(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(is_gone(pid)) << "process " << pid << " survived the timeout";
  }
  EXPECT_TRUE(cache_entries().empty());
}

// A cache entry that a crash or a full disk left incomplete, or whose hash record is missing or
// wrong, is not a hit: it is built again, and then it is a hit again.
TEST_F(ExtensionCompilerTest, ABadCacheEntryIsBuiltAgain) {
  const std::string source = root_ + "/tiny.cc";
  write_file(source, kTinyModule);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  auto first = compiler->compile(source);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string so = first->so_path;
  const std::string record = so.substr(0, so.size() - 3) + ".sha256";
  ASSERT_TRUE(fs::exists(record));
  const struct {
    std::string what;
    std::function<void()> damage;
  } cases[] = {
      {"truncated module", [&] { fs::resize_file(so, fs::file_size(so) / 2); }},
      {"empty module", [&] { fs::resize_file(so, 0); }},
      {"missing hash record", [&] { fs::remove(record); }},
      {"wrong hash record", [&] { write_file(record, std::string(64, '0') + "\n"); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    c.damage();
    auto rebuilt = compiler->compile(source);
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
    EXPECT_FALSE(rebuilt->cached);
    EXPECT_EQ(rebuilt->so_path, so);
    void* handle = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle, nullptr) << dlerror();
    if (handle != nullptr) dlclose(handle);
    auto hit = compiler->compile(source);
    ASSERT_TRUE(hit.ok()) << hit.status();
    EXPECT_TRUE(hit->cached);
  }
}

TEST_F(ExtensionCompilerTest, ASourceOverTheSizeCapIsRefusedUncompiled) {
  write_file(root_ + "/big.cc", absl::StrCat(kTinyModule, "// ", std::string(4 << 20, 'x'), "\n"));
  write_file(root_ + "/tiny.cc", kTinyModule);
  ExtensionCompiler::Options tight;
  tight.max_source_bytes = 16;
  const struct {
    std::string file;
    std::unique_ptr<ExtensionCompiler> compiler;
    std::string message;
  } cases[] = {
      {"big.cc", make(), "is larger than the limit of 4194304 bytes"},
      {"tiny.cc", make(tight), "is larger than the limit of 16 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    ASSERT_NE(c.compiler, nullptr);
    auto r = c.compiler->compile(root_ + "/" + c.file);
    EXPECT_EQ(reload_error_of(r.status()), ReloadError::kInvalidArgument) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.message)) << r.status();
  }
  EXPECT_TRUE(cache_entries().empty());
}

// The source flips between a regular file and a FIFO as fast as renames go while it is compiled
// again and again: every compile ends (a module, or `invalid_argument` for the FIFO), none blocks
// on the FIFO waiting for a writer.
TEST_F(ExtensionCompilerTest, ASourceSwappedForAFifoNeverBlocksTheCompile) {
  const std::string source = root_ + "/tiny.cc", regular = root_ + "/regular",
                    fifo = root_ + "/fifo", next = root_ + "/next";
  write_file(regular, kTinyModule);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(link(regular.c_str(), source.c_str()), 0);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  ASSERT_TRUE(compiler->compile(source).ok());  // later compiles of the regular file are hits
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (int i = 0; !stop.load(); ++i) {
      if (link((i % 2 == 0 ? fifo : regular).c_str(), next.c_str()) == 0) {
        rename(next.c_str(), source.c_str());
      }
    }
  });
  std::atomic<int> modules{0}, refused{0}, other{0};
  absl::Notification finished;
  std::thread compiling([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < until) {
      auto r = compiler->compile(source);
      ++(r.ok()                                                         ? modules
         : reload_error_of(r.status()) == ReloadError::kInvalidArgument ? refused
                                                                        : other);
    }
    finished.Notify();
  });
  const bool in_time = finished.WaitForNotificationWithTimeout(absl::Seconds(60));
  stop = true;
  flipper.join();
  if (!in_time) {  // a compile waits for a writer on the FIFO: be one, so that the test can end
    const int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) close(w);
  }
  compiling.join();
  EXPECT_TRUE(in_time) << "a compile blocked on the FIFO";
  EXPECT_EQ(other.load(), 0);
  std::printf("%d modules, %d FIFOs refused\n", modules.load(), refused.load());
}

TEST_F(ExtensionCompilerTest, TheCompilerStopsAfterMaxErrors) {
  std::string source;
  for (int i = 0; i < 200; ++i) absl::StrAppend(&source, "int f", i, "() { return x", i, "; }\n");
  write_file(root_ + "/errors.cc", source);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  const std::vector<std::string> argv = compiler->command("in.cc", "out.so");
  EXPECT_NE(std::find(argv.begin(), argv.end(), absl::StrCat("-fmax-errors=", kMaxCompilerErrors)),
            argv.end());
  auto r = compiler->compile(root_ + "/errors.cc");
  ASSERT_EQ(reload_error_of(r.status()), ReloadError::kCompileFailed) << r.status();
  const std::vector<Diagnostic> diagnostics = diagnostics_of(r.status());
  const auto errors = std::count_if(diagnostics.begin(), diagnostics.end(),
                                    [](const Diagnostic& d) { return d.severity == "error"; });
  EXPECT_GE(errors, 1);
  EXPECT_LE(errors, kMaxCompilerErrors);
}

// What a killed process's compile leaves (its private build directory, a hash record's temporary
// file: no lock on them any more) goes when a compiler is created on the cache; what a live
// compile holds locked stays.
TEST_F(ExtensionCompilerTest, LeftoversOfKilledCompilesAreSweptAtCreate) {
  fs::create_directories(cache_);
  std::string dead_dir = cache_ + "/tmp-XXXXXX";
  ASSERT_NE(mkdtemp(dead_dir.data()), nullptr);
  write_file(dead_dir + "/module.so", "half a module");
  const std::string dead_temp = cache_ + "/.abc.sha256.lemon-tmp-Q1w2E3";
  write_file(dead_temp, "0123");
  absl::StatusOr<LockedPath> live = LockedPath::create_dir(cache_, "tmp-");
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_NE(make(), nullptr);
  EXPECT_FALSE(fs::exists(dead_dir));
  EXPECT_FALSE(fs::exists(dead_temp));
  EXPECT_TRUE(fs::exists(live->path()));
}

// A root or cache directory that another user could change is refused when the compiler is
// created, and a root that becomes one later is refused at the next compile.
TEST_F(ExtensionCompilerTest, DirectoriesAnotherUserCouldChangeAreRefused) {
  write_file(root_ + "/tiny.cc", kTinyModule);
  auto compiler = make();
  ASSERT_NE(compiler, nullptr);
  ASSERT_EQ(chmod(root_.c_str(), 0777), 0);
  auto r = compiler->compile(root_ + "/tiny.cc");
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kPathNotAllowed) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "untrusted directory " + root_))
      << r.status();
  ExtensionCompiler::Options options;
  options.extension_roots = {root_};
  options.cache_dir = cache_;
  auto refused = ExtensionCompiler::create(options);
  EXPECT_EQ(reload_error_of(refused.status()), ReloadError::kPathNotAllowed) << refused.status();
  ASSERT_EQ(chmod(root_.c_str(), 0700), 0);
  ASSERT_EQ(chmod(cache_.c_str(), 0770), 0);
  refused = ExtensionCompiler::create(options);
  EXPECT_EQ(reload_error_of(refused.status()), ReloadError::kPathNotAllowed) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "untrusted directory " + cache_))
      << refused.status();
  ASSERT_EQ(chmod(cache_.c_str(), 0700), 0);
  EXPECT_TRUE(compiler->compile(root_ + "/tiny.cc").ok());
}

TEST_F(ExtensionCompilerTest, CreateRefusesBadOptions) {
  ExtensionCompiler::Options no_roots;
  no_roots.cache_dir = cache_;
  EXPECT_EQ(reload_error_of(ExtensionCompiler::create(no_roots).status()),
            ReloadError::kInvalidArgument);

  ExtensionCompiler::Options no_headers;
  no_headers.extension_roots = {root_};
  no_headers.cache_dir = cache_;
  no_headers.include_root = outside_;
  auto r = ExtensionCompiler::create(no_headers);
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kNotFound);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "actors/")) << r.status();
}

}  // namespace
}  // namespace lemon
