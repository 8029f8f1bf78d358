#!/bin/sh
# raft-compare.sh: a 3-node apigw cluster against a 3-node etcd 3.4 cluster
# (Debian etcd-server) on this machine, in the same run, with the same client
# (etcd v3 JSON gateway): write throughput and p50/p99 latency (sequential and
# concurrent), failover time after kill -9 of the leader, join-to-voter time;
# prints the apigw/etcd ratios. Bounded load; every process is stopped by PID.
#   APIGW_BIN=./apigw bench/raft-compare.sh [--seq N] [--clients C] [--per-client M] [--rounds R]
set -eu
here=$(dirname "$0")
exec python3 "$here/raft_compare.py" "$@"
