#include "control_plane/node.h"

#include <dirent.h>
#include <unistd.h>

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster/cluster_deps.h"
#include "cluster/cluster_messages.h"
#include "control_plane/auth.h"
#include "control_plane/cluster_flags.h"
#include "control_plane/methods.h"
#include "control_plane/report_proto.h"
#include "core/reload_error.h"
#include "core/sha256.h"

namespace lemon {

NodeService::Deps node_service_deps(Runtime& runtime) {
  NodeService::Deps deps;
  deps.system = &runtime.system();
  deps.reload_service = runtime.reload_service();
  deps.code_server = &runtime.code_server();
  deps.registry = runtime.registry().get();
  deps.maintenance = &runtime.maintenance();
  deps.reloader = &runtime.reloader();
  deps.lock = &runtime.lock();
  return deps;
}

absl::StatusOr<std::unique_ptr<Node>> Node::start(Options options) {
  std::unique_ptr<Node> node(new Node(std::move(options)));
  const Options& o = node->options_;
  absl::StatusOr<NodeFiles> files = resolve_node_files(o.files);
  if (!files.ok()) return files.status();
  node->files_ = *std::move(files);
  const std::vector<SeedFile> seeds = o.seeds ? o.seeds(node->files_) : std::vector<SeedFile>{};
  if (absl::Status s = prepare_node_files(node->files_, seeds); !s.ok()) return s;
  node->node_name_ = o.node_name;
  if (node->node_name_.empty()) {
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    node->node_name_ = absl::StrCat("lemon@", host);
  }
  if (absl::Status s = node->create_runtime(); !s.ok()) return s;
  node->load_modules();
  node->load_extensions();
  if (absl::Status s = node->serve(); !s.ok()) return s;
  return node;
}

Node::~Node() {
  if (server_) server_->stop();
  if (metrics_) metrics_->stop();
  cluster_.reset();  // before the runtime: it holds lock guards and the agent
  runtime_.reset();
}

Node::Ports Node::ports() const {
  return {server_->port(), metrics_->port(), cluster_ ? cluster_->port() : 0};
}

absl::Status Node::create_runtime() {
  Runtime::Options ro;
  ro.node_name = node_name_;
  ro.state_dir = files_.state_dir;
  ro.modules_dir = files_.modules_dir;
  ro.extension_dirs = {files_.extensions_dir};
  ro.load_middleman = options_.clustered();
  ro.heartbeat_interval = options_.cluster_heartbeat;
  ro.connection_timeout = options_.cluster_timeout;
  if (options_.clustered()) {
    ro.configure = [tls = options_.cluster_tls](caf::actor_system_config& cfg) {
      configure_cluster(cfg, tls);
    };
  }
  ro.scheduler = options_.scheduler;
  ro.scheduler_threads = options_.scheduler_threads;
  ro.unmap_grace = options_.unmap_grace;
  absl::StatusOr<std::unique_ptr<Runtime>> created = Runtime::create(ro);
  if (!created.ok()) return created.status();
  runtime_ = *std::move(created);
  return absl::OkStatus();
}

// Every module with a permanent version (from its private copy: a file whose reload failed is
// not booted) and every other <name>.so in the modules directory.
void Node::load_modules() {
  const std::string& modules_dir = files_.modules_dir;
  std::map<std::string, std::string> files;  // module name -> file in modules_dir ("" if none)
  if (ReleaseStore* releases = runtime_->reloader().releases()) {
    for (const std::string& m : releases->modules()) files[m] = "";
  }
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(modules_dir.c_str()), closedir);
  while (dir) {
    dirent* e = readdir(dir.get());
    if (e == nullptr) break;
    std::string name = e->d_name;
    if (name.size() < 4 || name.substr(name.size() - 3) != ".so") continue;
    files[name.substr(0, name.size() - 3)] = modules_dir + "/" + name;
  }
  for (const auto& [module, path] : files) {
    auto m = runtime_->reloader().boot_module(module, path);
    if (m.ok()) {
      loaded_.push_back(absl::StrCat((*m)->name(), " ", (*m)->version()));
    } else {
      skipped_.push_back(absl::StrCat("skipping ", module, ": ", m.status().message()));
    }
  }
}

