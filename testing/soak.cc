// Reload soak: many reloads (alternating counter versions 1 and 2, every 10th failing on purpose)
// against many actors under a steady, numbered message stream, then checks that nothing was lost
// or reordered and that memory, file descriptors and module copies stay flat. Run by tools/soak.sh
// (`bazel run -c opt //testing:soak -- --reloads=10000 --actors=1000`); prints one summary line
// and exits non-zero if a check fails.
#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "actors/messages.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "core/heap_trim.h"
#include "core/reload_error.h"
#include "core/reloader.h"
#include "core/test_support.h"
#include "node/runtime.h"

namespace lemon {
namespace {

struct Config {
  int reloads = 10000;
  int actors = 1000;
  int warmup = 100;           // reloads before the baseline (RSS, fds) is taken
  int round_pause_us = 2000;  // pause between two rounds of one tick to every actor
  int fail_every = 10;        // every n-th reload uses counter 2-fail (code_change throws)
  int sample_every = 0;       // print RSS and malloc's heap use every n reloads (0: never)
  std::string scheduler;      // Runtime::Options::scheduler ("": auto)
};

bool parse_flags(int argc, char** argv, Config& c) {
  std::map<std::string, int*> flags = {
      {"--reloads", &c.reloads},       {"--actors", &c.actors},
      {"--warmup", &c.warmup},         {"--round_pause_us", &c.round_pause_us},
      {"--fail_every", &c.fail_every}, {"--sample_every", &c.sample_every}};
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    if (kv.first == "--scheduler") {
      c.scheduler = kv.second;  // checked by Runtime::create
      continue;
    }
    auto it = flags.find(kv.first);
    if (it == flags.end() || !absl::SimpleAtoi(kv.second, it->second) || *it->second < 0) {
      std::fprintf(stderr,
                   "soak: bad flag %s (flags: --reloads= --actors= --warmup= "
                   "--round_pause_us= --fail_every= --sample_every= --scheduler=)\n",
                   argv[i]);
      return false;
    }
  }
  return c.actors > 0 && c.fail_every > 0;
}

using testing::runfile;

// A field of /proc/self/status in kB ("VmRSS", "RssAnon", "RssFile"), or -1.
int64_t status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    int64_t kb = 0;
    if (line.rfind(prefix, 0) == 0 &&
        absl::SimpleAtoi(
            absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(prefix.size()), "kB")), &kb)) {
      return kb;
    }
  }
  return -1;
}

int64_t rss_kb() { return status_kb("VmRSS"); }

// RSS once the reloads so far are served: reloads destroy the old behaviours and hand the free
// heap back on background threads (actors/graveyard.h, core/heap_trim.h), and purged versions stay
// mapped for Runtime::Options::unmap_grace; wait for the former and let the latter go.
int64_t settled_rss_kb(Runtime& runtime) {
  runtime.reload_manager().await_retired();
  (void)runtime.code_server().unmap_lingering();
  (void)await_heap_trims(absl::Seconds(30));
  return rss_kb();
}

constexpr std::size_t kCheckpoints = 8;

int count_entries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// Distinct files under `dir` mapped into this process.
int mapped_files_under(const std::string& dir) {
  std::ifstream in("/proc/self/maps");
  std::set<std::string> files;
  std::string line;
  while (std::getline(in, line)) {
    auto at = line.find(dir + "/");
    if (at != std::string::npos) files.insert(line.substr(at));
  }
  return static_cast<int>(files.size());
}

// Sends numbered ticks to every actor, one round after another, until stopped.
class Stream {
 public:
  Stream(caf::actor_system& sys, const std::vector<caf::actor>& actors, int pause_us)
      : sent_(actors.size(), 0) {
    thread_ = std::thread([this, &sys, &actors, pause_us] {
      caf::scoped_actor self{sys};
      while (!stop_.load()) {
        for (size_t i = 0; i < actors.size(); ++i) {
          self->send(actors[i], tick_atom::value, uint64_t{1}, ++sent_[i]);
        }
        if (pause_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us));
      }
    });
  }
  ~Stream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t sent_to(size_t i) const { return sent_[i]; }  // after stop()

 private:
  std::atomic<bool> stop_{false};
  std::vector<uint64_t> sent_;
  std::thread thread_;
};

