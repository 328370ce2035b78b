#!/usr/bin/env bash
# The cluster port over TLS (docs/cluster.md, "TLS"): three lemond nodes with certificates that
# one CA signed (made here with the openssl CLI), mutual verification, and the cluster secret on
# top.
#   (t) the three nodes form a cluster and a cluster reload commits on all of them
#   (r) a node whose certificate another CA signed, a node without TLS (both hold the right
#       secret) and a client sending garbage cannot connect, and their failed handshakes do not
#       disturb the links between the three nodes: no membership changes meanwhile
#   (c) remote_reload with a certificate and the secret reloads a node; without TLS it cannot
# Finally every node is stopped with SIGTERM and its demo reports lost=0.
# shellcheck source=testing/cluster_lib.sh
source "${TEST_SRCDIR:?}/lemon/testing/cluster_lib.sh"

# mkca NAME: a self-signed CA, $T/NAME.pem and $T/NAME.key.
mkca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=lemon test $1" -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
}
# mkcert NAME CA: a key and a certificate for NAME that CA signed.
mkcert() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
  openssl x509 -req -in "$T/$1.csr" -CA "$T/$2.pem" -CAkey "$T/$2.key" -CAcreateserial -days 1 \
    -out "$T/$1.pem" 2>/dev/null
  chmod 600 "$T/$1.key"
}
# tls NAME [CA]: the TLS flags of a program that presents NAME's certificate and trusts CA.
tls() { echo "--cluster_tls_cert=$T/$1.pem --cluster_tls_key=$T/$1.key --cluster_tls_ca=$T/${2:-ca}.pem"; }

mkca ca
mkca other
for n in a b c tool; do mkcert $n ca; done
mkcert rogue other

# ---- (t) three nodes over TLS -------------------------------------------------------------------
# shellcheck disable=SC2046  # tls prints several flags
start_node a "" $(tls a)
# shellcheck disable=SC2046
start_node b "127.0.0.1:${CLP[a]}" $(tls b)
# shellcheck disable=SC2046
start_node c "127.0.0.1:${CLP[a]},127.0.0.1:${CLP[b]}" $(tls c)
for n in a b c; do wait_peers $n 2; done
grep -q "gate on 127.0.0.1:${CLP[a]} (TLS)" "$T/a.out" || fail "(t) a does not say it uses TLS"
for n in a b c; do cp "$EXAMPLES/libcounter_v2.so" "$T/$n/modules/counter.so"; done
cluster_reload b counter >"$T/t.json"
jq -e '.result.status == "ok" and .result.metadata.outcome == "committed"
       and ([.result.results[].metadata.outcome] == ["committed","committed","committed"])' \
  "$T/t.json" >/dev/null || fail "(t) report: $(cat "$T/t.json")"
for n in a b c; do [ "$(versions $n)" = '["2"]' ] || fail "(t) $n runs $(versions $n)"; done
echo "(t) ok: three nodes over TLS; one cluster reload moved all of them to counter 2"

# ---- (r) no valid certificate, no connection ----------------------------------------------------
# shellcheck disable=SC2046
DEMO_ACTORS=0 start_node rogue "127.0.0.1:${CLP[a]}" $(tls rogue other)
DEMO_ACTORS=0 start_node plain "127.0.0.1:${CLP[a]}"
await_log rogue "cannot join 127.0.0.1:${CLP[a]}"
await_log plain "cannot join 127.0.0.1:${CLP[a]}"
# While they retry (and garbage arrives), the three nodes keep seeing each other, every time.
for i in $(seq 1 20); do
  python3 -c 'import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.send(os.urandom(64)); s.close()' \
    "${CLP[a]}"
  for n in a b c; do
    [ "$(health $n | jq '.result.peers | length')" = 2 ] || fail "(r) membership of $n: $(health $n)"
  done
  sleep 0.1
done
for n in rogue plain; do
  [ "$(health $n | jq '.result.peers | length')" = 0 ] || fail "(r) $n joined: $(health $n)"
  kill -9 "${PID[$n]}"
  unset "PID[$n]"
done
echo "(r) ok: a node with another CA's certificate and a node without TLS could not connect"

# ---- (c) a client over TLS ----------------------------------------------------------------------
RR=("$ROOT/control_plane/remote_reload" --port="${CLP[a]}" --cluster_secret_file="$T/cluster.secret"
    --kind=module --target=counter)
"${RR[@]}" >"$T/c-plain.out" 2>&1 && fail "(c) remote_reload without TLS exited 0"
grep -q "cannot reach 127.0.0.1:${CLP[a]}" "$T/c-plain.out" \
  || fail "(c) remote_reload without TLS: $(cat "$T/c-plain.out")"
cp "$EXAMPLES/libcounter_v3.so" "$T/a/modules/counter.so"
# shellcheck disable=SC2046
"${RR[@]}" $(tls tool) >"$T/c.json" 2>"$T/c.err" \
  || fail "(c) remote_reload over TLS: $(cat "$T/c.json" "$T/c.err")"
jq -e '.status == "ok" and .metadata.to_version == "3"' "$T/c.json" >/dev/null \
  || fail "(c) report: $(cat "$T/c.json" "$T/c.err")"
[ "$(versions a)" = '["3"]' ] || fail "(c) a runs $(versions a)"
echo "(c) ok: remote_reload over TLS moved a to counter 3; without TLS it could not connect"

stop_all a b c
trap - EXIT
echo "PASS"
