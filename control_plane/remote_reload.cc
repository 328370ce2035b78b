// remote_reload: triggers a reload on a running lemond from another CAF program, over CAF's own
// networking instead of HTTP. It connects to the node's published cluster agent (lemond
// --cluster_port), sends the same typed (reload_atom, ReloadRequest) the control plane sends to
// the reload service, and prints the ReloadReport as JSON (the system.reload result format).
//
//   bazel run //control_plane:remote_reload -- --port 4370 --kind module --target counter
//
// Exit status: 0 ok or partial, 1 the reload failed (status error), 2 usage or connection error.
// The cluster port has no authentication (CAF 0.17's BASP has none): see docs/security.md.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "actors/reload_service.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "control_plane/report_proto.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "the node's cluster address");
ABSL_FLAG(int, port, 0, "the node's --cluster_port (required)");
ABSL_FLAG(std::string, kind, "module",
          "module, extension, app, all, code_change, purge or hard_purge");
ABSL_FLAG(std::string, target, "", "module or app name, extension path, or actor name");
ABSL_FLAG(std::string, extra, "", "passed to every code_change");
ABSL_FLAG(bool, force, false, "hard-purge an old version still in use instead of skipping");
ABSL_FLAG(int, timeout_ms, 10000, "per module: every actor suspended and migrated by then");
ABSL_FLAG(int, lock_timeout_ms, 30000, "how long to wait for the node's reload lock");
ABSL_FLAG(int, heartbeat_ms, 250,
          "BASP heartbeat interval: nodes close connections silent for --cluster_timeout_ms, and "
          "a reload (an extension compile) can take longer than that");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "remote_reload: --port must be the node's cluster port (1-65535)\n");
    return 2;
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  if (absl::GetFlag(FLAGS_heartbeat_ms) > 0) {  // CAF 0.17 key (no `caf.` prefix)
    cfg.set("middleman.heartbeat-interval",
            caf::timespan{std::chrono::milliseconds(absl::GetFlag(FLAGS_heartbeat_ms))});
  }
  lemon::add_reload_message_types(cfg);  // the same type names as every node
  caf::actor_system sys{cfg};

  auto node = sys.middleman().remote_actor(absl::GetFlag(FLAGS_host), static_cast<uint16_t>(port));
  if (!node) {
    std::fprintf(stderr, "remote_reload: cannot reach %s:%d: %s\n",
                 absl::GetFlag(FLAGS_host).c_str(), port, sys.render(node.error()).c_str());
    return 2;
  }
  lemon::ReloadRequest req;
  req.kind = absl::GetFlag(FLAGS_kind);
  req.target = absl::GetFlag(FLAGS_target);
  req.extra = absl::GetFlag(FLAGS_extra);
  req.force = absl::GetFlag(FLAGS_force);
  req.timeout_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_timeout_ms));
  req.lock_timeout_ms = static_cast<uint32_t>(absl::GetFlag(FLAGS_lock_timeout_ms));
  req.owner = "remote_reload";

  int status = 2;
  caf::scoped_actor self{sys};
  // The node enforces the reload's own deadlines; this one only guards against a lost reply.
  const auto deadline =
      std::chrono::milliseconds(req.lock_timeout_ms + 4 * req.timeout_ms + 600000);
  self->request(*node, deadline, lemon::reload_atom::value, req)
      .receive(
          [&](lemon::ReloadReport& r) {
            google::protobuf::util::JsonPrintOptions options;
            options.preserve_proto_field_names = true;
            options.add_whitespace = true;
            std::string text;
            if (!google::protobuf::util::MessageToJsonString(lemon::report_to_proto(r), &text,
                                                             options)
                     .ok()) {
              text = absl::StrCat("{\"status\": \"", lemon::to_string(r.status), "\"}\n");
            }
            std::fputs(text.c_str(), stdout);
            status = r.status == lemon::ReloadStatus::kError ? 1 : 0;
          },
          [&](caf::error& e) {
            std::fprintf(stderr, "remote_reload: no report from the node: %s\n",
                         sys.render(e).c_str());
          });
  return status;
}
