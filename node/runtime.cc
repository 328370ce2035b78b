#include "node/runtime.h"

#include <map>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "actors/message.h"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/io/middleman.hpp"
#include "caf/send.hpp"
#include "core/fs.h"
#include "core/malloc_tuning.h"
#include "core/reload_error.h"
#include "core/telemetry.h"
#include "node/reload_service.h"

namespace lemon {

Runtime::Runtime(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::string> choose_scheduler(const std::string& requested, unsigned cores) {
  if (requested == "stealing" || requested == "sharing") return requested;
  if (requested.empty() || requested == "auto") return cores <= 2 ? "sharing" : "stealing";
  return reload_status(
      ReloadError::kInvalidArgument,
      absl::StrCat("unknown scheduler \"", requested, "\" (auto, stealing or sharing)"));
}

namespace {

// Where code is loaded from and copied to must be out of other users' reach (core/fs.h): the
// state directory (created 0700 when missing) and the modules directory, when it exists. The
// extension roots are checked by the extension compiler.
absl::Status prepare_directories(const Runtime::Options& options) {
  if (absl::Status s = make_dirs(options.state_dir, 0700); !s.ok()) return s;
  if (absl::Status s = check_trusted_path(options.state_dir, PathKind::kDirectory); !s.ok()) {
    return s;
  }
  if (options.modules_dir.empty()) return absl::OkStatus();
  absl::Status s = check_trusted_path(options.modules_dir, PathKind::kDirectory);
  return reload_error_of(s) == ReloadError::kNotFound ? absl::OkStatus() : s;
}

// The actor system's configuration for `options`: scheduler, the middleman for clustering, the
// reload message types, then the embedding program's own settings.
std::unique_ptr<caf::actor_system_config> actor_system_config_for(const Runtime::Options& options) {
  auto config = std::make_unique<caf::actor_system_config>();
  caf::actor_system_config& cfg = *config;
  if (options.scheduler_threads > 0) cfg.set("scheduler.max-threads", options.scheduler_threads);
  if (options.max_throughput > 0) cfg.set("scheduler.max-throughput", options.max_throughput);
  if (options.scheduler == "sharing") cfg.set("scheduler.policy", caf::atom("sharing"));
  if (options.load_middleman) {
    cfg.load<caf::io::middleman>();
    // CAF 0.17 keys (no `caf.` prefix); see caf/defaults.hpp, namespace middleman.
    if (options.heartbeat_interval > absl::ZeroDuration()) {
      cfg.set("middleman.heartbeat-interval",
              caf::timespan{absl::ToChronoNanoseconds(options.heartbeat_interval)});
    }
    if (options.connection_timeout > absl::ZeroDuration()) {
      cfg.set("middleman.connection-timeout",
              caf::timespan{absl::ToChronoNanoseconds(options.connection_timeout)});
    }
  }
  add_reload_message_types(cfg);
  cfg.add_message_type<Message>("lemon.Message");
  if (options.configure) options.configure(cfg);
  return config;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::create(Options options) {
  if (options.state_dir.empty()) {
    return reload_status(ReloadError::kInvalidArgument, "Runtime needs a state_dir");
  }
  if (absl::Status s = prepare_directories(options); !s.ok()) return s;
  if (options.apps_manifest.empty() && !options.modules_dir.empty()) {
    options.apps_manifest = options.modules_dir + "/apps.json";
  }
  auto scheduler = choose_scheduler(options.scheduler, std::thread::hardware_concurrency());
  if (!scheduler.ok()) return scheduler.status();
  options.scheduler = *scheduler;
  // Mailbox elements of lemon::Message then go through malloc's lock-free fast bins; if glibc
  // refuses, messages only cost more.
  (void)raise_fast_bin_limit();
  std::unique_ptr<Runtime> rt(new Runtime(options));
  rt->config_ = actor_system_config_for(options);
  rt->system_ = std::make_unique<caf::actor_system>(*rt->config_);

  CodeServer::Options cs_options;
  cs_options.copy_dir = options.state_dir + "/modules";
  cs_options.unmap_grace = options.unmap_grace;
  auto cs = CodeServer::create(std::move(cs_options));
  if (!cs.ok()) return cs.status();
  rt->code_server_ = std::move(*cs);
  rt->registry_ = std::make_shared<ActorRegistry>();
  rt->manager_ = std::make_unique<ReloadManager>(*rt->system_, rt->registry_, *rt->code_server_);
  rt->maintenance_ = std::make_unique<ActorMaintenance>(rt->registry_);
  if (!options.extension_dirs.empty()) {
    ExtensionCompiler::Options co;
    co.extension_roots = options.extension_dirs;
    co.cache_dir = options.state_dir + "/extensions";
    auto compiler = ExtensionCompiler::create(co);
    if (!compiler.ok()) return compiler.status();
    rt->compiler_ = std::move(*compiler);
  }
  rt->telemetry_ = std::make_unique<Telemetry>();
  rt->exporter_ = std::make_unique<PrometheusExporter>(rt->telemetry_.get(), options.node_name);
  rt->lock_ = std::make_unique<ReloadLock>(rt->telemetry_.get());
  // lemon_actors follows spawns and exits, not only reloads.
  Telemetry* telemetry = rt->telemetry_.get();
  rt->registry_->set_counts_hook([telemetry](const std::map<std::string, std::size_t>& counts) {
    for (const auto& [module, n] : counts) {
      telemetry->emit({kActorsCount, {{"count", static_cast<double>(n)}}, {{"module", module}}});
    }
  });
  // A hard purge stops the actors that run the purged version.
  ReloadManager* manager = rt->manager_.get();
  rt->code_server_->set_purge_hook([manager](const ModuleRef& version) {
    return manager->stop_actors(version, absl::Seconds(30));
  });
  auto releases = ReleaseStore::open(options.state_dir + "/releases");
  if (!releases.ok()) return releases.status();
  rt->releases_ = std::move(*releases);
  auto history = ReloadHistory::open(options.state_dir + "/reload_history.jsonl");
  if (!history.ok()) return history.status();
  rt->history_ = std::move(*history);
  Reloader::Deps deps;
  deps.releases = rt->releases_.get();
  deps.history = rt->history_.get();
  deps.code_server = rt->code_server_.get();
  deps.swapper = rt->manager_.get();
  deps.compiler = rt->compiler_.get();
  deps.lock = rt->lock_.get();
  deps.telemetry = rt->telemetry_.get();
  Reloader::Layout layout;
  layout.modules_dir = options.modules_dir;
  layout.extension_dirs = options.extension_dirs;
  layout.apps_manifest = options.apps_manifest;
  rt->reloader_ = std::make_unique<Reloader>(deps, layout);
  rt->reload_service_ = spawn_reload_service(*rt->system_, *rt->reloader_);
  return rt;
}

absl::StatusOr<caf::actor> Runtime::spawn(SpawnSpec spec) {
  return spawn_reloadable(*system_, registry_, *code_server_, std::move(spec));
}

void Runtime::stop_actors(absl::Duration timeout) {
  registry_->stop_all();
  for (const ActorEntry& e : registry_->list()) registry_->await_gone(e.handle.id(), timeout);
}

Runtime::~Runtime() {
  maintenance_.reset();  // suspended actors run again, and can stop
  if (system_) stop_actors(absl::Seconds(30));
  if (reload_service_) caf::anon_send_exit(reload_service_, caf::exit_reason::user_shutdown);
  reload_service_ = caf::actor{};
  reloader_.reset();
  manager_.reset();
  system_.reset();  // waits for every actor; module code must still be mapped
  if (registry_) registry_->set_counts_hook(nullptr);
  exporter_.reset();
  lock_.reset();
  telemetry_.reset();
  compiler_.reset();
  registry_.reset();
  code_server_.reset();
}

}  // namespace lemon
