#include "control_plane/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kMaxTokenFileBytes = 4096;

absl::Status io_error(const std::string& what, const std::string& path, int err) {
  return reload_status(ReloadError::kIoError,
                       absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

absl::Status make_parent_dirs(const std::string& path) {
  std::string::size_type slash = path.find('/', 1);
  while (slash != std::string::npos) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return io_error("cannot create directory", dir, errno);
    }
    slash = path.find('/', slash + 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    ssize_t n = ::getrandom(raw.data() + filled, bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return reload_status(ReloadError::kIoError,
                           absl::StrCat("getrandom failed: ", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes * 2);
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 0xf]);
  }
  return hex;
}

absl::Status write_all(int fd, const std::string& data, const std::string& path) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path, errno);
    }
    written += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Creates `path` exclusively; AlreadyExists when another process won the race.
absl::Status create_token_file(const std::string& path) {
  absl::StatusOr<std::string> token = random_hex(kTokenBytes);
  if (!token.ok()) return token.status();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return io_error("cannot create token file", path, errno);
  }
  absl::Status s =
      ::fchmod(fd, 0600) == 0 ? absl::OkStatus() : io_error("cannot chmod 600", path, errno);
  if (s.ok()) s = write_all(fd, *token + "\n", path);
  if (s.ok() && ::fsync(fd) != 0) s = io_error("cannot sync", path, errno);
  ::close(fd);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

}  // namespace

std::string default_token_path() {
  const char* home = std::getenv("HOME");
  std::string dir = home != nullptr ? home : "";
  if (dir.empty()) {
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
      dir = pw->pw_dir;
    }
  }
  if (dir.empty()) dir = ".";
  return dir + "/.lemon/token";
}

absl::StatusOr<std::string> read_token(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return reload_status(ReloadError::kNotFound,
                           absl::StrCat("token file ", path, " does not exist"));
    }
    return io_error("cannot open token file", path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    absl::Status s = io_error("cannot stat token file", path, errno);
    ::close(fd);
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("token file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return reload_status(
        ReloadError::kIoError,
        absl::StrCat("token file ", path, " has mode ", mode_string(st.st_mode),
                     ": group or others may access it; run `chmod 600 ", path, "`"));
  }
  std::string content(kMaxTokenFileBytes, '\0');
  size_t filled = 0;
  while (filled < content.size()) {
    ssize_t n = ::read(fd, content.data() + filled, content.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = io_error("cannot read token file", path, errno);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  ::close(fd);
  content.resize(filled);
  std::string token(absl::StripAsciiWhitespace(content));
  if (token.empty()) {
    return reload_status(ReloadError::kIoError, absl::StrCat("token file ", path, " is empty"));
  }
  return token;
}

absl::StatusOr<std::string> load_or_create_token(const std::string& path) {
  if (path.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "empty token file path");
  }
  absl::StatusOr<std::string> token = read_token(path);
  if (token.ok() || reload_error_of(token.status()) != ReloadError::kNotFound) return token;
  if (absl::Status s = make_parent_dirs(path); !s.ok()) return s;
  absl::Status created = create_token_file(path);
  if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  return read_token(path);
}

bool token_matches(absl::string_view expected, absl::string_view presented) {
  if (expected.empty()) return false;
  // Every byte of `presented` is compared, against `expected` cycled, so the time depends only on
  // the presented length; a length mismatch is folded into the same accumulator.
  unsigned char diff = expected.size() == presented.size() ? 0 : 1;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ expected[i % expected.size()]);
  }
  volatile unsigned char result = diff;
  return result == 0;
}

std::optional<std::string> parse_bearer(absl::string_view header_value) {
  absl::string_view value = absl::StripAsciiWhitespace(header_value);
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme) ||
      (value[kScheme.size()] != ' ' && value[kScheme.size()] != '\t')) {
    return std::nullopt;
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

}  // namespace lemon
