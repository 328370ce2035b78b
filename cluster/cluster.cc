#include "cluster/cluster.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "caf/actor_system.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "cluster/cluster_internal.h"
#include "cluster/tls.h"
#include "core/reload_error.h"
#include "node/reload_service.h"

namespace lemon {
namespace cluster_internal {
namespace {

constexpr size_t kMaxReloadIdBytes = 512;

ReloadReport node_report(const State& st, const ClusterCall& call) {
  ReloadReport r = ReloadReport::begin(report_kind(call.request.op), call.request.target);
  r.metadata["node"] = st.node_name;
  return r;
}

// This node's report of its change (prepare's, commit's or rollback's), as a step reply.
ClusterStepReply change_reply(const State& st, const Session& s, const char* phase) {
  ClusterStepReply out;
  out.report = s.change ? s.change->report() : node_report(st, s.call);
  out.report.metadata["node"] = st.node_name;
  out.report.metadata["phase"] = phase;
  out.report.lock_token = s.token;
  out.change_report = s.change != nullptr;
  out.report.metadata["lock_token"] = std::to_string(s.token);
  return out;
}

// Phase 1 on this node: Reloader::prepare, all or nothing; no actor is touched.
ClusterStepReply prepare_here(State& st, Session& s) {
  s.change = st.deps.reloader->prepare(s.call.request, /*all_or_nothing=*/true);
  ClusterStepReply out = change_reply(st, s, "prepare");
  out.changes = s.change->ok() && s.change->changes_anything();
  return out;
}

// Phase 2 on this node: every module of the change moves to its new version, or none does.
ClusterStepReply commit_here(State& st, Session& s) {
  if (s.change && s.change->ok()) {
    st.deps.reloader->commit(*s.change);
    s.committed = true;
  }
  return change_reply(st, s, "commit");
}

// Undoes a committed phase 2 on this node (another node's commit failed).
void rollback_here(State& st, Session& s) {
  if (!s.committed || !s.change) return;
  st.deps.reloader->rollback(*s.change);
  s.committed = false;
}

// Removes `id`'s session if it is `s`; the caller drops it (and with it the lock) outside mu.
std::shared_ptr<Session> take_session(State& st, const std::string& id, const Session* s)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu) {
  auto it = st.sessions.find(id);
  if (it == st.sessions.end() || it->second.get() != s) return nullptr;
  std::shared_ptr<Session> out = std::move(it->second);
  st.sessions.erase(it);
  return out;
}

// Ends a session taken out of the table: rolls back first if asked, then the lock is released
// when the last reference goes. Blocks (a rollback is a swap): call from a worker.
void end_session(State& st, std::shared_ptr<Session> s, ClusterStepReply* out) {
  if (!s) return;
  if (s->rollback_on_end && s->committed) {
    rollback_here(st, *s);
    if (out != nullptr) {
      ClusterStepReply undone = change_reply(st, *s, "rollback");
      for (auto& [k, v] : out->report.metadata) undone.report.metadata.emplace(k, v);
      *out = std::move(undone);
    }
  }
  s->change.reset();
  s->guard.release();
}

// Marks a session whose step is still running to end when the step is done. A lock wait or a
// prepare changes nothing that must be undone, so the lock is given back at once; a commit or a
// rollback keeps it until its swap has finished (bounded by the reload's timeout).
// Returns the guard to drop outside the mutex.
LockService::Guard cancel_busy(Session& s, bool rollback) {
  s.cancelled = true;
  s.rollback_on_end = rollback;
  if (s.running == Step::kPrepare || s.running == Step::kLock) return std::move(s.guard);
  return LockService::Guard();
}

// Why `s` may not take a step of `call` for `peer`; "" if it may.
std::string session_refusal(const Session* s, const ClusterCall& call, const std::string& peer) {
  if (s == nullptr || s->cancelled) {
    return "does not hold its reload lock for this reload (released: the coordinator stopped "
           "renewing it, or gave up)";
  }
  if (s->coordinator != peer) {
    return absl::StrCat("holds its lock for this reload for ", s->coordinator, ", not for ", peer);
  }
  if (s->token != call.token) {
    return absl::StrCat("holds its lock with token ", s->token, ", not ", call.token,
                        " (stale request)");
  }
  return "";
}

// The session of `call` if `peer` may take a step in it (its lease renewed), else null with
// `refused` set. REQUIRES: st.mu held.
Session* find_session(State& st, const ClusterCall& call, const std::string& peer,
                      std::string* refused) ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu) {
  auto it = st.sessions.find(call.reload_id);
  Session* s = it == st.sessions.end() ? nullptr : it->second.get();
  *refused = session_refusal(s, call, peer);
  if (!refused->empty()) return nullptr;
  s->lease_until = absl::Now() + st.lease;
  return s;
}

}  // namespace

