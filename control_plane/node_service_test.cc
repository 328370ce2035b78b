// NodeService on the parts of a node it is given, without a Runtime: system.reload goes to the
// reload service it names, as the caller, and system.health reads the reload lock it names.
#include "control_plane/node_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "actors/maintenance.h"
#include "actors/registry.h"
#include "actors/supervisor.h"
#include "caf/all.hpp"
#include "core/code_server.h"
#include "core/reload_error.h"
#include "core/reload_lock.h"
#include "core/reloader.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/reload_service.h"
#include "reload/reload_manager.h"

namespace lemon {
namespace {

using testing::ScratchDir;

// The requests a fake reload service was sent, and whether it answers them with an error.
struct ServiceLog {
  std::vector<ReloadRequest> requests;
  bool refuse = false;
};

// A reload service that records each request and answers with an OK report for its target, or,
// when told to refuse, with a CAF error.
caf::behavior fake_reload_service(std::shared_ptr<ServiceLog> log) {
  return {[log](reload_atom, const ReloadRequest& req) -> caf::result<ReloadReport> {
    log->requests.push_back(req);
    if (log->refuse) return caf::make_error(caf::sec::runtime_error);
    ReloadReport r;
    r.target = req.target;
    r.reloaded = {req.target};
    return r;
  }};
}

caf::actor_system_config& reload_config(caf::actor_system_config& cfg) {
  add_reload_message_types(cfg);
  return cfg;
}

class NodeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CodeServer::Options o;
    o.copy_dir = dir_.file("copies");
    absl::StatusOr<std::unique_ptr<CodeServer>> cs = CodeServer::create(o);
    ASSERT_TRUE(cs.ok()) << cs.status();
    code_server_ = std::move(*cs);
    manager_ = std::make_unique<ReloadManager>(system_, registry_, *code_server_);
    Reloader::Deps rd;
    rd.code_server = code_server_.get();
    rd.swapper = manager_.get();
    rd.lock = &lock_;
    reloader_ = std::make_unique<Reloader>(rd, Reloader::Layout{});
    reload_service_ = system_.spawn(fake_reload_service, log_);
    NodeService::Deps deps;
    deps.system = &system_;
    deps.reload_service = reload_service_;
    deps.code_server = code_server_.get();
    deps.registry = registry_.get();
    deps.maintenance = &maintenance_;
    deps.reloader = reloader_.get();
    deps.lock = &lock_;
    service_ = std::make_unique<NodeService>(deps, "node-a");
  }

  void TearDown() override {
    for (const caf::actor& sup : supervisors_) {
      caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    }
    service_.reset();
    caf::anon_send_exit(reload_service_, caf::exit_reason::user_shutdown);
  }

  ScratchDir dir_;
  caf::actor_system_config config_;
  caf::actor_system system_{reload_config(config_)};
  std::shared_ptr<ActorRegistry> registry_ = std::make_shared<ActorRegistry>();
  ActorMaintenance maintenance_{registry_};
  ReloadLock lock_;
  std::unique_ptr<CodeServer> code_server_;
  std::unique_ptr<ReloadManager> manager_;
  std::unique_ptr<Reloader> reloader_;
  std::shared_ptr<ServiceLog> log_ = std::make_shared<ServiceLog>();
  caf::actor reload_service_;
  std::unique_ptr<NodeService> service_;
  std::vector<caf::actor> supervisors_;
};

rpc::SystemReloadParams module_reload(const std::string& module) {
  rpc::SystemReloadParams p;
  p.set_scope("module");
  p.set_module(module);
  return p;
}

TEST_F(NodeServiceTest, ReloadAsksTheReloadServiceForTheRequestAsTheCaller) {
  service_->set_caller("token:abc");
  absl::StatusOr<rpc::ReloadReport> r = service_->reload(module_reload("counter"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->target(), "counter");
  ASSERT_EQ(log_->requests.size(), 1u);
  const ReloadRequest& sent = log_->requests[0];
  EXPECT_EQ(sent.op, ReloadOp::kModule);
  EXPECT_EQ(sent.target, "counter");
  EXPECT_EQ(sent.owner, "control plane");
  EXPECT_EQ(sent.requested_by, "token:abc");
}

TEST_F(NodeServiceTest, AnErrorFromTheReloadServiceIsAnInternalErrorNamingIt) {
  log_->refuse = true;
  absl::StatusOr<rpc::ReloadReport> r = service_->reload(module_reload("counter"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kInternal);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "reload service")) << r.status();
}

