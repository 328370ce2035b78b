// Supervisors: CAF actors that start children, watch them and restart them when they exit, as
// OTP's supervisor does (strategies one_for_one, one_for_all, rest_for_one, simple_one_for_one;
// restart types permanent, transient, temporary; restart intensity). A child is a reloadable actor
// (a worker) or a nested supervisor, so supervisors form trees.
//
//   SupervisorSpec mid;
//   mid.name = "counters";
//   mid.children = {{{"counter", "", "counter-1", "0"}, Restart::kPermanent}};
//   SupervisorSpec root;
//   root.name = "root";
//   root.strategy = Strategy::kOneForAll;
//   root.children = {supervisor_child(mid), {{"counter", "", "counter-2", "0"}}};
//   caf::actor sup = spawn_supervisor(sys, registry, code_server, root).value();
//   caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);  // stops the tree, leaves first
//
// A restarted worker is spawned again with spawn_reloadable, so it runs the *current* version of
// its module (after a reload: the new one), under the same registered name; a restarted supervisor
// child is the whole subtree spawned again from its spec. More than `intensity` restarts within
// `period` make the supervisor stop every child and exit with an error whose message starts with
// kMaxRestartIntensity: its own supervisor sees a crashed child, so the failure climbs the tree
// until a level absorbs it. Children the supervisor stops itself never count as crashes. Workers
// are registered with the supervisor's name as their parent; a running supervisor is registered
// too (ActorRegistry::supervisors), with the supervisor above it as its parent. See
// docs/actors.md, "Supervisors".
#ifndef LEMON_ACTORS_SUPERVISOR_H_
#define LEMON_ACTORS_SUPERVISOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
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
  // One child spec, a worker, is the template of children started later with start_child (none
  // at first); each is restarted alone, as with kOneForOne, and forgotten once it is not.
  kSimpleOneForOne,
};

enum class Restart {
  kPermanent,  // always restarted
  kTransient,  // restarted only after an abnormal exit (not normal, not user_shutdown)
  kTemporary,  // never restarted, not even when a sibling's restart stops it
};

struct SupervisorSpec;

// A worker, `{{module, behaviour, name, init_arg}, restart}`, or a nested supervisor,
// `supervisor_child(spec, restart)`.
struct ChildSpec {
  SpawnSpec spawn;  // the worker; its `parent` is set to the supervisor's name
  Restart restart = Restart::kPermanent;
  std::shared_ptr<const SupervisorSpec> supervisor;  // when set: a supervisor, `spawn` unused
};

struct SupervisorSpec {
  std::string name;
  Strategy strategy = Strategy::kOneForOne;
  int intensity = 3;  // restarts allowed within `period`
  absl::Duration period = absl::Seconds(5);
  std::vector<ChildSpec> children;  // started in this order
};

ChildSpec supervisor_child(SupervisorSpec spec, Restart restart = Restart::kPermanent);

// The name a child is known by: its registered name, or a nested supervisor's name.
const std::string& child_name(const ChildSpec& child);

// One child as `which_children` reports it; `handle` is invalid while it is not running.
struct SupervisedChild {
  std::string name;
  caf::actor handle;
  bool supervisor = false;  // a nested supervisor, not a worker
};

// Supervisor messages (host-side only, never seen by modules):
//   (sup_which_atom) -> std::vector<SupervisedChild>   every child, in start order
//   (sup_watch_atom) -> void                           subscribes the sender to reports:
//   (sup_report_atom, std::string name, caf::actor)    sent to subscribers once the exit of child
//                                                      `name` has been handled: the new handle if
//                                                      it was restarted, an invalid one if not.
//   (sup_start_atom, std::string init_arg, std::string name) -> absl::StatusOr<caf::actor>
//       kSimpleOneForOne only: starts a child from the template with this init_arg and registered
//       name ("" for none). FailedPrecondition for another strategy or while shutting down; else
//       spawn_reloadable's error.
//   (sup_terminate_atom, std::string name) -> absl::Status
//   (sup_terminate_atom, caf::actor child) -> absl::Status
//       stops the child (user_shutdown) and answers once it is down; it is not restarted, and a
//       child of start_child is forgotten. NotFound if there is no such child (an unnamed child
//       is known by its handle only).
using sup_which_atom = caf::atom_constant<caf::atom("lsupwhich")>;
using sup_watch_atom = caf::atom_constant<caf::atom("lsupwatch")>;
using sup_report_atom = caf::atom_constant<caf::atom("lsupreport")>;
using sup_start_atom = caf::atom_constant<caf::atom("lsupstart")>;
using sup_terminate_atom = caf::atom_constant<caf::atom("lsupterm")>;

// How the exit error of a supervisor that gave up begins (OTP's reached_max_restart_intensity).
inline constexpr char kMaxRestartIntensity[] = "reached_max_restart_intensity";

// Starts the children of `spec` in order (nested supervisors with their subtrees), then the
// supervisor that watches them. If a child fails to start, the ones already started are stopped and
// its error is returned. kInvalidArgument for a bad spec anywhere in the tree (negative intensity,
// period <= 0, kSimpleOneForOne without exactly one worker child spec). Blocks its caller while the
// children start; `code_server` must outlive the supervisor.
absl::StatusOr<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                            std::shared_ptr<ActorRegistry> registry,
                                            const CodeServer& code_server, SupervisorSpec spec);

// The strategy's name as OTP spells it ("one_for_one", ...), as supervisors.list shows it.
const char* strategy_name(Strategy strategy);

// Blocking forms of the sup_start_atom and sup_terminate_atom requests, for host threads (never
// from inside an actor). DeadlineExceeded after `timeout`, Unavailable if `sup` is not running.
absl::StatusOr<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                       std::string init_arg, std::string name = "",
                                       absl::Duration timeout = absl::Seconds(30));
absl::Status terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& name,
                             absl::Duration timeout = absl::Seconds(30));
absl::Status terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                             absl::Duration timeout = absl::Seconds(30));

}  // namespace lemon

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<lemon::SupervisedChild>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(absl::Status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(absl::StatusOr<caf::actor>)

#endif  // LEMON_ACTORS_SUPERVISOR_H_
