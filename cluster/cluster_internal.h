// What the parts of cluster/cluster.h share: the node's state, a cluster reload's session on a
// node, and the functions each source file provides to the others. Not a public interface.
//   cluster.cc              start/stop, the sessions and their steps (lock, prepare, commit,
//                           finish, renew), leases
//   cluster_agent.cc        the agent: sealed requests opened, checked by role, dispatched;
//                           membership; remote reloads; views
//   cluster_coordinator.cc  connecting to peers, calling them, and the cluster reload
//   catch_up.cc             a joining node's catch-up with a peer's permanent versions, skew
#ifndef LEMON_CLUSTER_CLUSTER_INTERNAL_H_
#define LEMON_CLUSTER_CLUSTER_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "caf/event_based_actor.hpp"
#include "caf/typed_response_promise.hpp"
#include "cluster/auth_metrics.h"
#include "cluster/authenticated_client.h"
#include "cluster/cluster.h"
#include "cluster/cluster_messages.h"
#include "cluster/known_members.h"
#include "cluster/node_authenticator.h"
#include "cluster/version_skew.h"
#include "core/reload_lock.h"
#include "core/reload_report.h"
#include "core/reloader.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace lemon {
namespace cluster_internal {

// What a node's agent holds for one cluster reload, on behalf of its coordinator.
enum class Step { kLock, kPrepare, kCommit, kRollback };

// Guard discipline: while a session is in the table, its guard is touched only under State::mu;
// once taken out of the table, only by the one who took it.
struct Session {
  ~Session() {
    if (live != nullptr) live->fetch_sub(1);
  }
  std::string coordinator;  // the name the coordinator's handshake proved
  ClusterCall call;
  LockService::Guard guard;  // this node's reload lock, held for the coordinator
  uint64_t token = 0;        // guard's token, readable without the mutex once set
  absl::Time lease_until;    // given back when this passes without a renewal (under State::mu)
  bool busy = false;         // a worker runs `running`
  Step running = Step::kLock;
  bool cancelled = false;  // end the session as soon as the running step is done
  bool rollback_on_end = false;
  std::unique_ptr<ReloadChange> change;       // phase 1's result (Reloader::prepare)
  bool committed = false;                     // phase 2 ran: a rollback undoes it
  std::shared_ptr<std::atomic<size_t>> live;  // the node's count of live sessions, this one too
};

struct Member {
  caf::actor agent;
  std::string address;
  // This node's channel to the member's agent; made when first needed, remade when stale.
  std::shared_ptr<cluster::AuthenticatedClient> client;
};

// Answers one opened request with a sealed reply. Copyable: a worker thread may deliver it.
class Reply {
 public:
  Reply(std::shared_ptr<cluster::NodeAuthenticator> auth,
        std::shared_ptr<const cluster::OpenedRequest> request,
        caf::typed_response_promise<cluster::SealedMessage> promise)
      : auth_(std::move(auth)), request_(std::move(request)), promise_(std::move(promise)) {}
  template <class T>
  void operator()(T value) {
    promise_.deliver(auth_->seal_reply(*request_, caf::make_message(std::move(value))));
  }
  // Refuses without saying why (the refusal was counted).
  void refuse() { promise_.deliver(cluster::refused_error()); }
  const cluster::OpenedRequest& request() const { return *request_; }

 private:
  std::shared_ptr<cluster::NodeAuthenticator> auth_;
  std::shared_ptr<const cluster::OpenedRequest> request_;
  caf::typed_response_promise<cluster::SealedMessage> promise_;
};

}  // namespace cluster_internal

