#!/usr/bin/env bash
# Cluster-wide reload end to end (docs/cluster.md): real lemond processes on 127.0.0.1, connected
# with CAF's networking, driven through the control plane with curl and jq.
#   (a) three nodes: a cluster reload upgrades every node's demo actors; no message lost
#   (f) one node's new code_change throws: its pre-flight fails prepare; the reload is discarded
#   (c) one node's module is broken: it fails prepare, and no node changes version
#   (b) two coordinators start cluster reloads at the same moment: they never overlap on a node
#   (d) a fourth node coordinates a slow reload (extension compiles) and is SIGKILLed while it
#       holds every node's lock: the locks come back within the timeout, the next reload works
#   (e) the same with a holder that goes silent (SIGSTOP) instead: its lease runs out
#   (p) an app reloaded cluster-wide is all or nothing: one node's broken module keeps every
#       module of the app on every node where it was; after a commit and a purge,
#       lemon_module_info on every node lists exactly the versions loaded
#   (d), (e) the killed nodes stay known: every later cluster reload names them as unreachable
#   (s) without the cluster secret nothing happens: a node given another secret never joins;
#       remote_reload without the secret file, or with another secret, is refused with a clear
#       error before it can ask anything (and with the right secret it works, below)
# Every node is given the same secret file ($T/cluster.secret, created by the first node).
# Finally every node is stopped with SIGTERM and its demo reports lost=0.
# shellcheck source=testing/cluster_lib.sh
source "${TEST_SRCDIR:?}/lemon/testing/cluster_lib.sh"

# await_all_locked: until a, b and c all report a reload in progress at once (60 s deadline).
await_all_locked() {
  local deadline=$((SECONDS + 60)) n locked
  while [ $SECONDS -lt $deadline ]; do
    locked=1
    for n in a b c; do
      [ "$(health $n | jq '.result.reload_in_progress')" = "true" ] || { locked=0; break; }
    done
    [ $locked = 1 ] && return 0
    sleep 0.05
  done
  return 1
}
# stage_counter FILE: counter v3 in a's and b's modules directory, FILE in c's.
stage_counter() {
  cp "$EXAMPLES/libcounter_v3.so" "$T/a/modules/counter.so"
  cp "$EXAMPLES/libcounter_v3.so" "$T/b/modules/counter.so"
  cp "$1" "$T/c/modules/counter.so"
}
# await_all_released SINCE LIMIT WHY: until a, b and c all report no reload in progress; fails
# naming the node and WHY when one still does LIMIT s after SINCE (a $SECONDS value).
await_all_released() {
  local since=$1 limit=$2 why=$3 n
  for n in a b c; do
    until [ "$(health $n | jq '.result.reload_in_progress')" = "false" ]; do
      [ $((SECONDS - since)) -le "$limit" ] || fail "$n still holds the lock $why"
      sleep 0.05
    done
  done
}
# ---- membership: later nodes name the earlier ones; the agents introduce themselves. ----------
start_node a ""
start_node b "127.0.0.1:${CLP[a]}"
start_node c "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]}"
for n in a b c; do wait_peers $n 2; done
health a | jq -e --arg b "b=127.0.0.1:${CLP[b]}" \
  '.result.clustered and (.result.peers | index($b)) != null' >/dev/null || fail "membership of a"

# ---- (s) a peer without the secret: no membership, no remote reload, no purge ------------------
openssl rand -hex 32 >"$T/wrong.secret"
chmod 600 "$T/wrong.secret"
SECRET="$T/wrong.secret" DEMO_ACTORS=0 start_node x "127.0.0.1:${CLP[a]}"
await_log x "did not prove it holds this cluster secret"
for n in a b c; do
  [ "$(health $n | jq '.result.peers | length')" = 2 ] || fail "(s) x joined $n: $(health $n)"
done
kill -9 "${PID[x]}"
unset 'PID[x]'
PURGE=("$ROOT/control_plane/remote_reload" --port="${CLP[a]}" --kind=hard_purge --target=counter
       --force)
