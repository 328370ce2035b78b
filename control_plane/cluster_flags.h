// The command-line flags every program on the cluster port shares (lemond, remote_reload): the
// cluster secret file and the TLS files, read and checked in one place.
//
//   --cluster_secret_file PATH   default ~/.lemon/cluster.secret
//   --cluster_tls_cert PATH  --cluster_tls_key PATH  --cluster_tls_ca PATH   all three or none
//
//   absl::StatusOr<std::string> secret = cluster_secret_from_flags(/*create=*/true);
//   absl::StatusOr<cluster::TlsOptions> tls = cluster_tls_from_flags();
//   runtime_options.configure = [tls = *tls](auto& cfg) { configure_cluster(cfg, tls); };
#ifndef LEMON_CONTROL_PLANE_CLUSTER_FLAGS_H_
#define LEMON_CONTROL_PLANE_CLUSTER_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "cluster/tls.h"

ABSL_DECLARE_FLAG(std::string, cluster_secret_file);
ABSL_DECLARE_FLAG(std::string, cluster_tls_cert);
ABSL_DECLARE_FLAG(std::string, cluster_tls_key);
ABSL_DECLARE_FLAG(std::string, cluster_tls_ca);

namespace lemon {

// `$HOME/.lemon/cluster.secret`, beside the control plane's token (default_token_path()).
absl::StatusOr<std::string> default_cluster_secret_path();

// The bytes of the cluster secret file `path` (empty: default_cluster_secret_path()), through
// control_plane/auth.h's token file handling: created 0600 with 32 random bytes when missing if
// `create` (a node), never created otherwise (a client); refused if group or others may access
// it. The error names the file.
absl::StatusOr<std::string> load_cluster_secret(std::string path, bool create);

// load_cluster_secret of --cluster_secret_file.
absl::StatusOr<std::string> cluster_secret_from_flags(bool create);

// The --cluster_tls_* files, checked (cluster::check_tls); all empty when TLS is off.
absl::StatusOr<cluster::TlsOptions> cluster_tls_from_flags();

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_CLUSTER_FLAGS_H_
