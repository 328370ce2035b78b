// The Reloader beside itself: a real CodeServer on the raw test modules, a real ReloadLock, and a
// fake ModuleSwapper (core/module_swapper.h) that records swaps and fails the ones it is told to.
// The actor side of a reload is tested in testing/reloader_test.cc.
#include "core/reloader.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using testing::runfile;
using testing::ScratchDir;

std::string raw(const std::string& name) { return runfile("core/testdata/lib" + name + ".so"); }

// Makes `next` current as the real swapper does once every actor moved, unless its module and
// version are in `fail`.
class FakeSwapper : public ModuleSwapper {
 public:
  explicit FakeSwapper(CodeServer& cs) : cs_(cs) {}

  SwapResult swap(const ModuleRef& next, const SwapOptions&) override {
    swaps.push_back(next->name() + "@" + next->version());
    SwapResult r;
    r.module = next->name();
    r.to_version = next->version();
    if (fail.count(swaps.back()) > 0) {
      r.status = reload_status(ReloadError::kCodeChangeFailed, "told to fail");
      return r;
    }
    r.status = cs_.commit(next);
    return r;
  }
  SwapResult change_code(const std::string&, const SwapOptions&) override { return {}; }
  SwapResult preflight(const ModuleRef&, const SwapOptions&, std::size_t) override { return {}; }
  int stop_actors(const ModuleRef&, absl::Duration) override { return 0; }
  std::map<std::string, std::size_t> actor_counts() const override { return {}; }

  std::vector<std::string> swaps;  // "<module>@<version>", in order
  std::set<std::string> fail;

 private:
  CodeServer& cs_;
};

class ReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(make_dirs(dir_.file("modules"), 0700).ok());
    CodeServer::Options o;
    o.copy_dir = dir_.file("copies");
    auto cs = CodeServer::create(o);
    ASSERT_TRUE(cs.ok()) << cs.status();
    cs_ = std::move(*cs);
    swapper_ = std::make_unique<FakeSwapper>(*cs_);
    reloader_ = std::make_unique<Reloader>(
        Reloader::Deps{cs_.get(), swapper_.get(), nullptr, &lock_, nullptr},
        Reloader::Layout{dir_.file("modules"), {}, dir_.file("apps.json")});
  }
  // Puts `lib` in the modules directory as <name>.so.
  void place(const std::string& lib, const std::string& name) {
    testing::copy_file(raw(lib), dir_.file("modules/" + name + ".so"));
  }
  // With raw_v1 loaded and `lib` placed as raw.so: sets `change` to the all-or-nothing change
  // that a reload of the module raw prepares (call it in ASSERT_NO_FATAL_FAILURE).
  void prepare_raw_over_v1(const std::string& lib, std::unique_ptr<ReloadChange>& change) {
    ASSERT_TRUE(reloader_->load_file(raw("raw_v1")).ok());
    place(lib, "raw");
    change = reloader_->prepare(ReloadRequest::module("raw"), /*all_or_nothing=*/true);
  }
  std::string current(const std::string& name) {
    ModuleRef m = cs_->current(name);
    return m ? m->version() : "none";
  }

  ScratchDir dir_;
  ReloadLock lock_;
  std::unique_ptr<CodeServer> cs_;
  std::unique_ptr<FakeSwapper> swapper_;
  std::unique_ptr<Reloader> reloader_;
};

TEST_F(ReloaderTest, AModuleReloadSwapsOnceAndReportsTheLockTokenAsAField) {
  ASSERT_TRUE(reloader_->load_file(raw("raw_v1")).ok());
  place("raw_v2", "raw");
  ReloadReport r = reloader_->run(ReloadRequest::module("raw"));
  EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(swapper_->swaps, std::vector<std::string>{"raw@2"});
  EXPECT_GT(r.lock_token, 0u);
  EXPECT_EQ(current("raw"), "2");
}

TEST_F(ReloaderTest, AnAllOrNothingChangeWithOneBadModuleCommitsNothing) {
  ASSERT_TRUE(reloader_->load_file(raw("raw_v1")).ok());
  place("raw_v2", "raw");
  place("no_entry", "broken");
  auto change = reloader_->prepare(ReloadRequest::of({{"raw", "broken"}, {}, {}, {}}),
                                   /*all_or_nothing=*/true);
  EXPECT_FALSE(change->ok());
  reloader_->commit(*change);
  EXPECT_TRUE(swapper_->swaps.empty());
  EXPECT_EQ(current("raw"), "1");
  // Not all or nothing (a local selection): each item succeeds or fails on its own.
  ReloadReport r = reloader_->run(ReloadRequest::of({{"raw", "broken"}, {}, {}, {}}));
  EXPECT_EQ(r.results.at(0).status, ReloadStatus::kOk);
  EXPECT_EQ(r.results.at(1).status, ReloadStatus::kError);
  EXPECT_EQ(current("raw"), "2");
}

