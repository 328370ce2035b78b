#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

// Marks write_file_atomic's temporary files: `.<name>.lemon-tmp-XXXXXX`.
constexpr absl::string_view kTempMarker = ".lemon-tmp-";
constexpr std::size_t kRandomChars = 6;  // the XXXXXX of mkstemp
constexpr int kMaxSymlinks = 40;         // as the kernel's path walk
constexpr int kCreateAttempts = 3;       // see lock_new()

// A passwd entry of `uid` copied into `*out`; false when there is none.
bool passwd_of(uid_t uid, passwd* out, std::vector<char>* buf) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  buf->resize(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd* found = nullptr;
  int rc;
  while ((rc = getpwuid_r(uid, out, buf->data(), buf->size(), &found)) == ERANGE &&
         buf->size() < (1u << 20)) {
    buf->resize(buf->size() * 2);
  }
  return rc == 0 && found != nullptr;
}

// The user name of `uid`, or "" when it has none.
std::string user_name(uid_t uid) {
  passwd pw;
  std::vector<char> buf;
  return passwd_of(uid, &pw, &buf) && pw.pw_name != nullptr ? pw.pw_name : "";
}

// "uid 65534 (nobody)".
std::string owner_text(uid_t uid) {
  const std::string name = user_name(uid);
  return name.empty() ? absl::StrCat("uid ", uid) : absl::StrCat("uid ", uid, " (", name, ")");
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// What makes an entry untrusted ("is group-writable (mode 0775)") and the command that fixes it
// ("chmod go-w"); both empty when nothing does.
struct Distrust {
  std::string why;
  std::string fix;
};

// `leaf`: the checked path itself, which a sticky bit does not excuse.
Distrust distrust(const struct stat& st, bool leaf) {
  const uid_t uid = geteuid();
  if (st.st_uid != uid && st.st_uid != 0) {
    const std::string name = user_name(uid);
    return {absl::StrCat("is owned by ", owner_text(st.st_uid), ", not by ", owner_text(uid),
                         " that runs the node", uid == 0 ? "" : " or by root"),
            absl::StrCat(S_ISLNK(st.st_mode) ? "chown -h " : "chown ",
                         name.empty() ? std::to_string(uid) : name)};
  }
  if (S_ISLNK(st.st_mode) || (st.st_mode & 022) == 0) return {};
  if (!leaf && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0) return {};
  return {absl::StrCat("is ", (st.st_mode & 002) != 0 ? "world" : "group", "-writable (mode ",
                       mode_text(st.st_mode), leaf ? "" : " without the sticky bit", ")"),
          "chmod go-w"};
}

// Which entry of a checked path is at fault.
enum class Entry { kPath, kDirectoryAbove, kSymlink };

// The refusal of `path` because of `entry` (named `at`).
absl::Status untrusted(PathKind kind, const std::string& path, Entry entry, const std::string& at,
                       const Distrust& d) {
  std::string subject = "it";
  if (entry == Entry::kDirectoryAbove) subject = absl::StrCat(at, " above it");
  if (entry == Entry::kSymlink) subject = absl::StrCat("the symbolic link ", at, " on its way");
  return reload_status(
      ReloadError::kPathNotAllowed,
      absl::StrCat("untrusted ", kind == PathKind::kDirectory ? "directory " : "file ", path, ": ",
                   subject, " ", d.why, ", so another user could change it (fix: `", d.fix, " ", at,
                   "`)"));
}

// Locks the file or directory just created at `path` (open at `fd`). 0 when it is locked and
// `path` still names it; ESTALE when a sweep of another process took it before the lock; else the
// error of flock.
int lock_new(int fd, const std::string& path) {
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return errno;
  }
  struct stat opened, named;
  const bool same = fstat(fd, &opened) == 0 && lstat(path.c_str(), &named) == 0 &&
                    opened.st_dev == named.st_dev && opened.st_ino == named.st_ino;
  return same ? 0 : ESTALE;
}

void remove_path(const std::string& path, bool is_dir) {
  if (!is_dir) {
    unlink(path.c_str());
    return;
  }
  (void)remove_tree(path);
}

