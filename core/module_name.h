// The names a module may have: the one rule every path that takes a module name applies (the
// reloader, the code server, the app manifest) before any file is named after it.
//
//   if (absl::Status s = check_module_name(name); !s.ok()) return s;   // kInvalidArgument
//   std::string path = modules_dir + "/" + name + ".so";                // now one file, in that
//   dir
//
// A module name is 1 to kMaxModuleNameBytes bytes of ASCII letters, digits, `_`, `.` and `-`,
// not starting with `.` or `-`. So it never holds a `/` or a NUL (which would make `<name>.so`
// another file), is never `.`, `..` or a hidden file, and never reads as a command-line option.
#ifndef LEMON_CORE_MODULE_NAME_H_
#define LEMON_CORE_MODULE_NAME_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lemon {

constexpr std::size_t kMaxModuleNameBytes = 128;

// OK when `name` is a valid module name; else kInvalidArgument saying what is wrong with it (odd
// bytes shown escaped). Thread-safe.
absl::Status check_module_name(absl::string_view name);

}  // namespace lemon

#endif  // LEMON_CORE_MODULE_NAME_H_
