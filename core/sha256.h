// SHA-256 of bytes and files, as lowercase hex: the content hash that names module versions.
//
//   std::string h = sha256_hex("abc");  // "ba7816bf..."
#ifndef LEMON_CORE_SHA256_H_
#define LEMON_CORE_SHA256_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lemon {

// Hex SHA-256 of `data`.
std::string sha256_hex(absl::string_view data);

// Hex SHA-256 of the file at `path`; kIoError if it cannot be read.
absl::StatusOr<std::string> sha256_file(const std::string& path);

// Both use the CPU's SHA extensions where it has them (x86 SHA-NI), else plain C++.
namespace internal {
// The plain C++ implementation alone, for tests that compare the two.
std::string sha256_hex_portable(absl::string_view data);
// Whether sha256_hex and sha256_file use the CPU's SHA extensions on this machine.
bool sha256_uses_cpu_extensions();
}  // namespace internal

}  // namespace lemon

#endif  // LEMON_CORE_SHA256_H_
