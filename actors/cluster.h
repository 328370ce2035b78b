// A Lemon cluster: nodes connected with CAF's own networking (caf::io), each running a *cluster
// agent* actor, and the cluster-wide reload over them: a global reload lock taken on every node in
// one order, then a two-phase (prepare everywhere, then commit everywhere) module or extension
// reload. docs/cluster.md explains the design and the failure rules.
//
//   Cluster::Options o;
//   o.node_name = "a";
//   o.port = 4370;                          // publish this node's agent on 127.0.0.1:4370
//   o.peers = {"127.0.0.1:4371"};           // connect to these (retried with backoff)
//   auto cluster = Cluster::start(runtime, o).value();   // runtime.options().load_middleman
//   ClusterCall call;
//   call.kind = "module";
//   call.target = "counter";
//   ReloadReport r = cluster->reload(call);  // results[]: one child per node, metadata node=<name>
//
// The Cluster must be destroyed before its Runtime. All methods are thread-safe.
#ifndef LEMON_ACTORS_CLUSTER_H_
#define LEMON_ACTORS_CLUSTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "actors/cluster_messages.h"
#include "actors/runtime.h"
#include "caf/actor.hpp"
#include "core/reload_report.h"

namespace lemon {

// One live member of the cluster as this node sees it.
struct ClusterMember {
  std::string name;
  std::string address;  // "host:port" where its agent is published; "" if it publishes none
  bool self = false;
};

class Cluster {
 public:
  struct Options {
    std::string node_name;  // required, unique in the cluster
    std::string bind = "127.0.0.1";
    int port = 0;                    // > 0: publish the agent there; 0: publish nowhere
    std::vector<std::string> peers;  // "host:port" of agents to connect to
    absl::Duration retry_initial = absl::Milliseconds(100);  // reconnect backoff, doubling...
    absl::Duration retry_max = absl::Seconds(2);             // ...up to this
  };

  // Spawns the agent, publishes it and starts connecting to the peers in the background (start
  // returns at once). REQUIRES: runtime was created with load_middleman and outlives the Cluster.
  static absl::StatusOr<std::unique_ptr<Cluster>> start(Runtime& runtime, Options options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& node_name() const { return options_.node_name; }
  // The port the agent is published on (0: none).
  int port() const { return port_; }
  const caf::actor& agent() const { return agent_; }

  // This node first, then the live peers by name. A peer leaves when its agent goes down (its
  // node exited, or CAF closed the connection after connection_timeout without heartbeats).
  std::vector<ClusterMember> members() const;

  // Runs one cluster reload coordinated by this node over every current member (kinds "module"
  // and "extension"): lock every node in name order, prepare on all, commit on all if all
  // prepared, else discard on all; roll committed nodes back if a commit fails. Blocks. Never
  // throws; the report (kind system, metadata cluster=true, outcome, failed_nodes) has one child
  // per node.
  ReloadReport reload(ClusterCall call);

  // Every current member's loaded modules (this node first, then the peers by name), asked in
  // parallel; a member that does not answer within `deadline` has `error` set. Never throws.
  std::vector<ClusterNodeModules> list_modules(absl::Duration deadline = absl::Seconds(5));

  struct State;  // shared with the agent and its workers (cluster.cc)

 private:
  Cluster(Runtime& runtime, Options options);
  void connect_loop();

  Runtime& runtime_;
  const Options options_;
  std::shared_ptr<State> state_;
  caf::actor agent_;
  int port_ = 0;
  std::atomic<uint64_t> reloads_{0};
  absl::Notification stop_;
  std::thread connector_;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_CLUSTER_H_
