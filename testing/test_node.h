// Integration-test helpers for a node: a Runtime whose directories are in a scratch directory,
// module files installed into it as an operator installs them, and a fixture with both.
//
//   ScratchDir dir;
//   auto rt = Runtime::create(node_options(dir)).value();
//   ASSERT_TRUE(install_module(*rt, runfile("extensions/counter/libcounter_v1.so"), "counter.so")
//                   .ok());
#ifndef LEMON_TESTING_TEST_NODE_H_
#define LEMON_TESTING_TEST_NODE_H_

#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/test_ask.h"
#include "caf/all.hpp"
#include "core/reloader.h"
#include "core/test_support.h"
#include "gtest/gtest.h"
#include "node/runtime.h"

namespace lemon::testing {

// Runtime::Options whose state, modules and extension directories are state/, modules/ and ext/
// of `dir`; modules/ and ext/ are created (the runtime makes state/).
inline Runtime::Options node_options(const ScratchDir& dir) {
  ::mkdir(dir.file("modules").c_str(), 0700);
  ::mkdir(dir.file("ext").c_str(), 0700);
  Runtime::Options o;
  o.state_dir = dir.file("state");
  o.modules_dir = dir.file("modules");
  o.extension_dirs = {dir.file("ext")};
  return o;
}

// Copies the module file `so` to <rt's modules directory>/<file>, then, when `load`, loads it
// from there: Reloader::load_file's status.
inline absl::Status install_module(Runtime& rt, const std::string& so, const std::string& file,
                                   bool load = true) {
  const std::string path = rt.options().modules_dir + "/" + file;
  copy_file(so, path);
  if (!load) return absl::OkStatus();
  absl::StatusOr<ModuleRef> loaded = rt.reloader().load_file(path);
  return loaded.ok() ? absl::OkStatus() : loaded.status();
}

// A fixture with a node of its own: rt_ runs in dir_ (node_options), self_ talks to its actors.
class NodeTest : public ::testing::Test {
 protected:
  // A module to install and load at SetUp: its name and its file.
  struct Module {
    std::string name;
    std::string so;
  };

  // The node starts with `modules`, installed in this order.
  explicit NodeTest(std::vector<Module> modules = {}) : modules_(std::move(modules)) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Runtime>> rt = Runtime::create(node_options(dir_));
    ASSERT_TRUE(rt.ok()) << rt.status();
    rt_ = std::move(*rt);
    self_ = std::make_unique<caf::scoped_actor>(rt_->system());
    for (const Module& m : modules_) {
      install(m.name, m.so);
      if (HasFatalFailure()) return;
    }
  }
  void TearDown() override {
    self_.reset();
    rt_.reset();
  }

  // Puts `so` at <modules_dir>/<name>.so and loads it if `load`.
  void install(const std::string& name, const std::string& so, bool load = true) {
    absl::Status installed = install_module(*rt_, so, name + ".so", load);
    ASSERT_TRUE(installed.ok()) << installed;
  }

  // Puts `so` at <modules_dir>/<name>.so and reloads module `name` from it: the reload's report.
  ReloadReport install_and_reload(const std::string& name, const std::string& so) {
    install(name, so, false);
    return rt_->reloader().run(ReloadRequest::module(name));
  }

  // An actor of `module` named `name` ("": unnamed), started with `init_arg`; a failed spawn is a
  // test failure and gives an invalid handle.
  caf::actor spawn(const std::string& module, const std::string& name,
                   const std::string& init_arg = "") {
    SpawnSpec spec;
    spec.module = module;
    spec.name = name;
    spec.init_arg = init_arg;
    absl::StatusOr<caf::actor> a = rt_->spawn(spec);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : caf::actor{};
  }

  // `n` actors of `module`, named <module>-<i> and started with init_arg i; a failed spawn is a
  // test failure and is left out.
  std::vector<caf::actor> spawn(const std::string& module, int n) {
    std::vector<caf::actor> out;
    for (int i = 0; i < n; ++i) {
      caf::actor a = spawn(module, module + "-" + std::to_string(i), std::to_string(i));
      if (a) out.push_back(a);
    }
    return out;
  }

  // `a`'s reply of type T to the message `xs...`, waited for at most a minute; an error reply is
  // a test failure, and T{} is returned then.
  template <class T, class... Ts>
  T ask(const caf::actor& a, Ts... xs) {
    return ask_reply<T>(*self_, std::chrono::seconds(60), a, xs...);
  }

  const std::vector<Module> modules_;
  ScratchDir dir_;
  std::unique_ptr<Runtime> rt_;
  std::unique_ptr<caf::scoped_actor> self_;
};

}  // namespace lemon::testing

#endif  // LEMON_TESTING_TEST_NODE_H_
