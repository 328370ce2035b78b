# Sourced by the tests that check a running lemond with npm packages (tools/setup.sh installs node
# and the packages into ~/.cache/lemon/npm; the tests fail, not skip, without them: CI must run
# them). Sets ROOT, NPM_DIR, HOME (a fresh one), OUT; defines fail, require_npm_package and
# start_lemond, which starts lemond on free ports and sets PID and CP (its control port).
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
# The npm cache of tools/setup.sh, under the real home (Bazel points HOME elsewhere for tests).
REAL_HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
NPM_DIR="${LEMON_NPM_DIR:-$REAL_HOME/.cache/lemon/npm}"
export HOME="${TEST_TMPDIR:?}/home"
mkdir -p "$HOME"
OUT="$TEST_TMPDIR/lemond.out"

fail() { echo "FAIL: $*" >&2; echo "--- lemond output ---" >&2; cat "$OUT" >&2 || true; exit 1; }

# require_npm_package NAME: node and the package NAME are installed.
require_npm_package() {
  command -v node >/dev/null || fail "node is not installed (tools/setup.sh installs it)"
  [ -d "$NPM_DIR/node_modules/$1" ] || fail "no $1 in $NPM_DIR: run tools/setup.sh"
}

# start_lemond ARGS...: lemond with ARGS on free ports, until it is ready (120 s deadline).
start_lemond() {
  "$ROOT/control_plane/lemond" --control_port=0 --metrics_port=0 "$@" >"$OUT" 2>&1 &
  PID=$!
  trap 'kill -9 $PID 2>/dev/null || true' EXIT
  timeout 120 bash -c "until grep -q '^READY' '$OUT'; do kill -0 $PID || exit 1; sleep 0.1; done" \
    || fail "lemond did not become ready"
  CP=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$OUT")
}
