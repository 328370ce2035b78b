// Live access to one actor on a real node, through the JSON-RPC methods: actors.get_state and
// actors.replace_state (through the schema of the version it runs), actors.suspend and
// actors.resume (messages kept in order, resumed at the deadline, reloads refused meanwhile), and
// actors.statistics.
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "actors/message.h"
#include "actors/messages.h"
#include "actors/pack.h"
#include "actors/supervisor.h"
#include "caf/all.hpp"
#include "control_plane/json_rpc.h"
#include "control_plane/methods.h"
#include "control_plane/node_service.h"
#include "core/reload_request.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/node_service_fixture.h"
#include "testing/testdata/ledger_v1/ledger.pb.h"

namespace lemon::testing {
namespace {

using json = nlohmann::json;

class ActorStateTest : public NodeServiceTest {
 protected:
  ActorStateTest()
      : NodeServiceTest({{"ledger", runfile("testing/testdata/libledger_v1.so")},
                         {"counter", runfile("extensions/counter/libcounter_v1.so")}}) {}

  void SetUp() override {
    NodeServiceTest::SetUp();
    if (HasFatalFailure()) return;
    register_control_plane_methods(rpc_, *service_);
  }

  // The JSON-RPC response to `method` with `params`.
  json call(const std::string& method, const json& params) {
    std::optional<std::string> reply = rpc_.handle(
        json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}}.dump());
    EXPECT_TRUE(reply.has_value());
    return reply ? json::parse(*reply) : json();
  }

  // The result of a call that must succeed.
  json result(const std::string& method, const json& params) {
    json r = call(method, params);
    EXPECT_TRUE(r.contains("result")) << method << ": " << r.dump();
    return r.value("result", json::object());
  }

  // The ledger's total, as its Get handler answers it.
  int64_t total(const caf::actor& ledger) {
    ledgertest::Summary s;
    EXPECT_TRUE(unpack(ask<Message>(ledger, pack(ledgertest::Get())), &s));
    return s.total();
  }

  ledgertest::Add add(int64_t amount) {
    ledgertest::Add a;
    a.set_amount(amount);
    return a;
  }

  JsonRpcDispatcher rpc_;
};

TEST_F(ActorStateTest, GetAndReplaceStateRoundTripThroughTheSchema) {
  caf::actor books = spawn("ledger", "books");
  ask<Message>(books, pack(add(5)));
  json got = result("actors.get_state", {{"name", "books"}});
  EXPECT_EQ(got["version"], "1");
  EXPECT_EQ(got["state_type"], "ledgertest.LedgerState");
  EXPECT_EQ(got["state"], json({{"total", "5"}}));

  got["state"]["total"] = "42";
  got["state"]["tickVersion"] = "set by hand";
  json replaced = result("actors.replace_state", {{"name", "books"}, {"state", got["state"]}});
  EXPECT_EQ(replaced["state"], json({{"total", "42"}, {"tickVersion", "set by hand"}}));
  EXPECT_EQ(total(books), 42) << "the actor's handlers do not see the replaced state";
  EXPECT_EQ(result("actors.get_state", {{"name", "books"}})["state"], replaced["state"]);

  // An unnamed actor is named as actors.list names it.
  caf::actor unnamed = spawn("ledger", "");
  ask<Message>(unnamed, pack(add(3)));
  EXPECT_EQ(result("actors.get_state", {{"name", absl::StrCat("#", unnamed.id())}})["state"],
            json({{"total", "3"}}));
}

