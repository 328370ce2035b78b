// The coordinating side of a cluster: joining the peers, this node's authenticated channels to
// every member, the cluster-wide views, and the cluster reload (global lock with renewed leases,
// prepare everywhere, commit everywhere, finish).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"
#include "cluster/cluster_internal.h"
#include "cluster/tls.h"
#include "core/reload_error.h"

namespace lemon {
namespace cluster_internal {
namespace {

using cluster::AuthenticatedClient;
using Millis = std::chrono::milliseconds;

// Slack on top of a step's own deadline before the coordinator stops waiting for a node.
constexpr Millis kNetworkSlack{5000};
// An extension compile is bounded by ExtensionCompiler::Options::timeout (120 s by default).
constexpr Millis kCompileDeadline{150000};
constexpr Millis kPrepareDeadline{30000};
constexpr Millis kJoinTimeout{10000};

// How many modules a node may swap in one commit (or undo in one rollback): the app's, or those
// the lists name; the whole tree for "all".
int64_t swaps_in(const ReloadRequest& r) {
  switch (r.op) {
    case ReloadOp::kModule:
    case ReloadOp::kExtension:
      return 1;
    case ReloadOp::kSelection:
      return std::max<int64_t>(1, r.selection.modules.size() + r.selection.extensions.size() +
                                      r.selection.apps.size() * 8);
    default:
      return 16;
  }
}

// A node's swap takes at most timeout_ms to suspend and migrate, plus timeout_ms + 10 s to resume
// (reload/swap_round.h), per module; the coordinator waits that long, plus the network slack.
// 64-bit milliseconds; timeout_ms is at most kMaxClusterTimeoutMs.
Millis swap_deadline(const ClusterCall& call) {
  const ReloadRequest& r = call.request;
  return (Millis(int64_t{r.timeout_ms}) * 2 + Millis(10000)) * swaps_in(r) + kNetworkSlack;
}

// An operation that may compile extensions waits for the compiler's own bound.
Millis prepare_deadline(const ClusterCall& call) {
  return call.request.op == ReloadOp::kModule || call.request.op == ReloadOp::kApp
             ? kPrepareDeadline
             : kCompileDeadline;
}

// How a cluster reload ended, as a whole.
enum class ClusterOutcome {
  kNotStarted,  // some node's lock could not be taken: nothing was prepared
  kDiscarded,   // some node failed to prepare: what others prepared was dropped
  kCommitted,   // every node committed
  kRolledBack,  // some node failed to commit: the committed nodes were rolled back
};

const char* outcome_name(ClusterOutcome o) {
  switch (o) {
    case ClusterOutcome::kNotStarted:
      return "not_started";
    case ClusterOutcome::kDiscarded:
      return "discarded";
    case ClusterOutcome::kCommitted:
      return "committed";
    case ClusterOutcome::kRolledBack:
      return "rolled_back";
  }
  return "unknown";
}

// One node of a cluster reload, as the coordinator tracks it.
struct Participant {
  std::string name;
  std::shared_ptr<AuthenticatedClient> client;  // null: the handshake failed (see report)
  uint64_t token = 0;
  bool locked = false;
  bool failed = false;
  bool changes = false;    // prepared something to commit
  bool committed = false;  // its commit succeeded
  bool rolled_back = false;
  uint32_t lease_ms = 0;
  uint64_t cluster_seq = 0;  // the highest cluster commit it recorded (its lock reply)
  ReloadReport report;       // this node's change (prepare's, then commit's, then rollback's) ...
  std::vector<ErrorItem> step_errors;  // ... and the errors of its other steps
};

// Node `name`'s part in a reload of `request`: its report, and the client to reach it or the error
// that kept it from one.
Participant make_participant(const std::string& name, const ReloadRequest& request,
                             absl::StatusOr<std::shared_ptr<AuthenticatedClient>> client) {
  Participant p{name, nullptr};
  p.report = ReloadReport::begin(report_kind(request.op), request.target);
  p.report.metadata["node"] = name;
  if (client.ok()) {
    p.client = *std::move(client);
  } else {
    p.step_errors.push_back(
        {name,
         reload_error_of(client.status()),
         absl::StrCat("cannot authenticate with node ", name, ": ", client.status().message()),
         {}});
  }
  return p;
}

// A node's reply to a step. The report of a prepare, commit or rollback is the node's change
// report as a whole (it grows from step to step); the other steps add their errors.
void absorb(Participant& p, ClusterStepReply reply) {
  ReloadReport& r = reply.report;
  r.finish();
  if (r.status == ReloadStatus::kError) p.failed = true;
  if (r.lock_token != 0) p.token = r.lock_token;
  if (reply.lease_ms != 0) p.lease_ms = reply.lease_ms;
  p.cluster_seq = std::max(p.cluster_seq, reply.cluster_seq);
  p.changes = p.changes || reply.changes;
  p.rolled_back = p.rolled_back || r.rolled_back;
  std::map<std::string, std::string> metadata = std::move(p.report.metadata);
  for (auto& [k, v] : r.metadata) metadata[k] = v;
  if (reply.change_report) {
    p.report.reloaded = std::move(r.reloaded);
    p.report.skipped = std::move(r.skipped);
    p.report.errors = std::move(r.errors);
    p.report.results = std::move(r.results);
  } else {
    for (auto& e : r.errors) p.step_errors.push_back(std::move(e));
    for (auto& x : r.skipped) p.report.skipped.push_back(std::move(x));
  }
  p.report.metadata = std::move(metadata);
}

// Takes a node's answer to `step`: its reply, or the failure to get one as p's error.
void absorb_reply(Participant& p, const absl::StatusOr<caf::message>& reply, const char* step) {
  if (reply.ok() && reply->match_elements<ClusterStepReply>()) {
    return absorb(p, reply->get_as<ClusterStepReply>(0));
  }
  p.failed = true;
  p.step_errors.push_back(
      {p.name,
       reply.ok() ? ReloadError::kInternal : reload_error_of(reply.status()),
       absl::StrCat("node ", p.name, ", ", step, ": ",
                    reply.ok() ? "an answer that is no report" : reply.status().message()),
       {}});
}

// Sends `atom` with each selected participant's call to all of them at once, then collects the
// answers; a node that does not answer by `deadline` is marked failed.
template <class Atom, class Select, class MakeCall>
void ask_all(caf::scoped_actor& self, std::vector<Participant>& nodes, Millis deadline, Atom atom,
             const char* step, Select select, MakeCall make_call) {
  std::vector<std::pair<Participant*, AuthenticatedClient::Pending>> pending;
  for (Participant& p : nodes) {
    if (!select(p) || !p.client) continue;
    pending.emplace_back(
        &p, p.client->send(self.ptr(), caf::make_message(atom, make_call(p)), deadline));
  }
  for (auto& [p, handle] : pending) absorb_reply(*p, p->client->await(handle), step);
}

// Renews the leases of one cluster reload's locks, on its own thread, every third of the
// shortest lease a node reported, until destroyed.
class LeaseRenewer {
 public:
  LeaseRenewer(caf::actor_system& sys, const std::vector<Participant>& nodes, ClusterCall call,
               absl::Duration lease)
      : call_(std::move(call)), interval_(lease / 3) {
    for (const Participant& p : nodes) clients_.push_back(p.client);
    tokens_.assign(nodes.size(), 0);
    thread_ = std::thread([this, &sys] { run(sys); });
  }
  ~LeaseRenewer() {
    stop_.Notify();
    thread_.join();
  }
  // Node i granted its lock with `token` and a lease of `lease_ms`.
  void locked(size_t i, uint64_t token, uint32_t lease_ms) {
    absl::MutexLock lock(&mu_);
    tokens_[i] = token;
    if (lease_ms > 0) interval_ = std::min(interval_, absl::Milliseconds(lease_ms) / 3);
  }

