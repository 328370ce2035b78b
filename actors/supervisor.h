// Supervisors: CAF actors that start reloadable actors, watch them and restart them when they
// exit, as OTP's supervisor does (strategies one_for_one, one_for_all, rest_for_one; restart
// types permanent, transient, temporary; restart intensity).
//
//   SupervisorSpec spec;
//   spec.name = "counters";
//   spec.strategy = Strategy::kOneForOne;
//   spec.children = {{{"counter", "", "counter-1", "0"}, Restart::kPermanent}};
//   caf::actor sup = spawn_supervisor(sys, registry, code_server, spec).value();
//   caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);  // stops the children, then itself
//
// A restarted child is spawned again with spawn_reloadable, so it runs the *current* version of
// its module (after a reload: the new one), under the same registered name. More than `intensity`
// restarts within `period` make the supervisor stop every child and exit with an error whose
// message starts with kMaxRestartIntensity. Children the supervisor stops itself never count as
// crashes. See docs/actors.md, "Supervisors".
#ifndef LEMON_ACTORS_SUPERVISOR_H_
#define LEMON_ACTORS_SUPERVISOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actors/registry.h"
#include "actors/reloadable_actor.h"
#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "core/code_server.h"

namespace lemon {

enum class Strategy {
  kOneForOne,   // restart the child that exited
  kOneForAll,   // stop all others (reverse start order), restart all (start order)
  kRestForOne,  // stop the children started after it (reverse order), restart it and them
};

enum class Restart {
  kPermanent,  // always restarted
  kTransient,  // restarted only after an abnormal exit (not normal, not user_shutdown)
  kTemporary,  // never restarted, not even when a sibling's restart stops it
};

struct ChildSpec {
  SpawnSpec spawn;
  Restart restart = Restart::kPermanent;
};

struct SupervisorSpec {
  std::string name;
  Strategy strategy = Strategy::kOneForOne;
  int intensity = 3;  // restarts allowed within `period`
  absl::Duration period = absl::Seconds(5);
  std::vector<ChildSpec> children;  // started in this order
};

// One child as `which_children` reports it; `handle` is invalid while it is not running.
struct SupervisedChild {
  std::string name;
  caf::actor handle;
};

// Supervisor messages (host-side only, never seen by modules):
//   (sup_which_atom) -> std::vector<SupervisedChild>   every child, in start order
//   (sup_watch_atom) -> void                           subscribes the sender to reports:
//   (sup_report_atom, std::string name, caf::actor)    sent to subscribers once the exit of child
//                                                      `name` has been handled: the new handle if
//                                                      it was restarted, an invalid one if not.
using sup_which_atom = caf::atom_constant<caf::atom("lsupwhich")>;
using sup_watch_atom = caf::atom_constant<caf::atom("lsupwatch")>;
using sup_report_atom = caf::atom_constant<caf::atom("lsupreport")>;

// How the exit error of a supervisor that gave up begins (OTP's reached_max_restart_intensity).
inline constexpr char kMaxRestartIntensity[] = "reached_max_restart_intensity";

// Starts the children of `spec` in order, then the supervisor that watches them. If a child fails
// to start, the ones already started are stopped and its error is returned (kInvalidArgument for
// a bad spec). Blocks its caller while the children start; `code_server` must outlive the
// supervisor.
absl::StatusOr<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                            std::shared_ptr<ActorRegistry> registry,
                                            const CodeServer& code_server, SupervisorSpec spec);

}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lemon::SupervisedChild>)

#endif  // LEMON_ACTORS_SUPERVISOR_H_