TEST_F(ActorStateTest, ReplaceRefusesABadFieldAndLeavesTheStateUntouched) {
  caf::actor books = spawn("ledger", "books");
  ask<Message>(books, pack(add(5)));
  struct Case {
    json state;
    std::string field;
  };
  for (const Case& c :
       {Case{{{"total", "7"}, {"bogus", 1}}, "bogus"}, Case{{{"total", "seven"}}, "total"},
        Case{{{"tickVersion", json::array({1})}}, "tickVersion"}}) {
    SCOPED_TRACE(c.state.dump());
    json r = call("actors.replace_state", {{"name", "books"}, {"state", c.state}});
    ASSERT_TRUE(r.contains("error")) << r.dump();
    EXPECT_EQ(r["error"]["code"], kJsonRpcInvalidParams);
    EXPECT_NE(r["error"]["message"].get<std::string>().find(c.field), std::string::npos)
        << r.dump();
  }
  EXPECT_EQ(total(books), 5);
  EXPECT_EQ(result("actors.get_state", {{"name", "books"}})["state"], json({{"total", "5"}}));
  EXPECT_EQ(call("actors.get_state", {{"name", "nobody"}})["error"]["code"], kJsonRpcNotFound);
  EXPECT_EQ(call("actors.get_state", json::object())["error"]["code"], kJsonRpcInvalidParams);
}

TEST_F(ActorStateTest, AClassicBehaviourShowsItsStatusAndRefusesReplacement) {
  caf::actor c = spawn("counter", "c");
  ask<int64_t>(c, add_atom::value, int64_t{4});
  json got = result("actors.get_state", {{"name", "c"}});
  EXPECT_EQ(got["state_type"], "");
  EXPECT_EQ(got["state"]["count"], 4);
  json r = call("actors.replace_state", {{"name", "c"}, {"state", {{"count", 9}}}});
  ASSERT_TRUE(r.contains("error")) << r.dump();
  EXPECT_EQ(r["error"]["code"], kJsonRpcInvalidParams);
  EXPECT_EQ(ask<int64_t>(c, get_atom::value), 4);
}

TEST_F(ActorStateTest, SuspendKeepsMessagesInOrderAndResumeDeliversThem) {
  caf::actor books = spawn("ledger", "books");
  json suspended = result("actors.suspend", {{"name", "books"}, {"timeout_ms", 600000}});
  EXPECT_FALSE(suspended["resumes_at"].get<std::string>().empty());
  // Running totals tell the order: 1, 11, 111 only if handled as sent.
  std::vector<decltype((*self_)->request(books, std::chrono::minutes(1), Message()))> replies;
  for (int64_t amount : {1, 10, 100}) {
    replies.push_back((*self_)->request(books, std::chrono::minutes(1), pack(add(amount))));
  }
  // Kept, not handled: the state answers (served while held) and is untouched.
  EXPECT_EQ(result("actors.get_state", {{"name", "books"}})["state"], json::object());
  json stats = result("actors.statistics", {{"name", "books"}});
  EXPECT_TRUE(stats["suspended"].get<bool>());
  EXPECT_GE(stats["mailbox_size"].get<int>(), 3);
  // The state can be repaired while suspended; the kept messages then run on it.
  result("actors.replace_state", {{"name", "books"}, {"state", {{"total", "1000"}}}});

  EXPECT_TRUE(result("actors.resume", {{"name", "books"}})["was_suspended"].get<bool>());
  std::vector<int64_t> totals;
  for (auto& reply : replies) {
    reply.receive(
        [&](Message& m) {
          ledgertest::Summary s;
          EXPECT_TRUE(unpack(m, &s));
          totals.push_back(s.total());
        },
        [&](caf::error& e) { ADD_FAILURE() << rt_->system().render(e); });
  }
  EXPECT_EQ(totals, (std::vector<int64_t>{1001, 1011, 1111}));
  EXPECT_FALSE(result("actors.resume", {{"name", "books"}})["was_suspended"].get<bool>());
}

TEST_F(ActorStateTest, ASuspendedActorResumesOnItsOwnAtTheDeadline) {
  caf::actor books = spawn("ledger", "books");
  result("actors.suspend", {{"name", "books"}, {"timeout_ms", 200}});
  ledgertest::Summary s;
  (*self_)
      ->request(books, std::chrono::minutes(1), pack(add(7)))
      .receive([&](Message& m) { EXPECT_TRUE(unpack(m, &s)); },
               [&](caf::error& e) { ADD_FAILURE() << rt_->system().render(e); });
  EXPECT_EQ(s.total(), 7);
  EXPECT_FALSE(rt_->maintenance().suspended(books));
  EXPECT_EQ(call("actors.suspend", {{"name", "books"}, {"timeout_ms", 600001}})["error"]["code"],
            kJsonRpcInvalidParams);
}