 private:
  absl::Duration interval() {
    absl::MutexLock lock(&mu_);
    return interval_;
  }
  void run(caf::actor_system& sys) {
    caf::scoped_actor self{sys};
    while (!stop_.WaitForNotificationWithTimeout(interval())) {
      std::vector<std::pair<AuthenticatedClient*, AuthenticatedClient::Pending>> pending;
      const Millis timeout = absl::ToChronoMilliseconds(interval());
      for (size_t i = 0; i < clients_.size(); ++i) {
        if (!clients_[i]) continue;
        ClusterCall c = call_;
        {
          absl::MutexLock lock(&mu_);
          c.token = tokens_[i];
        }
        pending.emplace_back(
            clients_[i].get(),
            clients_[i]->send(self.ptr(), caf::make_message(cluster_renew_atom::value, c),
                              timeout));
      }
      // A node that refuses (no session yet, or already released) needs no renewal.
      for (auto& [client, handle] : pending) client->await(handle).IgnoreError();
    }
  }

  const ClusterCall call_;
  std::vector<std::shared_ptr<AuthenticatedClient>> clients_;
  absl::Mutex mu_;
  std::vector<uint64_t> tokens_ ABSL_GUARDED_BY(mu_);
  absl::Duration interval_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

// The global lock: each node's local lock, one node after the other in name order. Two
// coordinators racing both start at the first node, so one of them waits there: no deadlock.
// Whether every node is locked.
bool lock_all(caf::scoped_actor& self, std::vector<Participant>& nodes, const ClusterCall& call,
              LeaseRenewer& renewer) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    Participant& p = nodes[i];
    if (p.client) {
      const Millis deadline = Millis(int64_t{call.request.lock_timeout_ms}) + kNetworkSlack;
      absorb_reply(
          p,
          p.client->call(self.ptr(), caf::make_message(cluster_lock_atom::value, call), deadline),
          "lock");
      if (!p.failed && p.token > 0) {
        p.locked = true;
        renewer.locked(i, p.token, p.lease_ms);
        continue;
      }
    }
    p.failed = true;
    return false;
  }
  return true;
}

// Phase 1 everywhere, then phase 2 everywhere if every node prepared: the outcome.
ClusterOutcome prepare_and_commit(caf::scoped_actor& self, std::vector<Participant>& nodes,
                                  const ClusterCall& call) {
  // The commit's number: later than any commit a locked node recorded (a Lamport clock), so a
  // node that misses it and rejoins finds itself behind (cluster/version_skew.h).
  uint64_t seq = 0;
  for (const Participant& p : nodes) seq = std::max(seq, p.cluster_seq);
  auto with_token = [&call, seq = seq + 1](const Participant& p) {
    ClusterCall c = call;
    c.token = p.token;
    c.request.cluster_seq = seq;
    return c;
  };
  // Phase 1: every node prepares its own copy; nothing runs the new code yet.
  ask_all(
      self, nodes, prepare_deadline(call), cluster_prepare_atom::value, "prepare",
      [](const Participant&) { return true; }, with_token);
  bool all_prepared = true;
  for (Participant& p : nodes) all_prepared &= !p.failed;
  if (!all_prepared) return ClusterOutcome::kDiscarded;
  // Phase 2: every node that prepared a new version swaps its actors.
  ask_all(
      self, nodes, swap_deadline(call), cluster_commit_atom::value, "commit",
      [](const Participant& p) { return p.changes; }, with_token);
  bool all_committed = true;
  for (Participant& p : nodes) {
    p.committed = p.changes && !p.failed;
    all_committed &= !p.failed;
  }
  return all_committed ? ClusterOutcome::kCommitted : ClusterOutcome::kRolledBack;
}

// The child of a known member that was down: it took no part.
ReloadReport unreachable_report(const KnownMember& m, const ClusterCall& call) {
  ReloadReport r = ReloadReport::begin(report_kind(call.request.op), call.request.target);
  r.metadata["node"] = m.name;
  r.metadata["outcome"] = "unreachable";
  r.skipped.push_back({call.request.target, ReloadError::kUnreachable,
                       absl::StrCat("node ", m.name, " (last at ", m.address,
                                    ") is down: it took no part in this reload")});
  r.finish();
  return r;
}

// Each node's outcome and the report's children, with the known members that are down, by name.
void summarize(std::vector<Participant>& nodes, const std::vector<KnownMember>& down,
               ClusterOutcome outcome, const ClusterCall& call, ReloadReport& report) {
  std::vector<std::string> failed;
  for (Participant& p : nodes) {
    const bool attempted = p.committed || p.failed || p.locked;
    const char* step = "not attempted";
    if (p.committed) {
      step = "committed";
      if (outcome == ClusterOutcome::kRolledBack) {
        step = p.rolled_back ? "rolled_back" : "rollback_failed";
      }
    } else if (p.failed) {
      step = "failed";
    } else if (p.locked && outcome == ClusterOutcome::kCommitted) {
      step = "unchanged";
    } else if (p.locked) {
      step = "discarded";
    }
    p.report.metadata["outcome"] = step;
    if (!attempted) {
      p.report.skipped.push_back({call.request.target, ReloadError::kRolledBack,
                                  "not attempted: the cluster lock was not acquired"});
    }
    for (auto& e : p.step_errors) p.report.errors.push_back(std::move(e));
    if (p.failed) failed.push_back(p.name);
    p.report.finish();
  }
  auto next_down = down.begin();
  for (Participant& p : nodes) {
    for (; next_down != down.end() && next_down->name < p.name; ++next_down) {
      report.results.push_back(unreachable_report(*next_down, call));
    }
    report.results.push_back(std::move(p.report));
  }
  for (; next_down != down.end(); ++next_down) {
    report.results.push_back(unreachable_report(*next_down, call));
  }
  std::vector<std::string> unreachable;
  for (const KnownMember& m : down) {
    unreachable.push_back(m.name);
    report.skipped.push_back({m.name, ReloadError::kUnreachable,
                              absl::StrCat("node ", m.name, " is down and took no part")});
  }
  report.metadata["outcome"] = outcome_name(outcome);
  if (!failed.empty()) report.metadata["failed_nodes"] = absl::StrJoin(failed, ",");
  if (!unreachable.empty()) report.metadata["unreachable_nodes"] = absl::StrJoin(unreachable, ",");
}

}  // namespace

std::pair<std::string, uint16_t> split_address(const std::string& address) {
  std::vector<std::string> parts = absl::StrSplit(address, absl::MaxSplits(':', 1));
  uint32_t port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port == 0 || port > 65535) {
    return {"", 0};
  }
  return {parts[0], static_cast<uint16_t>(port)};
}

}  // namespace cluster_internal

