#!/usr/bin/env bash
# Builds and tests examples/bank, a Bazel workspace of its own that uses Lemon as @lemon, with the
# same disk cache as Lemon's builds. Extra arguments go to `bazel test` (e.g. --config=ci).
#
#   bash tools/example_test.sh
set -euo pipefail
cd "$(dirname "$0")/../examples/bank"
bazel test "$@" //...
