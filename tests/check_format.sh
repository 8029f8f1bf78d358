#!/bin/sh
# check_format.sh: TAP test: every tracked C file is clang-formatted
# (.clang-format at the root). Skipped outside a git checkout (e.g. in
# `make distcheck`) or without clang-format.
top=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang-format >/dev/null 2>&1 || ! git -C "$top" rev-parse >/dev/null 2>&1; then
	echo "1..1"
	echo "ok 1 - clang-format # SKIP no git checkout or no clang-format"
	exit 0
fi
cd "$top" || exit 1
bad=$(git ls-files '*.c' '*.h' | while read -r f; do
	[ -f "$f" ] || continue
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
echo "1..1"
if [ -z "$bad" ]; then
	echo "ok 1 - clang-format"
else
	echo "not ok 1 - clang-format"
	echo "$bad" | sed 's/^/# needs clang-format: /'
fi
