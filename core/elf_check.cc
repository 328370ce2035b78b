#include "core/elf_check.h"

#include <elf.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

absl::Status bad(const std::string&, const std::string& why) {
  return reload_status(ReloadError::kLoadFailed, why);
}

bool inside(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

}  // namespace

absl::Status check_shared_object(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return bad(path, "cannot open the file");
  std::fseek(f, 0, SEEK_END);
  const long end = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  const uint64_t size = end < 0 ? 0 : static_cast<uint64_t>(end);
  Elf64_Ehdr eh;
  const bool got_header = size >= sizeof(eh) && std::fread(&eh, sizeof(eh), 1, f) == 1;
  if (!got_header || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    std::fclose(f);
    return bad(path, "not an ELF file");
  }
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) {
    std::fclose(f);
    return bad(path, "not an ELF64 object for this machine");
  }
  if (eh.e_type != ET_DYN) {
    std::fclose(f);
    return bad(path, "not a shared object");
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
      !inside(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), size)) {
    std::fclose(f);
    return bad(path, "program headers lie outside the file (truncated?)");
  }
  if (eh.e_shnum > 0 && !inside(eh.e_shoff, uint64_t{eh.e_shnum} * eh.e_shentsize, size)) {
    std::fclose(f);
    return bad(path, "section headers lie outside the file (truncated?)");
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  std::fseek(f, static_cast<long>(eh.e_phoff), SEEK_SET);
  const bool got_ph = eh.e_phnum == 0 || std::fread(ph.data(), sizeof(Elf64_Phdr), ph.size(), f) ==
                                             ph.size();
  std::fclose(f);
  if (!got_ph) return bad(path, "cannot read program headers");
  for (const Elf64_Phdr& p : ph) {
    if ((p.p_type == PT_LOAD || p.p_type == PT_DYNAMIC) && !inside(p.p_offset, p.p_filesz, size)) {
      return bad(path, absl::StrCat("a segment ends at byte ", p.p_offset + p.p_filesz,
                                    " of a ", size, "-byte file (truncated?)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace lemon