"${PURGE[@]}" --cluster_secret_file="$T/no.secret" >"$T/s1.out" 2>&1 \
  && fail "(s) remote_reload without a secret file exited 0: $(cat "$T/s1.out")"
grep -q "cluster secret (--cluster_secret_file): .*does not exist" "$T/s1.out" \
  || fail "(s) remote_reload without a secret file: $(cat "$T/s1.out")"
"${PURGE[@]}" --cluster_secret_file="$T/wrong.secret" >"$T/s2.out" 2>&1 \
  && fail "(s) remote_reload with a wrong secret exited 0: $(cat "$T/s2.out")"
grep -q "node a did not prove it holds this cluster secret" "$T/s2.out" \
  || fail "(s) remote_reload with a wrong secret: $(cat "$T/s2.out")"
[ "$(rpc a '{"module":"counter"}' actors.list | jq '.result.actors | length')" = 200 ] \
  || fail "(s) a's counter actors are gone"
# Scraped whole before grep reads it: `curl | grep -q` under pipefail fails when grep stops early.
curl -s "http://127.0.0.1:${MP[a]}/metrics" >"$T/s-metrics.txt"
grep -q '^lemon_cluster_auth_failures_total{node="a",reason="bad_proof"} ' "$T/s-metrics.txt" \
  || fail "(s) a exports no lemon_cluster_auth_failures_total"
echo "(s) ok: x (another secret) never joined; remote_reload without or with a wrong secret failed"

# ---- (a) a cluster reload moves every node's demo actors to version 2 ---------------------------
for n in a b c; do cp "$EXAMPLES/libcounter_v2.so" "$T/$n/modules/counter.so"; done
cluster_reload b counter >"$T/a.json"
jq -e '.result.status == "ok" and .result.metadata.outcome == "committed"
       and ([.result.results[].metadata.node] == ["a","b","c"])
       and ([.result.results[].metadata.outcome] | unique == ["committed"])
       and ([.result.results[].metadata.actors] | unique == ["200"])' "$T/a.json" >/dev/null \
  || fail "(a) report: $(cat "$T/a.json")"
for n in a b c; do [ "$(versions $n)" = '["2"]' ] || fail "(a) $n runs $(versions $n)"; done
# The cluster view of the modules, from any node: every node on counter 2 (old 1), nothing divergent.
rpc c '{"cluster":true}' modules.list >"$T/a-modules.json"
jq -e '.result.nodes == ["a","b","c"] and (.result.divergent // []) == []
       and ([.result.modules[] | select(.name == "counter")
             | [.node, .current_version, .old_version]]
            == [["a","2","1"],["b","2","1"],["c","2","1"]])' "$T/a-modules.json" >/dev/null \
  || fail "(a) cluster modules.list: $(cat "$T/a-modules.json")"
echo "(a) ok: a, b and c upgraded to counter 2 by one cluster reload; modules.list shows it"

# ---- (f) c's new version's code_change throws: c's pre-flight refuses it at prepare, before any
# actor is held, and the cluster reload is discarded everywhere ---------------------------------
stage_counter "$EXAMPLES/libcounter_v2_fail.so"
cluster_reload a counter >"$T/f.json"
jq -e '.error.code == -32003 and .error.data.report as $r | $r.status == "error"
       and $r.metadata.outcome == "discarded" and $r.metadata.failed_nodes == "c"
       and ([$r.results[].metadata.outcome] == ["discarded","discarded","failed"])
       and ($r.results[] | select(.metadata.node == "c")
            | .errors[0].reason == "code_change_failed")' "$T/f.json" >/dev/null \
  || fail "(f) report: $(cat "$T/f.json")"
for n in a b c; do [ "$(versions $n)" = '["2"]' ] || fail "(f) $n runs $(versions $n)"; done
echo "(f) ok: c's pre-flight failed; the reload was discarded and a, b, c run counter 2"

