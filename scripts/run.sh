#!/bin/sh
# run.sh: set everything up on a fresh Debian bookworm machine and run one
# apigw node with defaults: a one-node cluster, data in the default data dir
# (/var/lib/apigw as root, else ~/.local/share/apigw). Extra arguments go to
# `apigw start` (see `apigw help start`).
set -eu
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO ./scripts/install-deps.sh
autoreconf -fi
mkdir -p build-release
cd build-release
[ -f Makefile ] || ../configure
make -j"$(nproc 2>/dev/null || echo 2)" apigw
exec ./apigw start "$@"
