// What loading code costs: CodeServer::prepare of an already-built module (copy, ELF check, dlopen,
// validate, and dlclose when dropped), against a bare dlopen/dlclose of the same file as the
// baseline in the same run; and an extension compile that hits the cache.
//
//   bazel run -c opt //bench:code_server_bench
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "core/code_server.h"
#include "core/extension_compiler.h"
#include "core/runfiles.h"
#include "core/test_support.h"

namespace lemon {
namespace {

void BM_BareDlopenDlclose(benchmark::State& state) {
  const std::string path = find_runfile("extensions/counter/libcounter_v2.so");
  for (auto _ : state) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) state.SkipWithError("dlopen failed");
    dlclose(h);
  }
}
BENCHMARK(BM_BareDlopenDlclose)->Unit(benchmark::kMicrosecond);

void BM_PrepareModule(benchmark::State& state) {
  const testing::ScratchDir dir;
  auto cs = std::move(CodeServer::create({dir.path()}).value());
  if (!cs->load(find_runfile("extensions/counter/libcounter_v1.so")).ok()) {
    state.SkipWithError("cannot load v1");
  }
  for (auto _ : state) {
    // copy + check + dlopen + validate
    auto v2 = cs->prepare(find_runfile("extensions/counter/libcounter_v2.so"));
    if (!v2.ok()) state.SkipWithError("prepare failed");
    benchmark::DoNotOptimize(v2);
  }  // each prepared version is dropped (dlclose + unlink) inside the loop
}
BENCHMARK(BM_PrepareModule)->Unit(benchmark::kMicrosecond);

void BM_ExtensionCacheHit(benchmark::State& state) {
  const testing::ScratchDir dir;
  const std::string source = dir.file("counter.cc");
  testing::copy_file(find_runfile("extensions/counter/counter_v1.cc"), source);
  ExtensionCompiler::Options o;
  o.extension_roots = {dir.path()};
  o.cache_dir = dir.file("cache");
  auto compiler = ExtensionCompiler::create(o);
  if (!compiler.ok() || !(*compiler)->compile(source).ok()) {
    state.SkipWithError("cannot compile the extension once");
    return;
  }
  for (auto _ : state) {
    auto r = (*compiler)->compile(source);
    if (!r.ok() || !r->cached) state.SkipWithError("not a cache hit");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ExtensionCacheHit)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace lemon

BENCHMARK_MAIN();