# ---- (c) c's counter.so is broken: prepare fails there, nobody changes ------------------------
stage_counter "$ROOT/core/testdata/libno_entry.so"
cluster_reload a counter >"$T/c.json"
jq -e '.error.code == -32003 and .error.data.report as $r | $r.status == "error"
       and $r.metadata.outcome == "discarded" and $r.metadata.failed_nodes == "c"
       and ($r.results[] | select(.metadata.node == "c") | .errors[0].reason == "bad_abi")
       and ([$r.results[].metadata.outcome] == ["discarded","discarded","failed"])' \
  "$T/c.json" >/dev/null || fail "(c) report: $(cat "$T/c.json")"
for n in a b c; do [ "$(versions $n)" = '["2"]' ] || fail "(c) $n runs $(versions $n)"; done
echo "(c) ok: a broken module on c, and no node changed version"

# ---- (b) two coordinators at the same moment ---------------------------------------------------
cp "$EXAMPLES/libcounter_v3.so" "$T/c/modules/counter.so"
cluster_reload a counter >"$T/b1.json" &
R1=$!
cluster_reload c counter >"$T/b2.json" &
R2=$!
wait $R1 $R2
# Exactly one of them moved each node (the other found it unchanged or the lock taken), and each
# node's two lock tokens differ: the two reloads held each node's lock one after the other.
# A failed one is an error whose data holds its report.
jq -e -s '
  map(.result // .error.data.report) as $reports
  | ($reports | map(.status != "error" or
                    ([.. | .reason? // empty] | index("reload_in_progress") != null)) | all)
  and ([$reports[].results[] | select(.reloaded == ["counter"]) | .metadata.node] | sort
       == ["a","b","c"])
  and ([$reports[].results[] | select(.metadata.lock_token != null)
        | [.metadata.node, .metadata.lock_token]] | group_by(.[0])
        | map(map(.[1]) | (unique | length) == length) | all)' "$T/b1.json" "$T/b2.json" >/dev/null \
  || fail "(b) reports: $(cat "$T/b1.json") $(cat "$T/b2.json")"
for n in a b c; do [ "$(versions $n)" = '["3"]' ] || fail "(b) $n runs $(versions $n)"; done
echo "(b) ok: two racing coordinators, one after the other on every node"

# ---- (d) the lock holder is killed mid-reload --------------------------------------------------
DEMO_ACTORS=0 start_node d "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]},127.0.0.1:${CLP[c]}"
for n in a b c; do wait_peers $n 3; done
wait_peers d 3
for n in a b c d; do cp "$ROOT/extensions/greeter/greeter.cc" "$T/$n/ext/greeter.cc"; done
rpc d "{\"scope\":\"extension\",\"path\":\"$T/d/ext/greeter.cc\",\"cluster\":true}" system.reload \
  >"$T/d.json" 2>&1 &
RD=$!
# d holds every node's lock while the nodes compile (phase 1).
await_all_locked || fail "(d) d never held every node's lock: $(cat "$T/d.json")"
kill -9 "${PID[d]}"
KILLED=$SECONDS
unset 'PID[d]'
wait $RD 2>/dev/null || true
# Released within the lease (10 s without a renewal), with slack for a loaded machine.
await_all_released $KILLED 25 "for the dead node (d)"
echo "(d) locks released $((SECONDS - KILLED)) s after the SIGKILL"
for n in a b c; do wait_peers $n 2; done
rpc a "{\"scope\":\"extension\",\"path\":\"$T/a/ext/greeter.cc\",\"cluster\":true}" system.reload \
  >"$T/d2.json"
# d is down but known: the report names it as unreachable (status partial), after a, b and c.
jq -e '.result.status == "partial" and .result.metadata.outcome == "committed"
       and .result.metadata.unreachable_nodes == "d"
       and ([.result.results[] | [.metadata.node, .metadata.outcome]]
            == [["a","committed"],["b","committed"],["c","committed"],["d","unreachable"]])' \
  "$T/d2.json" >/dev/null || fail "(d) next reload: $(cat "$T/d2.json")"
echo "(d) ok: the next cluster reload succeeded on a, b and c, and named d as unreachable"

# ---- (e) the lock holder becomes unreachable (SIGSTOP): it stops renewing, and the locks come back
# when their lease (--cluster_lease_ms, 10 s) runs out; CAF drops it from the membership after
# --cluster_timeout_ms (6 s here: 3 s let a node starved on a loaded 2-core machine drop out of the
# membership) -----------------------------------------------------------------------------------
DEMO_ACTORS=0 start_node e "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]},127.0.0.1:${CLP[c]}"
for n in a b c; do wait_peers $n 3; done
wait_peers e 3
for n in a b c e; do
  cp "$ROOT/extensions/greeter/greeter.cc" "$T/$n/ext/greeter.cc"
  sed -i 's/#define GREETER_VERSION "1"/#define GREETER_VERSION "2"/' "$T/$n/ext/greeter.cc"
done
rpc e "{\"scope\":\"extension\",\"path\":\"$T/e/ext/greeter.cc\",\"cluster\":true}" system.reload \
  >"$T/e.json" 2>&1 &
RE=$!
await_all_locked || fail "(e) e never held every node's lock: $(cat "$T/e.json")"
kill -STOP "${PID[e]}"
STOPPED=$SECONDS
await_all_released $STOPPED 30 "for the silent node (e)"
echo "(e) locks released $((SECONDS - STOPPED)) s after the holder went silent"
for n in a b c; do wait_peers $n 2; done
kill -9 "${PID[e]}"
unset 'PID[e]'
wait $RE 2>/dev/null || true
rpc b "{\"scope\":\"extension\",\"path\":\"$T/b/ext/greeter.cc\",\"cluster\":true}" system.reload \
  >"$T/e2.json"
jq -e '.result.status == "partial" and .result.metadata.outcome == "committed"
       and .result.metadata.unreachable_nodes == "d,e"
       and ([.result.results[] | select(.metadata.outcome != "unreachable")
             | .metadata.to_version] == ["2","2","2"])' "$T/e2.json" >/dev/null \
  || fail "(e) next reload: $(cat "$T/e2.json")"
echo "(e) ok: the next cluster reload moved a, b and c to greeter 2"

# ---- the cluster view shows code that differs between nodes ------------------------------------
sed -i 's/#define GREETER_VERSION "2"/#define GREETER_VERSION "3"/' "$T/a/ext/greeter.cc"
# a reloads alone, asked by another CAF program over caf::io (no HTTP): control_plane/remote_reload.
"$ROOT/control_plane/remote_reload" --port="${CLP[a]}" --cluster_secret_file="$T/cluster.secret" \
  --kind=extension --target="$T/a/ext/greeter.cc" >"$T/g.json" 2>"$T/g.err" \
  || fail "remote_reload on a: $(cat "$T/g.json" "$T/g.err")"
jq -e '.status == "ok" and .reloaded == ["greeter"] and .metadata.to_version == "3"' "$T/g.json" \
  >/dev/null || fail "remote_reload report: $(cat "$T/g.json" "$T/g.err")"
echo "ok: a CAF program reloaded greeter 3 on a through its cluster port (report status ok)"
"$ROOT/control_plane/remote_reload" --port="${CLP[a]}" --cluster_secret_file="$T/cluster.secret" \
  --kind=module --target=no_such_module \
  >"$T/g-bad.json" 2>"$T/g-bad.err" \
  && fail "remote_reload of an unknown module exited 0: $(cat "$T/g-bad.json" "$T/g-bad.err")"
jq -e '.status == "error" and .errors[0].reason == "not_found"' "$T/g-bad.json" >/dev/null \
  || fail "remote_reload unknown module: $(cat "$T/g-bad.json" "$T/g-bad.err")"
rpc b '{"cluster":true}' modules.list >"$T/g-modules.json"
jq -e '.result.divergent == ["greeter"]
       and ([.result.modules[] | select(.name == "greeter") | [.node, .current_version]]
            == [["a","3"],["b","2"],["c","2"]])' "$T/g-modules.json" >/dev/null \
  || fail "divergent modules.list: $(cat "$T/g-modules.json")"
echo "ok: modules.list with cluster: true names greeter as divergent (a runs 3, b and c run 2)"

# ---- (p) an app, cluster-wide: all or nothing; then a purge; lemon_module_info follows ----------
APPS="$ROOT/testing/testdata"
app_reload() {  # NODE -> report
  rpc "$1" '{"scope":"app","app":"shop","cluster":true,"lock_timeout_ms":60000}' system.reload
}
app_versions() {  # NODE MODULE -> the versions lemon_module_info lists, sorted, comma-separated
  curl -s "http://127.0.0.1:${MP[$1]}/metrics" \
    | sed -n "s/^lemon_module_info{.*module=\"$2\".*version=\"\([^\"]*\)\".*} 1\$/\1/p" \
    | sort | paste -sd, -
}
for n in a b c; do
  echo '{"apps": [{"name": "shop", "modules": ["app_a", "app_b"]}]}' >"$T/$n/modules/apps.json"
  cp "$APPS/libapp_a_v1.so" "$T/$n/modules/app_a.so"
  cp "$APPS/libapp_b_v1.so" "$T/$n/modules/app_b.so"
done
app_reload a >"$T/p1.json"
# d and e stay known and down: every report from here on names them (status partial).
jq -e '.result.status == "partial" and .result.metadata.outcome == "committed"
       and .result.metadata.unreachable_nodes == "d,e"
       and .result.metadata.kind == "app"' "$T/p1.json" >/dev/null \
  || fail "(p) first load of the app: $(cat "$T/p1.json")"
for n in a b c; do
  cp "$APPS/libapp_a_v2.so" "$T/$n/modules/app_a.so"
  cp "$APPS/libapp_b_v2.so" "$T/$n/modules/app_b.so"
done
cp "$ROOT/core/testdata/libno_entry.so" "$T/c/modules/app_b.so"  # c's app_b is broken
app_reload b >"$T/p2.json"
jq -e '.error.code == -32003 and .error.data.report.metadata.outcome == "discarded"
       and .error.data.report.metadata.failed_nodes == "c"' "$T/p2.json" >/dev/null \
  || fail "(p) app with a broken module on c: $(cat "$T/p2.json")"
rpc a '{"cluster":true}' modules.list >"$T/p2-modules.json"
jq -e '[.result.modules[] | select(.name == "app_a" or .name == "app_b") | .current_version]
       | unique == ["1"]' "$T/p2-modules.json" >/dev/null \
  || fail "(p) a node moved although c could not: $(cat "$T/p2-modules.json")"
echo "(p) ok: c's broken app_b kept app_a and app_b on version 1 on every node"
cp "$APPS/libapp_b_v2.so" "$T/c/modules/app_b.so"
app_reload c >"$T/p3.json"
jq -e '.result.status == "partial" and .result.metadata.outcome == "committed"
       and ([.result.results[].results[].reloaded[]] | length == 6)' "$T/p3.json" >/dev/null \
  || fail "(p) app reload: $(cat "$T/p3.json")"
for n in a b c; do
  [ "$(app_versions $n app_a)" = "1,2" ] || fail "(p) $n lemon_module_info app_a: $(app_versions $n app_a)"
  rpc $n '{"module":"app_a"}' modules.purge | jq -e '.result.status == "ok"' >/dev/null \
    || fail "(p) purge on $n"
  [ "$(app_versions $n app_a)" = "2" ] \
    || fail "(p) after the purge $n's lemon_module_info lists app_a $(app_versions $n app_a)"
  [ "$(app_versions $n app_b)" = "1,2" ] || fail "(p) $n lemon_module_info app_b: $(app_versions $n app_b)"
done
echo "(p) ok: the app moved to 2 on a, b and c; after a purge lemon_module_info lists app_a 2 only"

# ---- every node stops cleanly; no demo message was lost ----------------------------------------
stop_all a b c
trap - EXIT
echo "PASS"
