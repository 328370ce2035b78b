// Where this binary's Bazel runfiles are: data files (modules, headers, helper binaries) that a
// binary, test or benchmark ships with, found the same way everywhere.
//
//   std::string probe = find_runfile("core/module_probe");   // "" when not shipped
#ifndef LEMON_CORE_RUNFILES_H_
#define LEMON_CORE_RUNFILES_H_

#include <string>
#include <vector>

namespace lemon {

// The runfiles directories of workspace `workspace` to try, in order: $RUNFILES_DIR/<workspace>,
// $TEST_SRCDIR/<workspace>, <this executable>.runfiles/<workspace> (those whose variables are
// set). A program that uses Lemon as an external repository names its own workspace for its files.
std::vector<std::string> runfiles_candidates(const std::string& workspace = "lemon");

// The absolute path of `relative` (relative to `workspace`) in the first candidate that has it, or
// "".
std::string find_runfile(const std::string& relative, const std::string& workspace = "lemon");

}  // namespace lemon

#endif  // LEMON_CORE_RUNFILES_H_
