// Clears the calling thread's OpenSSL error queue before each TLS I/O call that CAF 0.17.6's
// OpenSSL module (libcaf_openssl) makes, linked into every program that uses it (through
// //third_party/caf:openssl).
//
// Why: SSL_get_error() reads the thread's error queue, and OpenSSL requires it to be empty before
// SSL_read, SSL_write, SSL_accept or SSL_connect (see SSL_get_error(3)). CAF 0.17.6 never clears
// it, and its multiplexer runs every connection on one thread: after one peer's TLS handshake
// fails (a wrong certificate, a plain-BASP client, a port scanner), the stale error makes the
// next healthy connection's "would block" read look like a fatal error, and CAF closes that
// connection too. Anyone who can reach a node's cluster port could cut its cluster links this
// way. Later CAF versions clear the queue before each of these calls; these definitions do the
// same for 0.17.6 and then call OpenSSL's own.
//
// How: a program's own definitions of these functions come first in the dynamic linker's search
// order, so libcaf_openssl's calls reach them; each forwards to libssl's definition, looked up in
// libssl itself. Checked by testing/cluster_tls_test.sh (r): without this file, a node whose TLS
// handshake fails makes the other nodes' memberships flap.
#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdio>
#include <cstdlib>

namespace {

// libssl's own definition of `name` (never this file's), or abort: without it nothing TLS works.
void* libssl_symbol(const char* name) {
  void* libssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD);
  void* fn = libssl != nullptr ? dlsym(libssl, name) : nullptr;
  if (fn == nullptr) {
    std::fprintf(stderr, "lemon: cannot find OpenSSL's %s: %s\n", name, dlerror());
    std::abort();
  }
  return fn;
}

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(libssl_symbol(name));
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto fn = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return fn(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto fn = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return fn(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto fn = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return fn(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto fn = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return fn(ssl);
}

}  // extern "C"