ClusterStepReply refused_reply(const State& st, const ClusterCall& call, ReloadError error,
                               const std::string& message) {
  ClusterStepReply out;
  out.report = node_report(st, call);
  out.report.add_error(st.node_name, reload_status(error, message));
  out.report.finish();
  return out;
}

absl::Status check_cluster_call(const ClusterCall& call) {
  const ReloadRequest& r = call.request;
  if (absl::Status bad = check_request(r); !bad.ok()) return bad;
  if (r.op == ReloadOp::kCodeChange || r.op == ReloadOp::kSoftPurge ||
      r.op == ReloadOp::kHardPurge || !r.selection.code_changes.empty()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "a cluster reload takes a module, extension, app, all, or lists of "
                         "modules, apps and extensions; code_change targets and purges are "
                         "per node");
  }
  if (r.timeout_ms > kMaxClusterTimeoutMs || r.lock_timeout_ms > kMaxClusterTimeoutMs) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("timeout_ms and lock_timeout_ms may be at most ",
                                      kMaxClusterTimeoutMs, " ms"));
  }
  if (call.reload_id.empty() || call.reload_id.size() > kMaxReloadIdBytes) {
    return reload_status(ReloadError::kInvalidArgument, "bad reload id");
  }
  return absl::OkStatus();
}

void expire_leases(State& st, absl::Time now) {
  std::vector<std::shared_ptr<Session>> ended;
  std::vector<LockService::Guard> released;
  {
    absl::MutexLock lock(&st.mu);
    // The coordinator stopped renewing: what it prepared is dropped, what it committed stays
    // (every node had validated it), and the lock is given back now, or when the running
    // commit or rollback ends.
    for (auto it = st.sessions.begin(); it != st.sessions.end();) {
      Session& s = *it->second;
      if (s.lease_until >= now || s.cancelled) {
        ++it;
        continue;
      }
      std::fprintf(stderr,
                   "lemon: cluster node %s: %s stopped renewing its lock for reload %s; "
                   "giving it back\n",
                   st.node_name.c_str(), s.coordinator.c_str(), s.call.reload_id.c_str());
      if (s.busy) {
        released.push_back(cancel_busy(s, false));
        ++it;
      } else {
        ended.push_back(std::move(it->second));
        it = st.sessions.erase(it);
      }
    }
  }
  for (auto& s : ended) {
    s->change.reset();
    s->guard.release();
  }
}

void run_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call, Step step,
              const std::string& peer, Reply reply) {
  std::shared_ptr<Session> s;
  std::string refused;
  {
    absl::MutexLock lock(&st->mu);
    Session* found = find_session(*st, call, peer, &refused);
    if (found != nullptr && !found->guard.held()) {
      refused = "does not hold its reload lock for this reload yet";
    } else if (found != nullptr && found->busy) {
      refused = "is still running an earlier step of this reload";
    } else if (found != nullptr) {
      s = st->sessions[call.reload_id];
      s->busy = true;
      s->running = step;
      // The coordinator numbers the commit once every node is locked.
      if (step == Step::kPrepare) s->call.request.cluster_seq = call.request.cluster_seq;
    }
  }
  if (!s) {
    return reply(refused_reply(*st, call, ReloadError::kReloadInProgress,
                               absl::StrCat("node ", st->node_name, " ", refused)));
  }
  self->spawn<caf::detached>([st, s, step, reply](caf::blocking_actor*) mutable {
    ClusterStepReply r = step == Step::kPrepare ? prepare_here(*st, *s) : commit_here(*st, *s);
    std::shared_ptr<Session> ended;
    {
      absl::MutexLock lock(&st->mu);
      s->busy = false;
      if (s->cancelled) ended = take_session(*st, s->call.reload_id, s.get());
    }
    end_session(*st, std::move(ended), &r);
    reply(std::move(r));
  });
}