// The leak check: the mean of the later half of the RSS `checkpoints` against the earlier half's,
// in percent. A leak grows the RSS with the reloads: a steady one of 10 % of the RSS over the run
// makes the two halves' means differ by 5 %. A level the allocator settles on after the warm-up
// does not count (with CAF's work-sharing scheduler, every worker runs every actor and the heap
// spreads over more arenas, so RSS settles above the warm-up's level and stays there;
// docs/reliability.md).
double rss_trend(const std::vector<int64_t>& checkpoints) {
  const std::size_t half = checkpoints.size() / 2;
  double early = 0, late = 0;
  for (std::size_t k = 0; k < checkpoints.size(); ++k) {
    (k < half ? early : late) += static_cast<double>(checkpoints[k]);
  }
  early /= std::max<std::size_t>(1, half);
  late /= std::max<std::size_t>(1, checkpoints.size() - half);
  return half > 0 && early > 0 ? 100.0 * (late - early) / early : 0;
}

// One function, read top to bottom as the soak runs: the reload loop, the delivery check and the
// verdict share the run's counters and RSS checkpoints.
int run(const Config& cfg) {
  const testing::ScratchDir scratch;
  const std::string& dir = scratch.path();
  const std::string modules = dir + "/modules", link = modules + "/counter.so";
  mkdir(modules.c_str(), 0700);
  const std::string v1 = runfile("extensions/counter/libcounter_v1.so");
  const std::string v2 = runfile("extensions/counter/libcounter_v2.so");
  const std::string fail = runfile("extensions/counter/libcounter_v2_fail.so");
  // <modules>/counter.so is a symlink switched atomically to the version to load next.
  auto point_to = [&](const std::string& target) {
    const std::string tmp = link + ".next";
    unlink(tmp.c_str());
    return symlink(target.c_str(), tmp.c_str()) == 0 && rename(tmp.c_str(), link.c_str()) == 0;
  };
  if (!point_to(v1)) {
    std::fprintf(stderr, "soak: cannot link %s\n", v1.c_str());
    return 2;
  }

  int exit_code = 0;
  {
    Runtime::Options o;
    o.state_dir = dir + "/state";
    o.modules_dir = modules;
    o.scheduler = cfg.scheduler;
    auto rt = Runtime::create(o);
    if (!rt.ok()) {
      std::fprintf(stderr, "soak: %s\n", rt.status().ToString().c_str());
      return 2;
    }
    Runtime& runtime = **rt;
    const std::string copies = o.state_dir + "/modules";
    if (auto s = runtime.reloader().load_file(link); !s.ok()) {
      std::fprintf(stderr, "soak: %s\n", s.status().ToString().c_str());
      return 2;
    }
    std::vector<caf::actor> actors;
    for (int i = 0; i < cfg.actors; ++i) {
      auto a = runtime.spawn({"counter", "", "counter-" + std::to_string(i), std::to_string(i)});
      if (!a.ok()) {
        std::fprintf(stderr, "soak: spawn: %s\n", a.status().ToString().c_str());
        return 2;
      }
      actors.push_back(*a);
    }

    const auto start = std::chrono::steady_clock::now();
    Stream stream(runtime.system(), actors, cfg.round_pause_us);
    int ok = 0, failed_on_purpose = 0, unexpected = 0;
    int64_t rss_warm = rss_kb();
    int fds_warm = count_entries("/proc/self/fd");
    // RSS at kCheckpoints evenly spaced reloads after the warm-up, the last at the end.
    const int checkpoint_span =
        std::max(1, (cfg.reloads - cfg.warmup) / static_cast<int>(kCheckpoints));
    std::vector<int64_t> checkpoints;
    std::string first_unexpected;
    for (int i = 1; i <= cfg.reloads; ++i) {
      const bool on_purpose = i % cfg.fail_every == 0;
      const std::string current = runtime.code_server().current("counter")->version();
      point_to(on_purpose ? fail : current == "1" ? v2 : v1);
      ReloadReport r = runtime.reloader().run(ReloadRequest::module("counter"));
      const bool code_change_failed =
          !r.errors.empty() && r.errors[0].reason == ReloadError::kCodeChangeFailed;
      if (r.status == ReloadStatus::kOk && !on_purpose) {
        ++ok;
      } else if (on_purpose && code_change_failed) {
        ++failed_on_purpose;
      } else {
        ++unexpected;
        if (first_unexpected.empty()) {
          first_unexpected = absl::StrCat("reload ", i, ": ", to_string(r.status), " ",
                                          r.errors.empty() ? "" : r.errors[0].message);
        }
      }
      if (cfg.sample_every > 0 && i % cfg.sample_every == 0) {
        const struct mallinfo2 m = mallinfo2();
        std::printf(
            "soak: sample reload=%d rss_kb=%lld rss_anon_kb=%lld rss_file_kb=%lld "
            "heap_in_use_kb=%zu heap_free_kb=%zu heap_arena_kb=%zu heap_mmap_kb=%zu\n",
            i, static_cast<long long>(rss_kb()), static_cast<long long>(status_kb("RssAnon")),
            static_cast<long long>(status_kb("RssFile")), m.uordblks / 1024, m.fordblks / 1024,
            m.arena / 1024, m.hblkhd / 1024);
        std::fflush(stdout);
      }
      if (i == cfg.warmup) {
        rss_warm = settled_rss_kb(runtime);
        fds_warm = count_entries("/proc/self/fd");
      } else if (i > cfg.warmup && checkpoints.size() < kCheckpoints &&
                 (i - cfg.warmup) % checkpoint_span == 0) {
        checkpoints.push_back(settled_rss_kb(runtime));
      }
    }
    stream.stop();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Every tick counted exactly once and in order.
    caf::scoped_actor self{runtime.system()};
    uint64_t sent = 0, lost = 0, violations = 0, unanswered = 0;
    for (size_t i = 0; i < actors.size(); ++i) {
      sent += stream.sent_to(i);
      self->request(actors[i], std::chrono::seconds(120), get_atom::value)
          .receive(
              [&](int64_t count) {
                const int64_t expected = static_cast<int64_t>(i + stream.sent_to(i));
                lost += count == expected ? 0 : 1;
              },
              [&](caf::error&) { ++unanswered; });
      self->request(actors[i], std::chrono::seconds(120), sys_status_atom::value)
          .receive(
              [&](ActorStatus& st) {
                violations += st.state.find("\"order_violations\":0") == std::string::npos;
              },
              [&](caf::error&) { ++unanswered; });
    }
    runtime.reload_manager().await_retired();
    (void)runtime.code_server().soft_purge("counter");
    const int64_t rss_end = settled_rss_kb(runtime);
    if (checkpoints.size() < kCheckpoints) checkpoints.push_back(rss_end);
    const double trend = rss_trend(checkpoints);
    const int fds_end = count_entries("/proc/self/fd");
    const int copy_maps = mapped_files_under(copies);
    const int copy_files = count_entries(copies);
    const double growth = rss_warm > 0 ? 100.0 * (rss_end - rss_warm) / rss_warm : 0;
    // Diagnostics, after the verdict's numbers: malloc's live and free bytes, and RSS once every
    // free page is returned. Growth that the trim removes is memory malloc kept, not a leak.
    const struct mallinfo2 heap_end = mallinfo2();
    malloc_trim(0);
    const int64_t rss_trimmed = rss_kb();

    const bool pass = lost == 0 && violations == 0 && unanswered == 0 && unexpected == 0 &&
                      trend <= 5.0 && fds_end <= fds_warm && copy_maps <= 1 && copy_files <= 1;
    std::printf(
        "soak: reloads=%d ok=%d failed_on_purpose=%d unexpected_errors=%d actors=%d "
        "messages_sent=%llu actors_with_lost_messages=%llu actors_with_order_violations=%llu "
        "unanswered=%llu rss_after_warmup_kb=%lld rss_end_kb=%lld rss_growth=%.1f%% "
        "rss_checkpoints_kb=%s rss_trend=%.1f%% "
        "fds_after_warmup=%d fds_end=%d module_copy_mappings=%d module_copy_files=%d "
        "heap_in_use_end_kb=%zu heap_free_end_kb=%zu rss_end_after_trim_kb=%lld "
        "seconds=%.1f scheduler=%s result=%s\n",
        cfg.reloads, ok, failed_on_purpose, unexpected, cfg.actors,
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(lost),
        static_cast<unsigned long long>(violations), static_cast<unsigned long long>(unanswered),
        static_cast<long long>(rss_warm), static_cast<long long>(rss_end), growth,
        absl::StrJoin(checkpoints, ",").c_str(), trend, fds_warm, fds_end, copy_maps, copy_files,
        heap_end.uordblks / 1024, heap_end.fordblks / 1024, static_cast<long long>(rss_trimmed),
        seconds, runtime.options().scheduler.c_str(), pass ? "PASS" : "FAIL");
    if (!first_unexpected.empty())
      std::printf("soak: first unexpected: %s\n", first_unexpected.c_str());
    std::fflush(stdout);
    exit_code = pass ? 0 : 1;
  }
  return exit_code;
}

}  // namespace
}  // namespace lemon

int main(int argc, char** argv) {
  lemon::Config cfg;
  if (!lemon::parse_flags(argc, argv, cfg)) return 2;
  if (cfg.warmup > cfg.reloads) cfg.warmup = cfg.reloads;
  return lemon::run(cfg);
}
