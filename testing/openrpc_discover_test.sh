#!/usr/bin/env bash
# rpc.discover on a running lemond is a valid OpenRPC document by the OpenRPC project's validator
# (@open-rpc/schema-utils-js, installed by tools/setup.sh into ~/.cache/lemon/npm), and a real
# call's params and result match the schemas it declares.
# shellcheck source=testing/npm_lemond_lib.sh
source "${TEST_SRCDIR:?}/lemon/testing/npm_lemond_lib.sh"

require_npm_package @open-rpc/schema-utils-js
start_lemond --demo_actors=3
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
