#!/usr/bin/env bash
# Builds Lemon's libFuzzer targets with clang (Debian's clang + libclang-rt-*-dev; Bazel 4's gcc
# toolchain cannot) and runs each for a bounded time on its committed seed corpus.
#
#   bash tools/fuzz.sh                      # every target, 30 s each
#   bash tools/fuzz.sh --seconds 20         # as CI does
#   bash tools/fuzz.sh --target app_manifest --seconds 300
#
# Targets and seeds: testing/fuzz/<target>_fuzzer.cc, testing/fuzz/corpus/<target>/. Every seed
# is first replayed as it is (the JSON-RPC seeds include a 200 KB deeply nested body and a 1 MB
# batch), then the target is fuzzed with inputs up to 1 MiB, the control plane's body limit
# (libFuzzer's default max_len of 4096 bytes cannot reach such bodies). Inputs found during a run
# go to a scratch corpus, not the committed one; a crash leaves its input in $FUZZ_OUT (default
# /tmp/lemon-fuzz) and makes this script fail.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=30
MAX_LEN=$((1 << 20))  # bytes: the control plane's largest request body
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift 2 ;;
    --target) ONLY="$2"; shift 2 ;;
    *) echo "usage: $0 [--seconds N] [--target json_rpc|module_descriptor|app_manifest]" >&2
       exit 2 ;;
  esac
done

CXX="${CXX_FUZZ:-clang++}"
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "fuzz.sh: $CXX not found; run tools/setup.sh (clang, libclang-rt-14-dev)" >&2
  exit 1
fi

OUT="${FUZZ_OUT:-/tmp/lemon-fuzz}"
mkdir -p "$OUT"
GEN="$(mktemp -d)"
trap 'rm -rf "$GEN"' EXIT

# The control plane's protobuf code, as //control_plane:rpc_proto generates it.
protoc -I. -I/usr/include --cpp_out="$GEN" control_plane/rpc.proto

CXXFLAGS=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
          -fno-sanitize-recover=all -I. -I"$GEN" -Wall -Wextra -Werror -Wno-unused-parameter
          -Wno-missing-field-initializers)
# The same libraries as third_party/<lib>/BUILD.bazel links.
ABSL_LIBS=(-labsl_statusor -labsl_status -labsl_cord -labsl_cord_internal -labsl_cordz_functions
           -labsl_cordz_handle -labsl_cordz_info -labsl_exponential_biased -labsl_strerror
           -labsl_synchronization -labsl_graphcycles_internal -labsl_time -labsl_time_zone
           -labsl_civil_time -labsl_strings -labsl_strings_internal -labsl_str_format_internal
           -labsl_stacktrace -labsl_symbolize -labsl_debugging_internal -labsl_demangle_internal
           -labsl_malloc_internal -labsl_base -labsl_raw_logging_internal -labsl_log_severity
           -labsl_spinlock_wait -labsl_throw_delegate -labsl_bad_optional_access
           -labsl_bad_variant_access -labsl_int128)

# The sources each target needs, listed explicitly.
sources() {
  case "$1" in
    json_rpc) echo testing/fuzz/json_rpc_fuzzer.cc control_plane/json_rpc.cc \
                   control_plane/methods.cc control_plane/openrpc.cc core/reload_error.cc \
                   core/reload_request.cc \
                   "$GEN/control_plane/rpc.pb.cc" ;;
    module_descriptor) echo testing/fuzz/module_descriptor_fuzzer.cc core/code_server.cc \
                            core/probe_server.cc \
                            core/elf_check.cc core/fs.cc core/runfiles.cc core/sha256.cc \
                            core/module_name.cc core/module_schema.cc core/reload_error.cc \
                            core/test_support.cc ;;
    app_manifest) echo testing/fuzz/app_manifest_fuzzer.cc core/app_manifest.cc core/fs.cc \
                       core/module_name.cc \
                       core/reload_error.cc ;;
  esac
}
libs() {
  case "$1" in
    json_rpc) echo -lprotobuf -lpthread ;;
    module_descriptor) echo -lprotobuf -ldl -lpthread ;;
    app_manifest) echo -lpthread ;;
  esac
}

TARGETS=(json_rpc module_descriptor app_manifest)
[ -n "$ONLY" ] && TARGETS=("$ONLY")
failed=0
for t in "${TARGETS[@]}"; do
  bin="$OUT/${t}_fuzzer"
  echo "== fuzz.sh: building $t =="
  # shellcheck disable=SC2046
  "$CXX" "${CXXFLAGS[@]}" $(sources "$t") -o "$bin" "${ABSL_LIBS[@]}" $(libs "$t")
  work="$OUT/corpus-$t"
  mkdir -p "$work"
  seeds=(testing/fuzz/corpus/"$t"/*)
  echo "== fuzz.sh: replaying the ${#seeds[@]} seeds of $t =="
  # Leaks are failures too (detect_leaks is on by default under ASan).
  if ! ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$bin" -timeout=10 -rss_limit_mb=2048 \
      "${seeds[@]}" 2>"$OUT/$t-seeds.log"; then
    echo "fuzz.sh: $t FAILED on a seed; see $OUT/$t-seeds.log" >&2
    tail -40 "$OUT/$t-seeds.log" >&2
    failed=1
    continue
  fi
  echo "== fuzz.sh: running $t for ${SECONDS_PER_TARGET}s =="
  if ! ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
      "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      -max_len="$MAX_LEN" -print_final_stats=1 -artifact_prefix="$OUT/$t-" "$work" \
      "testing/fuzz/corpus/$t" 2>"$OUT/$t.log"; then
    echo "fuzz.sh: $t FAILED; see $OUT/$t.log and $OUT/$t-*" >&2
    tail -40 "$OUT/$t.log" >&2
    failed=1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" "$OUT/$t.log" || true
done
exit "$failed"
