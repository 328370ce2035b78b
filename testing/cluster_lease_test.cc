// The cluster lock's lease, the fencing token on every step, and the bounds on what peers holding
// the secret can make a node hold: sessions, remote reloads, timeouts and kinds.
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "cluster/cluster.h"
#include "cluster/cluster_messages.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"
#include "node/reload_service.h"
#include "testing/cluster_fixture.h"

namespace lemon {
namespace {

using cluster::PeerRole;
using testing::cluster_call;
using testing::ClusterNode;
using testing::kClusterSecret;
using testing::lock_token;
using testing::RawChannel;
using testing::RemotePeer;

constexpr absl::Duration kLease = absl::Seconds(2);
// The reaper checks leases every lease / 10; a loaded machine may run it late.
constexpr absl::Duration kReaperSlack = absl::Seconds(3);

ReloadError first_error(const ReloadReport& r) {
  return r.errors.empty() ? ReloadError::kOk : r.errors[0].reason;
}

// A node and a peer "b" with the secret that coordinates by hand (renewing only when told).
class CoordinatedNode : public ::testing::Test {
 protected:
  explicit CoordinatedNode(absl::Duration lease)
      : node_({lease, /*max_sessions=*/2, /*max_remote_reloads=*/1}),
        coordinator_(
            peer_.handshake(peer_.connect(node_.port()), kClusterSecret, "b", PeerRole::kMember)) {}

  // Takes the node's lock for `reload_id`; its token.
  uint64_t lock(const std::string& reload_id) {
    ReloadReport r = peer_.report(
        coordinator_, caf::make_message(cluster_lock_atom::value, cluster_call(reload_id)));
    EXPECT_EQ(r.status, ReloadStatus::kOk) << (r.errors.empty() ? "" : r.errors[0].message);
    return lock_token(r);
  }
  template <class Atom>
  ReloadReport step(Atom atom, const std::string& reload_id, uint64_t token) {
    return peer_.report(coordinator_, caf::make_message(atom, cluster_call(reload_id, token)));
  }

