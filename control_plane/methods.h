// The control plane's JSON-RPC methods (system.reload, modules.list, modules.purge, actors.list,
// system.health, and the one-actor actors.* methods) wired from a dispatcher to a
// ControlPlaneService, with their params validated.
//
//   lemon::JsonRpcDispatcher dispatcher;
//   lemon::register_control_plane_methods(dispatcher, service);  // service outlives dispatcher
#ifndef LEMON_CONTROL_PLANE_METHODS_H_
#define LEMON_CONTROL_PLANE_METHODS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "control_plane/json_rpc.h"
#include "control_plane/rpc.pb.h"
#include "control_plane/service.h"

namespace lemon {

// actors.list page sizes: the one used when `limit` is 0, and the largest accepted (-32602 above).
inline constexpr uint32_t kActorsListDefaultLimit = 1000;
inline constexpr uint32_t kActorsListMaxLimit = 10000;
// reload.history: entries when `limit` is 0, and the most accepted (the most a node keeps).
inline constexpr uint32_t kReloadHistoryDefaultLimit = 20;
inline constexpr uint32_t kReloadHistoryMaxLimit = 200;

// actors.suspend's longest timeout_ms (-32602 above), as ActorMaintenance::kMaxSuspend.
inline constexpr uint32_t kActorsSuspendMaxMs = 600000;

// Registers every control-plane method on `dispatcher`, and rpc.discover describing them all
// (openrpc.h); `service` must outlive it.
void register_control_plane_methods(JsonRpcDispatcher& dispatcher, ControlPlaneService& service);

// system.make_permanent, system.rollback and reload.history (registered by the above).
void register_release_methods(JsonRpcDispatcher& dispatcher, ControlPlaneService& service);

// Checks system.reload params (their combination, and the deadlines against core/reload_request.h)
// and fills in the scope (see SystemReloadParams in rpc.proto); InvalidArgument (ReloadError
// kInvalidArgument) naming what is wrong.
absl::Status normalize_reload_params(rpc::SystemReloadParams& params);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_METHODS_H_
