// Module names on a real runtime: a name that would make `<modules_dir>/<name>.so` another file is
// refused by every reload operation that takes one, before any file is opened or created, and the
// actors keep running as they were.
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "actors/messages.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/reload_error.h"
#include "core/reloader.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"
#include "testing/test_node.h"

namespace lemon {
namespace {

using testing::copy_file;
using testing::runfile;

std::string counter_so(const std::string& v) {
  return runfile("extensions/counter/libcounter_v" + v + ".so");
}

// The reason of a report's first error, in it or in its first child.
ReloadError first_reason(const ReloadReport& r) {
  if (!r.errors.empty()) return r.errors[0].reason;
  if (!r.results.empty() && !r.results[0].errors.empty()) return r.results[0].errors[0].reason;
  return ReloadError::kOk;
}

class ModuleNamesTest : public testing::NodeTest {
 protected:
  int64_t add(const caf::actor& a, int64_t n) { return ask<int64_t>(a, add_atom::value, n); }
  std::string version_of(const caf::actor& a) {
    return ask<ActorStatus>(a, sys_status_atom::value).version;
  }
};

TEST_F(ModuleNamesTest, ABadNameIsRefusedBeforeAnyFileIsTouchedAndActorsStayAsTheyWere) {
  install("counter", counter_so("1"));
  std::vector<caf::actor> actors;
  for (int i = 0; i < 3; ++i) {
    actors.push_back(spawn("counter", "counter-" + std::to_string(i), "0"));
    ASSERT_TRUE(actors.back());
    EXPECT_EQ(add(actors.back(), 10 + i), 10 + i);
  }
  // Version 2 where `counter\0x` and `counter\0` lead the C calls: <modules_dir>/counter.
  const std::string decoy = dir_.file("modules/counter");
  copy_file(counter_so("2"), decoy);
  const int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(watch, 0);
  ASSERT_GE(inotify_add_watch(watch, decoy.c_str(), IN_OPEN), 0);
  ASSERT_GE(inotify_add_watch(watch, dir_.file("state/modules").c_str(), IN_CREATE), 0);

  Reloader& reloader = rt_->reloader();
  for (const std::string& name : {std::string("counter\0x", 9), std::string("counter\0", 8),
                                  std::string("../modules/counter"), std::string(".counter"),
                                  std::string("counter/"), std::string("")}) {
    SCOPED_TRACE(name);
    ReloadSelection selection;
    selection.modules = {name};
    const ReloadReport reports[] = {
        reloader.run(ReloadRequest::module(name)),
        reloader.run(ReloadRequest::soft_purge(name)),
        reloader.run(ReloadRequest::hard_purge(name)),
        reloader.run(ReloadRequest::of(selection)),
    };
    for (const ReloadReport& r : reports) {
      SCOPED_TRACE(to_string(r.kind));
      EXPECT_EQ(first_reason(r), ReloadError::kInvalidArgument) << to_string(first_reason(r));
      EXPECT_TRUE(r.reloaded.empty());
    }
  }
  char events[4096];
  EXPECT_LT(read(watch, events, sizeof(events)), 0) << "a module file was opened or copied";
  close(watch);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(version_of(actors[i]), "1");
    EXPECT_EQ(add(actors[i], 1), 11 + i) << "state changed";
  }
  EXPECT_EQ(rt_->code_server().old("counter"), nullptr);
}

}  // namespace
}  // namespace lemon
