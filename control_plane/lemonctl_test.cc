#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control_plane/fake_service.h"
#include "control_plane/http_server.h"
#include "control_plane/lemonctl_cli.h"
#include "control_plane/methods.h"
#include "control_plane/report_proto.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using nlohmann::json;

constexpr char kToken[] = "lemonctl-test-token";

class LemonctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = dir_.file("token");
    testing::write_file(token_file_, absl::StrCat(kToken, "\n"));
    ASSERT_EQ(::chmod(token_file_.c_str(), 0600), 0);
    register_control_plane_methods(dispatcher_, service_);
    RpcHttpServerOptions options;
    options.token = kToken;
    server_ = std::make_unique<RpcHttpServer>(dispatcher_, options);
    ASSERT_TRUE(server_->start().ok());
  }

  // Runs lemonctl against the test server with `args` after the connection flags.
  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    std::vector<std::string> all = {"--control_port", std::to_string(server_->port()),
                                    "--token_file", token_file_};
    all.insert(all.end(), args.begin(), args.end());
    return run_lemonctl(all, out_, err_);
  }

  testing::ScratchDir dir_;
  FakeService service_;
  JsonRpcDispatcher dispatcher_;
  std::unique_ptr<RpcHttpServer> server_;
  std::string token_file_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(LemonctlTest, UsageErrorsExitWith2AndSayWhy) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"reload", "--bogus"}, "unknown flag --bogus"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{}, "no command"},
      {{"status", "--hard"}, "--hard does not apply to 'status'"},
      {{"purge"}, "purge needs --module"},
      {{"reload", "--timeout_ms", "soon"}, "--timeout_ms needs a non-negative integer"},
      {{"reload", "--module"}, "--module needs a value"},
      {{"status", "extra"}, "unexpected argument 'extra'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    EXPECT_EQ(run(c.args), kLemonctlUsage);
    EXPECT_NE(err_.str().find(c.says), std::string::npos) << err_.str();
    EXPECT_NE(err_.str().find("usage: lemonctl"), std::string::npos);
  }
}

TEST_F(LemonctlTest, HelpPrintsUsage) {
  EXPECT_EQ(run({"--help"}), kLemonctlOk);
  EXPECT_NE(out_.str().find("usage: lemonctl"), std::string::npos);
}

TEST_F(LemonctlTest, ReloadSendsTheFlagsAsParamsAndPrintsTheReport) {
  rpc::ReloadReport report;
  report.set_kind("module");
  report.set_target("counter");
  report.set_status("ok");
  report.add_reloaded("counter");
  service_.reload_result = report;
  ASSERT_EQ(run({"reload", "--module", "counter", "--force", "--timeout_ms=500", "--cluster"}),
            kLemonctlOk)
      << err_.str();
  EXPECT_NE(out_.str().find("module counter: ok"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("reloaded: counter"), std::string::npos) << out_.str();
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_reload.has_value());
  EXPECT_EQ(service_.last_reload->scope(), "module");
  EXPECT_EQ(service_.last_reload->module(), "counter");
  EXPECT_TRUE(service_.last_reload->force());
  EXPECT_TRUE(service_.last_reload->cluster());
  EXPECT_EQ(service_.last_reload->timeout_ms(), 500u);
}

TEST_F(LemonctlTest, ReloadTakesTheListsCodeChangeTargetsAndExtra) {
  ASSERT_EQ(run({"reload", "--modules", "a,b", "--modules=c", "--apps", "shop", "--extensions",
                 "/ext/x.cc", "--code_change", "counter=v2", "--code_change", "greeter", "--extra",
                 "e", "--lock_timeout_ms", "70"}),
            kLemonctlOk)
      << err_.str();
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_reload.has_value());
  const rpc::SystemReloadParams& p = *service_.last_reload;
  EXPECT_EQ(p.scope(), "all");
  EXPECT_EQ(std::vector<std::string>(p.modules().begin(), p.modules().end()),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p.apps(0), "shop");
  EXPECT_EQ(p.extensions(0), "/ext/x.cc");
  ASSERT_EQ(p.code_change_size(), 2);
  EXPECT_EQ(p.code_change(0).actor(), "counter");
  EXPECT_EQ(p.code_change(0).extra(), "v2");
  EXPECT_EQ(p.code_change(1).actor(), "greeter");
  EXPECT_EQ(p.code_change(1).extra(), "");
  EXPECT_EQ(p.extra(), "e");
  EXPECT_EQ(p.lock_timeout_ms(), 70u);
}

