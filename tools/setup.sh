#!/usr/bin/env bash
# Installs exactly the Debian 12 packages Lemon needs to build, test and run. Idempotent: quiet
# when everything is already there.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-rules-java
  g++ libcaf-dev prometheus-cpp-dev libabsl-dev libprotobuf-dev protobuf-compiler
  libcivetweb-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  curl jq prometheus
  clang libclang-rt-14-dev clang-format
)

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: this needs Debian 12 (apt-get); elsewhere install: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm: Debian's, unless some node with npm is already installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages the tests use (testing/openrpc_discover_test.sh, testing/jsonrpc_client_test.sh),
# pinned, in a cache outside the work tree.
NPM_DIR="$HOME/.cache/lemon/npm"
NPM_PACKAGES=(@open-rpc/schema-utils-js@2.1.2 ajv@8.20.0 json-rpc-2.0@1.8.1)
for p in "${NPM_PACKAGES[@]}"; do
  name="${p%@*}"
  if ! grep -qs "\"version\": \"${p##*@}\"" "$NPM_DIR/node_modules/$name/package.json"; then
    echo "setup.sh: npm install ${NPM_PACKAGES[*]} into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund "${NPM_PACKAGES[@]}" >/dev/null
    break
  fi
done
