#!/usr/bin/env bash
# End to end, as a user does it: start lemond (ports 0), reload the demo actors through the
# control plane with lemonctl and curl, scrape /metrics (promtool must accept it), feed it bad
# input (a 200 KB nested body, a huge batch, 128 idle connections: the node and its actors carry on),
# stop it with SIGTERM, and check that the demo lost no message.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
LEMOND="$ROOT/control_plane/lemond"
LEMONCTL="$ROOT/control_plane/lemonctl"
export HOME="${TEST_TMPDIR:?}/home"
export RUNFILES_DIR="$TEST_SRCDIR"
mkdir -p "$HOME"
OUT="$TEST_TMPDIR/lemond.out"

fail() { echo "FAIL: $*" >&2; echo "--- lemond output ---" >&2; cat "$OUT" >&2 || true; exit 1; }

"$LEMOND" --control_port=0 --metrics_port=0 --demo_actors=500 --demo_rate=20000 >"$OUT" 2>&1 &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true' EXIT
# Wait (with a deadline) for the line that says where everything is.
timeout 120 bash -c "until grep -q '^READY' '$OUT'; do kill -0 $PID || exit 1; sleep 0.1; done" \
  || fail "lemond did not become ready"
CP=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$OUT")
MP=$(sed -n 's/^READY .*metrics_port=\([0-9]*\).*/\1/p' "$OUT")
TOKEN_FILE="$HOME/.lemon/token"
[ "$(stat -c %a "$TOKEN_FILE")" = "600" ] || fail "token file is not 0600"
TOKEN=$(cat "$TOKEN_FILE")
ctl() { "$LEMONCTL" --control_port "$CP" --token_file "$TOKEN_FILE" "$@"; }
rpc() {
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "$1" "http://127.0.0.1:$CP/rpc"
}

# Health, and auth.
ctl --json status | jq -e '.actors == 503 and .status == "ok"' >/dev/null || fail "health"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"jsonrpc":"2.0","id":1,"method":"system.health"}' \
  "http://127.0.0.1:$CP/rpc")
[ "$code" = "401" ] || fail "no token gave HTTP $code"

# Hostile input (docs/control-plane.md, "Limits"): a 200 KB body of 100,000 nested arrays, a batch
# of 20,000 requests and 64 idle connections. The node answers each with a clear error, keeps
# answering within 1 s, and its actors keep running with their state.
counted() { ctl --json actors --module counter | jq '[.actors[].state_summary | fromjson | .count] | add'; }
before=$(counted)
python3 -c 'import sys; sys.stdout.write("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"system.health\",\"params\":{\"x\":" + "["*100000 + "]"*100000 + "}}")' \
  >"$TEST_TMPDIR/deep.json"
curl -s -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$TEST_TMPDIR/deep.json" \
  "http://127.0.0.1:$CP/rpc" | jq -e '.error.code == -32700 and .id == null' >/dev/null \
  || fail "deeply nested body"
python3 -c 'import sys; r="{\"jsonrpc\":\"2.0\",\"method\":\"system.health\",\"id\":1}"; sys.stdout.write("[" + ",".join([r]*20000) + "]")' \
  >"$TEST_TMPDIR/batch.json"
curl -s -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$TEST_TMPDIR/batch.json" \
  "http://127.0.0.1:$CP/rpc" | jq -e '.error.code == -32600' >/dev/null || fail "huge batch"
rpc '{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"system.health"}' |
  grep -q '"id":123456789012345678901234567890,' || fail "a large integer id was not echoed exactly"
rpc '{"jsonrpc":"2.0","id":1,"method":"system.reload","params":{"module":"counter","lock_timeout_ms":4294327296}}' |
  jq -e '.error.code == -32602 and (.error.message | contains("lock_timeout_ms"))' >/dev/null \
  || fail "lock_timeout_ms over its maximum"
