#!/bin/sh
# test.sh: set everything up on a fresh Debian bookworm machine and pass the
# whole test suite: install dependencies, build with ASan+UBSan in build/,
# run `make check` (unit and integration tests).
#   PROFILE=long ./scripts/test.sh   also runs the long fault/soak profiles
set -eu
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO ./scripts/install-deps.sh
autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --enable-sanitizers
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make -j"$jobs" check APIGW_PROFILE="${PROFILE:-ci}"
