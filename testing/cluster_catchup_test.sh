#!/usr/bin/env bash
# Members that are down, and a member that rejoins behind the cluster (docs/cluster.md, "Known
# members" and "Catching up"): real lemond processes on 127.0.0.1, driven with curl and jq.
#   (u) c is SIGKILLed; a cluster reload from a commits on a and b, and its report names c as
#       unreachable (status partial, a JSON-RPC result)
#   (j) c restarts with its old modules directory (counter 1) and state: it boots its permanent
#       version, 1, catches up to the cluster's 2 (bytes fetched from a peer) before it joins,
#       and reports no skew
#   (k) c misses another cluster reload (to 3) and restarts with --cluster_catch_up=false: it stays
#       on 2 and reports the skew in system.health and lemon_cluster_version_skew; a cluster
#       reload that brings it to 3 clears the skew
# Finally every node is stopped with SIGTERM and its demo reports lost=0.
# shellcheck source=testing/cluster_lib.sh
source "${TEST_SRCDIR:?}/lemon/testing/cluster_lib.sh"

# skew_gauge NODE: lemon_cluster_version_skew's value for counter on NODE ("" when absent).
skew_gauge() {
  curl -s "http://127.0.0.1:${MP[$1]}/metrics" \
    | sed -n 's/^lemon_cluster_version_skew{.*module="counter".*} \([0-9.]*\)$/\1/p'
}
# kill_node NODE: SIGKILL, then until the others see it gone.
kill_node() {
  kill -9 "${PID[$1]}"
  wait "${PID[$1]}" 2>/dev/null || true
  unset "PID[$1]"
  for n in a b; do wait_peers $n 1; done
}
# await_health NODE JQ-FILTER: until NODE's system.health result satisfies the filter (60 s).
await_health() {
  local deadline=$((SECONDS + 60))
  until health "$1" | jq -e "$2" >/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "$1's health never matched $2: $(health "$1")"
    sleep 0.1
  done
}

start_node a ""
start_node b "127.0.0.1:${CLP[a]}"
start_node c "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]}"
for n in a b c; do wait_peers $n 2; done

# ---- (u) c is down during a cluster reload: named, as unreachable ------------------------------
kill_node c
for n in a b; do cp "$EXAMPLES/libcounter_v2.so" "$T/$n/modules/counter.so"; done
cluster_reload a counter >"$T/u.json"
jq -e '.result.status == "partial" and .result.metadata.outcome == "committed"
       and .result.metadata.nodes == "a,b" and .result.metadata.unreachable_nodes == "c"
       and ([.result.skipped[] | [.target, .reason]] == [["c","unreachable"]])
       and ([.result.results[] | [.metadata.node, .metadata.outcome]]
            == [["a","committed"],["b","committed"],["c","unreachable"]])
       and (.result.results[2].skipped[0].reason == "unreachable")' "$T/u.json" >/dev/null \
  || fail "(u) report: $(cat "$T/u.json")"
health a | jq -e '.result.down_peers | length == 1 and (.[0] | startswith("c="))' >/dev/null \
  || fail "(u) a's health: $(health a)"
for n in a b; do [ "$(versions $n)" = '["2"]' ] || fail "(u) $n runs $(versions $n)"; done
echo "(u) ok: a and b committed counter 2; the report names c as unreachable (status partial)"

# ---- (j) c rejoins with counter 1 on disk and as its permanent version: it catches up ---------
[ "$(cmp -s "$EXAMPLES/libcounter_v1.so" "$T/c/modules/counter.so" && echo same)" = same ] \
  || fail "(j) c's modules directory does not hold counter 1"
start_node c "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]}"
await_log c "caught up with a: counter 1 -> 2"
for n in a b c; do wait_peers $n 2; done
[ "$(versions c)" = '["2"]' ] || fail "(j) c runs $(versions c)"
health c | jq -e '.result.status == "ok" and (.result.version_skew // []) == []' >/dev/null \
  || fail "(j) c's health: $(health c)"
[ "$(skew_gauge c)" = "" ] || [ "$(skew_gauge c)" = "0" ] \
  || fail "(j) c's lemon_cluster_version_skew is $(skew_gauge c)"
rpc c '{"module":"counter","limit":1}' reload.history >"$T/j-history.json"
jq -e '.result.entries[0].requested_by == "cluster catch-up from a"
       and .result.entries[0].status == "ok"' "$T/j-history.json" >/dev/null \
  || fail "(j) c's reload history: $(cat "$T/j-history.json")"
# c is a live member again, on the cluster's version: a reload of the same files changes nothing.
cp "$EXAMPLES/libcounter_v2.so" "$T/c/modules/counter.so"
cluster_reload b counter >"$T/j.json"
jq -e '.result.status != "error" and .result.metadata.unreachable_nodes == null
       and .result.skipped == [] and .result.metadata.nodes == "a,b,c"
       and ([.result.results[].metadata.outcome] | unique == ["unchanged"])' "$T/j.json" \
  >/dev/null || fail "(j) next reload: $(cat "$T/j.json")"
echo "(j) ok: c booted counter 1, caught up to 2 from a before it joined, and shows no skew"

# ---- (k) catch-up off: c stays behind and says so; a reload brings it in line ----------------
kill_node c
for n in a b; do cp "$EXAMPLES/libcounter_v3.so" "$T/$n/modules/counter.so"; done
cluster_reload b counter >"$T/k1.json"
jq -e '.result.status == "partial" and .result.metadata.unreachable_nodes == "c"' "$T/k1.json" \
  >/dev/null || fail "(k) reload without c: $(cat "$T/k1.json")"
start_node c "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]}" --cluster_catch_up=false
await_log c "version skew: counter 2"
for n in a b c; do wait_peers $n 2; done
[ "$(versions c)" = '["2"]' ] || fail "(k) c runs $(versions c)"
health c | jq -e '.result.status == "degraded"
  and ([.result.version_skew[] | [.module, .local_version, .cluster_version]]
       == [["counter","2","3"]])
  and (.result.version_skew[0].cluster_checksum | length == 64)' >/dev/null \
  || fail "(k) c's health: $(health c)"
[ "$(skew_gauge c)" = "1" ] || fail "(k) c's lemon_cluster_version_skew is '$(skew_gauge c)'"
cp "$EXAMPLES/libcounter_v3.so" "$T/c/modules/counter.so"
cluster_reload a counter >"$T/k2.json"
jq -e '.result.status != "error" and .result.skipped == []
       and ([.result.results[] | [.metadata.node, .metadata.outcome]]
       == [["a","unchanged"],["b","unchanged"],["c","committed"]])' "$T/k2.json" >/dev/null \
  || fail "(k) reload that brings c in line: $(cat "$T/k2.json")"
await_health c '.result.status == "ok" and (.result.version_skew // []) == []'
[ "$(skew_gauge c)" = "0" ] || fail "(k) c's lemon_cluster_version_skew stayed '$(skew_gauge c)'"
[ "$(versions c)" = '["3"]' ] || fail "(k) c runs $(versions c)"
echo "(k) ok: without catch-up c reported counter 2 against the cluster's 3, until a reload"

stop_all a b c
trap - EXIT
echo "PASS"