void lock_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call,
               const std::string& peer, Reply reply) {
  call.coordinator = peer;  // the proven name, whatever the call says
  if (absl::Status bad = check_cluster_call(call); !bad.ok()) {
    return reply(
        refused_reply(*st, call, ReloadError::kInvalidArgument, std::string(bad.message())));
  }
  if (st->live_sessions->fetch_add(1) >= st->max_sessions) {
    st->live_sessions->fetch_sub(1);
    return reply(refused_reply(
        *st, call, ReloadError::kReloadInProgress,
        absl::StrCat("node ", st->node_name, " already has ", st->max_sessions,
                     " cluster reloads holding or waiting for its lock, the most it takes")));
  }
  auto s = std::make_shared<Session>();
  s->live = st->live_sessions;
  s->call = call;
  s->coordinator = peer;
  s->busy = true;
  s->lease_until = absl::Now() + st->lease;
  {
    absl::MutexLock lock(&st->mu);
    if (!st->sessions.emplace(call.reload_id, s).second) s = nullptr;
  }
  if (!s) {
    return reply(refused_reply(*st, call, ReloadError::kInvalidArgument,
                               "duplicate reload id " + call.reload_id));
  }
  self->spawn<caf::detached>([st, s, reply](caf::blocking_actor*) mutable {
    ClusterStepReply out;
    ReloadReport& r = out.report;
    r = node_report(*st, s->call);
    r.metadata["phase"] = "lock";
    auto guard = st->deps.lock->acquire(
        absl::StrCat("cluster reload ", s->call.reload_id, " by ", s->coordinator),
        absl::Milliseconds(s->call.request.lock_timeout_ms));
    std::shared_ptr<Session> ended;
    {
      absl::MutexLock lock(&st->mu);
      s->busy = false;
      if (guard.ok()) {
        s->token = guard->token();
        s->guard = std::move(*guard);
        s->lease_until = absl::Now() + st->lease;
      }
      if (!guard.ok() || s->cancelled) ended = take_session(*st, s->call.reload_id, s.get());
    }
    if (!guard.ok()) {
      r.add_error(st->node_name, guard.status());
    } else if (ended) {
      r.add_error(st->node_name,
                  reload_status(ReloadError::kReloadInProgress,
                                "the coordinator stopped renewing or gave up while this node "
                                "waited"));
    } else {
      r.lock_token = s->token;
      r.metadata["lock_token"] = std::to_string(s->token);
      out.lease_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(st->lease));
      ReleaseStore* store = st->deps.reloader->releases();
      out.cluster_seq = store ? store->highest_cluster_seq() : 0;
    }
    end_session(*st, std::move(ended), nullptr);
    r.finish();
    reply(std::move(out));
  });
}

void renew_step(State& st, const ClusterCall& call, const std::string& peer, Reply reply) {
  std::string refused;
  {
    absl::MutexLock lock(&st.mu);
    find_session(st, call, peer, &refused);
  }
  if (!refused.empty()) {
    return reply(refused_reply(st, call, ReloadError::kReloadInProgress,
                               absl::StrCat("node ", st.node_name, " ", refused)));
  }
  ClusterStepReply out;
  out.report = node_report(st, call);
  out.report.metadata["phase"] = "renew";
  out.lease_ms = static_cast<uint32_t>(absl::ToInt64Milliseconds(st.lease));
  out.report.finish();
  reply(std::move(out));
}

void finish_step(caf::event_based_actor* self, std::shared_ptr<State> st, ClusterCall call,
                 const std::string& peer, Reply reply) {
  std::shared_ptr<Session> ended;
  LockService::Guard released;
  ClusterStepReply out;
  ReloadReport& r = out.report;
  r = node_report(*st, call);
  r.metadata["phase"] = call.rollback ? "rollback" : "finish";
  std::string refused;
  {
    absl::MutexLock lock(&st->mu);
    auto it = st->sessions.find(call.reload_id);
    Session* s = it == st->sessions.end() ? nullptr : find_session(*st, call, peer, &refused);
    if (it == st->sessions.end()) {
      r.metadata["ended"] = "no session";  // the lock was never taken here, or already released
    } else if (s == nullptr) {
      // Fenced: a finish for another coordinator or token changes nothing.
    } else if (s->busy) {
      released = cancel_busy(*s, call.rollback);
      r.metadata["ended"] =
          released.held() ? "now (the running prepare is discarded)" : "after the running step";
    } else {
      s->rollback_on_end = call.rollback;
      ended = take_session(*st, call.reload_id, s);
    }
  }
  released.release();
  if (!refused.empty()) {
    return reply(refused_reply(*st, call, ReloadError::kReloadInProgress,
                               absl::StrCat("node ", st->node_name, " ", refused)));
  }
  if (!ended || !call.rollback) {
    end_session(*st, std::move(ended), &out);  // no rollback: nothing blocks
    if (r.metadata.count("ended") == 0) r.metadata["ended"] = "now";
    r.finish();
    return reply(std::move(out));
  }
  self->spawn<caf::detached>([st, ended, out, reply](caf::blocking_actor*) mutable {
    out.report.metadata["ended"] = "now";
    end_session(*st, std::move(ended), &out);
    out.report.finish();
    reply(std::move(out));
  });
}

}  // namespace cluster_internal

using cluster_internal::Session;

