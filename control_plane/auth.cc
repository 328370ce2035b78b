#include "control_plane/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/fs.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kMaxTokenFileBytes = 4096;

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

absl::StatusOr<std::string> random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    ssize_t n = ::getrandom(raw.data() + filled, bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return reload_status(ReloadError::kIoError,
                           absl::StrCat("getrandom failed: ", errno_text(errno)));
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

}  // namespace

absl::StatusOr<std::string> default_token_path() {
  absl::StatusOr<std::string> home = home_directory();
  if (!home.ok()) return home.status();
  return *home + "/.lemon/token";
}

absl::StatusOr<std::string> read_token(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path is refused below instead of blocking.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) {
      return reload_status(ReloadError::kNotFound,
                           absl::StrCat("token file ", path, " does not exist"));
    }
    return reload_status(ReloadError::kIoError,
                         absl::StrCat("cannot open token file ", path, ": ", errno_text(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
    ::close(fd);
    return reload_status(
        ReloadError::kIoError,
        absl::StrCat("token file ", path, " has mode ", mode_string(st.st_mode),
                     ": group or others may access it; run `chmod 600 ", path, "`"));
  }
  absl::StatusOr<std::string> content =
      read_regular_file(fd, kMaxTokenFileBytes, absl::StrCat("token file ", path));
  ::close(fd);
  if (!content.ok()) return content.status();
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty()) {
    return reload_status(ReloadError::kIoError, absl::StrCat("token file ", path, " is empty"));
  }
  return token;
}

absl::StatusOr<std::string> load_or_create_token(const std::string& path) {
  if (path.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "empty token file path");
  }
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (absl::Status s = make_dirs(dir, 0700); !s.ok()) return s;
  if (absl::Status s = check_trusted_path(dir, PathKind::kDirectory); !s.ok()) return s;
  // Temporary token files of a node killed while writing one.
  if (absl::StatusOr<int> swept = sweep_unlocked(dir, is_temp_name); !swept.ok()) {
    return swept.status();
  }
  absl::StatusOr<std::string> token = read_token(path);
  if (!token.ok() && reload_error_of(token.status()) == ReloadError::kNotFound) {
    absl::StatusOr<std::string> fresh = random_hex(kTokenBytes);
    if (!fresh.ok()) return fresh.status();
    // Complete or absent, never empty; another node that created it first wins (false).
    absl::StatusOr<bool> created = write_file_atomic(path, *fresh + "\n", 0600, false);
    if (!created.ok()) return created.status();
    token = read_token(path);
  }
  if (!token.ok()) return token.status();
  if (absl::Status s = check_trusted_path(path, PathKind::kRegularFile); !s.ok()) return s;
  return token;
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
