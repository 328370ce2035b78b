// Filesystem helpers for the files the node trusts, creates and reads: which directories and files
// another user could change (checked as sshd's StrictModes does), files written complete or not at
// all, reads with a size cap, and the sweep of what a killed process left behind.
//
//   if (absl::Status s = check_trusted_path(modules_dir, PathKind::kDirectory); !s.ok()) return s;
//   absl::StatusOr<bool> written = write_file_atomic(dir + "/token", token, 0600, false);
//   int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
//   absl::StatusOr<std::string> text = read_regular_file(fd, 1 << 20, path);
//
// Trust. A path is trusted when nobody but the node's user (its effective uid) and root can change
// what it is or holds: the path itself is owned by that user or by root and is not group- or
// world-writable, and every directory above it (`/` included, symbolic links followed) is owned by
// that user or root and is not group- or world-writable unless it has the sticky bit. A sticky
// directory such as /tmp is accepted above a trusted path: there only an entry's owner may remove
// or rename it, and the entry below it must itself be owned by the node's user or root, so another
// user can neither replace it nor what it leads to. Root is trusted as sshd trusts it: it can
// change anything anyway.
//
// Ownership of temporary files. Files and directories made through LockedPath hold an flock(2) lock
// while their process lives (the kernel drops it when the process dies, SIGKILL included), so
// sweep_unlocked() removes exactly the ones whose owner is gone and leaves those in use alone.
// All functions are thread-safe.
#ifndef LEMON_CORE_FS_H_
#define LEMON_CORE_FS_H_

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lemon {

// The text of errno value `err` ("No such file or directory").
std::string errno_text(int err);

// kIoError "<what> <path>: <errno_text(err)>" ("cannot open /a/b: Permission denied").
absl::Status io_error(absl::string_view what, absl::string_view path, int err);

// The home directory of the user running this process: HOME when set and not empty, else the
// password database's entry for the effective uid (getpwuid_r). kNotFound when neither gives one;
// never a shared fallback such as /tmp.
absl::StatusOr<std::string> home_directory();

// Creates `dir` and each missing directory above it with `mode` (existing ones are left as they
// are). kIoError naming the directory that could not be created.
absl::Status make_dirs(const std::string& dir, mode_t mode);

// Removes `path` and, when it is a directory, everything below it; symbolic links are removed,
// never followed. OK when nothing is left at `path` (none was there); kIoError naming it otherwise.
absl::Status remove_tree(const std::string& path);

enum class PathKind { kDirectory, kRegularFile };

// OK when `path` (a `kind`) is trusted as described at the top of this file. Otherwise
// kPathNotAllowed naming the path, the entry at fault (the path or one of its directories) and
// what is wrong (owner, mode), kNotFound when it does not exist, kIoError when it cannot be
// examined. A relative `path` is taken from the working directory.
absl::Status check_trusted_path(const std::string& path, PathKind kind);

// The contents of the regular file open at `fd`, read from its current offset without blocking on
// anything that is not a regular file. kInvalidArgument, naming `shown`, when it is not a regular
// file; when it holds more than `max_bytes`, kInvalidArgument too, or, with `truncated` given, its
// first `max_bytes` bytes and *truncated set. kIoError when reading fails. Does not close `fd`.
absl::StatusOr<std::string> read_regular_file(int fd, std::size_t max_bytes,
                                              absl::string_view shown, bool* truncated = nullptr);

// The regular file at `path` (never through a symbolic link), read as read_regular_file reads
// with no `truncated`; kNotFound when it does not exist, kIoError naming it when it cannot be
// opened.
absl::StatusOr<std::string> read_file_at(const std::string& path, std::size_t max_bytes);

// A file or directory of this process, created exclusively (never through a symbolic link) and
// held locked until this object goes, when it is removed (unless commit() moved it). Move-only.
class LockedPath {
 public:
  // A new regular file `<dir>/<prefix>XXXXXX<suffix>` (X: random), mode 0600, open for writing.
  static absl::StatusOr<LockedPath> create_file(const std::string& dir, absl::string_view prefix,
                                                absl::string_view suffix = "");
  // A new directory `<dir>/<prefix>XXXXXX`, mode 0700.
  static absl::StatusOr<LockedPath> create_dir(const std::string& dir, absl::string_view prefix);

  LockedPath(LockedPath&& other) noexcept;
  LockedPath& operator=(LockedPath&& other) noexcept;
  LockedPath(const LockedPath&) = delete;
  LockedPath& operator=(const LockedPath&) = delete;
  ~LockedPath();  // removes the file (or the directory with what is in it) and unlocks

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

  // Appends `data` to the file. kIoError (EFBIG, ENOSPC, ...) naming the file.
  absl::Status write(absl::string_view data);

  // Appends everything readable from `in` (a regular file's descriptor) to the file.
  absl::Status copy_from(int in, absl::string_view shown);

  // Flushes the file to disk with `mode` and moves it to `to`: replacing what is there when
  // `replace`, else only when nothing is (false: `to` existed and was kept). Afterwards this object
  // owns nothing on disk.
  absl::StatusOr<bool> commit(const std::string& to, mode_t mode, bool replace);

 private:
  LockedPath(std::string path, int fd, bool is_dir)
      : path_(std::move(path)), fd_(fd), dir_(is_dir) {}
  void release();

  std::string path_;
  int fd_ = -1;
  bool dir_ = false;
};

// Writes `data` to `path` complete or not at all: a LockedPath temporary file beside it (a name
// is_temp_name() accepts), flushed, then renamed (`replace`) or linked into place. Returns false
// when `replace` is false and `path` already existed (it is kept). A symbolic link planted at any
// name is never followed; one at `path` itself is replaced when `replace`.
absl::StatusOr<bool> write_file_atomic(const std::string& path, absl::string_view data, mode_t mode,
                                       bool replace);

// A copy of the regular file `from` in a new LockedPath file `<dir>/<prefix>XXXXXX<suffix>`.
// kNotFound when `from` does not exist, kInvalidArgument when it is not a regular file (it is not
// read then: a FIFO does not block), kIoError when reading or writing fails.
absl::StatusOr<LockedPath> copy_to_new_file(const std::string& from, const std::string& dir,
                                            absl::string_view prefix,
                                            absl::string_view suffix = "");

// Copies the regular file `from` to `to` as write_file_atomic writes (the same `replace` and
// result); errors as copy_to_new_file's.
absl::StatusOr<bool> copy_file_atomic(const std::string& from, const std::string& to, mode_t mode,
                                      bool replace);

// A file seeded at first start: `from` is copied to `to` unless `to` exists (always when
// `replace`), as copy_file_atomic copies (never through a symlink).
struct SeedFile {
  std::string from;
  std::string to;
  bool replace = false;
};

// True for the names of write_file_atomic's temporary files.
bool is_temp_name(absl::string_view name);

// Removes each entry of `dir` whose name `is_ours` accepts and that no process holds locked (a
// LockedPath whose process died); directories go with what they hold. Returns how many were
// removed; kIoError when `dir` cannot be read. Entries of other shapes and symbolic links are left.
absl::StatusOr<int> sweep_unlocked(const std::string& dir,
                                   const std::function<bool(absl::string_view)>& is_ours);

}  // namespace lemon

#endif  // LEMON_CORE_FS_H_
