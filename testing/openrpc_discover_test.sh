#!/usr/bin/env bash
# rpc.discover on a running lemond is a valid OpenRPC document by the OpenRPC project's validator
# (@open-rpc/schema-utils-js, installed by tools/setup.sh into ~/.cache/lemon/npm), and a real
# call's params and result match the schemas it declares. Fails, not skips, without node or the
# package: CI must run it.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
LEMOND="$ROOT/control_plane/lemond"
# The npm cache of tools/setup.sh, under the real home (Bazel points HOME elsewhere for tests).
REAL_HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
NPM_DIR="${LEMON_NPM_DIR:-$REAL_HOME/.cache/lemon/npm}"
export HOME="${TEST_TMPDIR:?}/home"
mkdir -p "$HOME"
OUT="$TEST_TMPDIR/lemond.out"

fail() { echo "FAIL: $*" >&2; echo "--- lemond output ---" >&2; cat "$OUT" >&2 || true; exit 1; }

command -v node >/dev/null || fail "node is not installed (tools/setup.sh installs it)"
[ -d "$NPM_DIR/node_modules/@open-rpc/schema-utils-js" ] \
  || fail "no @open-rpc/schema-utils-js in $NPM_DIR: run tools/setup.sh"

"$LEMOND" --control_port=0 --metrics_port=0 --demo_actors=3 >"$OUT" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true' EXIT
timeout 120 bash -c "until grep -q '^READY' '$OUT'; do kill -0 $PID || exit 1; sleep 0.1; done" \
  || fail "lemond did not become ready"
CP=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$OUT")
TOKEN=$(cat "$HOME/.lemon/token")
rpc() {
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\"}" "http://127.0.0.1:$CP/rpc"
}

rpc rpc.discover | jq '.result' >"$TEST_TMPDIR/discover.json"
jq -e '.openrpc == "1.2.6" and ([.methods[].name] | index("system.reload") != null)' \
  "$TEST_TMPDIR/discover.json" >/dev/null \
  || fail "rpc.discover: $(cat "$TEST_TMPDIR/discover.json")"
rpc system.health >"$TEST_TMPDIR/health.json"
NODE_PATH="$NPM_DIR/node_modules" node "$ROOT/testing/validate_openrpc.js" \
  "$TEST_TMPDIR/discover.json" "$TEST_TMPDIR/health.json" || fail "validation"
