#!/bin/sh
# peer-tls-compare.sh: a 3-node apigw cluster with --peer-tls=on, then one
# with --peer-tls=off, in the same run, both measured by the team's
# ../shared/bench/etcd-compare.sh (ENDPOINTS=...): write throughput (etcdctl
# check perf) and put latency p50/p99; prints the on/off ratios.
#   APIGW_BIN=build-release/apigw bench/peer-tls-compare.sh [--rounds N] [--loads "s m"]
set -eu
here=$(dirname "$0")
exec python3 "$here/peer_tls_compare.py" "$@"