// Every *.cc in the extension root, compiled (or found in the cache).
void Node::load_extensions() {
  const std::string& extensions_dir = files_.extensions_dir;
  std::vector<std::string> sources;
  {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(extensions_dir.c_str()), closedir);
    if (!dir) return;
    while (dirent* e = readdir(dir.get())) {
      std::string name = e->d_name;
      if (name.size() > 3 && name.substr(name.size() - 3) == ".cc") sources.push_back(name);
    }
  }
  for (const std::string& name : sources) {
    ReloadReport r =
        runtime_->reloader().run(ReloadRequest::extension(extensions_dir + "/" + name));
    if (r.status == ReloadStatus::kError) {
      skipped_.push_back(absl::StrCat("extension ", name, ": ",
                                      r.errors.empty() ? "failed" : r.errors[0].message));
    } else if (r.metadata.count("module") > 0) {
      loaded_.push_back(
          absl::StrCat(r.metadata["module"], " ", r.metadata["to_version"], " (extension)"));
    }
  }
}

// Metrics first, then the control plane, whose service sees the cluster if there is one.
absl::Status Node::serve() {
  metrics_ = std::make_unique<MetricsHttpServer>(options_.bind, options_.metrics_port,
                                                 options_.http_limits);
  metrics_->add(runtime_->exporter().registry());
  if (absl::Status s = metrics_->start(); !s.ok()) return s;
  absl::StatusOr<std::string> token = load_or_create_token(files_.token_file);
  if (!token.ok()) return token.status();
  if (options_.clustered()) {
    if (absl::Status s = start_cluster(); !s.ok()) return s;
  }
  service_ = std::make_unique<NodeService>(node_service_deps(*runtime_), node_name_);
  // The token's own name in the reload history: a prefix of its hash, never the token.
  service_->set_caller("token:" + sha256_hex(*token).substr(0, 12));
  if (cluster_) serve_cluster_calls();
  dispatcher_ = std::make_unique<JsonRpcDispatcher>();
  register_control_plane_methods(*dispatcher_, *service_);
  RpcHttpServerOptions http;
  http.host = options_.bind;
  http.port = options_.control_port;
  http.token = *token;
  http.limits = options_.http_limits;
  server_ = std::make_unique<RpcHttpServer>(*dispatcher_, http);
  return server_->start();
}

// This node's agent, published for peers, and connections to the peers (in the background,
// retried until they answer).
absl::Status Node::start_cluster() {
  absl::StatusOr<std::string> secret =
      load_cluster_secret(options_.cluster_secret_file, /*create=*/true);
  if (!secret.ok()) return secret.status();
  Cluster::Options co;
  co.node_name = node_name_;
  co.secret = *secret;
  co.lease = options_.cluster_lease;
  co.bind = options_.cluster_bind;
  co.port = options_.cluster_port < 0 ? Cluster::kAnyPort : options_.cluster_port;
  co.peers = options_.peers;
  co.catch_up = options_.cluster_catch_up;
  absl::StatusOr<std::unique_ptr<Cluster>> started = Cluster::start(cluster_deps(*runtime_), co);
  if (!started.ok()) return started.status();
  cluster_ = *std::move(started);
  return absl::OkStatus();
}

void Node::serve_cluster_calls() {
  Cluster* c = cluster_.get();
  service_->set_cluster_reload([c](const ReloadRequest& request) { return c->reload(request); });
  service_->set_cluster_modules([c] { return c->list_modules(); });
  service_->set_cluster_view([c] {
    NodeService::ClusterView view;
    for (const ClusterMember& m : c->members()) {
      if (m.self) {
        view.address = m.address;
      } else {
        view.peers.push_back(absl::StrCat(m.name, "=", m.address));
      }
    }
    for (const ClusterMember& m : c->down_members()) {
      view.down_peers.push_back(absl::StrCat(m.name, "=", m.address));
    }
    view.version_skew = c->version_skew();
    return view;
  });
}

}  // namespace lemon