TEST_F(ReloaderTest, AFailedSwapInAnAllOrNothingChangeUndoesWhatCameBeforeIt) {
  ASSERT_TRUE(reloader_->load_file(raw("raw_v1")).ok());
  place("other_name", "other");  // a first load: committed without a swap
  place("raw_v2", "raw");
  swapper_->fail = {"raw@2"};
  auto change = reloader_->prepare(ReloadRequest::of({{"other", "raw"}, {}, {}, {}}),
                                   /*all_or_nothing=*/true);
  ASSERT_TRUE(change->ok());
  reloader_->commit(*change);
  const ReloadReport& r = change->report();
  EXPECT_EQ(r.status, ReloadStatus::kError);
  EXPECT_TRUE(r.results.at(0).rolled_back) << "the first load was not undone";
  EXPECT_EQ(current("other"), "none");
  EXPECT_EQ(current("raw"), "1");
}

TEST_F(ReloaderTest, RollbackAfterACommitReturnsToThePreviousVersions) {
  std::unique_ptr<ReloadChange> change;
  ASSERT_NO_FATAL_FAILURE(prepare_raw_over_v1("raw_v2", change));
  ASSERT_TRUE(change->ok());
  EXPECT_TRUE(change->changes_anything());
  reloader_->commit(*change);
  EXPECT_EQ(current("raw"), "2");
  reloader_->rollback(*change);
  EXPECT_EQ(swapper_->swaps, (std::vector<std::string>{"raw@2", "raw@1"}));
  EXPECT_TRUE(change->report().rolled_back);
  EXPECT_EQ(current("raw"), "1");
}

TEST_F(ReloaderTest, PrepareTouchesNothingAndAnUnchangedModuleHasNothingToCommit) {
  std::unique_ptr<ReloadChange> change;
  ASSERT_NO_FATAL_FAILURE(prepare_raw_over_v1("raw_v1", change));
  EXPECT_TRUE(change->ok());
  EXPECT_FALSE(change->changes_anything());
  EXPECT_EQ(change->report().skipped.at(0).reason, ReloadError::kUnchanged);
  EXPECT_TRUE(swapper_->swaps.empty());
}

std::string bank(const std::string& name) { return runfile("core/testdata/lib" + name + ".so"); }

TEST_F(ReloaderTest, AVersionWhoseSchemaBreaksTheCurrentOneIsRefusedBeforeAnySwap) {
  ASSERT_TRUE(reloader_->load_file(bank("bank_v1")).ok());
  testing::copy_file(bank("bank_v2"), dir_.file("modules/bank.so"));
  ReloadReport r = reloader_->run(ReloadRequest::module("bank"));
  ASSERT_EQ(r.status, ReloadStatus::kError);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, ReloadError::kSchemaIncompatible);
  EXPECT_NE(
      r.errors[0].message.find("bank.Account.balance: field 2 changed type from int64 to string"),
      std::string::npos)
      << r.errors[0].message;
  EXPECT_TRUE(swapper_->swaps.empty()) << "no actor may be held for a refused version";
  EXPECT_EQ(current("bank"), "1");
}

TEST_F(ReloaderTest, ASchemaChangeWithDeclaredMigrationsOrForcedPassesTheGate) {
  ASSERT_TRUE(reloader_->load_file(bank("bank_v1")).ok());
  testing::copy_file(bank("bank_v2_migrated"), dir_.file("modules/bank.so"));
  ReloadReport r = reloader_->run(ReloadRequest::module("bank"));
  EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(current("bank"), "2");

  ASSERT_TRUE(cs_->unload("bank").ok());
  ASSERT_TRUE(reloader_->load_file(bank("bank_v1")).ok());
  testing::copy_file(bank("bank_v2"), dir_.file("modules/bank.so"));
  ReloadRequest forced = ReloadRequest::module("bank");
  forced.force = true;
  r = reloader_->run(forced);
  EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(current("bank"), "2");
  EXPECT_EQ(swapper_->swaps, (std::vector<std::string>{"bank@2", "bank@2"}));
}

