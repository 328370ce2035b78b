#include "control_plane/cluster_flags.h"

#include <utility>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "control_plane/auth.h"
#include "core/reload_error.h"

ABSL_FLAG(std::string, cluster_secret_file, "",
          "the cluster's shared secret, the same file on every node and client (default "
          "~/.lemon/cluster.secret; a node creates it 0600 with 32 random bytes when missing)");
ABSL_FLAG(std::string, cluster_tls_cert, "",
          "PEM certificate for TLS on the cluster port (with --cluster_tls_key and "
          "--cluster_tls_ca: all three or none)");
ABSL_FLAG(std::string, cluster_tls_key, "", "PEM private key of --cluster_tls_cert (mode 0600)");
ABSL_FLAG(std::string, cluster_tls_ca, "",
          "PEM CA that signed every node's and client's certificate (both ends are verified)");

namespace lemon {

absl::StatusOr<std::string> default_cluster_secret_path() {
  absl::StatusOr<std::string> token = default_token_path();
  if (!token.ok()) return token.status();
  return token->substr(0, token->rfind('/') + 1) + "cluster.secret";
}

absl::StatusOr<std::string> load_cluster_secret(std::string path, bool create) {
  if (path.empty()) {
    absl::StatusOr<std::string> fallback = default_cluster_secret_path();
    if (!fallback.ok()) return fallback.status();
    path = *fallback;
  }
  absl::StatusOr<std::string> secret = create ? load_or_create_token(path) : read_token(path);
  if (!secret.ok()) {
    return reload_status(
        reload_error_of(secret.status()),
        absl::StrCat("cluster secret (--cluster_secret_file): ", secret.status().message()));
  }
  return secret;
}

absl::StatusOr<std::string> cluster_secret_from_flags(bool create) {
  return load_cluster_secret(absl::GetFlag(FLAGS_cluster_secret_file), create);
}

absl::StatusOr<cluster::TlsOptions> cluster_tls_from_flags() {
  cluster::TlsOptions tls{absl::GetFlag(FLAGS_cluster_tls_cert),
                          absl::GetFlag(FLAGS_cluster_tls_key),
                          absl::GetFlag(FLAGS_cluster_tls_ca)};
  if (absl::Status s = cluster::check_tls(tls); !s.ok()) {
    return reload_status(reload_error_of(s), absl::StrCat("--cluster_tls_*: ", s.message()));
  }
  return tls;
}

}  // namespace lemon
