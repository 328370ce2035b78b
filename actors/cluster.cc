#include "actors/cluster.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "actors/reload_service.h"
#include "caf/actor_system.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/response_promise.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "core/extension_compiler_diagnostics.h"
#include "core/reload_error.h"
#include "core/telemetry.h"

namespace lemon {
namespace cluster_internal {

// What a node's agent holds for one cluster reload, on behalf of its coordinator.
enum class Step { kLock, kPrepare, kCommit, kRollback };

// Guard discipline: while a session is in the table, its guard is touched only under State::mu;
// once taken out of the table, only by the one who took it.
struct Session {
  caf::actor_addr coordinator;  // monitored: its going down ends the session
  ClusterCall call;
  LockService::Guard guard;  // this node's reload lock, held for the coordinator
  uint64_t token = 0;        // guard's token, readable without the mutex once set
  bool busy = false;         // a worker runs `running`
  Step running = Step::kLock;
  bool cancelled = false;  // end the session as soon as the running step is done
  bool rollback_on_end = false;
  std::string module;
  ModuleRef prepared;  // phase 1's result; null if this node had nothing to change
  ModuleRef before;    // the version a committed node goes back to on rollback
  bool committed = false;
};

struct Member {
  caf::actor agent;
  std::string address;
};

}  // namespace cluster_internal

using cluster_internal::Member;
using cluster_internal::Session;
using cluster_internal::Step;

struct Cluster::State {
  Runtime* rt = nullptr;
  std::string node_name;
  std::string address;
  mutable absl::Mutex mu;
  std::map<std::string, Member> members ABSL_GUARDED_BY(mu);  // peers, not this node
  std::map<std::string, std::shared_ptr<Session>> sessions ABSL_GUARDED_BY(mu);
};

namespace {

using State = Cluster::State;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxActorErrors = 20;
// Slack on top of a step's own deadline before the coordinator stops waiting for a node.
constexpr auto kNetworkSlack = std::chrono::seconds(5);
// A node's swap takes at most timeout_ms to suspend and migrate, plus timeout_ms + 10 s to resume
// (ReloadManager::run_round); the coordinator waits that long, plus the network slack.
std::chrono::milliseconds swap_deadline(const ClusterCall& call) {
  return std::chrono::milliseconds(call.timeout_ms) * 2 + std::chrono::seconds(10) + kNetworkSlack;
}
// An extension compile is bounded by ExtensionCompiler::Options::timeout (120 s by default).
constexpr auto kCompileDeadline = std::chrono::seconds(150);

ReloadReport node_report(const State& st, const ClusterCall& call) {
  ReloadReport r = ReloadReport::begin(
      call.kind == "extension" ? ReloadKind::kExtension : ReloadKind::kModule, call.target);
  r.metadata["node"] = st.node_name;
  return r;
}

void emit_modules(Runtime& rt) {
  Telemetry& t = rt.telemetry();
  std::map<std::string, std::size_t> counts = rt.reload_manager().actor_counts();
  for (const ModuleStatus& m : rt.code_server().list()) {
    t.emit({kModuleLoaded, {}, {{"module", m.name}, {"version", m.current->version()}}});
    if (m.old) t.emit({kModuleLoaded, {}, {{"module", m.name}, {"version", m.old->version()}}});
    t.emit({kActorsCount, {{"count", static_cast<double>(counts[m.name])}}, {{"module", m.name}}});
  }
}

std::vector<ClusterModule> local_modules(Runtime& rt) {
  std::vector<ClusterModule> out;
  for (const ModuleStatus& m : rt.code_server().list()) {
    ClusterModule c;
    c.name = m.name;
    c.current_version = m.current->version();
    c.checksum = m.current->checksum();
    c.actors_current = static_cast<int32_t>(m.current->actor_count());
    c.path = m.current->source_path();
    if (m.old) {
      c.old_version = m.old->version();
      c.actors_old = static_cast<int32_t>(m.old->actor_count());
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Phase 1 on this node: load the new version (compiling an extension first); no actor is touched.
void prepare_here(State& st, Session& s, ReloadReport& r) {
  Runtime& rt = *st.rt;
  const ClusterCall& call = s.call;
  std::string path, name;
  if (call.kind == "module") {
    name = call.target;
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return r.add_error(call.target, reload_status(ReloadError::kInvalidArgument,
                                                    absl::StrCat("bad module name '", name, "'")));
    }
    path = absl::StrCat(rt.options().modules_dir, "/", name, ".so");
  } else {
    if (rt.compiler() == nullptr || rt.options().extension_dirs.empty()) {
      return r.add_error(call.target, reload_status(ReloadError::kInvalidArgument,
                                                    "this node has no extension roots"));
    }
    std::string source = call.target;
    if (!source.empty() && source[0] != '/') {
      source = absl::StrCat(rt.options().extension_dirs.front(), "/", source);
    }
    r.metadata["path"] = source;
    auto compiled = rt.compiler()->compile(source);
    if (!compiled.ok()) {
      r.errors.push_back({source, reload_error_of(compiled.status()),
                          std::string(compiled.status().message()),
                          diagnostics_of(compiled.status())});
      return;
    }
    r.metadata["compiled_ms"] = absl::StrCat(compiled->compile_ms);
    r.metadata["cached"] = compiled->cached ? "true" : "false";
    path = compiled->so_path;
  }
  r.metadata["so_path"] = path;
  CodeServer& cs = rt.code_server();
  auto prepared = cs.prepare(path, name);
  if (!prepared.ok() && reload_error_of(prepared.status()) == ReloadError::kInUse && call.force &&
      !name.empty()) {
    auto stopped = cs.purge(name);
    if (!stopped.ok()) return r.add_error(call.target, stopped.status());
    r.metadata["purged_actors"] = std::to_string(*stopped);
    prepared = cs.prepare(path, name);
  }
  if (!prepared.ok()) {
    if (reload_error_of(prepared.status()) == ReloadError::kUnchanged) {
      r.metadata["prepared"] = "unchanged";
      return r.add_skipped(call.target, prepared.status());
    }
    return r.add_error(call.target, prepared.status());
  }
  s.prepared = *prepared;
  s.module = s.prepared->name();
  r.metadata["prepared"] = "true";
  r.metadata["module"] = s.module;
  r.metadata["to_version"] = s.prepared->version();
  if (ModuleRef current = cs.current(s.module)) r.metadata["from_version"] = current->version();
}

// Phase 2 on this node: every actor of the module moves to the prepared version, or none does.
void commit_here(State& st, Session& s, ReloadReport& r) {
  if (!s.prepared) {
    r.metadata["committed"] = "nothing to change";
    return;
  }
  Runtime& rt = *st.rt;
  const std::string kind = s.call.kind;
  rt.telemetry().emit({kReloadStart, {}, {{"kind", kind}, {"target", s.call.target}}});
  const auto started = Clock::now();
  ModuleRef before = rt.code_server().current(s.module);
  r.metadata["module"] = s.module;
  r.metadata["to_version"] = s.prepared->version();
  absl::Status status;
  if (!before) {
    status = rt.code_server().commit(s.prepared);
  } else {
    r.metadata["from_version"] = before->version();
    SwapOptions o;
    o.extra = s.call.extra;
    o.suspend_timeout = absl::Milliseconds(s.call.timeout_ms);
    SwapResult swap = rt.reload_manager().swap(s.prepared, o);
    double max_pause = 0;
    for (double p : swap.pause_seconds) {
      max_pause = std::max(max_pause, p);
      rt.telemetry().emit({kActorSuspend, {{"duration_seconds", p}}, {{"module", s.module}}});
    }
    r.metadata["actors"] = std::to_string(swap.actors);
    r.metadata["max_pause_ms"] = absl::StrCat(max_pause * 1e3);
    r.metadata["swap_ms"] = absl::StrCat(swap.duration_ms);
    status = swap.status;
    for (std::size_t i = 0; !status.ok() && i < swap.failures.size() && i < kMaxActorErrors; ++i) {
      const ActorFailure& f = swap.failures[i];
      r.errors.push_back(
          {absl::StrCat(s.module, "/",
                        f.actor_name.empty() ? std::to_string(f.actor_id) : f.actor_name),
           reload_error_of(status),
           f.message,
           {}});
    }
  }
  if (status.ok()) {
    r.reloaded.push_back(s.module);
    s.before = before;
    s.committed = true;
    s.prepared.reset();
  } else {
    r.add_error(s.module, status);
  }
  r.finish();
  emit_modules(rt);
  rt.telemetry().emit(
      {kReloadStop,
       {{"duration_seconds", std::chrono::duration<double>(Clock::now() - started).count()}},
       {{"kind", kind}, {"target", s.call.target}, {"status", to_string(r.status)}}});
}

// Undoes a committed phase 2 on this node (another node's commit failed).
void rollback_here(State& st, Session& s, ReloadReport& r) {
  if (!s.committed) return;
  r.reloaded.erase(std::remove(r.reloaded.begin(), r.reloaded.end(), s.module), r.reloaded.end());
  if (!s.before) {
    r.errors.push_back({s.module,
                        ReloadError::kInternal,
                        "committed a module new on this node; there is no version to go back to",
                        {}});
    return;
  }
  SwapOptions o;
  o.suspend_timeout = absl::Milliseconds(s.call.timeout_ms);
  SwapResult undo = st.rt->reload_manager().swap(s.before, o);
  emit_modules(*st.rt);
  if (undo.status.ok()) {
    s.committed = false;
    r.metadata["rolled_back"] = "true";
    r.skipped.push_back({s.module, ReloadError::kRolledBack,
                         absl::StrCat("committed, then back to version ", s.before->version(),
                                      " because another node failed")});
  } else {
    r.errors.push_back({s.module,
                        reload_error_of(undo.status),
                        absl::StrCat("rollback to version ", s.before->version(),
                                     " failed: ", undo.status.message()),
                        {}});
  }
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
void end_session(State& st, std::shared_ptr<Session> s, ReloadReport* r) {
  if (!s) return;
  ReloadReport scratch = node_report(st, s->call);
  if (s->rollback_on_end) rollback_here(st, *s, r ? *r : scratch);
  s->prepared.reset();
  s->guard.release();
}

void add_member(caf::event_based_actor* self, State& st, const std::string& name,
                const std::string& address, const caf::actor& agent) {
  {
    absl::MutexLock lock(&st.mu);
    auto it = st.members.find(name);
    if (it != st.members.end() && it->second.agent == agent) return;
    st.members[name] = Member{agent, address};
  }
  self->monitor(agent);
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

void on_down(State& st, const caf::actor_addr& source) {
  std::vector<std::shared_ptr<Session>> ended;
  std::vector<LockService::Guard> released;
  {
    absl::MutexLock lock(&st.mu);
    for (auto it = st.members.begin(); it != st.members.end();) {
      it = it->second.agent.address() == source ? st.members.erase(it) : std::next(it);
    }
    // The coordinator is gone: what it prepared is dropped, what it committed stays (every node
    // had validated it), and the lock is released now, or when the running step ends.
    for (auto it = st.sessions.begin(); it != st.sessions.end();) {
      if (it->second->coordinator != source) {
        ++it;
      } else if (it->second->busy) {
        released.push_back(cancel_busy(*it->second, false));
        ++it;
      } else {
        ended.push_back(std::move(it->second));
        it = st.sessions.erase(it);
      }
    }
  }
  for (auto& s : ended) {
    s->prepared.reset();
    s->guard.release();
  }
}

caf::result<ReloadReport> run_step(caf::event_based_actor* self, std::shared_ptr<State> st,
                                   ClusterCall call, Step step) {
  std::shared_ptr<Session> s;
  std::string refused;
  {
    absl::MutexLock lock(&st->mu);
    auto it = st->sessions.find(call.reload_id);
    if (it == st->sessions.end() || it->second->cancelled || !it->second->guard.held()) {
      refused =
          "does not hold its reload lock for this reload (released: the coordinator was "
          "gone or gave up)";
    } else if (it->second->token != call.token) {
      refused = absl::StrCat("holds its lock with token ", it->second->token, ", not ", call.token,
                             " (stale request)");
    } else if (it->second->busy) {
      refused = "is still running an earlier step of this reload";
    } else {
      s = it->second;
      s->busy = true;
      s->running = step;
    }
  }
  if (!s) {
    ReloadReport r = node_report(*st, call);
    r.add_error(st->node_name, reload_status(ReloadError::kReloadInProgress,
                                             absl::StrCat("node ", st->node_name, " ", refused)));
    r.finish();
    return r;
  }
  auto promise = self->make_response_promise<ReloadReport>();
  self->spawn<caf::detached>([st, s, step, promise](caf::blocking_actor*) mutable {
    ReloadReport r = node_report(*st, s->call);
    r.metadata["lock_token"] = std::to_string(s->token);
    if (step == Step::kPrepare) {
      r.metadata["phase"] = "prepare";
      prepare_here(*st, *s, r);
    } else {
      r.metadata["phase"] = "commit";
      commit_here(*st, *s, r);
    }
    std::shared_ptr<Session> ended;
    {
      absl::MutexLock lock(&st->mu);
      s->busy = false;
      if (s->cancelled) ended = take_session(*st, s->call.reload_id, s.get());
    }
    end_session(*st, std::move(ended), &r);
    r.finish();
    promise.deliver(std::move(r));
  });
  return promise;
}

caf::result<ReloadReport> lock_step(caf::event_based_actor* self, std::shared_ptr<State> st,
                                    ClusterCall call) {
  caf::strong_actor_ptr sender = self->current_sender();
  auto s = std::make_shared<Session>();
  s->call = call;
  s->busy = true;
  ReloadReport refused = node_report(*st, call);
  refused.metadata["phase"] = "lock";
  if (!sender) {
    refused.add_error(st->node_name, reload_status(ReloadError::kInvalidArgument,
                                                   "cluster_lock needs a sender to monitor"));
    refused.finish();
    return refused;
  }
  s->coordinator = caf::actor_cast<caf::actor_addr>(sender);
  {
    absl::MutexLock lock(&st->mu);
    if (!st->sessions.emplace(call.reload_id, s).second) s = nullptr;
  }
  if (!s) {
    refused.add_error(st->node_name, reload_status(ReloadError::kInvalidArgument,
                                                   "duplicate reload id " + call.reload_id));
    refused.finish();
    return refused;
  }
  // Monitored before the lock is taken: if the coordinator dies while we wait, the lock taken
  // afterwards is given back at once.
  self->monitor(sender);
  auto promise = self->make_response_promise<ReloadReport>();
  self->spawn<caf::detached>([st, s, promise](caf::blocking_actor*) mutable {
    ReloadReport r = node_report(*st, s->call);
    r.metadata["phase"] = "lock";
    auto guard = st->rt->lock().acquire(
        absl::StrCat("cluster reload ", s->call.reload_id, " by ", s->call.coordinator),
        absl::Milliseconds(s->call.lock_timeout_ms));
    std::shared_ptr<Session> ended;
    {
      absl::MutexLock lock(&st->mu);
      s->busy = false;
      if (guard.ok()) {
        s->token = guard->token();
        s->guard = std::move(*guard);
      }
      if (!guard.ok() || s->cancelled) ended = take_session(*st, s->call.reload_id, s.get());
    }
    if (!guard.ok()) {
      r.add_error(st->node_name, guard.status());
    } else if (ended) {
      r.add_error(st->node_name,
                  reload_status(ReloadError::kReloadInProgress,
                                "the coordinator went away or gave up while this node waited"));
    } else {
      r.metadata["lock_token"] = std::to_string(s->token);
    }
    end_session(*st, std::move(ended), nullptr);
    r.finish();
    promise.deliver(std::move(r));
  });
  return promise;
}

caf::result<ReloadReport> finish_step(caf::event_based_actor* self, std::shared_ptr<State> st,
                                      ClusterCall call) {
  std::shared_ptr<Session> ended;
  LockService::Guard released;
  ReloadReport r = node_report(*st, call);
  r.metadata["phase"] = call.rollback ? "rollback" : "finish";
  {
    absl::MutexLock lock(&st->mu);
    auto it = st->sessions.find(call.reload_id);
    if (it == st->sessions.end()) {
      r.metadata["ended"] = "no session";  // the lock was never taken here, or already released
    } else if (it->second->busy) {
      released = cancel_busy(*it->second, call.rollback);
      r.metadata["ended"] =
          released.held() ? "now (the running prepare is discarded)" : "after the running step";
    } else {
      it->second->rollback_on_end = call.rollback;
      ended = take_session(*st, call.reload_id, it->second.get());
    }
  }
  released.release();
  if (!ended || !call.rollback) {
    end_session(*st, std::move(ended), &r);  // no rollback: nothing blocks
    if (r.metadata.count("ended") == 0) r.metadata["ended"] = "now";
    r.finish();
    return r;
  }
  auto promise = self->make_response_promise<ReloadReport>();
  self->spawn<caf::detached>([st, ended, r, promise](caf::blocking_actor*) mutable {
    end_session(*st, std::move(ended), &r);
    r.metadata["ended"] = "now";
    r.finish();
    promise.deliver(std::move(r));
  });
  return promise;
}

caf::behavior agent_behaviour(caf::event_based_actor* self, std::shared_ptr<State> st) {
  self->set_down_handler([st](caf::down_msg& dm) { on_down(*st, dm.source); });
  return {
      [self, st](cluster_hello_atom, const std::string& name, const std::string& address,
                 const caf::actor& peer) -> caf::result<std::string> {
        if (name == st->node_name) return caf::sec::invalid_argument;
        add_member(self, *st, name, address, peer);
        return st->node_name;
      },
      [self, st](cluster_join_atom, const std::string& name, const std::string& address,
                 const caf::actor& peer) {
        add_member(self, *st, name, address, peer);
        return true;
      },
      [st](cluster_members_atom) {
        std::vector<std::string> out{absl::StrCat(st->node_name, "=", st->address)};
        absl::MutexLock lock(&st->mu);
        for (const auto& [name, m] : st->members) out.push_back(absl::StrCat(name, "=", m.address));
        return out;
      },
      [st](cluster_modules_atom) { return local_modules(*st->rt); },
      // A remote CAF program's reload on this node (control_plane/remote_reload.cc): the same
      // typed request the control plane sends, answered by this node's reload service.
      [self, st](reload_atom, ReloadRequest& req) {
        return self->delegate(st->rt->reload_service(), reload_atom::value, std::move(req));
      },
      [self, st](cluster_lock_atom, ClusterCall& call) {
        return lock_step(self, st, std::move(call));
      },
      [self, st](cluster_prepare_atom, ClusterCall& call) {
        return run_step(self, st, std::move(call), Step::kPrepare);
      },
      [self, st](cluster_commit_atom, ClusterCall& call) {
        return run_step(self, st, std::move(call), Step::kCommit);
      },
      [self, st](cluster_finish_atom, ClusterCall& call) {
        return finish_step(self, st, std::move(call));
      },
  };
}

// One node of a cluster reload, as the coordinator tracks it.
struct Participant {
  std::string name;
  caf::actor agent;
  uint64_t token = 0;
  bool locked = false;
  bool failed = false;
  bool changed = false;    // prepared a new version
  bool committed = false;  // its commit succeeded
  ReloadReport report;
};

void absorb(Participant& p, ReloadReport r) {
  for (auto& [k, v] : r.metadata) p.report.metadata[k] = v;
  for (auto& x : r.reloaded) p.report.reloaded.push_back(x);
  for (auto& x : r.skipped) p.report.skipped.push_back(x);
  for (auto& x : r.errors) p.report.errors.push_back(x);
  r.finish();
  if (r.status == ReloadStatus::kError) p.failed = true;
}

// Sends `atom` with each participant's call to every selected participant at once, then collects
// the answers; a node that does not answer by `deadline` is marked failed.
template <class Atom, class Select, class MakeCall>
void ask_all(caf::scoped_actor& self, caf::actor_system& sys, std::vector<Participant>& nodes,
             std::chrono::milliseconds deadline, Atom atom, const char* step, Select select,
             MakeCall make_call) {
  using Handle = decltype(self->request(caf::actor{}, deadline, atom, ClusterCall{}));
  std::vector<std::pair<Participant*, Handle>> pending;
  for (Participant& p : nodes) {
    if (select(p)) pending.emplace_back(&p, self->request(p.agent, deadline, atom, make_call(p)));
  }
  for (auto& [p, handle] : pending) {
    handle.receive([&, p = p](ReloadReport& r) { absorb(*p, std::move(r)); },
                   [&, p = p](caf::error& e) {
                     p->failed = true;
                     p->report.errors.push_back(
                         {p->name,
                          ReloadError::kTimeout,
                          absl::StrCat("node ", p->name, " did not answer ", step, " within ",
                                       deadline.count(), " ms: ", sys.render(e)),
                          {}});
                   });
  }
}

std::pair<std::string, uint16_t> split_address(const std::string& address) {
  std::vector<std::string> parts = absl::StrSplit(address, absl::MaxSplits(':', 1));
  uint32_t port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port == 0 || port > 65535) {
    return {"", 0};
  }
  return {parts[0], static_cast<uint16_t>(port)};
}

}  // namespace

Cluster::Cluster(Runtime& runtime, Options options)
    : runtime_(runtime), options_(std::move(options)), state_(std::make_shared<State>()) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::start(Runtime& runtime, Options options) {
  if (options.node_name.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "a cluster node needs a name");
  }
  if (!runtime.options().load_middleman) {
    return reload_status(ReloadError::kInvalidArgument,
                         "the runtime was created without load_middleman (caf::io)");
  }
  for (const std::string& peer : options.peers) {
    if (split_address(peer).second == 0) {
      return reload_status(ReloadError::kInvalidArgument,
                           absl::StrCat("bad peer address '", peer, "' (want host:port)"));
    }
  }
  std::unique_ptr<Cluster> c(new Cluster(runtime, std::move(options)));
  c->state_->rt = &runtime;
  c->state_->node_name = c->options_.node_name;
  c->agent_ = runtime.system().spawn(agent_behaviour, c->state_);
  if (c->options_.port > 0) {
    auto port = runtime.system().middleman().publish(
        c->agent_, static_cast<uint16_t>(c->options_.port), c->options_.bind.c_str(), true);
    if (!port) {
      caf::anon_send_exit(c->agent_, caf::exit_reason::user_shutdown);
      return reload_status(
          ReloadError::kIoError,
          absl::StrCat("cannot publish the cluster agent on ", c->options_.bind, ":",
                       c->options_.port, ": ", runtime.system().render(port.error())));
    }
    c->port_ = *port;
    c->state_->address = absl::StrCat(c->options_.bind, ":", c->port_);
  }
  if (!c->options_.peers.empty()) c->connector_ = std::thread([p = c.get()] { p->connect_loop(); });
  return c;
}

Cluster::~Cluster() {
  stop_.Notify();
  if (connector_.joinable()) connector_.join();
  caf::anon_send_exit(agent_, caf::exit_reason::user_shutdown);
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    absl::MutexLock lock(&state_->mu);
    sessions.swap(state_->sessions);
    state_->members.clear();
  }
  for (auto& [id, s] : sessions) s->guard.release();
}

void Cluster::connect_loop() {
  struct Peer {
    std::string address;
    std::string host;
    uint16_t port;
    absl::Duration backoff;
    absl::Time next_try;
  };
  std::vector<Peer> peers;
  for (const std::string& a : options_.peers) {
    auto [host, port] = split_address(a);
    peers.push_back({a, host, port, options_.retry_initial, absl::InfinitePast()});
  }
  caf::io::middleman& mm = runtime_.system().middleman();
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
        continue;
      }
      if (absl::Now() < p.next_try) {
        wake = std::min(wake, p.next_try);
        continue;
      }
      bool joined = false;
      if (auto remote = mm.remote_actor(p.host, p.port)) {
        caf::scoped_actor self{runtime_.system()};
        self->request(*remote, std::chrono::seconds(10), cluster_hello_atom::value,
                      options_.node_name, state_->address, agent_)
            .receive(
                [&](std::string& name) {
                  self->request(agent_, std::chrono::seconds(10), cluster_join_atom::value, name,
                                p.address, *remote)
                      .receive([&](bool) { joined = true; }, [](caf::error&) {});
                },
                [](caf::error&) {});
      }
      if (joined) {
        p.backoff = options_.retry_initial;
        continue;
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

std::vector<ClusterNodeModules> Cluster::list_modules(absl::Duration deadline) {
  std::vector<std::pair<std::string, caf::actor>> peers;
  {
    absl::MutexLock lock(&state_->mu);
    for (const auto& [name, m] : state_->members) peers.emplace_back(name, m.agent);
  }
  std::vector<ClusterNodeModules> out;
  out.push_back({options_.node_name, "", local_modules(runtime_)});
  caf::scoped_actor self{runtime_.system()};
  const auto timeout = absl::ToChronoMilliseconds(deadline);
  using Handle = decltype(self->request(caf::actor{}, timeout, cluster_modules_atom::value));
  std::vector<Handle> pending;
  for (const auto& [name, agent] : peers) {  // all asked at once, then the answers collected
    pending.push_back(self->request(agent, timeout, cluster_modules_atom::value));
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    ClusterNodeModules node{peers[i].first, "", {}};
    pending[i].receive(
        [&](std::vector<ClusterModule>& modules) { node.modules = std::move(modules); },
        [&](caf::error& e) {
          node.error =
              absl::StrCat("no answer from node ", node.node, ": ", runtime_.system().render(e));
        });
    out.push_back(std::move(node));
  }
  return out;
}

ReloadReport Cluster::reload(ClusterCall call) {
  ReloadReport report = ReloadReport::begin(ReloadKind::kSystem, call.target);
  report.metadata["cluster"] = "true";
  report.metadata["coordinator"] = options_.node_name;
  report.metadata["kind"] = call.kind;
  if (call.kind != "module" && call.kind != "extension") {
    report.add_error(call.target,
                     reload_status(ReloadError::kInvalidArgument,
                                   "a cluster reload takes scope module or extension"));
    report.finish();
    return report;
  }
  // An extension under this node's root is named relative to it: each node compiles its own copy
  // under its own root.
  if (call.kind == "extension" && !runtime_.options().extension_dirs.empty()) {
    const std::string root = runtime_.options().extension_dirs.front() + "/";
    if (call.target.compare(0, root.size(), root) == 0)
      call.target = call.target.substr(root.size());
  }
  call.coordinator = options_.node_name;
  call.reload_id =
      absl::StrCat(options_.node_name, "/", ++reloads_, "/", absl::ToUnixMicros(absl::Now()));
  report.metadata["reload_id"] = call.reload_id;

  // Every member, ordered by name: the global lock order.
  std::vector<Participant> nodes;
  nodes.push_back({options_.node_name, agent_});
  {
    absl::MutexLock lock(&state_->mu);
    for (const auto& [name, m] : state_->members) nodes.push_back({name, m.agent});
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const Participant& a, const Participant& b) { return a.name < b.name; });
  std::vector<std::string> names;
  for (Participant& p : nodes) {
    names.push_back(p.name);
    p.report = ReloadReport::begin(
        call.kind == "extension" ? ReloadKind::kExtension : ReloadKind::kModule, call.target);
    p.report.metadata["node"] = p.name;
  }
  report.metadata["nodes"] = absl::StrJoin(names, ",");
  auto with_token = [&call](const Participant& p) {
    ClusterCall c = call;
    c.token = p.token;
    return c;
  };
  auto failed_names = [&nodes] {
    std::vector<std::string> out;
    for (const Participant& p : nodes) {
      if (p.failed) out.push_back(p.name);
    }
    return absl::StrJoin(out, ",");
  };

  caf::scoped_actor self{runtime_.system()};
  caf::actor_system& sys = runtime_.system();
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };

