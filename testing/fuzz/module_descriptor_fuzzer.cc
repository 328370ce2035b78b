// libFuzzer target: arbitrary bytes offered to the code server as a module file.
// check_shared_object must judge every input, and CodeServer::prepare must refuse what it refuses
// with a status, never crash, and leave no private copy behind. Also fuzzes fingerprint_difference
// with the input up to its first NUL as the module's fingerprint. Built and run by tools/fuzz.sh.
//
// Inputs that pass the ELF check go on to dlopen only with LEMON_FUZZ_DLOPEN=1: glibc's loader
// trusts the dynamic section and kills the process (an ld.so assertion, then _exit) on malformed
// hash tables and the like, which the structural check does not cover; see
// testing/fuzz/crashes/module_descriptor/ and docs/reliability.md.
#include <dirent.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/code_server.h"
#include "core/elf_check.h"
#include "core/module_abi.h"
#include "core/test_support.h"

namespace {

// Deleted at a normal exit, which removes the directory (a crash leaves it, with the input,
// behind).
struct Scratch {
  lemon::testing::ScratchDir dir;
  std::string file = dir.file("input.so");
  std::unique_ptr<lemon::CodeServer> cs =
      std::move(lemon::CodeServer::create({dir.file("copies")}).value());
  int copies() const {
    DIR* d = opendir(dir.file("copies").c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
    return n;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Scratch* s = [] {
    auto* scratch = new Scratch();
    std::atexit([] { delete s; });
    return scratch;
  }();
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  const std::string module_fp = bytes.substr(0, bytes.find('\0'));
  (void)lemon::fingerprint_difference(lemon::kHostFingerprint, module_fp);
  (void)lemon::fingerprint_difference(module_fp, module_fp + ";x=1");

  FILE* f = std::fopen(s->file.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  static const bool dlopen_valid_elf = std::getenv("LEMON_FUZZ_DLOPEN") != nullptr;
  if (lemon::check_shared_object(s->file).ok() && !dlopen_valid_elf) return 0;
  auto prepared = s->cs->prepare(s->file, "fuzz");
  if (!prepared.ok() && s->copies() != 0) std::abort();  // a refused load left its copy
  return 0;
}