struct Cluster::State {
  Cluster::Deps deps;
  std::string node_name;
  std::string address;
  std::string secret;  // for this node's own handshakes with its peers
  absl::Duration lease;
  size_t max_sessions = 0;
  size_t max_remote_reloads = 0;
  std::shared_ptr<cluster::AuthFailureCounter> failures;
  std::shared_ptr<cluster::NodeAuthenticator> auth;
  std::shared_ptr<std::atomic<size_t>> live_sessions = std::make_shared<std::atomic<size_t>>(0);
  size_t remote_reloads = 0;  // running now; touched by the agent only
  bool catch_up = true;       // Options::catch_up
  // lemon_cluster_version_skew{module}; registered in deps.metrics, which outlives this.
  prometheus::Family<prometheus::Gauge>* skew_gauge = nullptr;
  absl::Mutex catch_up_mu;  // one catch-up at a time
  mutable absl::Mutex mu;
  std::map<std::string, cluster_internal::Member> members ABSL_GUARDED_BY(mu);  // peers only
  KnownMembers known ABSL_GUARDED_BY(mu);             // every peer seen since start, live or down
  std::vector<VersionSkew> skew ABSL_GUARDED_BY(mu);  // modules not caught up, by name
  std::map<std::string, std::shared_ptr<cluster_internal::Session>> sessions ABSL_GUARDED_BY(mu);
  std::shared_ptr<cluster::AuthenticatedClient> self_client ABSL_GUARDED_BY(mu);
};

namespace cluster_internal {

using State = Cluster::State;

// OK if a node may take `call`: a known kind, timeouts within kMaxClusterTimeoutMs, a reload id.
absl::Status check_cluster_call(const ClusterCall& call);

// cluster.cc: the session steps. Each answers through `reply` (now or from a worker thread);
// `peer` is the name the requester's handshake proved.
void lock_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call,
               const std::string& peer, Reply reply);
void run_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call, Step step,
              const std::string& peer, Reply reply);
void finish_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call,
                 const std::string& peer, Reply reply);
void renew_step(State& st, const ClusterCall& call, const std::string& peer, Reply reply);
// Ends the sessions whose lease has passed (a running commit or rollback finishes first).
void expire_leases(State& st, absl::Time now);
// The refusal a node answers a step with, as a report for `call`.
ClusterStepReply refused_reply(const State& st, const ClusterCall& call, ReloadError error,
                               const std::string& message);

// cluster_agent.cc
caf::behavior agent_behaviour(caf::event_based_actor* self, std::shared_ptr<State> st);
// Adds (or replaces with the same agent) a member, and drops it when its agent goes down.
void add_member(const std::shared_ptr<State>& st, const std::string& name,
                const std::string& address, const caf::actor& agent,
                std::shared_ptr<cluster::AuthenticatedClient> client);
// The known members that are down, by name.
std::vector<KnownMember> down_members(const State& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu);
// A channel of this node (role member) to a member's agent.
absl::StatusOr<std::shared_ptr<cluster::AuthenticatedClient>> connect_member(
    State& st, const caf::actor& agent);

// catch_up.cc
// This node's permanent versions, by module.
std::vector<ClusterRelease> local_releases(const Reloader& reloader);
// Answers (cluster_release_bytes, module, checksum) from a worker.
void serve_release_bytes(caf::event_based_actor* self, const std::shared_ptr<State>& st,
                         const std::string& module, const std::string& checksum, Reply reply);
// Compares this node's permanent versions with `peer`'s and catches up on every module it is
// behind on (unless st.catch_up is off); a module it cannot bring in line joins st.skew. Blocks
// (reloads under the node's reload lock): call from a thread of its own, one at a time.
void catch_up_with(State& st, cluster::AuthenticatedClient& peer);
// Drops from st.skew the modules a later reload brought in line, and sets the gauge.
void refresh_skew(State& st);
prometheus::Family<prometheus::Gauge>* register_skew_gauge(prometheus::Registry& registry,
                                                           const std::string& node_name);

// cluster_coordinator.cc: "host:port" split; port 0 when malformed.
std::pair<std::string, uint16_t> split_address(const std::string& address);

}  // namespace cluster_internal
}  // namespace lemon

#endif  // LEMON_CLUSTER_CLUSTER_INTERNAL_H_