  // The global lock: each node's local lock, one node after the other in name order. Two
  // coordinators racing both start at the first node, so one of them waits there: no deadlock.
  std::string outcome;
  for (Participant& p : nodes) {
    ReloadReport got;
    bool answered = false;
    self->request(p.agent, ms(std::chrono::milliseconds(call.lock_timeout_ms) + kNetworkSlack),
                  cluster_lock_atom::value, call)
        .receive(
            [&](ReloadReport& r) {
              got = std::move(r);
              answered = true;
            },
            [&](caf::error& e) {
              p.report.errors.push_back(
                  {p.name,
                   ReloadError::kReloadInProgress,
                   absl::StrCat("no lock answer from node ", p.name, ": ", sys.render(e)),
                   {}});
            });
    if (answered) {
      const std::string token = got.metadata["lock_token"];
      uint64_t value = 0;
      absorb(p, std::move(got));
      if (!p.failed && absl::SimpleAtoi(token, &value) && value > 0) {
        p.token = value;
        p.locked = true;
        continue;
      }
    }
    p.failed = true;
    outcome = "not_started";
    break;
  }

  if (outcome.empty()) {
    // Phase 1: every node prepares its own copy; nothing runs the new code yet.
    const auto prepare_deadline =
        call.kind == "extension" ? ms(kCompileDeadline) : ms(std::chrono::seconds(30));
    ask_all(
        self, sys, nodes, prepare_deadline, cluster_prepare_atom::value, "prepare",
        [](const Participant&) { return true; }, with_token);
    bool all_prepared = true;
    for (Participant& p : nodes) {
      all_prepared &= !p.failed;
      p.changed = p.report.metadata["prepared"] == "true";
    }
    if (!all_prepared) {
      outcome = "discarded";
    } else {
      // Phase 2: every node that prepared a new version swaps its actors.
      const auto commit_deadline = swap_deadline(call);
      ask_all(
          self, sys, nodes, commit_deadline, cluster_commit_atom::value, "commit",
          [](const Participant& p) { return p.changed; }, with_token);
      bool all_committed = true;
      for (Participant& p : nodes) {
        p.committed = p.changed && !p.failed;
        all_committed &= !p.failed;
      }
      outcome = all_committed ? "committed" : "rolled_back";
    }
  }