namespace {

// OK if a cluster can start on `deps` with `options`; else kInvalidArgument saying why.
absl::Status check_start(const Cluster::Deps& deps, const Cluster::Options& options) {
  if (!cluster::valid_peer_name(options.node_name)) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("bad cluster node name '", options.node_name,
                                      "' (printable ASCII, no spaces, '=' or ',')"));
  }
  if (options.secret.size() < cluster::kMinSecretBytes) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("the cluster secret has ", options.secret.size(), " bytes; at least ",
                     cluster::kMinSecretBytes, " are needed"));
  }
  if (options.port < Cluster::kAnyPort || options.port > 65535) {
    return reload_status(ReloadError::kInvalidArgument,
                         absl::StrCat("bad cluster port ", options.port));
  }
  if (options.lease <= absl::ZeroDuration() || options.max_sessions == 0) {
    return reload_status(ReloadError::kInvalidArgument,
                         "a cluster node needs a positive lease and room for a session");
  }
  for (const std::string& peer : options.peers) {
    if (cluster_internal::split_address(peer).second == 0) {
      return reload_status(ReloadError::kInvalidArgument,
                           absl::StrCat("bad peer address '", peer, "' (want host:port)"));
    }
  }
  if (deps.system != nullptr && !deps.system->has_middleman()) {
    return reload_status(ReloadError::kInvalidArgument,
                         "the actor system was created without caf::io (load_middleman)");
  }
  if (deps.system == nullptr || !deps.reload_service || deps.reloader == nullptr ||
      deps.lock == nullptr || deps.code_server == nullptr || deps.metrics == nullptr) {
    return reload_status(ReloadError::kInvalidArgument, "a cluster node needs every part of Deps");
  }
  return absl::OkStatus();
}

}  // namespace

Cluster::Cluster(Options options)
    : options_(std::move(options)), state_(std::make_shared<State>()) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::start(Deps deps, Options options) {
  if (absl::Status s = check_start(deps, options); !s.ok()) return s;
  std::unique_ptr<Cluster> c(new Cluster(std::move(options)));
  State& st = *c->state_;
  st.deps = std::move(deps);
  st.node_name = c->options_.node_name;
  st.secret = c->options_.secret;
  st.lease = c->options_.lease;
  st.max_sessions = c->options_.max_sessions;
  st.max_remote_reloads = c->options_.max_remote_reloads;
  st.catch_up = c->options_.catch_up;
  st.skew_gauge = cluster_internal::register_skew_gauge(*st.deps.metrics, st.deps.metrics_node);
  st.failures =
      std::make_shared<cluster::AuthFailureCounter>(*st.deps.metrics, st.deps.metrics_node);
  cluster::NodeAuthenticator::Options ao;
  ao.secret = st.secret;
  ao.node_name = st.node_name;
  ao.channel_idle = cluster::kChannelIdleLimit;
  ao.on_failure = [failures = st.failures](cluster::AuthFailure r) { failures->count(r); };
  st.auth = std::make_shared<cluster::NodeAuthenticator>(*st.deps.system, std::move(ao));
  c->agent_ = st.deps.system->spawn(cluster_internal::agent_behaviour, c->state_);
  if (c->options_.port != 0) {
    c->gate_ = cluster::spawn_auth_gate(*st.deps.system, st.auth, c->agent_);
    const auto port_wanted = static_cast<uint16_t>(std::max(c->options_.port, 0));
    auto port = cluster::publish_endpoint(*st.deps.system, c->gate_, port_wanted, c->options_.bind);
    if (!port.ok()) return port.status();  // the destructor stops the gate and the agent
    c->port_ = *port;
    st.address = absl::StrCat(c->options_.bind, ":", c->port_);
  }
  c->reaper_ = std::thread([p = c.get()] { p->reap_leases(); });
  if (!c->options_.peers.empty()) c->connector_ = std::thread([p = c.get()] { p->connect_loop(); });
  return c;
}

Cluster::~Cluster() {
  stop_.Notify();
  if (connector_.joinable()) connector_.join();
  if (reaper_.joinable()) reaper_.join();
  // Only kill ends these two: they ignore every other exit message (anyone can send one).
  if (gate_) caf::anon_send_exit(gate_, caf::exit_reason::kill);
  if (agent_) caf::anon_send_exit(agent_, caf::exit_reason::kill);
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    absl::MutexLock lock(&state_->mu);
    sessions.swap(state_->sessions);
    state_->members.clear();
    state_->self_client.reset();
  }
  for (auto& [id, s] : sessions) s->guard.release();
}

void Cluster::reap_leases() {
  const absl::Duration tick =
      std::max(std::min(options_.lease / 10, absl::Seconds(1)), absl::Milliseconds(10));
  while (!stop_.WaitForNotificationWithTimeout(tick)) {
    cluster_internal::expire_leases(*state_, absl::Now());
    cluster_internal::refresh_skew(*state_);  // a reload may have brought a module in line
  }
}

std::vector<VersionSkew> Cluster::version_skew() const {
  absl::MutexLock lock(&state_->mu);
  return state_->skew;
}

double Cluster::auth_failures(cluster::AuthFailure reason) const {
  return state_->failures ? state_->failures->value(reason) : 0;
}

}  // namespace lemon
