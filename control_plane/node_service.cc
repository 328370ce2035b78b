#include "control_plane/node_service.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "actors/supervisor.h"
#include "actors/system_messages.h"
#include "caf/scoped_actor.hpp"
#include "control_plane/actor_state.h"
#include "control_plane/report_proto.h"
#include "core/reload_error.h"
#include "nlohmann/json.hpp"
#include "node/reload_service.h"

namespace lemon {
namespace {

// Each actor's status, asked of all of `actors` at once and waited for until `deadline` has
// passed; an actor that has not answered by then is missing from the result. Plain sends, not
// requests: each answer comes back as an ordinary message, so a page of thousands costs no
// per-request bookkeeping in the asking actor (CAF 0.17 searches an actor's pending responses
// linearly) and no timer per actor.
std::unordered_map<caf::actor_id, ActorStatus> ask_statuses(caf::actor_system& sys,
                                                            const std::vector<ActorEntry>& actors,
                                                            absl::Duration deadline) {
  caf::scoped_actor self{sys};
  for (const ActorEntry& e : actors) self->send(e.handle, sys_status_atom::value);
  std::unordered_map<caf::actor_id, ActorStatus> out;
  const absl::Time end = absl::Now() + deadline;
  bool timed_out = false;
  while (out.size() < actors.size() && !timed_out) {
    const absl::Duration left = std::max(end - absl::Now(), absl::ZeroDuration());
    self->receive([&](ActorStatus& s) { out.emplace(s.id, std::move(s)); },
                  caf::after(absl::ToChronoMilliseconds(left)) >> [&] { timed_out = true; });
  }
  return out;
}

// What actors.list shows of an actor's state: its format_status() JSON, or, for a Protobuf state,
// that state as JSON through the schema of the version the actor runs.
std::string state_summary(const CodeServer& cs, const ActorStatus& s) {
  absl::StatusOr<std::string> json = state_json(cs, s);
  if (json.ok()) return *json;
  return nlohmann::json{{"state_type", s.state_type},
                        {"state_error", std::string(json.status().message())}}
      .dump();
}

// `sups` (by actor id) depth first: each root, then what it started, siblings by actor id. A
// parent starts after its children (it is spawned once they run), so actor ids alone do not say.
std::vector<SupervisorEntry> tree_order(const std::vector<SupervisorEntry>& sups) {
  std::set<std::string> names;
  for (const SupervisorEntry& e : sups) names.insert(e.name);
  std::vector<SupervisorEntry> out;
  out.reserve(sups.size());
  std::vector<bool> taken(sups.size(), false);
  std::function<void(const std::string&)> below = [&](const std::string& parent) {
    for (std::size_t i = 0; i < sups.size(); ++i) {
      if (taken[i] || sups[i].parent != parent) continue;
      taken[i] = true;
      out.push_back(sups[i]);
      below(sups[i].name);
    }
  };
  for (std::size_t i = 0; i < sups.size(); ++i) {
    // A root, or one whose parent is stopping and already gone.
    if (taken[i] || (!sups[i].parent.empty() && names.count(sups[i].parent) > 0)) continue;
    taken[i] = true;
    out.push_back(sups[i]);
    below(sups[i].name);
  }
  for (std::size_t i = 0; i < sups.size(); ++i) {  // left over only if names repeat in a cycle
    if (!taken[i]) out.push_back(sups[i]);
  }
  return out;
}

// `m` as modules.list shows it; `node` empty for this node's own list.
void add_module_info(const ClusterModule& m, const std::string& node, rpc::ModulesListResult& out) {
  rpc::ModuleInfo* info = out.add_modules();
  info->set_node(node);
  info->set_name(m.name);
  info->set_current_version(m.current_version);
  info->set_old_version(m.old_version);
  info->set_checksum(m.checksum);
  info->set_actors_current(m.actors_current);
  info->set_actors_old(m.actors_old);
  info->set_path(m.path);
}

}  // namespace

ReloadRequest to_request(const rpc::SystemReloadParams& p) {
  ReloadRequest req;
  const ReloadRequest defaults;
  req.force = p.force();
  req.timeout_ms = p.timeout_ms() > 0 ? p.timeout_ms() : defaults.timeout_ms;
  req.lock_timeout_ms = p.lock_timeout_ms() > 0 ? p.lock_timeout_ms() : defaults.lock_timeout_ms;
  req.owner = "control plane";
  req.extra = p.extra();
  req.dry_run = p.dry_run();
  req.sample = p.sample();
  req.permanent = !p.has_permanent() || p.permanent();
  const bool lists =
      p.modules_size() + p.apps_size() + p.extensions_size() + p.code_change_size() > 0;
  if (p.scope() == "module") {
    req.op = ReloadOp::kModule;
    req.target = p.module();
  } else if (p.scope() == "app") {
    req.op = ReloadOp::kApp;
    req.target = p.app();
  } else if (p.scope() == "extension") {
    req.op = ReloadOp::kExtension;
    req.target = p.path();
  } else if (lists) {
    req.op = ReloadOp::kSelection;
    req.target = "selection";
    ReloadSelection& sel = req.selection;
    sel.modules.assign(p.modules().begin(), p.modules().end());
    sel.apps.assign(p.apps().begin(), p.apps().end());
    sel.extensions.assign(p.extensions().begin(), p.extensions().end());
    for (const rpc::CodeChangeTarget& t : p.code_change()) {
      sel.code_changes.push_back({t.actor(), t.extra()});
    }
  } else {
    req.op = ReloadOp::kSystem;
    req.target = "all";
  }
  return req;
}

NodeService::NodeService(Deps deps, std::string node_name)
    : deps_(std::move(deps)), node_name_(std::move(node_name)) {}

absl::StatusOr<rpc::ReloadReport> NodeService::reload_local(const rpc::SystemReloadParams& params) {
  ReloadRequest req = to_request(params);
  req.requested_by = caller_;
  caf::scoped_actor self{*deps_.system};
  absl::StatusOr<rpc::ReloadReport> out =
      reload_status(ReloadError::kInternal, "no answer from the reload service");
  // The service enforces the reload's own deadlines; this one only guards against a lost reply.
  // In 64 bits: the sum of two uint32 deadlines must not wrap to an instant timeout.
  const auto deadline = std::chrono::milliseconds(uint64_t{req.lock_timeout_ms} +
                                                  uint64_t{req.timeout_ms} * 4 + 600000);
  self->request(deps_.reload_service, deadline, reload_atom::value, req)
      .receive([&](ReloadReport& r) { out = reload_outcome(r); },
               [&](caf::error& e) {
                 out = reload_status(ReloadError::kInternal,
                                     absl::StrCat("reload service: ", deps_.system->render(e)));
               });
  return out;
}

absl::StatusOr<rpc::ReloadReport> NodeService::reload(const rpc::SystemReloadParams& params) {
  if (!params.cluster()) return reload_local(params);
  if (!cluster_reload_) {
    return reload_status(ReloadError::kInvalidArgument,
                         "cluster: true, but this node was started without --peers/--cluster_port");
  }
  return reload_outcome(cluster_reload_(to_request(params)));
}

absl::StatusOr<rpc::ModulesListResult> NodeService::list_modules(
    const rpc::ModulesListParams& params) {
  rpc::ModulesListResult out;
  if (params.cluster()) {
    if (!cluster_modules_) {
      return reload_status(
          ReloadError::kInvalidArgument,
          "cluster: true, but this node was started without --peers/--cluster_port");
    }
    std::vector<ClusterNodeModules> nodes = cluster_modules_();
    std::sort(
        nodes.begin(), nodes.end(),
        [](const ClusterNodeModules& a, const ClusterNodeModules& b) { return a.node < b.node; });
    std::map<std::string, std::set<std::string>> checksums;  // module -> current checksums seen
    std::map<std::string, size_t> present;                   // module -> nodes that load it
    size_t answered = 0;
    for (const ClusterNodeModules& n : nodes) {
      out.add_nodes(n.node);
      if (!n.error.empty()) {
        rpc::NodeProblem* p = out.add_unreachable();
        p->set_node(n.node);
        p->set_message(n.error);
        continue;
      }
      ++answered;
      for (const ClusterModule& m : n.modules) {
        add_module_info(m, n.node, out);
        checksums[m.name].insert(m.checksum);
        ++present[m.name];
      }
    }
    for (const auto& [name, sums] : checksums) {
      if (sums.size() > 1 || present[name] != answered) out.add_divergent(name);
    }
    return out;
  }
  for (const ClusterModule& m : local_modules(*deps_.code_server)) add_module_info(m, "", out);
  return out;
}

absl::StatusOr<rpc::ReloadReport> NodeService::purge_module(const rpc::ModulesPurgeParams& params) {
  if (params.module().empty()) {
    return reload_status(ReloadError::kInvalidArgument, "modules.purge needs `module`");
  }
  ReloadRequest req = params.hard() ? ReloadRequest::hard_purge(params.module())
                                    : ReloadRequest::soft_purge(params.module());
  req.owner = "control plane";
  caf::scoped_actor self{*deps_.system};
  absl::StatusOr<rpc::ReloadReport> out =
      reload_status(ReloadError::kInternal, "no answer from the reload service");
  self->request(deps_.reload_service, std::chrono::minutes(5), reload_atom::value, req)
      .receive([&](ReloadReport& r) { out = reload_outcome(r); },
               [&](caf::error& e) {
                 out = reload_status(ReloadError::kInternal, deps_.system->render(e));
               });
  return out;
}

absl::StatusOr<rpc::ActorsListResult> NodeService::list_actors(
    const rpc::ActorsListParams& params) {
  caf::actor_id after = 0;
  if (!params.cursor().empty() && !absl::SimpleAtoi(params.cursor(), &after)) {
    return reload_status(
        ReloadError::kInvalidArgument,
        absl::StrCat("cursor \"", params.cursor(), "\" is not a next_cursor this node returned"));
  }
  const ActorRegistry::Page page = deps_.registry->page(after, params.limit(), params.module());
  std::unordered_map<caf::actor_id, ActorStatus> statuses =
      ask_statuses(*deps_.system, page.actors, actors_page_deadline_);
  rpc::ActorsListResult out;
  for (const ActorEntry& e : page.actors) {
    auto s = statuses.find(e.handle.id());
    // No answer from an actor that has exited meanwhile: it is no longer listed.
    if (s == statuses.end() && deps_.registry->await_gone(e.handle.id(), absl::ZeroDuration())) {
      continue;
    }
    rpc::ActorInfo* a = out.add_actors();
    a->set_name(e.name.empty() ? absl::StrCat("#", e.handle.id()) : e.name);
    a->set_module(e.module);
    a->set_parent(e.parent);
    if (s == statuses.end()) {
      a->set_status("unresponsive");
      continue;
    }
    a->set_version(s->second.version);
    a->set_status(s->second.suspended ? "suspended" : "running");
    a->set_mailbox_size(static_cast<uint32_t>(s->second.mailbox_size));
    a->set_state_summary(state_summary(*deps_.code_server, s->second));
  }
  if (page.more) out.set_next_cursor(std::to_string(page.actors.back().handle.id()));
  return out;
}

absl::StatusOr<rpc::SupervisorsListResult> NodeService::list_supervisors(
    const rpc::SupervisorsListParams&) {
  rpc::SupervisorsListResult out;
  caf::scoped_actor self{*deps_.system};
  // One deadline for the whole list: a supervisor busy restarting children answers late.
  const absl::Time end = absl::Now() + actors_page_deadline_;
  for (const SupervisorEntry& e : tree_order(deps_.registry->supervisors())) {
    rpc::SupervisorInfo* info = out.add_supervisors();
    info->set_name(e.name);
    info->set_parent(e.parent);
    info->set_strategy(e.strategy);
    info->set_intensity(e.intensity);
    info->set_period_ms(absl::ToInt64Milliseconds(e.period));
    info->set_status("unresponsive");
    const absl::Duration left = std::max(end - absl::Now(), absl::ZeroDuration());
    self->request(e.handle, absl::ToChronoMilliseconds(left), sup_which_atom::value)
        .receive(
            [&](std::vector<SupervisedChild>& children) {
              info->set_status("running");
              for (const SupervisedChild& c : children) {
                rpc::SupervisorChild* child = info->add_children();
                child->set_name(c.name);
                child->set_supervisor(c.supervisor);
                child->set_running(static_cast<bool>(c.handle));
              }
            },
            [](caf::error&) {});
  }
  return out;
}

absl::StatusOr<rpc::SystemHealthResult> NodeService::health(const rpc::SystemHealthParams&) {
  rpc::SystemHealthResult out;
  out.set_status("ok");
  out.set_node(node_name_);
  out.set_uptime_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  out.set_modules(static_cast<int32_t>(deps_.code_server->list().size()));
  out.set_actors(static_cast<int32_t>(deps_.registry->list().size()));
  out.set_reload_in_progress(deps_.lock->holder().has_value());
  if (cluster_view_) {
    ClusterView view = cluster_view_();
    out.set_clustered(true);
    out.set_cluster_address(view.address);
    for (const std::string& p : view.peers) out.add_peers(p);
    for (const std::string& p : view.down_peers) out.add_down_peers(p);
    for (const VersionSkew& s : view.version_skew) {
      rpc::VersionSkew* v = out.add_version_skew();
      v->set_module(s.module);
      v->set_local_version(s.local_version);
      v->set_local_checksum(s.local_checksum);
      v->set_cluster_version(s.cluster_version);
      v->set_cluster_checksum(s.cluster_checksum);
    }
    if (!view.version_skew.empty()) out.set_status("degraded");
  }
  return out;
}

absl::StatusOr<rpc::MakePermanentResult> NodeService::make_permanent(
    const rpc::ReleaseTargetParams& params) {
  std::vector<std::string> modules = {params.module()};
  if (!params.app().empty()) {
    absl::StatusOr<AppManifest> apps = deps_.reloader->apps();
    if (!apps.ok()) return apps.status();
    const AppSpec* app = apps->find(params.app());
    if (app == nullptr) return reload_status(ReloadError::kNotFound, "no app " + params.app());
    modules = app->modules;
  }
  if (absl::Status s = deps_.reloader->make_permanent(modules); !s.ok()) return s;
  rpc::MakePermanentResult out;
  for (const std::string& m : modules) out.add_modules(m);
  return out;
}

absl::StatusOr<rpc::ReloadReport> NodeService::rollback(const rpc::ReleaseTargetParams& params) {
  ReloadRequest req = params.app().empty() ? ReloadRequest::rollback(params.module())
                                           : ReloadRequest::rollback_app(params.app());
  if (params.timeout_ms() > 0) req.timeout_ms = params.timeout_ms();
  req.owner = "control plane";
  req.requested_by = caller_;
  return reload_outcome(deps_.reloader->run(req));  // a failed rollback is an error
}

absl::StatusOr<rpc::ReloadHistoryResult> NodeService::reload_history(
    const rpc::ReloadHistoryParams& params) {
  ReloadHistory* history = deps_.reloader->history();
  if (history == nullptr) {
    return reload_status(ReloadError::kInvalidArgument, "this node keeps no reload history");
  }
  rpc::ReloadHistoryResult out;
  for (const HistoryEntry& e : history->last(params.limit(), params.module())) {
    rpc::ReloadHistoryEntry* p = out.add_entries();
    p->set_time_unix_ms(e.time_unix_ms);
    p->set_requested_by(e.requested_by);
    p->set_op(e.op);
    p->set_target(e.target);
    for (const auto& [k, v] : e.params) (*p->mutable_params())[k] = v;
    p->set_status(e.status);
    for (const std::string& m : e.modules) p->add_modules(m);
    p->set_error(e.error);
  }
  return out;
}

}  // namespace lemon
