#include "core/extension_compiler.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/build_flags.h"
#include "core/fs.h"
#include "core/module_abi.h"
#include "core/reload_error.h"
#include "core/runfiles.h"
#include "core/sha256.h"

extern char** environ;

namespace lemon {
namespace {

namespace fs = std::filesystem;

constexpr char kWorkspaceName[] = "lemon";
constexpr absl::string_view kBuildDirPrefix = "tmp-";  // a compile's private directory
constexpr char kModuleName[] = "module.so";
constexpr char kOutputName[] = "compiler.out";

bool is_readable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), R_OK) == 0;
}

bool has_runtime_files(const std::string& root) {
  for (const char* file : build_flags::kRuntimeFiles) {
    if (!is_readable_file(absl::StrCat(root, "/", file))) return false;
  }
  return true;
}

// The directory holding actors/module.h & co.: the explicit one, else this binary's runfiles.
absl::StatusOr<std::string> find_include_root(const std::string& explicit_root) {
  std::vector<std::string> candidates;
  if (!explicit_root.empty()) {
    candidates.push_back(explicit_root);
  } else {
    candidates = runfiles_candidates();
  }
  for (const std::string& candidate : candidates) {
    if (has_runtime_files(candidate)) return candidate;
  }
  return reload_status(
      ReloadError::kNotFound,
      absl::StrCat("the module headers (", build_flags::kRuntimeFiles[0], ", ...) are in none of [",
                   absl::StrJoin(candidates, ", "),
                   "]: set ExtensionCompiler::Options::include_root or run from a Bazel runfiles "
                   "tree"));
}

// The bytes of the source at `resolved`, read from the one descriptor that is checked: a regular
// file of at most `max_bytes`. Symlinks are already resolved by the caller, so one now is a race:
// refused. O_NONBLOCK: a FIFO swapped in is refused instead of blocking the reload.
absl::StatusOr<std::string> read_source(const std::string& resolved, const std::string& shown,
                                        std::size_t max_bytes) {
  int fd = open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return reload_status(ReloadError::kNotFound, absl::StrCat("no such extension: ", shown));
    }
    if (err == ELOOP) {
      return reload_status(ReloadError::kPathNotAllowed,
                           absl::StrCat(shown, " became a symbolic link while being read"));
    }
    return io_error("cannot read extension", shown, err);
  }
  absl::StatusOr<std::string> source = read_regular_file(fd, max_bytes, shown);
  close(fd);
  return source;
}

