#include "cluster/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/openssl/publish.hpp"
#include "caf/openssl/remote_actor.hpp"
#include "core/fs.h"
#include "core/reload_error.h"

namespace lemon {
namespace cluster {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using SslCtx = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// OpenSSL's last error on this thread, as text (and the queue cleared).
std::string openssl_error() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out = buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

absl::Status bad_file(const char* what, const std::string& path) {
  return reload_status(ReloadError::kInvalidArgument,
                       absl::StrCat("TLS ", what, " ", path, ": ", openssl_error()));
}

absl::Status check_key_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return io_error("TLS key", path, errno);
  }
  if ((st.st_mode & 077) != 0) {
    return reload_status(
        ReloadError::kIoError,
        absl::StrCat("TLS key ", path, " is accessible to group or others; run `chmod 600 ", path,
                     "`"));
  }
  return absl::OkStatus();
}

// The certificate at the start of `path` verifies against the CA file `ca`.
absl::Status check_signed_by(const std::string& path, const std::string& ca) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "r"), std::fclose);
  if (!f) return bad_file("certificate", path);
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) return bad_file("certificate", path);
  StorePtr store(X509_STORE_new());
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_load_file(store.get(), ca.c_str()) != 1) {
    return bad_file("CA", ca);
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1 ||
      X509_verify_cert(ctx.get()) != 1) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("TLS certificate ", path, " does not verify against the CA ", ca, ": ",
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status check_tls(const TlsOptions& tls) {
  if (!tls.enabled()) return absl::OkStatus();
  if (tls.certificate.empty() || tls.key.empty() || tls.ca.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "TLS needs a certificate, its key and a CA (all three, or none)");
  }
  SslCtx ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return reload_status(ReloadError::kInternal, openssl_error());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) != 1) {
    return bad_file("certificate", tls.certificate);
  }
  if (absl::Status s = check_key_mode(tls.key); !s.ok()) return s;
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("TLS key ", tls.key, " does not load or does not match the certificate ",
                     tls.certificate, ": ", openssl_error()));
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca.c_str(), nullptr) != 1) {
    return bad_file("CA", tls.ca);
  }
  return check_signed_by(tls.certificate, tls.ca);
}

void configure_tls(caf::actor_system_config& cfg, const TlsOptions& tls) {
  if (!tls.enabled()) return;
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certificate;
  cfg.openssl_key = tls.key;
  cfg.openssl_cafile = tls.ca;
}

absl::StatusOr<uint16_t> publish_endpoint(caf::actor_system& sys, const caf::actor& actor,
                                          uint16_t port, const std::string& bind) {
  caf::expected<uint16_t> bound = sys.has_openssl_manager()
                                      ? caf::openssl::publish(actor, port, bind.c_str(), true)
                                      : sys.middleman().publish(actor, port, bind.c_str(), true);
  if (!bound) {
    return reload_status(ReloadError::kIoError, absl::StrCat("cannot publish on ", bind, ":", port,
                                                             ": ", sys.render(bound.error())));
  }
  return *bound;
}

absl::StatusOr<caf::actor> connect_endpoint(caf::actor_system& sys, const std::string& host,
                                            uint16_t port) {
  caf::expected<caf::actor> remote = sys.has_openssl_manager()
                                         ? caf::openssl::remote_actor(sys, host, port)
                                         : sys.middleman().remote_actor(host, port);
  if (!remote) {
    return reload_status(
        ReloadError::kIoError,
        absl::StrCat("cannot reach ", host, ":", port,
                     sys.has_openssl_manager() ? " over TLS: " : ": ", sys.render(remote.error())));
  }
  return *remote;
}

}  // namespace cluster
}  // namespace lemon
