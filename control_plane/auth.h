// Token authentication for the control plane: a random secret kept in a 0600 file that the node
// creates at first start and lemonctl reads, presented as `Authorization: Bearer <token>`.
//
//   absl::StatusOr<std::string> token = lemon::load_or_create_token(path);
//   std::optional<std::string> presented = lemon::parse_bearer(header_value);
//   bool ok = presented && lemon::token_matches(*token, *presented);
#ifndef LEMON_CONTROL_PLANE_AUTH_H_
#define LEMON_CONTROL_PLANE_AUTH_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lemon {

// `<home>/.lemon/token`, the home from home_directory() (core/fs.h); kNotFound without one.
absl::StatusOr<std::string> default_token_path();

// The token in `path`, for the node: its directory is created (0700) when missing and must be
// trusted (check_trusted_path, core/fs.h), temporary token files a killed node left there are
// removed, and the file is created when absent (0600, 32 random bytes as 64 hex digits, written to
// a temporary file and linked into place, so it is never seen empty). Refuses a file that group or
// others may access, one another user could change, and an empty one.
absl::StatusOr<std::string> load_or_create_token(const std::string& path);

// The token in `path` without ever creating it (for clients): a regular file that group and
// others may not access, not empty.
absl::StatusOr<std::string> read_token(const std::string& path);

// True when `presented` equals `expected`, in time independent of where they differ. An empty
// `expected` matches nothing.
bool token_matches(absl::string_view expected, absl::string_view presented);

// The token of an `Authorization` header value "Bearer <token>" (scheme case-insensitive);
// nullopt for another scheme or an empty token.
std::optional<std::string> parse_bearer(absl::string_view header_value);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_AUTH_H_