std::pair<std::string, std::string> split_dir(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

std::string errno_text(int err) { return std::strerror(err); }

absl::Status io_error(absl::string_view what, absl::string_view path, int err) {
  return reload_status(ReloadError::kIoError, absl::StrCat(what, " ", path, ": ", errno_text(err)));
}

absl::Status remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return io_error("cannot remove", path, ec.value());
  return absl::OkStatus();
}

absl::StatusOr<std::string> home_directory() {
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::string(home);
  passwd pw;
  std::vector<char> buf;
  if (passwd_of(geteuid(), &pw, &buf) && pw.pw_dir != nullptr && *pw.pw_dir != '\0') {
    return std::string(pw.pw_dir);
  }
  return reload_status(ReloadError::kNotFound,
                       absl::StrCat("no home directory: HOME is not set and the password database "
                                    "has none for ",
                                    owner_text(geteuid())));
}

absl::Status make_dirs(const std::string& dir, mode_t mode) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    partial += std::string(part) + "/";
    if (part.empty() || part == ".") continue;
    if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return io_error("cannot create directory", partial, errno);
    }
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return io_error("cannot create directory", dir, errno);
  if (!S_ISDIR(st.st_mode)) return io_error("cannot create directory", dir, ENOTDIR);
  return absl::OkStatus();
}

absl::Status check_trusted_path(const std::string& path, PathKind kind) {
  if (path.empty()) return reload_status(ReloadError::kInvalidArgument, "empty path");
  std::string absolute = path;
  if (path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == nullptr) return io_error("cannot resolve", path, errno);
    absolute = absl::StrCat(cwd, "/", path);
  }
  // A walk from `/` as the kernel's: `at` is the physical directory reached so far (checked), and
  // a symbolic link's target goes in front of what is left. The entry reached last is the path.
  std::deque<std::string> left = absl::StrSplit(absolute, '/', absl::SkipEmpty());
  std::string at = "/";
  struct stat st;
  int links = 0;
  while (!left.empty()) {
    if (lstat(at.c_str(), &st) != 0) return io_error("cannot examine", at, errno);
    if (!S_ISDIR(st.st_mode)) return io_error("cannot examine", path, ENOTDIR);
    if (Distrust d = distrust(st, false); !d.why.empty()) {
      return untrusted(kind, path, Entry::kDirectoryAbove, at, d);
    }
    const std::string part = std::move(left.front());
    left.pop_front();
    if (part == "." || part == "..") {
      if (part == "..") at = split_dir(at).first;
      continue;
    }
    const std::string next = at == "/" ? "/" + part : at + "/" + part;
    if (lstat(next.c_str(), &st) != 0) {
      if (errno == ENOENT) {
        return reload_status(ReloadError::kNotFound, absl::StrCat(path, " does not exist"));
      }
      return io_error(absl::StrCat("cannot examine ", path, ":"), next, errno);
    }
    if (!S_ISLNK(st.st_mode)) {
      at = next;
      continue;
    }
    if (Distrust d = distrust(st, false); !d.why.empty()) {
      return untrusted(kind, path, Entry::kSymlink, next, d);
    }
    char target[4096];
    const ssize_t n = readlink(next.c_str(), target, sizeof(target));
    if (n < 0 || n == sizeof(target) || ++links > kMaxSymlinks) {
      return io_error("cannot resolve", next, n < 0 ? errno : ELOOP);
    }
    const absl::string_view to(target, static_cast<std::size_t>(n));
    std::vector<std::string> parts = absl::StrSplit(to, '/', absl::SkipEmpty());
    left.insert(left.begin(), parts.begin(), parts.end());
    if (!to.empty() && to[0] == '/') at = "/";
  }
  if (lstat(at.c_str(), &st) != 0) return io_error("cannot examine", path, errno);
  if (kind == PathKind::kDirectory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat(
            path, kind == PathKind::kDirectory ? " is not a directory" : " is not a regular file"));
  }
  if (Distrust d = distrust(st, true); !d.why.empty()) {
    return untrusted(kind, path, Entry::kPath, at, d);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> read_regular_file(int fd, std::size_t max_bytes,
                                              absl::string_view shown, bool* truncated) {
  struct stat st;
  if (fstat(fd, &st) != 0) return io_error("cannot examine", shown, errno);
  if (!S_ISREG(st.st_mode)) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat(shown, S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file"));
  }
  if (truncated != nullptr) *truncated = false;
  auto too_large = [&] {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat(shown, " is larger than the limit of ", max_bytes, " bytes"));
  };
  if (truncated == nullptr && static_cast<std::size_t>(st.st_size) > max_bytes) return too_large();
  std::string out(std::min(static_cast<std::size_t>(st.st_size), max_bytes) + 1, '\0');
  std::size_t filled = 0;
  // One byte past the cap tells a file that grew beyond it from one that ends there.
  while (filled <= max_bytes) {
    if (filled == out.size()) out.resize(std::min(out.size() * 2, max_bytes + 1));
    const ssize_t n = read(fd, out.data() + filled, out.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", shown, errno);
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  if (filled > max_bytes) {
    if (truncated == nullptr) return too_large();
    *truncated = true;
    filled = max_bytes;
  }
  out.resize(filled);
  return out;
}

absl::StatusOr<std::string> read_file_at(const std::string& path, std::size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return reload_status(ReloadError::kNotFound, "no file " + path);
    return io_error("cannot open", path, errno);
  }
  absl::StatusOr<std::string> text = read_regular_file(fd, max_bytes, path);
  close(fd);
  return text;
}

absl::StatusOr<LockedPath> LockedPath::create_file(const std::string& dir, absl::string_view prefix,
                                                   absl::string_view suffix) {
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    std::string name = absl::StrCat(dir, "/", prefix, std::string(kRandomChars, 'X'), suffix);
    // mkostemps: O_CREAT | O_EXCL, mode 0600; a symbolic link at the name makes it fail.
    const int fd = mkostemps(name.data(), static_cast<int>(suffix.size()), O_CLOEXEC);
    if (fd < 0) return io_error("cannot create a file in", dir, errno);
    LockedPath created(std::move(name), fd, false);
    const int err = lock_new(fd, created.path_);
    if (err == 0) return created;
    if (err != ESTALE) return io_error("cannot lock", created.path_, err);
    created.path_.clear();  // not ours any more: a sweep removed it
  }
  return io_error("cannot create a file in", dir, EAGAIN);
}