using cluster_internal::Participant;

absl::StatusOr<std::shared_ptr<cluster::AuthenticatedClient>> Cluster::client_for(
    const std::string& name) {
  caf::actor agent;
  {
    absl::MutexLock lock(&state_->mu);
    std::shared_ptr<cluster::AuthenticatedClient> cached;
    if (name == options_.node_name) {
      cached = state_->self_client;
      agent = agent_;
    } else if (auto it = state_->members.find(name); it != state_->members.end()) {
      cached = it->second.client;
      agent = it->second.agent;
    } else {
      return reload_status(ReloadError::kNotFound, absl::StrCat(name, " is no member"));
    }
    if (cached && !cached->stale()) return cached;
  }
  auto client = cluster_internal::connect_member(*state_, agent);
  if (!client.ok()) return client.status();
  absl::MutexLock lock(&state_->mu);
  if (name == options_.node_name) {
    state_->self_client = *client;
  } else if (auto it = state_->members.find(name);
             it != state_->members.end() && it->second.agent == agent) {
    it->second.client = *client;
  }
  return client;
}

// Connects to the gate at `address`, proves the secret, catches up with the peer's permanent
// versions, and only then introduces this node, so that it takes part in no cluster reload before
// it caught up; the peer becomes a member here too. The error says why not.
absl::Status Cluster::join(const std::string& address) {
  auto [host, port] = cluster_internal::split_address(address);
  auto gate = cluster::connect_endpoint(*state_->deps.system, host, port);
  if (!gate.ok()) return gate.status();
  cluster::AuthenticatedClient::Options o;
  o.secret = options_.secret;
  o.name = options_.node_name;
  o.role = cluster::PeerRole::kMember;
  auto client = cluster::AuthenticatedClient::connect(*state_->deps.system, *gate, o);
  if (!client.ok()) return client.status();
  cluster_internal::catch_up_with(*state_, **client);
  caf::scoped_actor self{*state_->deps.system};
  auto reply = (*client)->call(self.ptr(),
                               caf::make_message(cluster_hello_atom::value, state_->address,
                                                 cluster::agent_identity(agent_)),
                               cluster_internal::kJoinTimeout, agent_);
  if (!reply.ok()) return reply.status();
  if (!reply->match_elements<bool, std::string>()) {
    return reload_status(ReloadError::kInternal, "a hello answered with something else");
  }
  if (!reply->get_as<bool>(0)) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("node ", (*client)->node_name(),
                                      " refused this node: ", reply->get_as<std::string>(1)));
  }
  cluster_internal::add_member(state_, (*client)->node_name(), address, (*client)->agent(),
                               *client);
  return absl::OkStatus();
}

