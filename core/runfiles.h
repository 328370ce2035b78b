// Where this binary's Bazel runfiles are: data files (modules, headers, helper binaries) that a
// binary, test or benchmark ships with, found the same way everywhere.
//
//   std::string probe = find_runfile("core/module_probe");   // "" when not shipped
#ifndef LEMON_CORE_RUNFILES_H_
#define LEMON_CORE_RUNFILES_H_

#include <string>
#include <vector>

namespace lemon {

// The runfiles directories of workspace `lemon` to try, in order: $RUNFILES_DIR/lemon,
// $TEST_SRCDIR/lemon, <this executable>.runfiles/lemon (those whose variables are set).
std::vector<std::string> runfiles_candidates();

// The absolute path of `relative` (workspace-relative) in the first candidate that has it, or "".
std::string find_runfile(const std::string& relative);

}  // namespace lemon

#endif  // LEMON_CORE_RUNFILES_H_
