// NodeService's one-actor methods: actors.get_state, actors.replace_state, actors.suspend,
// actors.resume, actors.statistics.
#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "caf/scoped_actor.hpp"
#include "control_plane/actor_state.h"
#include "control_plane/node_service.h"
#include "core/reload_error.h"
#include "google/protobuf/util/json_util.h"

namespace lemon {
namespace {

std::string rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<ActorEntry> NodeService::find_actor(const std::string& name) const {
  const ActorRegistry& registry = *deps_.registry;
  caf::actor_id id = 0;
  if (name.size() > 1 && name[0] == '#' && absl::SimpleAtoi(name.substr(1), &id) && id > 0) {
    ActorRegistry::Page page = registry.page(id - 1, 1, "");
    if (!page.actors.empty() && page.actors[0].handle.id() == id) return page.actors[0];
  } else if (caf::actor handle = registry.whereis(name)) {
    ActorRegistry::Page page = registry.page(handle.id() - 1, 1, "");
    if (!page.actors.empty() && page.actors[0].handle == handle) return page.actors[0];
  }
  return reload_status(ReloadError::kNotFound, absl::StrCat("no actor ", name));
}

absl::StatusOr<ActorStatus> NodeService::status_of(const ActorEntry& actor) const {
  caf::scoped_actor self{*deps_.system};
  absl::StatusOr<ActorStatus> out = reload_status(
      ReloadError::kInternal, absl::StrCat("actor #", actor.handle.id(), " did not answer within ",
                                           absl::FormatDuration(actors_page_deadline_)));
  self->request(actor.handle, absl::ToChronoMilliseconds(actors_page_deadline_),
                sys_status_atom::value)
      .receive([&](ActorStatus& s) { out = std::move(s); },
               [&](caf::error&) {
                 if (deps_.registry->await_gone(actor.handle.id(), absl::ZeroDuration())) {
                   out = reload_status(ReloadError::kNotFound,
                                       absl::StrCat("actor #", actor.handle.id(), " exited"));
                 }
               });
  return out;
}

absl::StatusOr<NodeService::FoundActor> NodeService::find_with_status(
    const std::string& name) const {
  absl::StatusOr<ActorEntry> actor = find_actor(name);
  if (!actor.ok()) return actor.status();
  absl::StatusOr<ActorStatus> status = status_of(*actor);
  if (!status.ok()) return status.status();
  return FoundActor{*std::move(actor), *std::move(status)};
}

absl::StatusOr<rpc::ActorsStateResult> NodeService::state_result(const std::string& name,
                                                                 const ActorStatus& status) const {
  absl::StatusOr<std::string> json = state_json(*deps_.code_server, status);
  if (!json.ok()) return json.status();
  rpc::ActorsStateResult out;
  out.set_name(name);
  out.set_version(status.version);
  out.set_state_type(status.state_type);
  if (!google::protobuf::util::JsonStringToMessage(*json, out.mutable_state()).ok()) {
    return reload_status(ReloadError::kInternal,
                         absl::StrCat("the state of ", name, " is not a JSON object: ", *json));
  }
  return out;
}

absl::StatusOr<rpc::ActorsStateResult> NodeService::get_state(const rpc::ActorsGetStateParams& p) {
  absl::StatusOr<FoundActor> found = find_with_status(p.name());
  if (!found.ok()) return found.status();
  return state_result(p.name(), found->status);
}

absl::StatusOr<rpc::ActorsStateResult> NodeService::replace_state(
    const rpc::ActorsReplaceStateParams& p) {
  absl::StatusOr<FoundActor> found = find_with_status(p.name());
  if (!found.ok()) return found.status();
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(p.state(), &json).ok()) {
    return reload_status(ReloadError::kInvalidArgument, "state is not a JSON object");
  }
  absl::StatusOr<std::string> bytes = state_bytes(*deps_.code_server, found->status, json);
  if (!bytes.ok()) return bytes.status();
  // The actor checks, while held, that it still runs the version whose schema read the state.
  if (absl::Status s =
          deps_.maintenance->replace_state(found->entry.handle, found->status.version, *bytes);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<ActorStatus> replaced = status_of(found->entry);
  if (!replaced.ok()) return replaced.status();
  return state_result(p.name(), *replaced);
}

absl::StatusOr<rpc::ActorsSuspendResult> NodeService::suspend(const rpc::ActorsSuspendParams& p) {
  absl::StatusOr<ActorEntry> actor = find_actor(p.name());
  if (!actor.ok()) return actor.status();
  const absl::Duration timeout =
      p.timeout_ms() > 0 ? absl::Milliseconds(p.timeout_ms()) : ActorMaintenance::kDefaultSuspend;
  const absl::Time resumes_at = absl::Now() + timeout;
  if (absl::Status s = deps_.maintenance->suspend(actor->handle, timeout); !s.ok()) return s;
  rpc::ActorsSuspendResult out;
  out.set_name(p.name());
  out.set_resumes_at(rfc3339(resumes_at));
  return out;
}

absl::StatusOr<rpc::ActorsResumeResult> NodeService::resume(const rpc::ActorsResumeParams& p) {
  absl::StatusOr<ActorEntry> actor = find_actor(p.name());
  if (!actor.ok()) return actor.status();
  rpc::ActorsResumeResult out;
  out.set_name(p.name());
  out.set_was_suspended(deps_.maintenance->resume(actor->handle));
  return out;
}

absl::StatusOr<rpc::ActorsStatisticsResult> NodeService::statistics(
    const rpc::ActorsStatisticsParams& p) {
  absl::StatusOr<FoundActor> found = find_with_status(p.name());
  if (!found.ok()) return found.status();
  const ActorStatus& status = found->status;
  const std::string& registered = found->entry.name;
  rpc::ActorsStatisticsResult out;
  out.set_name(p.name());
  out.set_module(status.module);
  out.set_version(status.version);
  out.set_suspended(status.suspended);
  out.set_messages_handled(status.messages_handled);
  out.set_mailbox_size(static_cast<uint32_t>(status.mailbox_size));
  out.set_mailbox_high_water(status.mailbox_high_water);
  out.set_restarts(registered.empty() ? 0 : deps_.registry->restarts(registered));
  if (status.last_reload_unix_ms > 0) {
    out.set_last_reload(rfc3339(absl::FromUnixMillis(status.last_reload_unix_ms)));
  }
  return out;
}

}  // namespace lemon