// Every field of system.reload's params, those added later included, is a reload flag.
TEST_F(LemonctlTest, EveryReloadParamIsAFlag) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* d = rpc::SystemReloadParams::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    SCOPED_TRACE(f->name());
    std::vector<std::string> args = {"reload", absl::StrCat("--", f->name())};
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
      // a bool flag takes no value
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING ||
               f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ||
               f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      args.push_back(f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM
                         ? f->enum_type()->value(1)->name()
                     : f->name() == "scope" ? "all"
                                            : "x");
    } else {
      args.push_back("1");
    }
    run(args);
    EXPECT_EQ(err_.str().find("usage: lemonctl"), std::string::npos) << err_.str();
    absl::MutexLock lock(&service_.mu);
    ASSERT_TRUE(service_.last_reload.has_value());
    const google::protobuf::Reflection* r = service_.last_reload->GetReflection();
    EXPECT_TRUE(f->is_repeated() ? r->FieldSize(*service_.last_reload, f) > 0
                                 : r->HasField(*service_.last_reload, f))
        << service_.last_reload->DebugString();
    service_.last_reload.reset();
  }
}

TEST_F(LemonctlTest, CallSendsAnyMethodWithJsonParams) {
  rpc::ReloadReport report;
  report.set_kind("purge");
  report.set_status("ok");
  service_.purge_result = report;
  ASSERT_EQ(run({"call", "modules.purge", R"({"module":"counter","hard":true})"}), kLemonctlOk)
      << err_.str();
  EXPECT_EQ(json::parse(out_.str())["kind"], "purge") << out_.str();
  {
    absl::MutexLock lock(&service_.mu);
    ASSERT_TRUE(service_.last_purge.has_value());
    EXPECT_EQ(service_.last_purge->module(), "counter");
    EXPECT_TRUE(service_.last_purge->hard());
  }
  ASSERT_EQ(run({"call", "rpc.discover"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(json::parse(out_.str())["openrpc"], "1.2.6");

  EXPECT_EQ(run({"call", "no.such"}), kLemonctlFailed);
  EXPECT_NE(err_.str().find("(code -32601"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"call", "modules.purge", "{oops"}), kLemonctlUsage);
  EXPECT_NE(err_.str().find("params must be a JSON object"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"call"}), kLemonctlUsage);
}

TEST_F(LemonctlTest, AFailedReloadExitsNonZeroAndShowsTheReportAndTheCode) {
  ReloadReport report = ReloadReport::begin(ReloadKind::kExtension, "/ext/hello.cc");
  report.errors.push_back(ErrorItem{"/ext/hello.cc",
                                    ReloadError::kCompileFailed,
                                    "did not compile",
                                    {Diagnostic{"/ext/hello.cc", 4, 2, "error", "expected ';'"}}});
  report.finish();
  service_.reload_result = reload_outcome(report);
  EXPECT_EQ(run({"reload", "--path", "/ext/hello.cc"}), kLemonctlFailed);
  EXPECT_NE(out_.str().find("compile_failed: did not compile"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("/ext/hello.cc:4:2: error: expected ';'"), std::string::npos)
      << out_.str();
  EXPECT_NE(err_.str().find("(code -32003, compile_failed)"), std::string::npos) << err_.str();

  EXPECT_EQ(run({"--json", "reload", "--path", "/ext/hello.cc"}), kLemonctlFailed);
  json error = json::parse(out_.str());
  EXPECT_EQ(error["code"], kJsonRpcReloadFailed);
  EXPECT_EQ(error["data"]["report"]["errors"][0]["diagnostics"][0]["line"], 4) << error;
}

TEST_F(LemonctlTest, RpcErrorsPrintTheMessageAndExitNonZero) {
  service_.reload_result =
      reload_status(ReloadError::kReloadInProgress, "another reload holds the lock");
  EXPECT_EQ(run({"reload"}), kLemonctlFailed);
  EXPECT_NE(err_.str().find("another reload holds the lock"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("-32002"), std::string::npos) << err_.str();
  EXPECT_NE(err_.str().find("reload_in_progress"), std::string::npos) << err_.str();
}

TEST_F(LemonctlTest, JsonPrintsTheRawResult) {
  rpc::SystemHealthResult health;
  health.set_status("ok");
  health.set_node("node-a");
  health.set_actors(3);
  service_.health_result = health;
  ASSERT_EQ(run({"--json", "status"}), kLemonctlOk) << err_.str();
  json result = json::parse(out_.str());
  EXPECT_EQ(result["node"], "node-a");
  EXPECT_EQ(result["actors"], 3);
  EXPECT_EQ(result["reload_in_progress"], false);
}

TEST_F(LemonctlTest, StatusModulesAndActorsPrintReadableSummaries) {
  rpc::SystemHealthResult health;
  health.set_node("node-a");
  service_.health_result = health;
  ASSERT_EQ(run({"status"}), kLemonctlOk);
  EXPECT_NE(out_.str().find("node:               node-a"), std::string::npos) << out_.str();

  rpc::ModulesListResult modules;
  rpc::ModuleInfo* m = modules.add_modules();
  m->set_name("counter");
  m->set_current_version("2.0.0");
  m->set_old_version("1.0.0");
  m->set_checksum("0123456789abcdef0123");
  service_.modules_result = modules;
  ASSERT_EQ(run({"modules"}), kLemonctlOk);
  EXPECT_NE(out_.str().find("NAME"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("counter"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("0123456789ab "), std::string::npos) << out_.str();

  rpc::ActorsListResult actors;
  rpc::ActorInfo* a = actors.add_actors();
  a->set_name("counter-1");
  a->set_module("counter");
  a->set_status("suspended");
  a->set_parent("counters-sup");
  service_.actors_result = actors;
  ASSERT_EQ(run({"actors", "--module", "counter"}), kLemonctlOk);
  EXPECT_NE(out_.str().find("suspended"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("PARENT"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("counters-sup"), std::string::npos) << out_.str();
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.last_actors->module(), "counter");
}

TEST_F(LemonctlTest, ActorsFetchesEveryPage) {
  const std::vector<std::pair<std::string, std::string>> chain = {
      {"", "p2"}, {"p2", "p3"}, {"p3", ""}};
  for (size_t i = 0; i < chain.size(); ++i) {
    rpc::ActorsListResult page;
    page.add_actors()->set_name(absl::StrCat("counter-", i));
    page.set_next_cursor(chain[i].second);
    service_.actors_pages[chain[i].first] = page;
  }
  for (bool as_json : {false, true}) {
    SCOPED_TRACE(as_json);
    std::vector<std::string> args = {"actors", "--module", "counter"};
    if (as_json) args.insert(args.begin(), "--json");
    ASSERT_EQ(run(args), kLemonctlOk) << err_.str();
    for (int i = 0; i < 3; ++i) {
      EXPECT_NE(out_.str().find(absl::StrCat("counter-", i)), std::string::npos) << out_.str();
    }
    if (as_json) {
      json result = json::parse(out_.str());
      EXPECT_EQ(result["actors"].size(), 3u);
      EXPECT_EQ(result["next_cursor"], "");
    }
    absl::MutexLock lock(&service_.mu);
    EXPECT_EQ(service_.last_actors->cursor(), "p3");
    EXPECT_EQ(service_.last_actors->module(), "counter");
  }
}

TEST_F(LemonctlTest, ActorsStopsWhenTheNodeRepeatsACursor) {
  rpc::ActorsListResult page;
  page.add_actors()->set_name("counter-0");
  page.set_next_cursor("again");
  service_.actors_pages[""] = page;
  service_.actors_pages["again"] = page;
  EXPECT_EQ(run({"actors"}), kLemonctlFailed);
  EXPECT_NE(err_.str().find("cursor"), std::string::npos) << err_.str();
}

TEST_F(LemonctlTest, ModulesClusterShowsEveryNodeTheUnreachableAndTheDivergent) {
  rpc::ModulesListResult modules;
  for (const auto& [node, version] : {std::pair<std::string, std::string>{"a", "3"}, {"b", "2"}}) {
    rpc::ModuleInfo* m = modules.add_modules();
    m->set_node(node);
    m->set_name("greeter");
    m->set_current_version(version);
    modules.add_nodes(node);
  }
  modules.add_nodes("c");
  rpc::NodeProblem* p = modules.add_unreachable();
  p->set_node("c");
  p->set_message("no answer from node c: request_timeout");
  modules.add_divergent("greeter");
  service_.modules_result = modules;
  ASSERT_EQ(run({"modules", "--cluster"}), kLemonctlOk) << err_.str();
  const std::string out = out_.str();
  EXPECT_EQ(out.rfind("NODE", 0), 0u) << out;
  EXPECT_NE(out.find("unreachable c: no answer from node c"), std::string::npos) << out;
  EXPECT_NE(out.find("divergent (not the same code on every node): greeter"), std::string::npos)
      << out;
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_modules.has_value());
  EXPECT_TRUE(service_.last_modules->cluster());
}

TEST_F(LemonctlTest, PurgeSendsModuleAndHard) {
  rpc::ReloadReport report;
  report.set_kind("purge");
  report.set_target("counter");
  report.set_status("ok");
  service_.purge_result = report;
  ASSERT_EQ(run({"purge", "--module", "counter", "--hard"}), kLemonctlOk) << err_.str();
  absl::MutexLock lock(&service_.mu);
  ASSERT_TRUE(service_.last_purge.has_value());
  EXPECT_TRUE(service_.last_purge->hard());
}

// Each release and one-actor command calls its method with the params its arguments give.
TEST_F(LemonctlTest, ReleaseAndActorCommandsSendTheirMethodAndParams) {
  struct Case {
    std::vector<std::string> args;
    const char* method;
    const char* params;  // ShortDebugString
  };
  const Case cases[] = {
      {{"rollback", "--module", "counter", "--timeout_ms", "900"},
       "system.rollback",
       R"(module: "counter" timeout_ms: 900)"},
      {{"rollback", "--app", "shop"}, "system.rollback", R"(app: "shop")"},
      {{"permanent", "--module", "counter"}, "system.make_permanent", R"(module: "counter")"},
      {{"permanent", "--app=shop"}, "system.make_permanent", R"(app: "shop")"},
      {{"history", "--limit", "5", "--module", "counter"},
       "reload.history",
       R"(limit: 5 module: "counter")"},
      {{"state", "get", "counter-1"}, "actors.get_state", R"(name: "counter-1")"},
      {{"suspend", "counter-1", "--timeout_ms", "3000"},
       "actors.suspend",
       R"(name: "counter-1" timeout_ms: 3000)"},
      {{"resume", "#12"}, "actors.resume", R"(name: "#12")"},
      {{"stats", "counter-1"}, "actors.statistics", R"(name: "counter-1")"},
      {{"supervisors"}, "supervisors.list", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method);
    ASSERT_EQ(run(c.args), kLemonctlOk) << err_.str();
    absl::MutexLock lock(&service_.mu);
    EXPECT_EQ(service_.last_method, c.method);
    EXPECT_EQ(service_.last_params, c.params);
  }
  ASSERT_EQ(run({"history"}), kLemonctlOk) << err_.str();
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.last_params, "limit: 20");  // the node's default
}

TEST_F(LemonctlTest, StateSetSendsTheJsonState) {
  ASSERT_EQ(run({"state", "set", "counter-1", R"({"count": 5, "label": "x"})"}), kLemonctlOk)
      << err_.str();
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.last_method, "actors.replace_state");
  ASSERT_TRUE(service_.last_replace_state.has_value());
  EXPECT_EQ(service_.last_replace_state->name(), "counter-1");
  const auto& fields = service_.last_replace_state->state().fields();
  EXPECT_EQ(fields.at("count").number_value(), 5);
  EXPECT_EQ(fields.at("label").string_value(), "x");
}

TEST_F(LemonctlTest, ReleaseAndActorCommandsCheckTheirArguments) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"rollback"}, "rollback needs one of --module and --app"},
      {{"permanent", "--module", "a", "--app", "b"}, "permanent needs one of --module and --app"},
      {{"permanent", "--timeout_ms", "5", "--module", "a"},
       "--timeout_ms does not apply to 'permanent'"},
      {{"history", "--app", "shop"}, "--app does not apply to 'history'"},
      {{"suspend"}, "suspend needs one actor NAME"},
      {{"stats", "a", "b"}, "stats needs one actor NAME"},
      {{"resume", "a", "--limit", "3"}, "--limit does not apply to 'resume'"},
      {{"state", "counter-1"}, "state takes get NAME or set NAME 'JSON'"},
      {{"state", "set", "counter-1"}, "state takes get NAME or set NAME 'JSON'"},
      {{"state", "set", "counter-1", "[1]"}, "the state must be a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    EXPECT_EQ(run(c.args), kLemonctlUsage);
    EXPECT_NE(err_.str().find(c.says), std::string::npos) << err_.str();
  }
  absl::MutexLock lock(&service_.mu);
  EXPECT_EQ(service_.last_method, "");
}

TEST_F(LemonctlTest, ReleaseCommandsPrintReadableSummaries) {
  rpc::MakePermanentResult permanent;
  permanent.add_modules("counter");
  permanent.add_modules("greeter");
  service_.make_permanent_result = permanent;
  ASSERT_EQ(run({"permanent", "--app", "shop"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(), "permanent: counter\npermanent: greeter\n");

  rpc::ReloadReport report;
  report.set_kind("module");
  report.set_target("counter");
  report.set_status("ok");
  service_.rollback_result = report;
  ASSERT_EQ(run({"rollback", "--module", "counter"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str().rfind("module counter: ok", 0), 0u) << out_.str();

  rpc::ReloadHistoryResult history;
  rpc::ReloadHistoryEntry* e = history.add_entries();
  e->set_time_unix_ms(1700000000000);
  e->set_requested_by("token:ops");
  e->set_op("rollback");
  e->set_target("counter");
  e->set_status("error");
  e->add_modules("counter");
  e->set_error("no previous version");
  service_.history_result = history;
  ASSERT_EQ(run({"history"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "2023-11-14T22:13:20Z error rollback counter [counter] by token:ops: no previous "
            "version\n");
}

TEST_F(LemonctlTest, ActorCommandsPrintReadableSummaries) {
  rpc::ActorsStateResult state;
  state.set_name("counter-1");
  state.set_version("2.0.0");
  (*state.mutable_state()->mutable_fields())["count"].set_number_value(7);
  service_.state_result = state;
  ASSERT_EQ(run({"state", "get", "counter-1"}), kLemonctlOk) << err_.str();
  EXPECT_NE(out_.str().find("version:    2.0.0\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("state:\n  count: 7\n"), std::string::npos) << out_.str();

  rpc::ActorsSuspendResult suspended;
  suspended.set_name("counter-1");
  suspended.set_resumes_at("2026-01-01T00:01:00Z");
  service_.suspend_result = suspended;
  ASSERT_EQ(run({"suspend", "counter-1"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(), "suspended counter-1 until 2026-01-01T00:01:00Z\n");

  rpc::ActorsResumeResult resumed;
  resumed.set_name("counter-1");
  resumed.set_was_suspended(true);
  service_.resume_result = resumed;
  ASSERT_EQ(run({"resume", "counter-1"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(), "resumed counter-1\n");

  rpc::ActorsStatisticsResult stats;
  stats.set_name("counter-1");
  stats.set_messages_handled(42);
  stats.set_suspended(true);
  service_.statistics_result = stats;
  ASSERT_EQ(run({"stats", "counter-1"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str().rfind("name:               counter-1\n", 0), 0u) << out_.str();
  EXPECT_NE(out_.str().find("suspended:          true\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("messages_handled:   42\n"), std::string::npos) << out_.str();

  ASSERT_EQ(run({"--json", "stats", "counter-1"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(json::parse(out_.str())["messages_handled"], "42") << out_.str();
}

TEST_F(LemonctlTest, SupervisorsPrintsEachSupervisorUnderItsParent) {
  rpc::SupervisorsListResult sups;
  rpc::SupervisorInfo* root = sups.add_supervisors();
  root->set_name("root");
  root->set_strategy("one_for_all");
  root->set_intensity(3);
  root->set_period_ms(5000);
  root->set_status("running");
  rpc::SupervisorChild* c = root->add_children();
  c->set_name("accounts");
  c->set_running(true);
  c = root->add_children();
  c->set_name("pool");
  c->set_supervisor(true);
  rpc::SupervisorInfo* pool = sups.add_supervisors();
  pool->set_name("pool");
  pool->set_parent("root");
  pool->set_strategy("simple_one_for_one");
  pool->set_intensity(10);
  pool->set_period_ms(1000);
  pool->set_status("unresponsive");
  service_.supervisors_result = sups;
  ASSERT_EQ(run({"supervisors"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "root  one_for_all  3 restarts in 5000 ms  running  [accounts, pool*!]\n"
            "  pool  simple_one_for_one  10 restarts in 1000 ms  unresponsive  []\n");
  service_.supervisors_result = rpc::SupervisorsListResult();
  ASSERT_EQ(run({"supervisors"}), kLemonctlOk) << err_.str();
  EXPECT_EQ(out_.str(), "no supervisors\n");
}

TEST_F(LemonctlTest, ReleaseAndActorErrorsExitNonZeroWithTheCode) {
  service_.statistics_result = reload_status(ReloadError::kNotFound, "no actor named ghost");
  EXPECT_EQ(run({"stats", "ghost"}), kLemonctlFailed);
  EXPECT_NE(err_.str().find("no actor named ghost (code -32004, not_found)"), std::string::npos)
      << err_.str();

  service_.rollback_result = reload_status(ReloadError::kReloadInProgress, "busy");
  EXPECT_EQ(run({"rollback", "--app", "shop"}), kLemonctlFailed);
  EXPECT_NE(err_.str().find("busy (code -32002, reload_in_progress)"), std::string::npos)
      << err_.str();

  EXPECT_EQ(run({"--json", "resume", "x"}), kLemonctlOk);
  service_.resume_result = reload_status(ReloadError::kNotFound, "gone");
  EXPECT_EQ(run({"--json", "resume", "x"}), kLemonctlFailed);
  EXPECT_EQ(json::parse(out_.str())["code"], -32004) << out_.str();
}

TEST_F(LemonctlTest, WrongTokenIsReportedAsUnauthorized) {
  std::string wrong = dir_.file("wrong_token");
  testing::write_file(wrong, "nope\n");
  ASSERT_EQ(::chmod(wrong.c_str(), 0600), 0);
  std::ostringstream out, err;
  int code = run_lemonctl(
      {"--control_port", std::to_string(server_->port()), "--token_file", wrong, "status"}, out,
      err);
  EXPECT_EQ(code, kLemonctlFailed);
  EXPECT_NE(err.str().find("-32001"), std::string::npos) << err.str();
}

TEST_F(LemonctlTest, MissingTokenFileIsAClearError) {
  std::ostringstream out, err;
  int code = run_lemonctl({"--control_port", std::to_string(server_->port()), "--token_file",
                           dir_.file("absent/token"), "status"},
                          out, err);
  EXPECT_EQ(code, kLemonctlFailed);
  EXPECT_NE(err.str().find("does not exist"), std::string::npos) << err.str();
}

TEST_F(LemonctlTest, UnreachableNodeIsAClearError) {
  int port = server_->port();
  server_->stop();
  std::ostringstream out, err;
  int code = run_lemonctl(
      {"--control_port", std::to_string(port), "--token_file", token_file_, "status"}, out, err);
  EXPECT_EQ(code, kLemonctlFailed);
  EXPECT_NE(err.str().find("cannot reach the node"), std::string::npos) << err.str();
}

TEST_F(LemonctlTest, TheBinaryTalksToANode) {
  rpc::SystemHealthResult health;
  health.set_node("binary-node");
  service_.health_result = health;
  std::string command =
      absl::StrCat(testing::runfile("control_plane/lemonctl"), " --control_port ", server_->port(),
                   " --token_file ", token_file_, " status 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  EXPECT_NE(output.find("binary-node"), std::string::npos) << output;
}

}  // namespace
}  // namespace lemon