void Cluster::connect_loop() {
  struct Peer {
    std::string address;
    absl::Duration backoff;
    absl::Time next_try;
    std::string last_error;  // logged when it changes, not on every retry
  };
  std::vector<Peer> peers;
  for (const std::string& a : options_.peers) {
    peers.push_back({a, options_.retry_initial, absl::InfinitePast(), ""});
  }
  while (!stop_.HasBeenNotified()) {
    absl::Time wake = absl::Now() + options_.retry_max;
    for (Peer& p : peers) {
      bool connected = false;
      {
        absl::MutexLock lock(&state_->mu);
        for (const auto& [name, m] : state_->members) connected |= m.address == p.address;
      }
      if (connected) {
        p.backoff = options_.retry_initial;  // if it goes down, retry quickly
        p.next_try = absl::InfinitePast();
        p.last_error.clear();
        continue;
      }
      if (absl::Now() < p.next_try) {
        wake = std::min(wake, p.next_try);
        continue;
      }
      absl::Status joined = join(p.address);
      if (joined.ok()) {
        p.backoff = options_.retry_initial;
        continue;
      }
      if (joined.message() != p.last_error) {
        p.last_error = std::string(joined.message());
        std::fprintf(stderr, "lemon: cluster node %s cannot join %s (retrying): %s\n",
                     options_.node_name.c_str(), p.address.c_str(), p.last_error.c_str());
      }
      p.next_try = absl::Now() + p.backoff;
      p.backoff = std::min(p.backoff * 2, options_.retry_max);
      wake = std::min(wake, p.next_try);
    }
    // Connected peers are re-checked at least every retry_max (a member that went down).
    stop_.WaitForNotificationWithTimeout(
        std::max(std::min(wake - absl::Now(), options_.retry_initial), absl::Milliseconds(10)));
  }
}