  // End every session: roll committed nodes back if the reload as a whole failed; drop what was
  // prepared; release every node's lock (a node that failed in its lock step is asked too, so
  // that a lock it takes late is given back).
  const bool rollback = outcome == "rolled_back";
  ClusterCall finish = call;
  finish.rollback = rollback;
  ask_all(
      self, sys, nodes, swap_deadline(call), cluster_finish_atom::value, "finish",
      [](const Participant& p) { return p.locked || p.failed; },
      [&finish](const Participant& p) {
        ClusterCall c = finish;
        c.token = p.token;
        return c;
      });
  for (Participant& p : nodes) {
    std::string step = "not attempted";
    if (p.committed) {
      step = "committed";
      if (rollback) {
        const bool undone = p.report.metadata["rolled_back"] == "true";
        step = undone ? "rolled_back" : "rollback_failed";
        auto& rl = p.report.reloaded;
        if (undone)
          rl.erase(std::remove(rl.begin(), rl.end(), p.report.metadata["module"]), rl.end());
      }
    } else if (p.failed) {
      step = "failed";
    } else if (p.locked && outcome == "committed") {
      step = "unchanged";
    } else if (p.locked) {
      step = "discarded";
    }
    p.report.metadata["outcome"] = step;
    if (!p.failed && step == "not attempted") {
      p.report.skipped.push_back({call.target, ReloadError::kRolledBack,
                                  "not attempted: the cluster lock was not acquired"});
    }
    p.report.finish();
    report.results.push_back(std::move(p.report));
  }
  report.metadata["outcome"] = outcome;
  const std::string failed = failed_names();
  if (!failed.empty()) report.metadata["failed_nodes"] = failed;
  report.finish();
  return report;
}

}  // namespace lemon
