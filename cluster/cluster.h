// A Lemon cluster: nodes connected with CAF's own networking (caf::io), each running a *cluster
// agent* actor, and the cluster-wide reload over them: a global reload lock taken on every node in
// one order, then a two-phase reload of any scope (Reloader::prepare everywhere, then
// Reloader::commit everywhere), all or nothing across the nodes. Every peer proves it holds the
// cluster's secret before anything else, and every message after that is authenticated
// (cluster/peer_auth.h); the port can also run over TLS (cluster/tls.h, configured in the
// actor system). docs/cluster.md explains the design, the security model and the failure rules.
//
//   Cluster::Options o;
//   o.node_name = "a";
//   o.secret = secret_bytes;                // the same secret file's content on every node
//   o.port = 4370;                          // publish this node's gate on 127.0.0.1:4370
//   o.peers = {"127.0.0.1:4371"};           // connect to these (retried with backoff)
//   Runtime::Options ro;                    // load_middleman, and the cluster's types and TLS:
//   ro.load_middleman = true;
//   ro.configure = [tls](caf::actor_system_config& cfg) { configure_cluster(cfg, tls); };
//   auto cluster = Cluster::start(cluster_deps(runtime), o).value();  // cluster/cluster_deps.h
//   ReloadReport r = cluster->reload(ReloadRequest::app("shop"));
//   // results[]: one child per node (metadata node=<name>), each all or nothing
//
// The Cluster must be destroyed before the parts in its Deps. All methods are thread-safe.
#ifndef LEMON_CLUSTER_CLUSTER_H_
#define LEMON_CLUSTER_CLUSTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "cluster/cluster_messages.h"
#include "cluster/peer_auth.h"
#include "cluster/version_skew.h"
#include "core/code_server.h"
#include "core/reload_lock.h"
#include "core/reload_report.h"
#include "core/reloader.h"
#include "prometheus/registry.h"

namespace lemon {
namespace cluster {
class AuthenticatedClient;
}  // namespace cluster

// One member of the cluster as this node sees it.
struct ClusterMember {
  std::string name;
  std::string address;  // "host:port" where its agent is published; "" if it publishes none
  bool self = false;
  bool live = true;  // false: seen since this node started, down now
};

class Cluster {
 public:
  static constexpr int kAnyPort = -1;

  // The parts of a node the cluster uses; the pointers and reload_service are required, and all
  // must outlive the Cluster.
  struct Deps {
    caf::actor_system* system = nullptr;  // with caf::io loaded (and TLS, if wanted)
    caf::actor reload_service;            // peers' reloads of this node alone (reload_atom)
    Reloader* reloader = nullptr;         // the sessions' steps, catch-up, the permanent versions
    LockService* lock = nullptr;          // this node's reload lock, held for coordinators
    const CodeServer* code_server = nullptr;  // the modules list_modules shows for this node
    prometheus::Registry* metrics = nullptr;  // lemon_cluster_* are registered here
    std::string metrics_node;                 // their constant label `node`; empty: none
    std::string modules_dir;  // catch-up looks for the cluster's <module>.so here first; may be ""
    std::string state_dir;    // catch-up writes a peer's bytes under <state_dir>/catch_up
    // Extensions under it are named relative to it in a cluster reload; empty: none.
    std::string extension_root;
  };

  struct Options {
    std::string node_name;  // required, unique in the cluster
    // Required, at least cluster::kMinSecretBytes: the same bytes on every node and client.
    std::string secret;
    std::string bind = "127.0.0.1";
    int port = 0;  // > 0: publish the gate there; kAnyPort: on a free port; 0: publish nowhere
    std::vector<std::string> peers;                          // "host:port" of gates to connect to
    absl::Duration retry_initial = absl::Milliseconds(100);  // reconnect backoff, doubling...
    absl::Duration retry_max = absl::Seconds(2);             // ...up to this
    // A lock held for a coordinator that has not renewed it for this long is given back (a
    // running commit or rollback finishes first). Coordinators renew every lease / 3.
    absl::Duration lease = absl::Seconds(10);
    size_t max_sessions = 8;        // cluster reloads holding or waiting for this node's lock
    size_t max_remote_reloads = 2;  // peers' reloads of this node alone, running at once
    // Joining a peer whose permanent version of a module comes from a later cluster commit, this
    // node loads that version first (cluster/catch_up.cc); false: it only reports the skew.
    bool catch_up = true;
  };

  // Spawns the agent and, with a port, the gate (the published actor that runs the handshake
  // and hands the agent only to peers that finished it); starts connecting to the peers in the
  // background (start returns at once). kInvalidArgument for a missing name, a short secret, a
  // missing part or an actor system without caf::io.
  static absl::StatusOr<std::unique_ptr<Cluster>> start(Deps deps, Options options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& node_name() const { return options_.node_name; }
  // The port the gate is published on (0: none).
  int port() const { return port_; }
  // The agent: it acts only on sealed requests, so holding its handle grants nothing.
  const caf::actor& agent() const { return agent_; }
  // Refusals counted in lemon_cluster_auth_failures_total{reason}.
  double auth_failures(cluster::AuthFailure reason) const;

  // This node first, then the live peers by name. A peer leaves when its agent goes down (its
  // node exited, or CAF closed the connection after connection_timeout without heartbeats).
  std::vector<ClusterMember> members() const;
  // The peers seen since this node started that are down now (live = false), by name.
  std::vector<ClusterMember> down_members() const;
  // The modules whose permanent version is older than the cluster's and could not be caught up
  // (catch-up off, bytes unavailable, or the reload failed), by module; a module leaves once a
  // reload brings it in line.
  std::vector<VersionSkew> version_skew() const;

  // Runs one cluster reload coordinated by this node over every current member: lock every node
  // in name order (renewing the locks' leases until the end), prepare on all, commit on all if
  // all prepared, else discard on all; roll committed nodes back if a commit fails. Blocks. Never
  // throws; the report (kind system, metadata cluster=true, outcome, failed_nodes,
  // unreachable_nodes) has one child per known node: a member that is down has outcome
  // unreachable and a skipped item with reason kUnreachable, here and at the top, which makes
  // the status partial. Timeouts above kMaxClusterTimeoutMs are refused.
  ReloadReport reload(const ReloadRequest& request);

  // Every current member's loaded modules (this node first, then the peers by name), asked in
  // parallel; a member that does not answer within `deadline` has `error` set. Never throws.
  std::vector<ClusterNodeModules> list_modules(absl::Duration deadline = absl::Seconds(5));

  struct State;  // shared with the agent and its workers (cluster.cc)

 private:
  explicit Cluster(Options options);
  void connect_loop();
  absl::Status join(const std::string& address);
  void reap_leases();
  // This node's authenticated channel to a member's agent (or its own, for `node_name()`),
  // made or remade as needed; kNotFound if it is no member, or the handshake's error.
  absl::StatusOr<std::shared_ptr<cluster::AuthenticatedClient>> client_for(const std::string& name);

  const Options options_;
  std::shared_ptr<State> state_;
  caf::actor agent_;
  caf::actor gate_;
  int port_ = 0;
  std::atomic<uint64_t> reloads_{0};
  absl::Notification stop_;
  std::thread connector_;
  std::thread reaper_;
};

}  // namespace lemon

#endif  // LEMON_CLUSTER_CLUSTER_H_
