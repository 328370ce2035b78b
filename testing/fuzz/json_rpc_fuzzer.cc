// libFuzzer target: JSON-RPC request bodies into the control plane's dispatcher, with the real
// methods registered on a fake service. The dispatcher must answer every body without crashing,
// and every answer it gives must itself be JSON. Built and run by tools/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "control_plane/fake_service.h"
#include "control_plane/json_rpc.h"
#include "control_plane/methods.h"
#include "nlohmann/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static lemon::FakeService* service = new lemon::FakeService();
  static lemon::JsonRpcDispatcher* dispatcher = [] {
    auto* d = new lemon::JsonRpcDispatcher();
    lemon::register_control_plane_methods(*d, *service);
    return d;
  }();
  const std::string body(reinterpret_cast<const char*>(data), size);
  std::optional<std::string> reply = dispatcher->handle(body);
  if (reply.has_value() && !nlohmann::json::accept(*reply)) std::abort();  // replies are JSON
  return 0;
}
