// Catching up: a node that joins a peer compares its permanent versions with the peer's
// (cluster/version_skew.h) and, for each module it is behind on, loads the cluster's bytes through
// its Reloader (found in its modules directory, else fetched from the peer and checked against the
// checksum), made permanent with the cluster commit they came from. What it cannot bring in line
// is its version skew: system.health and lemon_cluster_version_skew{module} show it until a later
// reload brings the module in line.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "cluster/cluster_internal.h"
#include "core/fs.h"
#include "core/reload_error.h"
#include "core/sha256.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"

namespace lemon {
namespace cluster_internal {
namespace {

using Millis = std::chrono::milliseconds;

constexpr Millis kReleasesDeadline{10000};
constexpr Millis kBytesDeadline{60000};

ClusterRelease cluster_release(const std::string& module, const Release& r) {
  return {module, r.version, r.checksum, r.cluster_seq};
}

std::optional<ClusterRelease> permanent_of(const Reloader& reloader, const std::string& module) {
  const ReleaseStore* store = reloader.releases();
  std::optional<Release> r = store ? store->permanent(module) : std::nullopt;
  if (!r) return std::nullopt;
  return cluster_release(module, *r);
}

// The cluster's bytes of `gap` as a file this node trusts: its own <modules_dir>/<module>.so when
// that file has the checksum, else the peer's copy, checked, written under <state_dir>/catch_up
// (*fetched names it, for removal after the reload).
absl::StatusOr<std::string> cluster_file(State& st, caf::scoped_actor& self,
                                         cluster::AuthenticatedClient& peer, const VersionSkew& gap,
                                         std::string* fetched) {
  const Cluster::Deps& d = st.deps;
  if (!d.modules_dir.empty()) {
    const std::string own = absl::StrCat(d.modules_dir, "/", gap.module, ".so");
    absl::StatusOr<std::string> sum = sha256_file(own);
    if (sum.ok() && *sum == gap.cluster_checksum) return own;
  }
  absl::StatusOr<caf::message> reply = peer.call(
      self.ptr(),
      caf::make_message(cluster_release_bytes_atom::value, gap.module, gap.cluster_checksum),
      kBytesDeadline);
  if (!reply.ok()) return reply.status();
  if (!reply->match_elements<bool, std::string>()) {
    return reload_status(ReloadError::kInternal, "the peer answered with something else");
  }
  const std::string& bytes = reply->get_as<std::string>(1);
  if (!reply->get_as<bool>(0)) return reload_status(ReloadError::kNotFound, bytes);
  if (bytes.size() > kMaxReleaseBytes || sha256_hex(bytes) != gap.cluster_checksum) {
    return reload_status(ReloadError::kIoError,
                         "the bytes the peer sent do not have the cluster's checksum");
  }
  const std::string dir = absl::StrCat(d.state_dir, "/catch_up");
  if (absl::Status s = make_dirs(dir, 0700); !s.ok()) return s;
  *fetched = absl::StrCat(dir, "/", gap.module, "-", gap.cluster_checksum.substr(0, 16), ".so");
  absl::StatusOr<bool> written = write_file_atomic(*fetched, bytes, 0600, /*replace=*/true);
  if (!written.ok()) return written.status();
  return *fetched;
}

// Brings `gap`'s module in line through the Reloader; OK once its permanent version is the
// cluster's.
absl::Status catch_up_module(State& st, caf::scoped_actor& self, cluster::AuthenticatedClient& peer,
                             const VersionSkew& gap) {
  std::string fetched;
  absl::StatusOr<std::string> file = cluster_file(st, self, peer, gap, &fetched);
  if (!file.ok()) return file.status();
  ReloadRequest req = ReloadRequest::module(gap.module);
  req.owner = absl::StrCat("cluster catch-up from ", peer.node_name());
  req.requested_by = req.owner;
  req.cluster_seq = gap.cluster_seq;
  ReloadReport r = st.deps.reloader->run_file(req, *file);
  if (!fetched.empty()) unlink(fetched.c_str());
  std::optional<ClusterRelease> now = permanent_of(*st.deps.reloader, gap.module);
  if (now && now->checksum == gap.cluster_checksum) return absl::OkStatus();
  if (!r.errors.empty()) return reload_status(r.errors[0].reason, r.errors[0].message);
  if (!r.skipped.empty()) return reload_status(r.skipped[0].reason, r.skipped[0].message);
  return reload_status(ReloadError::kInternal, "the reload did not make it permanent");
}

}  // namespace

std::vector<ClusterRelease> local_releases(const Reloader& reloader) {
  std::vector<ClusterRelease> out;
  const ReleaseStore* store = reloader.releases();
  if (store == nullptr) return out;
  for (const std::string& m : store->modules()) {
    if (std::optional<ClusterRelease> r = permanent_of(reloader, m)) out.push_back(std::move(*r));
  }
  return out;
}

void serve_release_bytes(caf::event_based_actor* self, const std::shared_ptr<State>& st,
                         const std::string& module, const std::string& checksum, Reply reply) {
  // A file read: off the agent.
  self->spawn<caf::detached>([st, module, checksum, reply](caf::blocking_actor*) mutable {
    const ReleaseStore* store = st->deps.reloader->releases();
    std::optional<Release> r = store ? store->with_checksum(module, checksum) : std::nullopt;
    if (!r) {
      return reply(caf::make_message(
          false, absl::StrCat("node ", st->node_name, " has no release of ", module,
                              " with checksum ", checksum.substr(0, 16))));
    }
    absl::StatusOr<std::string> bytes = read_file_at(r->copy, kMaxReleaseBytes);
    if (!bytes.ok()) return reply(caf::make_message(false, std::string(bytes.status().message())));
    reply(caf::make_message(true, *std::move(bytes)));
  });
}

void catch_up_with(State& st, cluster::AuthenticatedClient& peer) {
  absl::MutexLock serial(&st.catch_up_mu);
  caf::scoped_actor self{*st.deps.system};
  absl::StatusOr<caf::message> reply =
      peer.call(self.ptr(), caf::make_message(cluster_releases_atom::value), kReleasesDeadline);
  if (!reply.ok() || !reply->match_elements<std::vector<ClusterRelease>>()) {
    std::fprintf(stderr, "lemon: cluster node %s: cannot compare versions with %s: %s\n",
                 st.node_name.c_str(), peer.node_name().c_str(),
                 reply.ok() ? "not a release list" : std::string(reply.status().message()).c_str());
    return;
  }
  const auto& theirs = reply->get_as<std::vector<ClusterRelease>>(0);
  for (const VersionSkew& gap : behind(local_releases(*st.deps.reloader), theirs)) {
    absl::Status done = st.catch_up ? catch_up_module(st, self, peer, gap)
                                    : reload_status(ReloadError::kInvalidArgument,
                                                    "catch-up is off (--cluster_catch_up)");
    if (done.ok()) {
      std::fprintf(stderr, "lemon: cluster node %s caught up with %s: %s %s -> %s\n",
                   st.node_name.c_str(), peer.node_name().c_str(), gap.module.c_str(),
                   gap.local_version.c_str(), gap.cluster_version.c_str());
      continue;
    }
    std::fprintf(
        stderr, "lemon: cluster node %s: version skew: %s %s, the cluster's (%s) is %s: %s\n",
        st.node_name.c_str(), gap.module.c_str(), gap.local_version.c_str(),
        peer.node_name().c_str(), gap.cluster_version.c_str(), std::string(done.message()).c_str());
    absl::MutexLock lock(&st.mu);
    note_skew(st.skew, gap);
  }
  refresh_skew(st);
}

void refresh_skew(State& st) {
  absl::MutexLock lock(&st.mu);
  for (auto it = st.skew.begin(); it != st.skew.end();) {
    std::optional<ClusterRelease> now = permanent_of(*st.deps.reloader, it->module);
    const bool cleared = !now || in_line(*it, *now);
    if (st.skew_gauge != nullptr) st.skew_gauge->Add({{"module", it->module}}).Set(cleared ? 0 : 1);
    it = cleared ? st.skew.erase(it) : std::next(it);
  }
}

prometheus::Family<prometheus::Gauge>* register_skew_gauge(prometheus::Registry& registry,
                                                           const std::string& node_name) {
  prometheus::Labels constant;
  if (!node_name.empty()) constant["node"] = node_name;
  return &prometheus::BuildGauge()
              .Name("lemon_cluster_version_skew")
              .Help(
                  "1 for a module whose permanent version is older than the cluster's and "
                  "could not be caught up; 0 once it is in line.")
              .Labels(constant)
              .Register(registry);
}

}  // namespace cluster_internal
}  // namespace lemon
