#!/usr/bin/env bash
# The reload soak (testing/soak.cc), optimised build: 10,000 reloads against 1,000 actors under a
# steady message stream by default. Extra arguments go to the soak binary, e.g.
#
#   bash tools/soak.sh --reloads=1000 --actors=200
#
# Prints one summary line ("soak: reloads=... result=PASS") and exits non-zero on a failed check;
# --sample_every=N also prints RSS and malloc's heap use every N reloads.
# Set BAZEL_FLAGS for startup options, e.g. BAZEL_FLAGS="--output_base=/tmp/ob", and
# BAZEL_RUN_FLAGS for build options, e.g. BAZEL_RUN_FLAGS="--symlink_prefix=/" (no bazel-* links).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2086
exec bazel ${BAZEL_FLAGS:-} run -c opt --config=ci ${BAZEL_RUN_FLAGS:-} //testing:soak -- "$@"
