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
# playwright-core for the dashboard's browser test, at the version of
# tests/browser/package-lock.json (it drives Debian's chromium: no browser
# download); if the registry cannot be reached, only that test fails
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) ||
	echo "test.sh: npm ci in tests/browser failed: test_dashboard.py will fail" >&2
autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --enable-sanitizers
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
# the previous release, for the rolling-upgrade test (packaging/upgrade-from)
prev=$(grep -v '^#' ../packaging/upgrade-from | head -n 1)
if [ -z "${APIGW_PREV_BIN:-}" ] && git -C .. cat-file -e "$prev^{commit}" 2>/dev/null; then
	if APIGW_PREV_BIN=$(../scripts/build-prev.sh "$prev" "$PWD/prev" | tail -n 1); then
		export APIGW_PREV_BIN
	else
		echo "test.sh: building the previous release $prev failed; test_upgrade skips" >&2
		unset APIGW_PREV_BIN
	fi
fi
make -j"$jobs" check APIGW_PROFILE="${PROFILE:-ci}"
