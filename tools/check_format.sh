#!/usr/bin/env bash
# Checks that the C++ files changed since a base revision are formatted as the repository's
# .clang-format says (Google style, 100 columns): runs `clang-format --dry-run -Werror` on each and
# exits non-zero, naming the files and the lines clang-format would change, if any is not.
#
#   bash tools/check_format.sh             # changes since the previous commit (HEAD~1)
#   bash tools/check_format.sh main        # changes since main
#
# "Changed" means added, copied, modified or renamed between the base and the work tree, plus
# untracked files that git does not ignore; with no base and no previous commit (a repository's
# first commit), every tracked C++ file. Only changed files are checked, so that the tree is
# formatted file by file as it is edited. BUILD and .bzl files are not checked: Debian 12 ships
# no buildifier. Exit status: 0 formatted, 1 not formatted, 2 bad usage or missing tool.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 1 ]; then
  echo "usage: $0 [BASE_REVISION]" >&2
  exit 2
fi
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format.sh: clang-format is not installed (bash tools/setup.sh installs it)" >&2
  exit 2
fi

base="${1:-}"
if [ -z "$base" ] && git rev-parse -q --verify HEAD~1 >/dev/null; then
  base="HEAD~1"
fi
if [ -n "$base" ] && ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
  echo "check_format.sh: '$base' is not a revision of this repository" >&2
  exit 2
fi

files=()
if [ -n "$base" ]; then
  while IFS= read -r -d '' f; do files+=("$f"); done < <(
    git diff -z --name-only --diff-filter=ACMR "$base" -- &&
      git ls-files -z --others --exclude-standard)
else
  while IFS= read -r -d '' f; do files+=("$f"); done < <(git ls-files -z)
fi

cpp=()
for f in "${files[@]+"${files[@]}"}"; do
  case "$f" in
    *.cc | *.h | *.cpp | *.hpp | *.cxx) [ -f "$f" ] && cpp+=("$f") ;;
  esac
done
if [ "${#cpp[@]}" -eq 0 ]; then
  echo "check_format.sh: no C++ file changed since ${base:-the first commit}"
  exit 0
fi

bad=()
for f in "${cpp[@]}"; do
  if ! clang-format --style=file --dry-run -Werror "$f"; then bad+=("$f"); fi
done
if [ "${#bad[@]}" -ne 0 ]; then
  echo "check_format.sh: ${#bad[@]} of ${#cpp[@]} changed C++ file(s) not formatted:" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix with: clang-format -i$(printf ' %q' "${bad[@]}")" >&2
  exit 1
fi
echo "check_format.sh: ${#cpp[@]} changed C++ file(s) formatted (since ${base:-the first commit})"