TEST_F(ReloaderTest, TheGateRefusesAnAppWhoseModuleBreaksItsSchema) {
  ASSERT_TRUE(reloader_->load_file(bank("bank_v1")).ok());
  testing::copy_file(bank("bank_v2"), dir_.file("modules/bank.so"));
  testing::write_file(dir_.file("apps.json"), R"({"apps":[{"name":"money","modules":["bank"]}]})");
  ReloadReport r = reloader_->run(ReloadRequest::app("money"));
  EXPECT_EQ(r.status, ReloadStatus::kError);
  EXPECT_TRUE(swapper_->swaps.empty());
  EXPECT_EQ(current("bank"), "1");
}

// A Reloader on the fixture's code server that records releases in `store`.
class ReleasingReloaderTest : public ReloaderTest {
 protected:
  void SetUp() override {
    ReloaderTest::SetUp();
    auto store = ReleaseStore::open(dir_.file("releases"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    releasing_ = std::make_unique<Reloader>(
        Reloader::Deps{cs_.get(), swapper_.get(), nullptr, &lock_, nullptr, store_.get()},
        Reloader::Layout{dir_.file("modules"), {}, dir_.file("apps.json")});
  }
  // A module request numbered as cluster commit `seq`.
  static ReloadRequest numbered(const std::string& module, uint64_t seq) {
    ReloadRequest r = ReloadRequest::module(module);
    r.cluster_seq = seq;
    return r;
  }

  std::unique_ptr<ReleaseStore> store_;
  std::unique_ptr<Reloader> releasing_;
};

TEST_F(ReleasingReloaderTest, RunFileLoadsThatFileAndRecordsItsClusterCommit) {
  ASSERT_TRUE(releasing_->load_file(raw("raw_v1")).ok());
  place("raw_v1", "raw");  // the modules directory still holds version 1
  ASSERT_TRUE(make_dirs(dir_.file("fetched"), 0700).ok());
  testing::copy_file(raw("raw_v2"), dir_.file("fetched/raw.so"));
  ReloadReport r = releasing_->run_file(numbered("raw", 7), dir_.file("fetched/raw.so"));
  EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
  EXPECT_EQ(current("raw"), "2");
  ASSERT_TRUE(store_->permanent("raw").has_value());
  EXPECT_EQ(store_->permanent("raw")->version, "2");
  EXPECT_EQ(store_->permanent("raw")->cluster_seq, 7u);
  EXPECT_EQ(store_->highest_cluster_seq(), 7u);
  // The number survives a restart of the store.
  auto reopened = ReleaseStore::open(dir_.file("releases"));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->permanent("raw")->cluster_seq, 7u);
  EXPECT_EQ((*reopened)->with_checksum("raw", cs_->current("raw")->checksum())->version, "2");
}

TEST_F(ReleasingReloaderTest, RunFileTakesOnlyAModuleAndAPath) {
  ReloadReport r = releasing_->run_file(ReloadRequest::app("shop"), dir_.file("x.so"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, ReloadError::kInvalidArgument);
  r = releasing_->run_file(ReloadRequest::module("raw"), "");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, ReloadError::kInvalidArgument);
}

TEST_F(ReleasingReloaderTest, ALocalReloadIsNoClusterCommitAndARollbackRestoresTheNumber) {
  ASSERT_TRUE(releasing_->load_file(raw("raw_v1")).ok());
  place("raw_v2", "raw");
  ASSERT_EQ(releasing_->run(ReloadRequest::module("raw")).status, ReloadStatus::kOk);
  EXPECT_EQ(store_->permanent("raw")->cluster_seq, 0u);
  place("raw_v1", "raw");
  ASSERT_EQ(releasing_->run(numbered("raw", 3)).status, ReloadStatus::kOk);
  EXPECT_EQ(store_->permanent("raw")->cluster_seq, 3u);
  // Commit 4 moves raw to 2; undone (another node failed), raw boots 1 of commit 3 again.
  place("raw_v2", "raw");
  auto change = releasing_->prepare(numbered("raw", 4), /*all_or_nothing=*/true);
  ASSERT_TRUE(change->ok());
  releasing_->commit(*change);
  EXPECT_EQ(store_->permanent("raw")->cluster_seq, 4u);
  releasing_->rollback(*change);
  EXPECT_EQ(current("raw"), "1");
  EXPECT_EQ(store_->permanent("raw")->version, "1");
  EXPECT_EQ(store_->permanent("raw")->cluster_seq, 3u);
}

}  // namespace
}  // namespace lemon