TEST_F(ActorStateTest, AReloadIsRefusedWhileAnActorIsSuspendedAndRunsAfterResume) {
  caf::actor books = spawn("ledger", "books");
  result("actors.suspend", {{"name", "books"}});
  install("ledger", runfile("testing/testdata/libledger_v2.so"), /*load=*/false);
  ReloadReport refused = rt_->reloader().run(ReloadRequest::module("ledger"));
  ASSERT_NE(refused.status, ReloadStatus::kOk);
  ASSERT_FALSE(refused.errors.empty());
  EXPECT_NE(refused.errors[0].message.find("books"), std::string::npos)
      << refused.errors[0].message;
  EXPECT_EQ(result("actors.get_state", {{"name", "books"}})["version"], "1");

  result("actors.resume", {{"name", "books"}});
  ReloadReport done = rt_->reloader().run(ReloadRequest::module("ledger"));
  ASSERT_EQ(done.status, ReloadStatus::kOk)
      << (done.errors.empty() ? std::string("skipped") : done.errors[0].message);
  EXPECT_EQ(result("actors.get_state", {{"name", "books"}})["version"], "2");
}

TEST_F(ActorStateTest, StatisticsCountMessagesMailboxRestartsAndReloads) {
  SupervisorSpec spec;
  spec.name = "sup";
  spec.children = {{{"ledger", "", "books", ""}}};
  auto sup = spawn_supervisor(rt_->system(), rt_->registry(), rt_->code_server(), spec);
  ASSERT_TRUE(sup.ok()) << sup.status();
  caf::actor books = rt_->registry()->whereis("books");
  ASSERT_TRUE(books);

  json before = result("actors.statistics", {{"name", "books"}});
  EXPECT_EQ(before["module"], "ledger");
  EXPECT_EQ(before["restarts"], "0");
  EXPECT_EQ(before["last_reload"], "");
  EXPECT_EQ(before["messages_handled"], "0");

  // Twenty messages kept while suspended: the turn that runs them starts with all of them.
  result("actors.suspend", {{"name", "books"}});
  for (int i = 0; i < 20; ++i) caf::anon_send(books, pack(add(1)));
  result("actors.resume", {{"name", "books"}});
  EXPECT_EQ(total(books), 20);
  json after = result("actors.statistics", {{"name", "books"}});
  EXPECT_EQ(after["messages_handled"], "21");  // the twenty and Get
  EXPECT_GE(std::stoi(after["mailbox_high_water"].get<std::string>()), 20);

  install("ledger", runfile("testing/testdata/libledger_v2.so"), /*load=*/false);
  ASSERT_EQ(rt_->reloader().run(ReloadRequest::module("ledger")).status, ReloadStatus::kOk);
  EXPECT_NE(result("actors.statistics", {{"name", "books"}})["last_reload"], "");

  (*self_)
      ->request(*sup, std::chrono::minutes(1), sup_watch_atom::value)
      .receive([] {}, [&](caf::error& e) { FAIL() << rt_->system().render(e); });
  caf::anon_send_exit(books, caf::exit_reason::kill);
  caf::actor again;
  (*self_)->receive([&](sup_report_atom, const std::string&, caf::actor& a) { again = a; },
                    caf::after(std::chrono::minutes(1)) >> [] {});
  ASSERT_TRUE(again) << "the supervisor did not restart books";
  EXPECT_EQ(result("actors.statistics", {{"name", "books"}})["restarts"], "1");
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(rt_->registry()->await_count("ledger", 0, absl::Seconds(60)));
}

}  // namespace
}  // namespace lemon::testing
