// Cluster::start refuses what it cannot run on before it spawns anything: an actor system without
// caf::io, or Deps with a part missing.
#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "cluster/cluster.h"
#include "core/reload_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

using ::testing::HasSubstr;

Cluster::Options valid_options() {
  Cluster::Options o;
  o.node_name = "a";
  o.secret = std::string(cluster::kMinSecretBytes, 's');
  return o;
}

TEST(ClusterStartTest, RefusesAnActorSystemWithoutCafIo) {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  Cluster::Deps deps;
  deps.system = &system;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::start(deps, valid_options());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(reload_error_of(c.status()), ReloadError::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("caf::io"));
}

TEST(ClusterStartTest, RefusesDepsWithAPartMissing) {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system system{cfg};
  Cluster::Deps deps;
  deps.system = &system;  // no reloader, lock, code server, metrics or reload service
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::start(deps, valid_options());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(reload_error_of(c.status()), ReloadError::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("every part of Deps"));
}

}  // namespace
}  // namespace lemon
