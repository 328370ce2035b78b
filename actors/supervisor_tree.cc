#include "actors/supervisor_tree.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "actors/reloadable_actor.h"
#include "caf/actor_system.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

namespace lemon {
namespace {

// How long a restart waits for the registry to drop a dead child's names. The child's cleanup is
// already running when its down message arrives, so this is normally no wait at all.
constexpr absl::Duration kUnregisterTimeout = absl::Seconds(10);

void collect_names(const SupervisorSpec& spec, std::vector<std::string>& names) {
  for (const ChildSpec& c : spec.children) {
    if (c.supervisor) {
      collect_names(*c.supervisor, names);
    } else if (!c.spawn.name.empty()) {
      names.push_back(c.spawn.name);
    }
  }
}

// Sends `xs` to supervisor `sup` and waits for its answer, a Status or StatusOr.
template <class Answer, class... Ts>
Answer ask_supervisor(caf::actor_system& sys, const caf::actor& sup, absl::Duration timeout,
                      Ts&&... xs) {
  if (!sup) return absl::InvalidArgumentError("no supervisor");
  Answer out = absl::UnknownError("no answer");
  caf::scoped_actor self{sys};
  self->request(sup, absl::ToChronoMilliseconds(timeout), std::forward<Ts>(xs)...)
      .receive([&](Answer& a) { out = std::move(a); },
               [&](caf::error& e) {
                 const std::string why = absl::StrCat("supervisor: ", sys.render(e));
                 if (e == caf::sec::request_timeout) {
                   out = absl::DeadlineExceededError(why);
                 } else {
                   out = absl::UnavailableError(why);
                 }
               });
  return out;
}

}  // namespace

ChildSpec supervisor_child(SupervisorSpec spec, Restart restart) {
  ChildSpec c;
  c.restart = restart;
  c.supervisor = std::make_shared<const SupervisorSpec>(std::move(spec));
  return c;
}

const std::string& child_name(const ChildSpec& child) {
  return child.supervisor ? child.supervisor->name : child.spawn.name;
}

absl::Status validate(const SupervisorSpec& spec) {
  auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("supervisor ", spec.name, ": ", why));
  };
  if (spec.intensity < 0) return invalid("negative intensity");
  if (spec.period <= absl::ZeroDuration()) return invalid("period must be > 0");
  if (spec.strategy == Strategy::kSimpleOneForOne &&
      (spec.children.size() != 1 || spec.children[0].supervisor)) {
    return invalid("simple_one_for_one needs exactly one child spec, a worker");
  }
  for (const ChildSpec& c : spec.children) {
    if (!c.supervisor) continue;
    if (absl::Status s = validate(*c.supervisor); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<caf::actor> spawn_child(caf::actor_system& sys,
                                       const std::shared_ptr<ActorRegistry>& registry,
                                       const CodeServer& code_server, const ChildSpec& child,
                                       const std::string& parent) {
  if (child.supervisor) {
    return spawn_nested_supervisor(sys, registry, code_server, *child.supervisor, parent);
  }
  SpawnSpec spawn = child.spawn;
  spawn.parent = parent;
  return spawn_reloadable(sys, registry, code_server, std::move(spawn));
}

absl::Status start_children(caf::actor_system& sys, const std::shared_ptr<ActorRegistry>& registry,
                            const CodeServer& code_server, const SupervisorSpec& spec,
                            std::vector<caf::actor>& started) {
  for (const ChildSpec& child : spec.children) {
    auto a = spawn_child(sys, registry, code_server, child, spec.name);
    if (!a.ok()) {
      for (std::size_t i = started.size(); i-- > 0;) {
        caf::anon_send_exit(started[i], caf::exit_reason::user_shutdown);
        await_child_gone(*registry, spec.children[i], started[i].id());
      }
      started.clear();
      return a.status();
    }
    started.push_back(std::move(*a));
  }
  return absl::OkStatus();
}

void await_child_gone(const ActorRegistry& registry, const ChildSpec& child, caf::actor_id id) {
  if (!child.supervisor) {
    registry.await_gone(id, kUnregisterTimeout);
    return;
  }
  std::vector<std::string> names;
  collect_names(*child.supervisor, names);
  const absl::Time deadline = absl::Now() + kUnregisterTimeout;
  for (const std::string& name : names) {
    registry.await_name_free(name, std::max(deadline - absl::Now(), absl::ZeroDuration()));
  }
}

absl::StatusOr<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                       std::string init_arg, std::string name,
                                       absl::Duration timeout) {
  return ask_supervisor<absl::StatusOr<caf::actor>>(sys, sup, timeout, sup_start_atom::value,
                                                    std::move(init_arg), std::move(name));
}

absl::Status terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& name,
                             absl::Duration timeout) {
  return ask_supervisor<absl::Status>(sys, sup, timeout, sup_terminate_atom::value, name);
}

absl::Status terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                             absl::Duration timeout) {
  return ask_supervisor<absl::Status>(sys, sup, timeout, sup_terminate_atom::value, child);
}

}  // namespace lemon