// A cache entry `<key>.so` is complete when its SHA-256 is the one recorded beside it in
// `<key>.sha256` (written before the module is renamed into place).
bool cache_entry_intact(const std::string& so_path, const std::string& hash_path) {
  const int fd = open(hash_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  absl::StatusOr<std::string> recorded = read_regular_file(fd, 128, hash_path);
  close(fd);
  if (!recorded.ok()) return false;
  absl::StatusOr<std::string> actual = sha256_file(so_path);
  return actual.ok() && absl::StripTrailingAsciiWhitespace(*recorded) == *actual;
}

// Names in cache_dir that a compiler of a killed process may leave: its private build directory
// and the temporary file of a hash being written.
bool is_leftover_name(absl::string_view name) {
  return (absl::StartsWith(name, kBuildDirPrefix) && name.size() == kBuildDirPrefix.size() + 6) ||
         is_temp_name(name);
}

// `path` is `root` or lies below it; both canonical.
bool is_under(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty() && std::next(r) == root.end()) return true;  // root ends with '/'
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

// The environment of the compiler: ours, with temporary files kept in `tmp_dir` and messages in
// plain ASCII for the diagnostics parser.
std::vector<std::string> child_environment(const std::string& tmp_dir) {
  std::vector<std::string> env;
  bool has_path = false;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view var(*e);
    if (absl::StartsWith(var, "TMPDIR=") || absl::StartsWith(var, "LC_ALL=") ||
        absl::StartsWith(var, "GCC_COLORS=")) {
      continue;
    }
    has_path = has_path || absl::StartsWith(var, "PATH=");
    env.emplace_back(var);
  }
  env.push_back("TMPDIR=" + tmp_dir);
  env.push_back("LC_ALL=C");
  if (!has_path) env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct ProcessOutcome {
  bool timed_out = false;
  int wait_status = 0;
};

// Runs argv[0] (no shell) in its own process group with stdout and stderr into `output_path`;
// at `timeout` the whole group is killed. Every process of the group is gone when this returns.
absl::StatusOr<ProcessOutcome> run_process(std::vector<std::string> argv,
                                           std::vector<std::string> env,
                                           const std::string& output_path, absl::Duration timeout) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&default_signals, sig);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> c_argv = c_strings(argv);
  std::vector<char*> c_env = c_strings(env);
  pid_t pid = 0;
  int err = posix_spawn(&pid, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return io_error("cannot run compiler", argv[0], err);

  ProcessOutcome outcome;
  const absl::Time deadline = absl::Now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    // WNOWAIT keeps the exited leader a zombie, so its process group id cannot be reused before
    // the kill below sweeps up whatever the compiler left behind.
    siginfo_t info{};
    int r = waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (r != 0 && errno != EINTR) break;
    if (r == 0 && info.si_pid == pid) break;
    if (absl::Now() >= deadline) {
      outcome.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  while (waitpid(pid, &outcome.wait_status, 0) < 0 && errno == EINTR) {
  }
  return outcome;
}

std::string line_directive(const std::string& shown_path) {
  std::string escaped;
  for (char c : shown_path) {
    if (c == '\\' || c == '"') escaped += '\\';
    escaped += c;
  }
  return "#line 1 \"" + escaped + "\"\n";
}

std::string describe(const Diagnostic& d) {
  std::string where = d.file;
  if (d.line > 0) absl::StrAppend(&where, ":", d.line);
  if (d.column > 0) absl::StrAppend(&where, ":", d.column);
  return where.empty() ? d.message : absl::StrCat(where, ": ", d.message);
}

bool is_error(const Diagnostic& d) {
  return d.severity == "error" || d.severity == "fatal error" || d.severity == "ice" ||
         d.severity == "sorry";
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExtensionCompiler>> ExtensionCompiler::create(Options options) {
  if (options.extension_roots.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "no extension roots configured");
  }
  if (options.cache_dir.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "no cache directory configured");
  }
  if (absl::Status s = make_dirs(options.cache_dir, 0700); !s.ok()) return s;
  if (absl::Status s = check_trusted_path(options.cache_dir, PathKind::kDirectory); !s.ok()) {
    return s;
  }
  for (const std::string& root : options.extension_roots) {
    absl::Status s = check_trusted_path(root, PathKind::kDirectory);
    if (!s.ok() && reload_error_of(s) != ReloadError::kNotFound) return s;
  }
  if (auto swept = sweep_unlocked(options.cache_dir, is_leftover_name); !swept.ok()) {
    return swept.status();
  }
  if (options.compiler.empty()) options.compiler = build_flags::kCompiler;
  if (access(options.compiler.c_str(), X_OK) != 0) {
    return reload_status(
        ReloadError::kNotFound,
        absl::StrCat("compiler ", options.compiler, " is not executable: ", errno_text(errno)));
  }
  absl::StatusOr<std::string> root = find_include_root(options.include_root);
  if (!root.ok()) return root.status();
  options.include_root = *std::move(root);

  std::string config =
      absl::StrCat("compiler=", options.compiler, "\nsanitizer=", build_flags::kSanitizer,
                   "\nfingerprint=", kHostFingerprint);
  for (const char* flag : build_flags::kCompileFlags) absl::StrAppend(&config, "\ncompile=", flag);
  for (const char* flag : build_flags::kLinkFlags) absl::StrAppend(&config, "\nlink=", flag);
  for (const std::string& flag : options.extra_flags) absl::StrAppend(&config, "\nextra=", flag);
  for (const char* file : build_flags::kRuntimeFiles) {
    absl::StatusOr<std::string> hash = sha256_file(absl::StrCat(options.include_root, "/", file));
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&config, "\nfile=", file, ":", *hash);
  }
  return std::unique_ptr<ExtensionCompiler>(
      new ExtensionCompiler(std::move(options), sha256_hex(config)));
}

