// The extension compiler: turns a C++ source file under an extension root into a Lemon module (a
// shared object for core/code_server.h), at run time, with the compiler, flags and headers this
// build of Lemon was made with (core/build_flags.h, recorded by Bazel).
//
//   auto compiler = ExtensionCompiler::create({.extension_roots = {"/srv/ext"},
//                                              .cache_dir = "/var/cache/lemon/ext"}).value();
//   absl::StatusOr<CompileResult> r = compiler->compile("/srv/ext/counter.cc");
//   if (r.ok()) code_server->load(r->so_path);
//   else for (const Diagnostic& d : diagnostics_of(r.status())) ...;  // file:line:col: message
//
// Promises: a path outside the roots is refused (symlinks and `..` resolved first), and so is one
// under a root another user could change (core/fs.h, checked at every compile); the source is read
// once, from the descriptor that was checked (a regular file, at most max_source_bytes, never
// blocking on a FIFO), and those bytes are compiled; the compiler runs in its own process group in
// a private directory under cache_dir and is killed at the timeout; nothing outside cache_dir is
// written; a module appears in the cache complete or not at all (`<key>.so`, renamed into place,
// its SHA-256 in `<key>.sha256`), keyed by the source bytes, compiler, flags, shipped headers and
// host fingerprint, so an unchanged source is not compiled again; a cached module whose bytes no
// longer have the recorded hash is built again. Compile errors are not cached.
#ifndef LEMON_CORE_EXTENSION_COMPILER_H_
#define LEMON_CORE_EXTENSION_COMPILER_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/extension_compiler_diagnostics.h"
#include "core/reload_report.h"

namespace lemon {

// A module built (or found in the cache) from one extension source.
struct CompileResult {
  std::string so_path;               // <cache_dir>/<key>.so; stays until the cache is cleaned
  std::string source_hash;           // sha256 of the source bytes that were compiled
  bool cached = false;               // true if no compiler ran
  double compile_ms = 0;             // wall time of this call
  std::vector<Diagnostic> warnings;  // warnings and their notes (empty when cached)
};

// The compiler stops after this many errors (-fmax-errors); diagnostics are capped as well
// (kMaxDiagnostics, core/extension_compiler_diagnostics.h).
constexpr int kMaxCompilerErrors = 20;
// What the compiler prints beyond this many bytes is not read.
constexpr std::size_t kMaxCompilerOutputBytes = 4 << 20;

class ExtensionCompiler {
 public:
  struct Options {
    std::vector<std::string> extension_roots;  // sources must lie under one of these
    std::string cache_dir;                     // created if missing; all output goes here
    // Where actors/module.h & co. are; empty: this binary's runfiles (RUNFILES_DIR, TEST_SRCDIR,
    // /proc/self/exe.runfiles), each under the workspace name `lemon`.
    std::string include_root;
    absl::Duration timeout = absl::Seconds(120);  // per compile; then kTimeout
    std::vector<std::string> extra_flags;         // appended before the source; part of the key
    // A larger source is refused (kInvalidArgument) without being compiled.
    std::size_t max_source_bytes = 4 << 20;
    std::string compiler;  // empty: the one Bazel used (build_flags::kCompiler); for tests
  };

  // A compiler for `options`; kInvalidArgument without roots or cache_dir, kIoError if cache_dir
  // cannot be created, kPathNotAllowed if cache_dir or an existing root is not trusted
  // (core/fs.h), kNotFound if the module headers cannot be found. Removes what compilers of killed
  // processes left in cache_dir.
  static absl::StatusOr<std::unique_ptr<ExtensionCompiler>> create(Options options);

  // Compiles `source_path` (or returns the cached module). Errors: kInvalidArgument (empty path,
  // directory, not a regular file, larger than max_source_bytes), kPathNotAllowed (outside the
  // roots, or under a root that is not trusted), kNotFound (missing),
  // kCompileFailed (diagnostics_of(status) has the compiler's diagnostics), kTimeout, kIoError.
  // Thread-safe; concurrent compiles of the same source run the compiler once.
  absl::StatusOr<CompileResult> compile(const std::string& source_path);

  // The full compiler command for a source and output (for logs and documentation).
  std::vector<std::string> command(const std::string& source, const std::string& output) const;

  const std::string& include_root() const { return options_.include_root; }

 private:
  explicit ExtensionCompiler(Options options, std::string config_digest);

  absl::StatusOr<std::string> confine(const std::string& source_path) const;
  absl::StatusOr<CompileResult> build(const std::string& source_path, const std::string& source,
                                      const std::string& so_path, const std::string& hash_path);

  const Options options_;
  const std::string config_digest_;  // sha256 of compiler, flags, headers and fingerprint

  absl::Mutex mu_;
  std::set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);  // cache keys being compiled
  absl::CondVar compiled_;                                // signalled when one finishes
};

}  // namespace lemon

#endif  // LEMON_CORE_EXTENSION_COMPILER_H_
