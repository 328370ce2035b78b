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
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
