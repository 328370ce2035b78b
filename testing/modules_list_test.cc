// modules.list on a real node: each loaded module's current and old version, their actors, the
// current version's checksum and file, as the code server holds them.
#include <string>

#include "absl/status/statusor.h"
#include "core/reload_report.h"
#include "core/reload_request.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/node_service_fixture.h"

namespace lemon::testing {
namespace {

class ModulesListTest : public NodeServiceTest {
 protected:
  ModulesListTest()
      : NodeServiceTest({{"counter", runfile("extensions/counter/libcounter_v1.so")}}) {}

  // This node's modules.list: the one module it has loaded.
  rpc::ModuleInfo counter() {
    absl::StatusOr<rpc::ModulesListResult> r = service_->list_modules({});
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->modules_size() != 1) {
      ADD_FAILURE() << "expected one module, got " << (r.ok() ? r->DebugString() : "an error");
      return rpc::ModuleInfo();
    }
    return r->modules(0);
  }
};

TEST_F(ModulesListTest, EachVersionIsShownWithTheActorsThatRunIt) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rt_->spawn({"counter", "", "", ""}).ok());
  const rpc::ModuleInfo v1 = counter();
  EXPECT_EQ(v1.name(), "counter");
  EXPECT_EQ(v1.node(), "") << "this node's own list names no node";
  EXPECT_EQ(v1.current_version(), "1");
  EXPECT_EQ(v1.actors_current(), 3);
  EXPECT_EQ(v1.old_version(), "");
  EXPECT_EQ(v1.actors_old(), 0);
  EXPECT_EQ(v1.checksum().size(), 64u) << v1.checksum();
  EXPECT_EQ(v1.path(), dir_.file("modules/counter.so"));

  ReloadReport r = install_and_reload("counter", runfile("extensions/counter/libcounter_v2.so"));
  ASSERT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  const rpc::ModuleInfo v2 = counter();
  EXPECT_EQ(v2.current_version(), "2");
  EXPECT_EQ(v2.actors_current(), 3) << "the actors moved to version 2";
  EXPECT_EQ(v2.old_version(), "1");
  EXPECT_EQ(v2.actors_old(), 0);
  EXPECT_EQ(v2.checksum().size(), 64u);
  EXPECT_NE(v2.checksum(), v1.checksum()) << "the checksum is the current version's";

  ReloadReport purged = rt_->reloader().run(ReloadRequest::soft_purge("counter"));
  ASSERT_EQ(purged.status, ReloadStatus::kOk)
      << (purged.errors.empty() ? "" : purged.errors[0].message);
  const rpc::ModuleInfo after = counter();
  EXPECT_EQ(after.current_version(), "2");
  EXPECT_EQ(after.old_version(), "") << "the purged version is still listed";
}

}  // namespace
}  // namespace lemon::testing
