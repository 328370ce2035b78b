// One running Lemon node composed from plain options: its checked directories (node_files.h), the
// Runtime with every module of the modules directory loaded and every extension of the extension
// root compiled, the cluster agent when clustering is asked for, the JSON-RPC control plane and
// Prometheus /metrics.
//
//   Node::Options o;
//   o.files.modules_dir = "/srv/lemon/modules";  // empty paths: defaults under ~/.lemon
//   o.control_port = 0;                          // any free port; read it back with ports()
//   absl::StatusOr<std::unique_ptr<Node>> node = Node::start(o);
//   if (!node.ok()) return node.status();        // names the path or address at fault
//   int port = (*node)->ports().control;
//
// Destroying the node stops serving, then the cluster agent, then the runtime and its actors.
#ifndef LEMON_CONTROL_PLANE_NODE_H_
#define LEMON_CONTROL_PLANE_NODE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cluster/cluster.h"
#include "cluster/tls.h"
#include "control_plane/civet_http_server.h"
#include "control_plane/http_server.h"
#include "control_plane/json_rpc.h"
#include "control_plane/metrics_http_server.h"
#include "control_plane/node_files.h"
#include "control_plane/node_service.h"
#include "node/runtime.h"

namespace lemon {

// The parts of `runtime` a NodeService serves from.
NodeService::Deps node_service_deps(Runtime& runtime);

class Node {
 public:
  struct Options {
    // The paths as given; resolve_node_files fills in the empty ones, then prepare_node_files
    // checks them and seeds what `seeds` returns for the resolved paths (nothing when unset).
    NodeFiles files;
    std::function<std::vector<SeedFile>(const NodeFiles& resolved)> seeds;
    std::string node_name;  // empty: lemon@<hostname>

    std::string bind = "127.0.0.1";  // where the control plane and metrics listen
    int control_port = 0;            // 0: any free port (ports())
    int metrics_port = 0;            // 0: any free port (ports())
    HttpLimits http_limits;          // of each of the two servers

    std::string scheduler = "auto";  // Runtime::Options::scheduler
    size_t scheduler_threads = 0;    // 0: CAF's default
    absl::Duration unmap_grace = absl::Seconds(5);

    // Clustering: on when cluster_port is not 0 or peers is not empty (clustered()).
    int cluster_port = 0;            // publish the gate here; -1: on a free port; 0: nowhere
    std::vector<std::string> peers;  // "host:port" of peers' gates
    std::string cluster_bind = "127.0.0.1";
    absl::Duration cluster_heartbeat = absl::Seconds(1);
    absl::Duration cluster_timeout = absl::Seconds(5);  // zero: a peer leaves only on disconnect
    absl::Duration cluster_lease = absl::Seconds(10);   // must be positive
    // The cluster's secret (load_cluster_secret, cluster_flags.h: created when missing); empty:
    // default_cluster_secret_path().
    std::string cluster_secret_file;
    cluster::TlsOptions cluster_tls;  // checked already (cluster_tls_from_flags); none: plain
    bool cluster_catch_up = true;     // Cluster::Options::catch_up

    bool clustered() const { return cluster_port != 0 || !peers.empty(); }
  };

  struct Ports {
    int control = 0;
    int metrics = 0;
    int cluster = 0;  // 0: no gate published
  };

  // Checks and prepares the directories, builds the runtime, loads the modules, compiles the
  // extensions and starts serving. The first error, naming what is wrong, and nothing left running.
  static absl::StatusOr<std::unique_ptr<Node>> start(Options options);
  ~Node();

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  Ports ports() const;
  const std::string& node_name() const { return node_name_; }
  const NodeFiles& files() const { return files_; }  // resolved
  Runtime& runtime() { return *runtime_; }
  MetricsHttpServer& metrics() { return *metrics_; }  // add collectables to every later scrape
  bool clustered() const { return cluster_ != nullptr; }

  // What start loaded: "<module> <version>", "(extension)" after compiled ones.
  const std::vector<std::string>& loaded() const { return loaded_; }
  // Modules and extensions start could not load, each "skipping <file>: <why>" or
  // "extension <file>: <why>"; the node runs without them.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  explicit Node(Options options) : options_(std::move(options)) {}

  absl::Status create_runtime();
  void load_modules();
  void load_extensions();
  absl::Status start_cluster();
  absl::Status serve();
  void serve_cluster_calls();

  const Options options_;
  NodeFiles files_;
  std::string node_name_;
  std::vector<std::string> loaded_;
  std::vector<std::string> skipped_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<NodeService> service_;
  std::unique_ptr<JsonRpcDispatcher> dispatcher_;
  std::unique_ptr<MetricsHttpServer> metrics_;
  std::unique_ptr<RpcHttpServer> server_;
};

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_NODE_H_