# 64 idle connections to each server (half send nothing, half half a request head), held by a
# helper that exits by itself after 60 s.
python3 - "$CP" "$MP" >"$TEST_TMPDIR/idle.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for port in map(int, sys.argv[1:]):
    for i in range(64):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            s.sendall(b"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        held.append(s)
print("open", flush=True)
time.sleep(60)
PY
IDLE=$!
trap 'kill -9 $PID $IDLE 2>/dev/null || true' EXIT
timeout 30 bash -c "until grep -q open '$TEST_TMPDIR/idle.out'; do sleep 0.1; done" \
  || fail "could not open the idle connections: $(cat "$TEST_TMPDIR/idle.out")"
for i in 1 2 3; do
  curl -s --max-time 1 -X POST -H "Authorization: Bearer $TOKEN" \
    --data '{"jsonrpc":"2.0","id":1,"method":"system.health"}' "http://127.0.0.1:$CP/rpc" |
    jq -e '.result.status == "ok"' >/dev/null || fail "system.health not within 1 s with 128 idle connections"
  curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$MP/metrics" \
    || fail "GET /metrics not within 1 s with 128 idle connections"
done
ctl --json status | jq -e '.actors == 503' >/dev/null || fail "lemonctl status with idle connections"
ctl --json actors | jq -e '(.actors | length) == 503 and ([.actors[].status] | unique) == ["running"]' \
  >/dev/null || fail "actors.list does not show the demo actors running"
after=$(counted)
[ "$after" -gt "$before" ] || fail "the demo actors' counts did not grow ($before, then $after)"
kill $IDLE 2>/dev/null || true
wait $IDLE 2>/dev/null || true
trap 'kill -9 $PID 2>/dev/null || true' EXIT

# A hot upgrade of the 500 demo actors under a steady stream.
cp "$HOME/.lemon/examples/counter_v2.so" "$HOME/.lemon/modules/counter.so"
ctl --json reload --scope module --module counter >"$TEST_TMPDIR/reload.json" || fail "reload failed"
jq -e '.status == "ok" and .reloaded == ["counter"] and .metadata.actors == "500"' \
  "$TEST_TMPDIR/reload.json" >/dev/null || fail "unexpected report: $(cat "$TEST_TMPDIR/reload.json")"
ctl --json actors --module counter | jq -e '[.actors[].version] | unique == ["2"]' >/dev/null \
  || fail "not every actor runs version 2"
ctl --json modules | jq -e '.modules[0].current_version == "2" and .modules[0].old_version == "1"' \
  >/dev/null || fail "modules.list"

# The example extension, edited and reloaded: the greeter actors move to version 2.
ctl --json actors --module greeter | jq -e '[.actors[].version] | unique == ["1"]' >/dev/null \
  || fail "greeter extension not running version 1 at start"
sed -i 's/#define GREETER_VERSION "1"/#define GREETER_VERSION "2"/; s/"Hello"/"Bonjour"/' \
  "$HOME/.lemon/extensions/greeter.cc"
ctl --json reload --extension "$HOME/.lemon/extensions/greeter.cc" >"$TEST_TMPDIR/ext.json" \
  || fail "extension reload: $(cat "$TEST_TMPDIR/ext.json")"
jq -e '.status == "ok" and .metadata.module == "greeter" and .metadata.to_version == "2"' \
  "$TEST_TMPDIR/ext.json" >/dev/null || fail "extension report: $(cat "$TEST_TMPDIR/ext.json")"
ctl --json actors --module greeter | jq -e '[.actors[].version] | unique == ["2"]' >/dev/null \
  || fail "greeter actors not on version 2"

# The seed's list form, and the same bytes again: skipped as unchanged.
rpc '{"jsonrpc":"2.0","id":"s","method":"system.reload","params":{"modules":["counter"]}}' |
  jq -e '.id == "s" and .result.results[0].skipped[0].reason == "unchanged"' >/dev/null \
  || fail "seed form"

# An explicit code_change target: one live actor's state migrated by its current version.
rpc '{"jsonrpc":"2.0","id":7,"method":"system.reload","params":{"code_change":[{"actor":"counter-3"}]}}' |
  jq -e '.result.results[0].kind == "code_change" and .result.results[0].status == "ok"' >/dev/null \
  || fail "code_change target"

# Bad input: each gets a clear error, and the node keeps running.
rpc '{"jsonrpc":"2.0","id":1,' | jq -e '.error.code == -32700' >/dev/null || fail "parse error"
rpc '{"jsonrpc":"2.0","id":2,"method":"nope"}' | jq -e '.error.code == -32601' >/dev/null \
  || fail "method not found"
rpc '{"jsonrpc":"2.0","id":3,"method":"system.reload","params":{"scope":"module","modul":"x"}}' |
  jq -e '.error.code == -32602 and (.error.message | contains("modul"))' >/dev/null \
  || fail "unknown field"
rpc '{"jsonrpc":"2.0","id":4,"method":"system.reload","params":{"scope":"module","module":"nope"}}' |
  jq -e '.error.code == -32004 and .error.data.reason == "not_found"
         and .error.data.report.errors[0].reason == "not_found"' >/dev/null \
  || fail "unknown module"
rpc '{"jsonrpc":"2.0","id":5,"method":"system.reload","params":{"scope":"extension","path":"/etc/passwd"}}' |
  jq -e '.error.code == -32005 and .error.data.report.errors[0].reason == "path_not_allowed"' \
  >/dev/null || fail "path outside roots"
printf '#include "actors/module.h"\nint broken(  {\n' >"$HOME/.lemon/extensions/broken.cc"
rpc "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"system.reload\",\"params\":{\"scope\":\"extension\",\"path\":\"$HOME/.lemon/extensions/broken.cc\"}}" |
  jq -e '.error.code == -32003 and .error.data.report.errors[0].reason == "compile_failed"
         and .error.data.report.errors[0].diagnostics[0].line == 2' \
  >/dev/null || fail "compile error diagnostics"
cp "$ROOT/core/testdata/libno_entry.so" "$HOME/.lemon/modules/counter.so"
ctl --json reload --scope module --module counter >"$TEST_TMPDIR/bad.json" \
  && fail "a failed reload exited 0"
jq -e '.code == -32003 and .data.report.errors[0].reason == "bad_abi"' "$TEST_TMPDIR/bad.json" \
  >/dev/null || fail "shared object without entry point: $(cat "$TEST_TMPDIR/bad.json")"
ctl --json actors --module counter | jq -e '[.actors[].version] | unique == ["2"]' >/dev/null \
  || fail "a bad module changed running actors"

# Metrics: the right counts, and promtool accepts them.
curl -s "http://127.0.0.1:$MP/metrics" >"$TEST_TMPDIR/metrics.txt"
promtool check metrics <"$TEST_TMPDIR/metrics.txt" || fail "promtool rejected /metrics"
grep -q 'lemon_reload_total{node="[^"]*",kind="module",status="ok"} 1' "$TEST_TMPDIR/metrics.txt" \
  || fail "lemon_reload_total"
grep -q 'lemon_actors{node="[^"]*",module="counter"} 500' "$TEST_TMPDIR/metrics.txt" \
  || fail "lemon_actors"
grep -q '^lemon_actor_suspend_duration_seconds_count{node="[^"]*"} 504' "$TEST_TMPDIR/metrics.txt" \
  || fail "lemon_actor_suspend_duration_seconds (500 counters + 3 greeters + 1 code_change target)"

# A real Prometheus server scrapes the node and answers a query about the reload. It listens on a
# free port and logs which ("Listening on" address=127.0.0.1:PORT).
cat >"$TEST_TMPDIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: lemond
    static_configs:
      - targets: ["127.0.0.1:$MP"]
YML
prometheus --config.file="$TEST_TMPDIR/prometheus.yml" --storage.tsdb.path="$TEST_TMPDIR/tsdb" \
  --web.listen-address=127.0.0.1:0 >"$TEST_TMPDIR/prometheus.log" 2>&1 &
PROM=$!
trap 'kill -9 $PID $PROM 2>/dev/null || true' EXIT
LISTENING='msg="Listening on" address=127.0.0.1:'
PROM_LOG="$TEST_TMPDIR/prometheus.log"
timeout 60 bash -c "until grep -qF '$LISTENING' '$PROM_LOG'; do kill -0 $PROM || exit 1; sleep 0.2; done" \
  || { cat "$PROM_LOG" >&2; fail "Prometheus did not say where it listens"; }
PROM_PORT=$(grep -F "$LISTENING" "$PROM_LOG" | head -1 | sed 's/.*address=127\.0\.0\.1:\([0-9]*\).*/\1/')
QUERY="http://127.0.0.1:$PROM_PORT/api/v1/query?query=lemon_reload_total%7Bkind%3D%22module%22%2Cstatus%3D%22ok%22%7D"
timeout 90 bash -c "until curl -s '$QUERY' | jq -e '.data.result[0].value[1] == \"1\"' >/dev/null 2>&1; do sleep 0.5; done" \
  || { cat "$TEST_TMPDIR/prometheus.log" >&2; fail "Prometheus never saw lemon_reload_total"; }
kill $PROM; wait $PROM 2>/dev/null || true

# Clean shutdown: nothing the demo sent was lost.
kill -TERM $PID
timeout 120 bash -c "while kill -0 $PID 2>/dev/null; do sleep 0.1; done" || fail "no clean exit"
trap - EXIT
grep -q 'lost=0$' "$OUT" || fail "the demo lost messages"
grep 'demo:' "$OUT"
echo "1 passed, 0 failed"
