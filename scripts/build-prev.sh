#!/bin/sh
# build-prev.sh REF [DIR]: build the apigw binary of git REF (the previous
# release tag, or main) in DIR (default build-prev/, outside the normal build
# tree), without sanitizers, for the rolling-upgrade test:
#   ./scripts/build-prev.sh v0.1.0
#   cd build && APIGW_PREV_BIN=$PWD/../build-prev/build/apigw \
#     make check TESTS=tests/integration/test_upgrade.py
# Prints the binary's path last.
set -eu
ref=$1
dir=${2:-build-prev}
top=$(git rev-parse --show-toplevel)
rm -rf "$dir"
mkdir -p "$dir/src" "$dir/build"
git -C "$top" archive "$ref" | tar -x -C "$dir/src"
dir=$(cd "$dir" && pwd)
(cd "$dir/src" && autoreconf -fi >/dev/null 2>&1)
cd "$dir/build"
"$dir/src/configure" >/dev/null
make -j"$(nproc 2>/dev/null || echo 2)" apigw >/dev/null
echo "$dir/build/apigw"
