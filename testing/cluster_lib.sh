# Helpers for the cluster end-to-end tests (cluster_test.sh, cluster_tls_test.sh): real lemond
# processes on 127.0.0.1 with their own homes, driven through the control plane with curl and jq.
# Source it from a test; it sets `set -euo pipefail` and kills every node it started on exit.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
LEMOND="$ROOT/control_plane/lemond"
EXAMPLES="$ROOT/extensions/counter"
export RUNFILES_DIR="$TEST_SRCDIR"
T="${TEST_TMPDIR:?}"

declare -A PID CP CLP MP
fail() {
  echo "FAIL: $*" >&2
  for n in "${!PID[@]}"; do echo "--- $n ---" >&2; tail -n 30 "$T/$n.out" >&2 || true; done
  exit 1
}
cleanup() { for n in "${!PID[@]}"; do kill -9 "${PID[$n]}" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_node NAME PEERS [FLAG...]: a node with its own home, modules (counter v1) and an empty
# extension root (so that start-up compiles nothing), given the cluster secret $SECRET (default
# $T/cluster.secret, which the first node creates) and any further flags.
start_node() {
  local name=$1 peers=$2 home="$T/$1"
  shift 2
  mkdir -p "$home/modules" "$home/ext"
  cp "$EXAMPLES/libcounter_v1.so" "$home/modules/counter.so"
  # Emptied before the node starts: a restarted node's old READY line must not be read as its new.
  : >"$T/$name.out"
  HOME="$home" "$LEMOND" --node_name="$name" --control_port=0 --metrics_port=0 \
    --cluster_port=-1 --peers="$peers" --cluster_heartbeat_ms=500 \
    --cluster_timeout_ms=6000 --cluster_secret_file="${SECRET:-$T/cluster.secret}" \
    --modules_dir="$home/modules" --extensions_dir="$home/ext" \
    --state_dir="$home/state" --token_file="$home/token" --demo_actors="${DEMO_ACTORS:-200}" \
    --demo_rate=2000 "$@" >"$T/$name.out" 2>&1 &
  PID[$name]=$!
  timeout 120 bash -c "until grep -q '^READY' '$T/$name.out'; do kill -0 ${PID[$name]} || exit 1; sleep 0.1; done" \
    || fail "$name did not become ready"
  CP[$name]=$(sed -n 's/^READY control_port=\([0-9]*\) .*/\1/p' "$T/$name.out")
  MP[$name]=$(sed -n 's/^READY .*metrics_port=\([0-9]*\) .*/\1/p' "$T/$name.out")
  CLP[$name]=$(sed -n 's/^READY .*cluster_port=\([0-9]*\)$/\1/p' "$T/$name.out")
}

# await_log NODE TEXT: until NODE's output contains TEXT (60 s deadline).
await_log() {
  local deadline=$((SECONDS + 60))
  until grep -qF -- "$2" "$T/$1.out"; do
    [ $SECONDS -lt $deadline ] || fail "$1 never logged '$2'"
    sleep 0.1
  done
}

# stop_all NODE...: SIGTERM, then each must exit and its demo must report lost=0.
stop_all() {
  local n
  for n in "$@"; do kill -TERM "${PID[$n]}"; done
  for n in "$@"; do
    timeout 120 bash -c "while kill -0 ${PID[$n]} 2>/dev/null; do sleep 0.1; done" \
      || fail "$n did not exit"
    grep -q 'lost=0$' "$T/$n.out" || fail "$n lost demo messages: $(grep demo: "$T/$n.out")"
    grep 'demo:' "$T/$n.out"
  done
}

# rpc NODE JSON-PARAMS METHOD: the result (or error) object of one JSON-RPC call.
rpc() {
  curl -s --max-time 300 -X POST -H "Authorization: Bearer $(cat "$T/$1/token")" \
    -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$3\",\"params\":$2}" \
    "http://127.0.0.1:${CP[$1]}/rpc"
}
health() { rpc "$1" '{}' system.health; }
versions() { rpc "$1" '{"module":"counter"}' actors.list | jq -c '[.result.actors[].version] | unique'; }
# wait_peers NODE N: until NODE sees exactly N live peers.
wait_peers() {
  local deadline=$((SECONDS + 60))
  until [ "$(health "$1" | jq '.result.peers | length')" = "$2" ]; do
    [ $SECONDS -lt $deadline ] || fail "$1 never saw $2 peers: $(health "$1")"
    sleep 0.1
  done
}
cluster_reload() {  # NODE MODULE -> report
  rpc "$1" "{\"scope\":\"module\",\"module\":\"$2\",\"cluster\":true,\"lock_timeout_ms\":60000}" \
    system.reload
}
