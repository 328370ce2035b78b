#!/usr/bin/env bash
# lemond refuses to start when a directory or file it would load code from, keep its state in or
# read its token from could be changed by another user (core/fs.h, check_trusted_path), and says
# which path and what is wrong; it writes nothing into such a directory first.
set -euo pipefail

ROOT="${TEST_SRCDIR:?}/lemon"
LEMOND="$ROOT/control_plane/lemond"
export RUNFILES_DIR="$TEST_SRCDIR"
umask 077
T="$TEST_TMPDIR/trust"
rm -rf "$T"
mkdir -p "$T"
failures=0

# Runs lemond with "$@" (ports 0, no demo) and expects it to exit 1 at once with every given
# pattern in what it printed: expect_refusal NAME PATTERN... -- FLAGS...
expect_refusal() {
  local name=$1
  shift
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  local out="$T/$name.out" rc=0
  "$LEMOND" --control_port=0 --metrics_port=0 --demo_actors=0 "$@" >"$out" 2>&1 &
  local pid=$!
  # Until it exits or says it is ready, with a deadline.
  timeout 60 bash -c "while kill -0 $pid 2>/dev/null && ! grep -q '^READY' '$out'; do sleep 0.1; done" \
    || true
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    wait "$pid" || true
    echo "FAIL $name: it started instead of refusing"; cat "$out"; failures=$((failures + 1)); return
  fi
  wait "$pid" || rc=$?
  if [ "$rc" != 1 ]; then
    echo "FAIL $name: exit $rc, expected 1"; cat "$out"; failures=$((failures + 1)); return
  fi
  for p in "${patterns[@]}"; do
    if ! grep -qF -- "$p" "$out"; then
      echo "FAIL $name: no \"$p\" in:"; cat "$out"; failures=$((failures + 1)); return
    fi
  done
  echo "ok   $name: $(head -1 "$out")"
}

dirs() {  # private directories for everything but what a case sets
  mkdir -p "$T/$1/modules" "$T/$1/ext" "$T/$1/state" "$T/$1/tok"
  echo "--modules_dir=$T/$1/modules --extensions_dir=$T/$1/ext --state_dir=$T/$1/state --token_file=$T/$1/tok/token"
}

# A group-writable modules directory.
mkdir -p "$T/open_modules"
chmod 0775 "$T/open_modules"
# shellcheck disable=SC2046
expect_refusal group_writable_modules \
  "lemond: untrusted directory $T/open_modules: it is group-writable (mode 0775)" -- \
  $(dirs a) --modules_dir="$T/open_modules"

# A world-writable extension root.
mkdir -p "$T/open_ext"
chmod 0777 "$T/open_ext"
# shellcheck disable=SC2046
expect_refusal world_writable_extensions \
  "untrusted directory $T/open_ext: it is world-writable (mode 0777)" -- \
  $(dirs b) --extensions_dir="$T/open_ext"

# The token's directory is group-writable.
mkdir -p "$T/open_tok"
chmod 0770 "$T/open_tok"
# shellcheck disable=SC2046
expect_refusal group_writable_token_dir "untrusted directory $T/open_tok" -- \
  $(dirs c) --token_file="$T/open_tok/token"
[ ! -e "$T/open_tok/token" ] || { echo "FAIL: a token was written into $T/open_tok"; failures=$((failures + 1)); }

# The default layout under a home whose .lemon is group-writable: nothing is seeded into it.
mkdir -p "$T/home/.lemon"
chmod 0775 "$T/home/.lemon"
HOME="$T/home" expect_refusal default_layout_under_open_dir \
  "untrusted directory $T/home/.lemon/modules: $T/home/.lemon above it is group-writable" --
[ -z "$(find "$T/home/.lemon" -type f)" ] || { echo "FAIL: files were seeded"; failures=$((failures + 1)); }

# A state directory another user owns (needs root to make one).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  mkdir -p "$T/their_state"
  chown nobody "$T/their_state"
  # shellcheck disable=SC2046
  expect_refusal state_owned_by_nobody \
    "untrusted directory $T/their_state: it is owned by uid $(id -u nobody) (nobody)" -- \
    $(dirs d) --state_dir="$T/their_state"
else
  echo "skip state_owned_by_nobody: giving a directory to \`nobody\` needs root"
fi

[ "$failures" = 0 ] || { echo "$failures failed"; exit 1; }
echo "all passed"
