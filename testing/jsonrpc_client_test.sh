#!/usr/bin/env bash
# A real npm JSON-RPC client (json-rpc-2.0, installed by tools/setup.sh into ~/.cache/lemon/npm)
# against a running lemond: a failed reload is a JSON-RPC error (-32003) with the report in
# error.data, not a result, and the actors keep their version (testing/jsonrpc_client_test.js).
# Fails, not skips, without node or the package: CI must run it.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
REAL_HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
NPM_DIR="${LEMON_NPM_DIR:-$REAL_HOME/.cache/lemon/npm}"
export HOME="${TEST_TMPDIR:?}/home"
mkdir -p "$HOME"
OUT="$TEST_TMPDIR/lemond.out"

fail() { echo "FAIL: $*" >&2; echo "--- lemond output ---" >&2; cat "$OUT" >&2 || true; exit 1; }

command -v node >/dev/null || fail "node is not installed (tools/setup.sh installs it)"
[ -d "$NPM_DIR/node_modules/json-rpc-2.0" ] || fail "no json-rpc-2.0 in $NPM_DIR: run tools/setup.sh"

"$ROOT/control_plane/lemond" --control_port=0 --metrics_port=0 --demo_actors=3 >"$OUT" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true' EXIT
timeout 120 bash -c "until grep -q '^READY' '$OUT'; do kill -0 $PID || exit 1; sleep 0.1; done" \
  || fail "lemond did not become ready"
CP=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$OUT")
cp "$ROOT/core/testdata/libno_entry.so" "$HOME/.lemon/modules/counter.so"
NODE_PATH="$NPM_DIR/node_modules" node "$ROOT/testing/jsonrpc_client_test.js" "$CP" \
  "$HOME/.lemon/token" || fail "the JSON-RPC client's view"
kill -0 $PID || fail "lemond exited"