  ClusterNode node_;
  RemotePeer peer_;
  RawChannel coordinator_;
};

class ClusterLeaseTest : public CoordinatedNode {
 protected:
  ClusterLeaseTest() : CoordinatedNode(kLease) {}
};

// A lease long enough that no session expires while a test runs.
class ClusterFencingTest : public CoordinatedNode {
 protected:
  ClusterFencingTest() : CoordinatedNode(absl::Minutes(5)) {}
};

TEST_F(ClusterLeaseTest, SilentCoordinatorLosesTheLockWithinTheLease) {
  ASSERT_GT(lock("b/1"), 0u);
  ASSERT_TRUE(node_.lock_held());
  // The coordinator keeps its connection (the peer lives on) but sends nothing more.
  const absl::Time locked = absl::Now();
  EXPECT_TRUE(node_.await_lock_free(kLease + kReaperSlack));
  std::printf("lock given back %.2f s after it was granted (lease %.1f s)\n",
              absl::ToDoubleSeconds(absl::Now() - locked), absl::ToDoubleSeconds(kLease));
  // Its next step is fenced off, and a new cluster reload proceeds.
  EXPECT_EQ(first_error(step(cluster_prepare_atom::value, "b/1", 1)),
            ReloadError::kReloadInProgress);
  ReloadRequest request = ReloadRequest::module("counter");
  request.lock_timeout_ms = 1000;
  ReloadReport r = node_.cluster().reload(request);
  EXPECT_EQ(r.metadata["outcome"], "committed") << r.results.at(0).errors.at(0).message;
  EXPECT_EQ(node_.counter_version(), "2");
}

TEST_F(ClusterLeaseTest, RenewedLockOutlivesTheLease) {
  const uint64_t token = lock("b/1");
  ASSERT_GT(token, 0u);
  const absl::Time until = absl::Now() + 3 * kLease;
  while (absl::Now() < until) {
    ReloadReport renewed = step(cluster_renew_atom::value, "b/1", token);
    ASSERT_EQ(renewed.status, ReloadStatus::kOk) << renewed.errors.at(0).message;
    EXPECT_TRUE(node_.lock_held());
    absl::SleepFor(kLease / 4);  // a coordinator's pace of renewals, not a wait for a condition
  }
  EXPECT_EQ(step(cluster_finish_atom::value, "b/1", token).status, ReloadStatus::kOk);
  EXPECT_FALSE(node_.lock_held());
}

TEST_F(ClusterFencingTest, EveryStepIsFencedByTheToken) {
  const uint64_t token = lock("b/1");
  ASSERT_GT(token, 0u);
  for (uint64_t stale : {token + 1, token - 1, uint64_t{0}}) {
    SCOPED_TRACE(stale);
    EXPECT_EQ(first_error(step(cluster_prepare_atom::value, "b/1", stale)),
              ReloadError::kReloadInProgress);
    EXPECT_EQ(first_error(step(cluster_commit_atom::value, "b/1", stale)),
              ReloadError::kReloadInProgress);
    EXPECT_EQ(first_error(step(cluster_renew_atom::value, "b/1", stale)),
              ReloadError::kReloadInProgress);
    EXPECT_EQ(first_error(step(cluster_finish_atom::value, "b/1", stale)),
              ReloadError::kReloadInProgress);
    EXPECT_TRUE(node_.lock_held());
  }
  // Another member holding the secret cannot step into b's session even with b's token.
  RawChannel other =
      peer_.handshake(peer_.connect(node_.port()), kClusterSecret, "c", PeerRole::kMember);
  ReloadReport theirs = peer_.report(
      other, caf::make_message(cluster_finish_atom::value, cluster_call("b/1", token)));
  EXPECT_EQ(first_error(theirs), ReloadError::kReloadInProgress);
  EXPECT_TRUE(node_.lock_held());
  EXPECT_EQ(step(cluster_finish_atom::value, "b/1", token).status, ReloadStatus::kOk);
  EXPECT_FALSE(node_.lock_held());
}

TEST_F(ClusterFencingTest, SessionsAreBounded) {
  const uint64_t token = lock("b/1");
  ASSERT_GT(token, 0u);
  // The second session waits for the lock (on its own thread); the third finds no room.
  caf::scoped_actor self{peer_.system()};
  ClusterCall waiting = cluster_call("b/2");
  waiting.request.lock_timeout_ms = 60000;
  cluster::SealedMessage second =
      peer_.seal(coordinator_, caf::make_message(cluster_lock_atom::value, waiting));
  auto pending = self->request(coordinator_.agent, testing::kReplyTimeout,
                               cluster::sealed_atom::value, second);
  ReloadReport third =
      peer_.report(coordinator_, caf::make_message(cluster_lock_atom::value, cluster_call("b/3")));
  EXPECT_EQ(first_error(third), ReloadError::kReloadInProgress);
  EXPECT_NE(third.errors.at(0).message.find("the most it takes"), std::string::npos)
      << third.errors.at(0).message;
  // Ending the first lets the second take the lock.
  EXPECT_EQ(step(cluster_finish_atom::value, "b/1", token).status, ReloadStatus::kOk);
  uint64_t second_token = 0;
  pending.receive(
      [&](cluster::SealedMessage& reply) {
        ReloadReport r = peer_.open_report(coordinator_, reply, second.seq);
        second_token = lock_token(r);
      },
      [](caf::error&) { ADD_FAILURE(); });
  ASSERT_GT(second_token, token);
  EXPECT_EQ(step(cluster_finish_atom::value, "b/2", second_token).status, ReloadStatus::kOk);
  EXPECT_FALSE(node_.lock_held());
}

TEST_F(ClusterFencingTest, RemoteReloadsAreBounded) {
  const uint64_t token = lock("b/1");  // the first remote reload waits for this lock
  ASSERT_GT(token, 0u);
  ReloadRequest req = ReloadRequest::module("counter");
  req.lock_timeout_ms = 60000;
  caf::scoped_actor self{peer_.system()};
  cluster::SealedMessage first =
      peer_.seal(coordinator_, caf::make_message(reload_atom::value, req));
  auto pending =
      self->request(coordinator_.agent, testing::kReplyTimeout, cluster::sealed_atom::value, first);
  ReloadReport second = peer_.report(coordinator_, caf::make_message(reload_atom::value, req));
  EXPECT_EQ(first_error(second), ReloadError::kReloadInProgress);
  EXPECT_NE(second.errors.at(0).message.find("the most it takes"), std::string::npos)
      << second.errors.at(0).message;
  EXPECT_EQ(step(cluster_finish_atom::value, "b/1", token).status, ReloadStatus::kOk);
  pending.receive(
      [&](cluster::SealedMessage& reply) {
        EXPECT_EQ(peer_.open_report(coordinator_, reply, first.seq).status, ReloadStatus::kOk);
      },
      [](caf::error&) { ADD_FAILURE(); });
  EXPECT_EQ(node_.counter_version(), "2");
}

TEST_F(ClusterFencingTest, OutOfRangeCallsAreRefused) {
  struct Case {
    const char* what;
    ClusterCall call;
    bool coordinator_checks;  // Cluster::reload makes its own reload id
  };
  std::vector<Case> cases;
  cases.push_back({"huge timeout", cluster_call("b/1"), true});
  cases.back().call.request.timeout_ms = 0xffffffffu;
  cases.push_back({"huge lock timeout", cluster_call("b/2"), true});
  cases.back().call.request.lock_timeout_ms = kMaxClusterTimeoutMs + 1;
  cases.push_back({"unknown operation", cluster_call("b/3"), true});
  cases.back().call.request.op = static_cast<ReloadOp>(77);
  cases.push_back({"a purge", cluster_call("b/4"), true});
  cases.back().call.request = ReloadRequest::hard_purge("counter");
  cases.push_back({"no reload id", cluster_call(""), false});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ReloadReport r =
        peer_.report(coordinator_, caf::make_message(cluster_lock_atom::value, c.call));
    EXPECT_EQ(first_error(r), ReloadError::kInvalidArgument);
    EXPECT_FALSE(node_.lock_held());
    if (c.coordinator_checks) {
      ReloadReport coordinated = node_.cluster().reload(c.call.request);
      EXPECT_EQ(coordinated.status, ReloadStatus::kError);
      EXPECT_EQ(coordinated.errors.at(0).reason, ReloadError::kInvalidArgument);
      EXPECT_FALSE(node_.lock_held());
    }
  }
  ReloadRequest req = ReloadRequest::module("counter");
  req.timeout_ms = kMaxClusterTimeoutMs + 1;
  EXPECT_EQ(first_error(peer_.report(coordinator_, caf::make_message(reload_atom::value, req))),
            ReloadError::kInvalidArgument);
  EXPECT_EQ(node_.counter_version(), "1");
}

}  // namespace
}  // namespace lemon