TEST_F(NodeServiceTest, AClusterReloadWithoutAClusterIsRefusedWithoutAsking) {
  rpc::SystemReloadParams p = module_reload("counter");
  p.set_cluster(true);
  absl::StatusOr<rpc::ReloadReport> r = service_->reload(p);
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kInvalidArgument) << r.status();
  EXPECT_TRUE(log_->requests.empty());
}

TEST_F(NodeServiceTest, HealthShowsAReloadInProgressOnlyWhileTheLockIsHeld) {
  absl::StatusOr<rpc::SystemHealthResult> idle = service_->health({});
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(idle->node(), "node-a");
  EXPECT_FALSE(idle->reload_in_progress());
  EXPECT_FALSE(idle->clustered());
  {
    absl::StatusOr<LockService::Guard> held = lock_.acquire("test", absl::Seconds(30));
    ASSERT_TRUE(held.ok()) << held.status();
    absl::StatusOr<rpc::SystemHealthResult> busy = service_->health({});
    ASSERT_TRUE(busy.ok()) << busy.status();
    EXPECT_TRUE(busy->reload_in_progress());
  }
  EXPECT_FALSE(service_->health({})->reload_in_progress());
}

TEST_F(NodeServiceTest, SupervisorsListShowsTheTreeWithEachSupervisorsChildren) {
  SupervisorSpec pool;
  pool.name = "pool";
  pool.strategy = Strategy::kSimpleOneForOne;  // no child until start_child: no module needed
  pool.children = {{{"counter", "", "", "0"}, Restart::kTemporary}};
  SupervisorSpec root;
  root.name = "root";
  root.intensity = 5;
  root.period = absl::Seconds(10);
  root.children = {supervisor_child(pool)};
  absl::StatusOr<caf::actor> sup = spawn_supervisor(system_, registry_, *code_server_, root);
  ASSERT_TRUE(sup.ok()) << sup.status();
  supervisors_.push_back(*sup);  // stopped by TearDown if an assertion ends the test early
  caf::scoped_actor self{system_};
  // Once the root has answered, it and the supervisor it started are registered.
  self->request(*sup, std::chrono::seconds(30), sup_which_atom::value)
      .receive([](std::vector<SupervisedChild>&) {},
               [&](caf::error& e) { FAIL() << system_.render(e); });

  absl::StatusOr<rpc::SupervisorsListResult> r = service_->list_supervisors({});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->supervisors_size(), 2);
  const rpc::SupervisorInfo& top = r->supervisors(0);
  EXPECT_EQ(top.name(), "root");
  EXPECT_EQ(top.parent(), "");
  EXPECT_EQ(top.strategy(), "one_for_one");
  EXPECT_EQ(top.intensity(), 5);
  EXPECT_EQ(top.period_ms(), 10000);
  EXPECT_EQ(top.status(), "running");
  ASSERT_EQ(top.children_size(), 1);
  EXPECT_EQ(top.children(0).name(), "pool");
  EXPECT_TRUE(top.children(0).supervisor());
  EXPECT_TRUE(top.children(0).running());
  const rpc::SupervisorInfo& nested = r->supervisors(1);
  EXPECT_EQ(nested.name(), "pool");
  EXPECT_EQ(nested.parent(), "root");
  EXPECT_EQ(nested.strategy(), "simple_one_for_one");
  EXPECT_EQ(nested.status(), "running");
  EXPECT_EQ(nested.children_size(), 0);

  self->monitor(*sup);
  self->send_exit(*sup, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {},
                caf::after(std::chrono::seconds(30)) >> [] { FAIL() << "the root still runs"; });
  r = service_->list_supervisors({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->supervisors_size(), 0) << "a stopped tree is no longer listed";
}

}  // namespace
}  // namespace lemon
