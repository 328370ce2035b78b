// Structural checks of a shared object before dlopen sees it. glibc's dlopen trusts the program
// headers: a truncated file makes it map past the end of the file and crash the process (SIGBUS)
// instead of failing, so the code server checks the file first.
//
//   absl::Status s = check_shared_object("/tmp/x.so");  // kLoadFailed: "not an ELF file"
#ifndef LEMON_CORE_ELF_CHECK_H_
#define LEMON_CORE_ELF_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace lemon {

// OK if `path` is a complete ELF64 shared object for this machine: its header, program headers,
// loadable segments and section headers all lie inside the file. kLoadFailed otherwise, with the
// reason (not the path) as message.
absl::Status check_shared_object(const std::string& path);

}  // namespace lemon

#endif  // LEMON_CORE_ELF_CHECK_H_
