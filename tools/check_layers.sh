#!/usr/bin/env bash
# Checks that dependencies point one way, from the top layer down (docs/architecture.md):
#
#   control_plane -> cluster -> node -> reload -> actors -> core -> third_party
#
# demo (lemond's demo load) sits beside cluster: control_plane may use it, and it may use node and
# what is below. extensions (example modules) may use actors, core and third_party. For every library and binary
# of a layer (tests and test-only helpers are not checked), `bazel query` lists the packages it
# depends on (code, not run-time data); a package of a layer that is not below it is an error.
#
#   bash tools/check_layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# layer: the layers it may depend on (besides itself and third_party).
declare -A ALLOWED=(
  [core]=""
  [actors]="core"
  [reload]="actors core"
  [node]="reload actors core"
  [cluster]="node reload actors core"
  [demo]="node reload actors core"
  [control_plane]="cluster demo node reload actors core"
  [extensions]="actors core"
)
LAYERS="core actors reload node cluster demo control_plane extensions"

status=0
for layer in $LAYERS; do
  packages=$(bazel query --noshow_progress \
    "kind(cc_library, deps(attr(testonly, 0, kind('cc_(library|binary)', //${layer}/...))))" \
    --output package \
    2>/dev/null)
  for pkg in $packages; do
    top=${pkg%%/*}
    [ "$top" = "$layer" ] && continue
    case "$top" in
      third_party|@*|"") continue ;;
    esac
    allowed=" ${ALLOWED[$layer]} "
    if [[ "$allowed" != *" $top "* ]]; then
      echo "check_layers: //${layer} depends on //${pkg}, which is not below it" >&2
      status=1
    fi
  done
done
if [ "$status" -eq 0 ]; then echo "check_layers: every dependency points down"; fi
exit "$status"
