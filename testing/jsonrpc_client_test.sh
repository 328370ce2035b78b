#!/usr/bin/env bash
# A real npm JSON-RPC client (json-rpc-2.0, installed by tools/setup.sh into ~/.cache/lemon/npm)
# against a running lemond: a failed reload is a JSON-RPC error (-32003) with the report in
# error.data, not a result, and the actors keep their version (testing/jsonrpc_client_test.js).
# shellcheck source=testing/npm_lemond_lib.sh
source "${TEST_SRCDIR:?}/lemon/testing/npm_lemond_lib.sh"

require_npm_package json-rpc-2.0
start_lemond --demo_actors=3

cp "$ROOT/core/testdata/libno_entry.so" "$HOME/.lemon/modules/counter.so"
NODE_PATH="$NPM_DIR/node_modules" node "$ROOT/testing/jsonrpc_client_test.js" "$CP" \
  "$HOME/.lemon/token" || fail "the JSON-RPC client's view"
kill -0 $PID || fail "lemond exited"
