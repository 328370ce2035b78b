#!/usr/bin/env bash
# Checks that every C++ target includes only what it declares: each `#include "dir/file.h"` of a
# cc_library, cc_binary or cc_test whose header is one of this workspace's (it is listed in some
# cc_library's hdrs) must come from the target's own srcs/hdrs or from a direct dep, not through a
# dep of a dep. Also checks that lemonctl, a client, links none of the server (json_rpc); it
# links rpc.proto only to make one `reload` flag per SystemReloadParams field.
#
#   bash tools/check_deps.sh        # exit 1 and one line per finding when something is missing
#
# Headers of third_party libraries ("absl/...", "caf/...") are not checked: their targets export
# include paths rather than listing the headers.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
query_xml=$(mktemp)
trap 'rm -f "$query_xml"' EXIT
bazel query --noshow_progress 'kind("cc_(library|binary|test)", //...) except //third_party/...' \
  --output=xml >"$query_xml" 2>/dev/null
# Which library provides each header: every cc_library in the workspace, third_party included.
bazel query --noshow_progress 'kind("cc_library", //...)' --output=xml >"$query_xml.libs" \
  2>/dev/null
trap 'rm -f "$query_xml" "$query_xml.libs"' EXIT

python3 - "$query_xml" "$query_xml.libs" <<'EOF' || status=1
import re
import sys
import xml.etree.ElementTree as ET


def rules(path):
    for rule in ET.parse(path).getroot().iter("rule"):
        attrs = {}
        for lst in rule.findall("list"):
            attrs[lst.get("name")] = [label.get("value") for label in lst.findall("label")]
        yield rule.get("name"), attrs


def label_to_path(label):
    # //pkg/sub:file.h -> pkg/sub/file.h (files of this workspace only)
    if not label.startswith("//"):
        return None
    package, _, name = label[2:].partition(":")
    return f"{package}/{name}" if package else name


providers = {}  # header path -> libraries that list it in hdrs
for name, attrs in rules(sys.argv[2]):
    for label in attrs.get("hdrs", []) + attrs.get("textual_hdrs", []):
        path = label_to_path(label)
        if path:
            providers.setdefault(path, set()).add(name)

include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
missing = 0
for name, attrs in rules(sys.argv[1]):
    own = {label_to_path(l) for l in attrs.get("srcs", []) + attrs.get("hdrs", [])
           + attrs.get("textual_hdrs", [])}
    deps = set(attrs.get("deps", []))
    for source in sorted(p for p in own if p):
        try:
            text = open(source, encoding="utf-8", errors="replace").read()
        except OSError:
            continue  # generated: bazel-out only
        for header in include.findall(text):
            if header in own or header not in providers:
                continue
            if providers[header] & deps:
                continue
            print(f"check_deps: {name}: {source} includes \"{header}\", which no direct dep "
                  f"provides (add one of: {', '.join(sorted(providers[header]))})")
            missing += 1
sys.exit(1 if missing else 0)
EOF

if [ -n "$(bazel query --noshow_progress \
    'somepath(//control_plane:lemonctl, //control_plane:json_rpc)' 2>/dev/null)" ]; then
  echo "check_deps: //control_plane:lemonctl links //control_plane:json_rpc (a client needs none" \
    "of the server)" >&2
  status=1
fi

if [ "$status" -eq 0 ]; then echo "check_deps: every included header comes from a direct dep"; fi
exit "$status"
