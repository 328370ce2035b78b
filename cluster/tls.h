// TLS for the cluster port through CAF's OpenSSL module (caf::openssl): with a certificate, its
// key and a CA, both ends of every connection must present a certificate the CA signed (mutual
// verification); without them the port speaks plain BASP. The secret-based authentication
// (cluster/peer_auth.h) runs on top either way.
//
//   TlsOptions tls{"/etc/lemon/a.pem", "/etc/lemon/a.key", "/etc/lemon/ca.pem"};
//   if (absl::Status s = check_tls(tls); !s.ok()) { ... }   // before building the actor system
//   configure_tls(cfg, tls);                                  // after
//   cfg.load<caf::io::middleman>() caf::actor_system sys{cfg}; uint16_t port =
//   publish_endpoint(sys, gate, 4370, "127.0.0.1").value();   // TLS if configured caf::actor gate
//   = connect_endpoint(sys, "127.0.0.1", 4370).value();
#ifndef LEMON_CLUSTER_TLS_H_
#define LEMON_CLUSTER_TLS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"

namespace lemon {
namespace cluster {

struct TlsOptions {
  std::string certificate;  // PEM: this end's certificate (then any intermediates)
  std::string key;          // PEM: its private key, unencrypted, mode 0600 or stricter
  std::string ca;           // PEM: the CA that signs every node's and client's certificate
  bool enabled() const { return !certificate.empty() || !key.empty() || !ca.empty(); }
};

// OK when all three are empty, or all three are set, readable, the key matches the certificate,
// the key file is not accessible to group or others, and the CA verifies the certificate;
// kInvalidArgument or kIoError naming the file otherwise. CAF reads the files again for every
// connection (and stops the process if it cannot), so check them before starting.
absl::Status check_tls(const TlsOptions& tls);

// Loads caf::openssl::manager into `cfg` with these files; nothing when !tls.enabled().
// REQUIRES: check_tls(tls) is OK and cfg already loaded caf::io::middleman.
void configure_tls(caf::actor_system_config& cfg, const TlsOptions& tls);

// Publishes `actor` on bind:port (port 0: any free one) over TLS when `sys` was configured with
// it, plain BASP otherwise; the bound port, or kIoError.
absl::StatusOr<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& actor,
                                          uint16_t port, const std::string& bind);

// The actor published on host:port, over TLS when `sys` was configured with it; kIoError when
// the connection or its TLS handshake fails.
absl::StatusOr<caf::actor> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                            uint16_t port);

}  // namespace cluster
}  // namespace lemon

#endif  // LEMON_CLUSTER_TLS_H_