absl::StatusOr<LockedPath> LockedPath::create_dir(const std::string& dir,
                                                  absl::string_view prefix) {
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    std::string name = absl::StrCat(dir, "/", prefix, std::string(kRandomChars, 'X'));
    if (mkdtemp(name.data()) == nullptr)
      return io_error("cannot create a directory in", dir, errno);
    const int fd = open(name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      rmdir(name.c_str());
      return io_error("cannot open", name, err);
    }
    LockedPath created(std::move(name), fd, true);
    const int err = lock_new(fd, created.path_);
    if (err == 0) return created;
    if (err != ESTALE) return io_error("cannot lock", created.path_, err);
    created.path_.clear();
  }
  return io_error("cannot create a directory in", dir, EAGAIN);
}

LockedPath::LockedPath(LockedPath&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), dir_(other.dir_) {
  other.path_.clear();
  other.fd_ = -1;
}

LockedPath& LockedPath::operator=(LockedPath&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    dir_ = other.dir_;
    other.path_.clear();
    other.fd_ = -1;
  }
  return *this;
}

LockedPath::~LockedPath() { release(); }

void LockedPath::release() {
  if (!path_.empty()) remove_path(path_, dir_);  // still locked: no sweep takes it meanwhile
  path_.clear();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status LockedPath::write(absl::string_view data) {
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot write", path_, errno);
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status LockedPath::copy_from(int in, absl::string_view shown) {
  // On the heap: a caller may run on a small stack (an HTTP server's worker thread, say), and a
  // buffer this size there reaches below it, where read() writes into whatever is mapped (no
  // instruction touches the guard page first).
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot read", shown, errno);
    if (n == 0) return absl::OkStatus();
    if (absl::Status s = write(absl::string_view(buf.data(), static_cast<std::size_t>(n)));
        !s.ok()) {
      return s;
    }
  }
}

absl::StatusOr<bool> LockedPath::commit(const std::string& to, mode_t mode, bool replace) {
  if (fchmod(fd_, mode) != 0) return io_error("cannot chmod", path_, errno);
  if (fsync(fd_) != 0) return io_error("cannot sync", path_, errno);
  if (replace) {
    if (rename(path_.c_str(), to.c_str()) != 0) {
      return io_error(absl::StrCat("cannot rename ", path_, " to"), to, errno);
    }
  } else if (link(path_.c_str(), to.c_str()) != 0) {
    if (errno != EEXIST) return io_error(absl::StrCat("cannot link ", path_, " to"), to, errno);
    release();
    return false;
  } else {
    unlink(path_.c_str());
  }
  path_.clear();
  release();
  // The new name itself is made durable with its directory.
  const int dir = open(split_dir(to).first.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    fsync(dir);
    close(dir);
  }
  return true;
}

absl::StatusOr<bool> write_file_atomic(const std::string& path, absl::string_view data, mode_t mode,
                                       bool replace) {
  const auto [dir, base] = split_dir(path);
  absl::StatusOr<LockedPath> tmp =
      LockedPath::create_file(dir, absl::StrCat(".", base, kTempMarker));
  if (!tmp.ok()) return tmp.status();
  if (absl::Status s = tmp->write(data); !s.ok()) return s;
  return tmp->commit(path, mode, replace);
}

absl::StatusOr<LockedPath> copy_to_new_file(const std::string& from, const std::string& dir,
                                            absl::string_view prefix, absl::string_view suffix) {
  const int in = open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (in < 0 && errno == ENOENT) {
    return reload_status(ReloadError::kNotFound, absl::StrCat(from, " does not exist"));
  }
  if (in < 0) return io_error("cannot read", from, errno);
  struct stat st;
  absl::StatusOr<LockedPath> copy = absl::UnknownError("");
  if (fstat(in, &st) != 0) {
    copy = io_error("cannot examine", from, errno);
  } else if (!S_ISREG(st.st_mode)) {
    copy = reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat(from, S_ISDIR(st.st_mode) ? " is a directory" : " is not a regular file"));
  } else {
    copy = LockedPath::create_file(dir, prefix, suffix);
    if (copy.ok()) {
      if (absl::Status s = copy->copy_from(in, from); !s.ok()) copy = s;
    }
  }
  close(in);
  return copy;
}