ExtensionCompiler::ExtensionCompiler(Options options, std::string config_digest)
    : options_(std::move(options)), config_digest_(std::move(config_digest)) {}

std::vector<std::string> ExtensionCompiler::command(const std::string& source,
                                                    const std::string& output) const {
  std::vector<std::string> argv = {options_.compiler};
  for (const char* flag : build_flags::kCompileFlags) argv.emplace_back(flag);
  argv.push_back("-I" + options_.include_root);
  argv.push_back("-fdiagnostics-format=json");
  argv.push_back(absl::StrCat("-fmax-errors=", kMaxCompilerErrors));
  argv.insert(argv.end(), options_.extra_flags.begin(), options_.extra_flags.end());
  argv.insert(argv.end(), {"-o", output, "-x", "c++", source});
  for (const char* flag : build_flags::kLinkFlags) argv.emplace_back(flag);
  argv.push_back(absl::StrCat("-Wl,--version-script=", options_.include_root, "/",
                              build_flags::kVersionScript));
  return argv;
}

absl::StatusOr<std::string> ExtensionCompiler::confine(const std::string& source_path) const {
  if (source_path.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "empty extension path");
  }
  std::error_code ec;
  fs::path absolute = fs::absolute(source_path, ec);
  // Resolves every symlink and `..` of the part that exists; a missing tail is normalized.
  fs::path resolved = ec ? fs::path() : fs::weakly_canonical(absolute, ec);
  if (ec) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("cannot resolve ", source_path, ": ", ec.message()));
  }
  for (const std::string& root : options_.extension_roots) {
    fs::path canonical_root = fs::canonical(root, ec);
    if (ec) continue;
    if (is_under(resolved, canonical_root) && resolved != canonical_root) {
      // The root is checked at every compile: what another user could change is never compiled.
      if (absl::Status s = check_trusted_path(root, PathKind::kDirectory); !s.ok()) return s;
      return resolved.string();
    }
  }
  return reload_status(
      ReloadError::kPathNotAllowed,
      absl::StrCat(source_path, " (", resolved.string(), ") is outside the extension roots [",
                   absl::StrJoin(options_.extension_roots, ", "), "]"));
}

absl::StatusOr<CompileResult> ExtensionCompiler::compile(const std::string& source_path) {
  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [started] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
        .count();
  };
  absl::StatusOr<std::string> resolved = confine(source_path);
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<std::string> source =
      read_source(*resolved, source_path, options_.max_source_bytes);
  if (!source.ok()) return source.status();
  const std::string source_hash = sha256_hex(*source);
  const std::string key = sha256_hex(absl::StrCat(source_hash, "\n", config_digest_));
  const std::string so_path = absl::StrCat(options_.cache_dir, "/", key, ".so");
  const std::string hash_path = absl::StrCat(options_.cache_dir, "/", key, ".sha256");

  {
    absl::MutexLock lock(&mu_);
    // One compiler per key: later callers wait for it and then find the cached module.
    while (in_flight_.count(key) != 0) compiled_.Wait(&mu_);
    // A hit is checked by hash: an entry a crash or a full disk left incomplete is built again.
    if (cache_entry_intact(so_path, hash_path)) {
      CompileResult cached;
      cached.so_path = so_path;
      cached.source_hash = source_hash;
      cached.cached = true;
      cached.compile_ms = elapsed_ms();
      return cached;
    }
    in_flight_.insert(key);
  }
  absl::StatusOr<CompileResult> result = build(source_path, *source, so_path, hash_path);
  {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(key);
    compiled_.SignalAll();
  }
  if (result.ok()) {
    result->source_hash = source_hash;
    result->compile_ms = elapsed_ms();
  }
  return result;
}

