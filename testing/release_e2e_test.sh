#!/usr/bin/env bash
# The release lifecycle on a real lemond, through lemonctl (docs/control-plane.md): a version that
# reloaded becomes permanent; a bad file copied over it fails to reload and is never booted; a
# restart runs the permanent version from the node's private copy; a rollback goes back a version
# and is permanent across the next restart; reload.history keeps all of it across restarts.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
LEMONCTL="$ROOT/control_plane/lemonctl"
export HOME="${TEST_TMPDIR:?}/home"
export RUNFILES_DIR="$TEST_SRCDIR"
mkdir -p "$HOME"
OUT="$TEST_TMPDIR/lemond.out"
PID=""

fail() { echo "FAIL: $*" >&2; echo "--- lemond output ---" >&2; cat "$OUT" >&2 || true; exit 1; }
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null || true' EXIT

# start: lemond with 20 demo actors, until it says where it listens (120 s deadline).
start() {
  : >"$OUT"
  "$ROOT/control_plane/lemond" --control_port=0 --metrics_port=0 --demo_actors=20 \
    --demo_rate=2000 >"$OUT" 2>&1 &
  PID=$!
  timeout 120 bash -c "until grep -q '^READY' '$OUT'; do kill -0 $PID || exit 1; sleep 0.1; done" \
    || fail "lemond did not become ready"
  CP=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$OUT")
}
# stop: SIGTERM, and wait (60 s deadline) until the process is gone; it must exit 0 (a crash or a
# sanitizer report on the way out fails the test).
stop() {
  kill -TERM "$PID"
  timeout 60 bash -c "while kill -0 $PID 2>/dev/null; do sleep 0.1; done" || fail "lemond did not stop"
  local status=0
  wait "$PID" 2>/dev/null || status=$?
  PID=""
  [ "$status" -eq 0 ] || fail "lemond exited with status $status after SIGTERM"
}
ctl() { "$LEMONCTL" --control_port "$CP" --token_file "$HOME/.lemon/token" "$@"; }
versions() { ctl --json actors --module counter | jq -c '[.actors[].version] | unique'; }

start
[ "$(versions)" = '["1"]' ] || fail "the demo does not run counter 1: $(versions)"
cp "$ROOT/extensions/counter/libcounter_v2.so" "$HOME/.lemon/modules/counter.so"
ctl --json reload --module counter | jq -e '.status == "ok"' >/dev/null || fail "reload to 2"
[ "$(versions)" = '["2"]' ] || fail "after the reload: $(versions)"

# A bad file over the permanent version: the reload fails, nothing changes.
cp "$ROOT/core/testdata/libno_entry.so" "$HOME/.lemon/modules/counter.so"
ctl --json reload --module counter >"$TEST_TMPDIR/bad.json" && fail "the bad reload exited 0"
jq -e '.code == -32003' "$TEST_TMPDIR/bad.json" >/dev/null || fail "bad: $(cat "$TEST_TMPDIR/bad.json")"
[ "$(versions)" = '["2"]' ] || fail "after the failed reload: $(versions)"

# A restart boots the permanent version 2, not the bad file in the modules directory.
stop
start
[ "$(versions)" = '["2"]' ] || fail "after a restart over a bad file: $(versions)"
ctl --json modules | jq -e '.modules[] | select(.name == "counter") | .current_version == "2"' \
  >/dev/null || fail "modules after the restart: $(ctl --json modules)"

# Rollback to 1, which is then permanent: the next restart boots it.
ctl --json rollback --module counter | jq -e '.status == "ok"' >/dev/null || fail "rollback"
[ "$(versions)" = '["1"]' ] || fail "after the rollback: $(versions)"
stop
start
[ "$(versions)" = '["1"]' ] || fail "after a restart following the rollback: $(versions)"

# The history kept every reload across both restarts, newest first.
ctl --json history --module counter >"$TEST_TMPDIR/history.json"
jq -e '[.entries[] | [.op, .status]] == [["rollback","ok"], ["module","error"], ["module","ok"]]' \
  "$TEST_TMPDIR/history.json" >/dev/null || fail "history: $(cat "$TEST_TMPDIR/history.json")"
stop
echo "ok: permanent across restarts, a bad file never booted, rollback permanent, history kept"