std::vector<ClusterMember> Cluster::members() const {
  std::vector<ClusterMember> out{{options_.node_name, state_->address, true}};
  absl::MutexLock lock(&state_->mu);
  for (const auto& [name, m] : state_->members) out.push_back({name, m.address, false});
  return out;
}

std::vector<ClusterMember> Cluster::down_members() const {
  std::vector<ClusterMember> out;
  absl::MutexLock lock(&state_->mu);
  for (const KnownMember& m : cluster_internal::down_members(*state_)) {
    out.push_back({m.name, m.address, false, false});
  }
  return out;
}

std::vector<ClusterNodeModules> Cluster::list_modules(absl::Duration deadline) {
  std::vector<std::string> names;
  {
    absl::MutexLock lock(&state_->mu);
    for (const auto& [name, m] : state_->members) names.push_back(name);
  }
  std::vector<ClusterNodeModules> out;
  out.push_back({options_.node_name, "", local_modules(*state_->deps.code_server)});
  caf::scoped_actor self{*state_->deps.system};
  const auto timeout = absl::ToChronoMilliseconds(deadline);
  struct Asked {
    ClusterNodeModules node;
    std::shared_ptr<cluster::AuthenticatedClient> client;
    std::optional<cluster::AuthenticatedClient::Pending> pending;
  };
  std::vector<Asked> asked;
  for (const std::string& name : names) {  // all asked at once, then the answers collected
    Asked a{{name, "", {}}, nullptr, std::nullopt};
    auto client = client_for(name);
    if (client.ok()) {
      a.client = *client;
      a.pending =
          a.client->send(self.ptr(), caf::make_message(cluster_modules_atom::value), timeout);
    } else {
      a.node.error = absl::StrCat("no answer from node ", name, ": ", client.status().message());
    }
    asked.push_back(std::move(a));
  }
  for (Asked& a : asked) {
    if (a.pending) {
      auto reply = a.client->await(*a.pending);
      if (reply.ok() && reply->match_elements<std::vector<ClusterModule>>()) {
        a.node.modules = reply->get_as<std::vector<ClusterModule>>(0);
      } else {
        a.node.error = absl::StrCat("no answer from node ", a.node.node, ": ",
                                    reply.ok() ? "not a module list" : reply.status().message());
      }
    }
    out.push_back(std::move(a.node));
  }
  return out;
}