namespace {

// The kCompileFailed status of a compiler run that ended as `wait_status`, with what it printed.
absl::Status compile_failure(const std::string& source_path, int wait_status,
                             absl::string_view output, std::vector<Diagnostic> diagnostics) {
  const std::string how =
      WIFSIGNALED(wait_status)
          ? absl::StrCat("compiler killed by signal ", WTERMSIG(wait_status))
          : absl::StrCat("compiler exited with status ",
                         WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
  auto first_error = std::find_if(diagnostics.begin(), diagnostics.end(), is_error);
  if (first_error == diagnostics.end()) {
    // Nothing the parsers understood: hand over the raw output as one diagnostic.
    Diagnostic raw;
    raw.file = source_path;
    raw.severity = "error";
    raw.message = absl::StrCat(how, ": ", output.substr(0, 4000));
    diagnostics.push_back(raw);
    first_error = diagnostics.end() - 1;
  }
  const auto errors = std::count_if(diagnostics.begin(), diagnostics.end(), is_error);
  return compile_failed_status(
      absl::StrCat(source_path, " did not compile (", errors, errors == 1 ? " error" : " errors",
                   "): ", describe(*first_error)),
      diagnostics);
}

// Puts the module built at `module` into the cache as `so_path`: flushed to disk, its hash
// recorded in `hash_path`, then renamed into place, so that a crash at any point leaves an entry
// that cache_entry_intact() refuses rather than one that fails to load.
absl::Status store(const std::string& module, const std::string& so_path,
                   const std::string& hash_path) {
  const int fd = open(module.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return io_error("cannot open", module, errno);
  const bool synced = fsync(fd) == 0;
  const int err = errno;
  close(fd);
  if (!synced) return io_error("cannot sync", module, err);
  absl::StatusOr<std::string> hash = sha256_file(module);
  if (!hash.ok()) return hash.status();
  absl::StatusOr<bool> recorded = write_file_atomic(hash_path, *hash + "\n", 0600, true);
  if (!recorded.ok()) return recorded.status();
  if (rename(module.c_str(), so_path.c_str()) != 0) {
    return io_error(absl::StrCat("cannot move ", module, " to"), so_path, errno);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompileResult> ExtensionCompiler::build(const std::string& source_path,
                                                       const std::string& source,
                                                       const std::string& so_path,
                                                       const std::string& hash_path) {
  // Locked while the compiler runs: a sweep of another process leaves it alone.
  absl::StatusOr<LockedPath> tmp_dir = LockedPath::create_dir(options_.cache_dir, kBuildDirPrefix);
  if (!tmp_dir.ok()) return tmp_dir.status();
  const std::string& dir = tmp_dir->path();
  const std::string tmp_module = absl::StrCat(dir, "/", kModuleName);
  const std::string output_path = absl::StrCat(dir, "/", kOutputName);
  // The compiler reads this private copy (the bytes that were hashed); #line makes it report
  // the user's path.
  absl::StatusOr<LockedPath> tmp_source = LockedPath::create_file(dir, "extension-", ".cc");
  if (!tmp_source.ok()) return tmp_source.status();
  if (absl::Status s = tmp_source->write(line_directive(source_path) + source); !s.ok()) return s;

  absl::StatusOr<ProcessOutcome> run =
      run_process(command(tmp_source->path(), tmp_module), child_environment(dir), output_path,
                  options_.timeout);
  if (!run.ok()) return run.status();
  if (run->timed_out) {
    return reload_status(ReloadError::kTimeout,
                         absl::StrCat(source_path, ": compiler killed after ",
                                      absl::FormatDuration(options_.timeout)));
  }
  const int out_fd = open(output_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (out_fd < 0) return io_error("cannot read", output_path, errno);
  bool truncated = false;  // past kMaxCompilerOutputBytes: the rest is not read
  absl::StatusOr<std::string> output =
      read_regular_file(out_fd, kMaxCompilerOutputBytes, output_path, &truncated);
  close(out_fd);
  if (!output.ok()) return output.status();
  std::vector<Diagnostic> diagnostics =
      parse_compiler_diagnostics(*output, {{tmp_source->path(), source_path}});

  const int ws = run->wait_status;
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || !is_readable_file(tmp_module)) {
    return compile_failure(source_path, ws, *output, std::move(diagnostics));
  }
  if (absl::Status s = store(tmp_module, so_path, hash_path); !s.ok()) return s;
  CompileResult result;
  result.so_path = so_path;
  result.warnings = std::move(diagnostics);
  return result;
}

}  // namespace lemon
