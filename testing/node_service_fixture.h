// A NodeTest fixture whose node also has the control plane's NodeService, for tests of the
// control-plane methods on a real node.
#ifndef LEMON_TESTING_NODE_SERVICE_FIXTURE_H_
#define LEMON_TESTING_NODE_SERVICE_FIXTURE_H_

#include <memory>
#include <utility>
#include <vector>

#include "control_plane/node.h"
#include "control_plane/node_service.h"
#include "testing/test_node.h"

namespace lemon::testing {

// service_ serves the node rt_ as "node-a"; it is made at SetUp, once the node's modules are
// installed, and goes before the node does.
class NodeServiceTest : public NodeTest {
 protected:
  explicit NodeServiceTest(std::vector<Module> modules = {}) : NodeTest(std::move(modules)) {}

  void SetUp() override {
    NodeTest::SetUp();
    if (HasFatalFailure()) return;
    service_ = std::make_unique<NodeService>(node_service_deps(*rt_), "node-a");
  }
  void TearDown() override {
    service_.reset();
    NodeTest::TearDown();
  }

  std::unique_ptr<NodeService> service_;
};

}  // namespace lemon::testing

#endif  // LEMON_TESTING_NODE_SERVICE_FIXTURE_H_
