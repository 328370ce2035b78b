// Token authentication for the control plane: a random secret kept in a 0600 file that the node
// creates at first start and lemonctl reads, presented as `Authorization: Bearer <token>`.
//
//   absl::StatusOr<std::string> token = lemon::load_or_create_token(lemon::default_token_path());
//   std::optional<std::string> presented = lemon::parse_bearer(header_value);
//   bool ok = presented && lemon::token_matches(*token, *presented);
#ifndef LEMON_CONTROL_PLANE_AUTH_H_
#define LEMON_CONTROL_PLANE_AUTH_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lemon {

// `$HOME/.lemon/token` (the home directory from the password database when HOME is unset).
std::string default_token_path();

// The token in `path`, creating it first (parent directories 0700, the file 0600, 32 random bytes
// as 64 hex digits) when absent. Refuses a file that group or others may access, or an empty one.
absl::StatusOr<std::string> load_or_create_token(const std::string& path);

// The token in `path` without ever creating it (for clients); same permission checks.
absl::StatusOr<std::string> read_token(const std::string& path);

// True when `presented` equals `expected`, in time independent of where they differ. An empty
// `expected` matches nothing.
bool token_matches(absl::string_view expected, absl::string_view presented);

// The token of an `Authorization` header value "Bearer <token>" (scheme case-insensitive);
// nullopt for another scheme or an empty token.
std::optional<std::string> parse_bearer(absl::string_view header_value);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_AUTH_H_