ReloadReport Cluster::reload(const ReloadRequest& request) {
  ClusterCall call;
  call.request = request;
  ReloadReport report = ReloadReport::begin(ReloadKind::kSystem, request.target);
  report.metadata["cluster"] = "true";
  report.metadata["coordinator"] = options_.node_name;
  report.metadata["kind"] = to_string(report_kind(request.op));
  call.coordinator = options_.node_name;
  call.reload_id =
      absl::StrCat(options_.node_name, "/", ++reloads_, "/", absl::ToUnixMicros(absl::Now()));
  if (absl::Status bad = cluster_internal::check_cluster_call(call); !bad.ok()) {
    report.add_error(request.target, bad);
    report.finish();
    return report;
  }
  // An extension under this node's root is named relative to it: each node compiles its own copy
  // under its own root.
  if (!state_->deps.extension_root.empty()) {
    const std::string root = state_->deps.extension_root + "/";
    auto relative = [&root](std::string& path) {
      if (path.compare(0, root.size(), root) == 0) path = path.substr(root.size());
    };
    if (call.request.op == ReloadOp::kExtension) relative(call.request.target);
    for (std::string& path : call.request.selection.extensions) relative(path);
  }
  report.metadata["reload_id"] = call.reload_id;

  // Every live member, ordered by name: the global lock order; and the known ones that are down.
  std::vector<std::string> names = {options_.node_name};
  std::vector<KnownMember> down;
  {
    absl::MutexLock lock(&state_->mu);
    for (const auto& [name, m] : state_->members) names.push_back(name);
    down = cluster_internal::down_members(*state_);
  }
  std::sort(names.begin(), names.end());
  std::vector<Participant> nodes;
  for (const std::string& name : names) {
    nodes.push_back(cluster_internal::make_participant(name, request, client_for(name)));
  }
  report.metadata["nodes"] = absl::StrJoin(names, ",");

  caf::scoped_actor self{*state_->deps.system};
  cluster_internal::ClusterOutcome outcome = cluster_internal::ClusterOutcome::kNotStarted;
  {
    // Renews every node's lease while the reload runs, from the first lock to the finish.
    cluster_internal::LeaseRenewer renewer(*state_->deps.system, nodes, call, options_.lease);
    if (cluster_internal::lock_all(self, nodes, call, renewer)) {
      outcome = cluster_internal::prepare_and_commit(self, nodes, call);
    }
  }
  // End every session: roll committed nodes back if the reload as a whole failed; drop what was
  // prepared; release every node's lock (a node that failed in its lock step is asked too, so
  // that a lock it takes late is given back).
  ClusterCall finish = call;
  finish.rollback = outcome == cluster_internal::ClusterOutcome::kRolledBack;
  cluster_internal::ask_all(
      self, nodes, cluster_internal::swap_deadline(call), cluster_finish_atom::value, "finish",
      [](const Participant& p) { return p.locked || p.failed; },
      [&finish](const Participant& p) {
        ClusterCall c = finish;
        c.token = p.token;
        return c;
      });
  cluster_internal::summarize(nodes, down, outcome, call, report);
  report.finish();
  return report;
}

}  // namespace lemon
