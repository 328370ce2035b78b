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

}  // namespace lemon

#endif  // LEMON_CORE_SHA256_H_
