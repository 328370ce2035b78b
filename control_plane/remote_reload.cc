// remote_reload: triggers a reload on a running lemond from another CAF program, over CAF's own
// networking instead of HTTP. It connects to the node's cluster port (lemond --cluster_port),
// proves it holds the cluster secret (the node's --cluster_secret_file, never created here), and
// sends the same typed (reload_atom, ReloadRequest) the control plane sends to the reload
// service, sealed; it prints the ReloadReport as JSON (the system.reload result format).
//
//   bazel run //control_plane:remote_reload -- --port 4370 --kind module --target counter
//       (--cluster_secret_file: default ~/.lemon/cluster.secret, the node's)
//
// With --cluster_tls_cert/key/ca it connects over TLS (required when the node uses TLS).
// Exit status: 0 ok or partial, 1 the reload failed (status error), 2 usage, connection or
// authentication error (a missing or wrong secret).
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "cluster/authenticated_client.h"
#include "cluster/cluster_messages.h"
#include "cluster/tls.h"
#include "control_plane/cluster_flags.h"
#include "control_plane/report_proto.h"
#include "google/protobuf/util/json_util.h"
#include "node/reload_service.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "the node's cluster address");
ABSL_FLAG(int, port, 0, "the node's --cluster_port (required)");
ABSL_FLAG(std::string, kind, "module",
          "module, extension, app, all, code_change, purge or hard_purge");
ABSL_FLAG(std::string, target, "", "module or app name, extension path, or actor name");
ABSL_FLAG(std::string, extra, "", "passed to every code_change");
ABSL_FLAG(bool, force, false, "hard-purge an old version still in use instead of skipping");
ABSL_FLAG(int, timeout_ms, 10000,
          "per module: every actor suspended and migrated by then (at most 600000)");
ABSL_FLAG(int, lock_timeout_ms, 30000,
          "how long to wait for the node's reload lock (at most 600000)");
ABSL_FLAG(int, heartbeat_ms, 250,
          "BASP heartbeat interval: nodes close connections silent for --cluster_timeout_ms, and "
          "a reload (an extension compile) can take longer than that");

namespace {

// Prints `what` and returns the exit status for usage, connection and authentication errors.
int fail(const std::string& what) {
  std::fprintf(stderr, "remote_reload: %s\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  if (port <= 0 || port > 65535) return fail("--port must be the node's cluster port (1-65535)");
  const int timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  const int lock_timeout_ms = absl::GetFlag(FLAGS_lock_timeout_ms);
  if (timeout_ms < 0 || lock_timeout_ms < 0 ||
      static_cast<uint32_t>(timeout_ms) > lemon::kMaxClusterTimeoutMs ||
      static_cast<uint32_t>(lock_timeout_ms) > lemon::kMaxClusterTimeoutMs) {
    return fail(absl::StrCat("--timeout_ms and --lock_timeout_ms must be 0 to ",
                             lemon::kMaxClusterTimeoutMs));
  }
  auto secret = lemon::cluster_secret_from_flags(/*create=*/false);
  if (!secret.ok()) return fail(std::string(secret.status().message()));
  auto tls = lemon::cluster_tls_from_flags();
  if (!tls.ok()) return fail(std::string(tls.status().message()));
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  if (absl::GetFlag(FLAGS_heartbeat_ms) > 0) {  // CAF 0.17 key (no `caf.` prefix)
    cfg.set("middleman.heartbeat-interval",
            caf::timespan{std::chrono::milliseconds(absl::GetFlag(FLAGS_heartbeat_ms))});
  }
  lemon::add_reload_message_types(cfg);  // the same type names as every node
  lemon::configure_cluster(cfg, *tls);
  caf::actor_system sys{cfg};

  auto gate =
      lemon::cluster::connect_endpoint(sys, absl::GetFlag(FLAGS_host), static_cast<uint16_t>(port));
  if (!gate.ok()) return fail(std::string(gate.status().message()));
  lemon::cluster::AuthenticatedClient::Options auth;
  auth.secret = *secret;
  auth.name = "remote_reload";
  auth.role = lemon::cluster::PeerRole::kClient;
  auto client = lemon::cluster::AuthenticatedClient::connect(sys, *gate, auth);
  if (!client.ok()) return fail(std::string(client.status().message()));

  auto op = lemon::parse_reload_op(absl::GetFlag(FLAGS_kind));
  if (!op.ok()) return fail(std::string(op.status().message()));
  lemon::ReloadRequest req;
  req.op = *op;
  req.target = absl::GetFlag(FLAGS_target);
  req.extra = absl::GetFlag(FLAGS_extra);
  req.force = absl::GetFlag(FLAGS_force);
  req.timeout_ms = static_cast<uint32_t>(timeout_ms);
  req.lock_timeout_ms = static_cast<uint32_t>(lock_timeout_ms);
  req.owner = "remote_reload";

  int status = 2;
  caf::scoped_actor self{sys};
  // The node enforces the reload's own deadlines; this one only guards against a lost reply
  // (64-bit milliseconds: the lock wait, up to four swaps, and ten minutes for a compile).
  const auto deadline = std::chrono::milliseconds(int64_t{req.lock_timeout_ms} +
                                                  4 * int64_t{req.timeout_ms} + 600000);
  auto reply =
      (*client)->call(self.ptr(), caf::make_message(lemon::reload_atom::value, req), deadline);
  if (!reply.ok()) return fail(absl::StrCat("no report from the node: ", reply.status().message()));
  if (!reply->match_elements<lemon::ReloadReport>())
    return fail("the node answered with no report");
  const lemon::ReloadReport& r = reply->get_as<lemon::ReloadReport>(0);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(lemon::report_to_proto(r), &text, options)
           .ok()) {
    text = absl::StrCat("{\"status\": \"", lemon::to_string(r.status), "\"}\n");
  }
  std::fputs(text.c_str(), stdout);
  status = r.status == lemon::ReloadStatus::kError ? 1 : 0;
  return status;
}