absl::StatusOr<bool> copy_file_atomic(const std::string& from, const std::string& to, mode_t mode,
                                      bool replace) {
  const auto [dir, base] = split_dir(to);
  absl::StatusOr<LockedPath> copy =
      copy_to_new_file(from, dir, absl::StrCat(".", base, kTempMarker));
  if (!copy.ok()) return copy.status();
  return copy->commit(to, mode, replace);
}

bool is_temp_name(absl::string_view name) {
  return name.size() > 1 + kTempMarker.size() + kRandomChars && name[0] == '.' &&
         name.substr(name.size() - kRandomChars - kTempMarker.size(), kTempMarker.size()) ==
             kTempMarker;
}

absl::StatusOr<int> sweep_unlocked(const std::string& dir,
                                   const std::function<bool(absl::string_view)>& is_ours) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return io_error("cannot read directory", dir, errno);
  int removed = 0;
  while (dirent* e = readdir(d)) {
    const absl::string_view name = e->d_name;
    if (name == "." || name == ".." || !is_ours(name)) continue;
    const std::string path = absl::StrCat(dir, "/", name);
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;  // a symbolic link, gone meanwhile, or not ours to open
    struct stat opened, named;
    const bool shape =
        fstat(fd, &opened) == 0 && (S_ISREG(opened.st_mode) || S_ISDIR(opened.st_mode));
    // A lock we get means that its owner is gone; the name must still be what was opened.
    if (shape && flock(fd, LOCK_EX | LOCK_NB) == 0 && lstat(path.c_str(), &named) == 0 &&
        named.st_dev == opened.st_dev && named.st_ino == opened.st_ino) {
      remove_path(path, S_ISDIR(opened.st_mode));
      ++removed;
    }
    close(fd);
  }
  closedir(d);
  return removed;
}

}  // namespace lemon
