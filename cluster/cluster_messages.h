// The messages cluster agents (cluster/cluster.h) exchange over CAF's network layer (caf::io). All
// payload types are plain data, registered with add_reload_message_types (node/reload_service.h)
// on every node; no module handle ever crosses the network: each node prepares its own copy.
// Every message below travels sealed (cluster/auth_messages.h): a peer first proves it holds the
// cluster secret, then each request and reply is authenticated; an agent acts on nothing else.
//
//   ClusterCall call;
//   call.reload_id = "a/1/1700000000";
//   call.request = ReloadRequest::app("shop");
//   absl::StatusOr<caf::message> reply =
//       client->call(self.ptr(), caf::make_message(cluster_lock_atom::value, call), 40s);
//
// Protocol of one cluster reload, coordinator -> every node's agent (each answers a
// ClusterStepReply):
//   (cluster_lock, call)     take the node's local reload lock on behalf of the sender (by the
//                            name its handshake proved); answer with the lock token and the
//                            lease: the lock is given back unless renewed within the lease
//   (cluster_renew, call)    extend the lease (sent by the coordinator while its reload runs)
//   (cluster_prepare, call)  phase 1: Reloader::prepare, all or nothing: load (or compile, then
//                            load) every new version; touch no actor. call.request.cluster_seq
//                            numbers the commit: recorded with the versions it makes permanent
//   (cluster_commit, call)   phase 2: Reloader::commit: every module of the change, or none
//   (cluster_finish, call)   end the session: roll back first if call.rollback, drop what was
//                            prepared, release the lock
// renew, prepare, commit and finish carry the lock token (fencing): a node refuses them unless it
// still holds its lock for that reload, with that token, for that coordinator; each of them
// renews the lease.
// Membership, node -> node (a member's handshake has role member):
//   (cluster_hello, address, agent identity) + the agent's handle next to the sealed message
//       -> (bool accepted, name or reason)   a node introduces itself; refused under the name of
//                                            a live member
//   (cluster_members) -> std::vector<std::string>   "name=address" of the live members, self first
// Catching up (cluster/version_skew.h), a node that joins -> each peer it joins (role member):
//   (cluster_releases) -> std::vector<ClusterRelease>   the peer's permanent versions
//   (cluster_release_bytes, module, checksum) -> (bool found, bytes or why not)
//                                            the bytes of that release, at most kMaxReleaseBytes
// Views and local operations (roles member and client):
//   (cluster_modules) -> std::vector<ClusterModule>  the node's loaded modules (modules.list)
//   (reload_atom, ReloadRequest) -> ReloadReport     a reload on that node only, run by its
//                                                    reload service (node/reload_service.h)
#ifndef LEMON_CLUSTER_CLUSTER_MESSAGES_H_
#define LEMON_CLUSTER_CLUSTER_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "caf/meta/type_name.hpp"
#include "cluster/tls.h"
#include "cluster/version_skew.h"
#include "core/reload_report.h"
#include "core/reload_request.h"
#include "node/reload_service.h"

namespace lemon {

class CodeServer;

using cluster_hello_atom = caf::atom_constant<caf::atom("lchello")>;
using cluster_renew_atom = caf::atom_constant<caf::atom("lcrenew")>;
using cluster_members_atom = caf::atom_constant<caf::atom("lcmembers")>;
using cluster_lock_atom = caf::atom_constant<caf::atom("lclock")>;
using cluster_prepare_atom = caf::atom_constant<caf::atom("lcprepare")>;
using cluster_commit_atom = caf::atom_constant<caf::atom("lccommit")>;
using cluster_finish_atom = caf::atom_constant<caf::atom("lcfinish")>;
using cluster_modules_atom = caf::atom_constant<caf::atom("lcmodules")>;
using cluster_releases_atom = caf::atom_constant<caf::atom("lcreleases")>;
using cluster_release_bytes_atom = caf::atom_constant<caf::atom("lcbytes")>;

// The largest timeout_ms and lock_timeout_ms a node accepts (10 minutes); a larger one is refused
// with kInvalidArgument, so that deadlines computed from them stay far from overflow.
inline constexpr uint32_t kMaxClusterTimeoutMs = 600000;
// The largest module a node sends a peer that catches up, or takes from one (64 MiB).
inline constexpr size_t kMaxReleaseBytes = size_t{64} << 20;

// One step of one cluster reload, as sent to a node's agent.
struct ClusterCall {
  std::string reload_id;    // unique per cluster reload: "<coordinator>/<n>/<unix µs>"
  std::string coordinator;  // the coordinator's name (a node replaces it with the proven one)
  uint64_t token = 0;       // the node's lock token for this reload (0 in cluster_lock)
  // What every node reloads: a module, extension (relative to each node's root), app, all, or a
  // selection without code_change targets. Each node prepares its own copy.
  ReloadRequest request = ReloadRequest::module("");
  bool rollback = false;  // cluster_finish: swap back a committed node first
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterCall& x) {
  return f(caf::meta::type_name("lemon.ClusterCall"), x.reload_id, x.coordinator, x.token,
           x.request, x.rollback);
}

// A node's answer to a step of a cluster reload. The outcomes the coordinator acts on are typed
// fields: the lock token (report.lock_token), whether a commit would change anything, whether a
// rollback undid everything (report.rolled_back).
struct ClusterStepReply {
  ReloadReport report;    // this node's report of the step (metadata node = its name)
  uint32_t lease_ms = 0;  // lock and renew: the lock is given back unless renewed by then
  bool changes = false;   // prepare: this node has something to commit
  // `report` is this node's change report as a whole (prepare's, commit's or rollback's): it
  // replaces the one before. Otherwise it adds only its errors (lock, renew, a plain finish).
  bool change_report = false;
  // lock: the highest cluster commit this node has recorded (ReleaseStore::highest_cluster_seq);
  // the coordinator numbers its commit one higher than every locked node's.
  uint64_t cluster_seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterStepReply& x) {
  return f(caf::meta::type_name("lemon.ClusterStepReply"), x.report, x.lease_ms, x.changes,
           x.change_report, x.cluster_seq);
}

// One loaded module as a node reports it to the cluster (the code server's view, as plain data).
struct ClusterModule {
  std::string name;
  std::string current_version;
  std::string old_version;  // "" when there is no old version
  std::string checksum;     // sha256 of the current version, hex
  int32_t actors_current = 0;
  int32_t actors_old = 0;
  std::string path;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ClusterModule& x) {
  return f(caf::meta::type_name("lemon.ClusterModule"), x.name, x.current_version, x.old_version,
           x.checksum, x.actors_current, x.actors_old, x.path);
}

// The modules `code_server` has loaded.
std::vector<ClusterModule> local_modules(const CodeServer& code_server);

// One member's answer to a cluster-wide modules query.
struct ClusterNodeModules {
  std::string node;
  std::string error;  // non-empty: the node did not answer (modules is empty)
  std::vector<ClusterModule> modules;
};

// Registers the message types cluster agents exchange (these, and the authentication layer's:
// cluster/auth_messages.h) and, when `tls` is enabled, CAF's TLS transport (cluster/tls.h). Call
// on the actor system config of every node and client, after the middleman is loaded
// (Runtime::Options::configure runs after that).
void configure_cluster(caf::actor_system_config& cfg, const cluster::TlsOptions& tls = {});

}  // namespace lemon

#endif  // LEMON_CLUSTER_CLUSTER_MESSAGES_H_
