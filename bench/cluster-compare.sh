#!/usr/bin/env bash
# cluster-compare.sh: start a 3-node apigw cluster on 127.0.0.1 and run the
# team's etcd-compare.sh against it and a 3-node etcd 3.4 in the same run
# (COMPARE=1), so every figure comes out as an apigw/etcd ratio.
#   APIGW_BIN=./apigw bench/cluster-compare.sh
# Env: APIGW_BIN (default ./apigw), APIGW_ARGS (extra flags for every node,
# e.g. "--peer-tls=off"), ETCD_COMPARE (default ../shared/bench/etcd-compare.sh
# beside the repo), BASE_PORT (default 19000: below the test
# harness's slots and the ephemeral range), KEEP_TMP=1; every knob of
# etcd-compare.sh passes through (PERF_LOADS, N_PUT, N_WATCH, N_GET, ...).
# Bounded: the cluster is stopped by PID on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
APIGW_BIN=${APIGW_BIN:-./apigw}
APIGW_ARGS=${APIGW_ARGS:-}
ETCD_COMPARE=${ETCD_COMPARE:-$here/../../shared/bench/etcd-compare.sh}
BASE_PORT=${BASE_PORT:-19000}
TMP=$(mktemp -d)
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [ "${KEEP_TMP:-0}" = 1 ] && echo "# logs in $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

[ -x "$APIGW_BIN" ] || { echo "error: APIGW_BIN=$APIGW_BIN is not executable" >&2; exit 1; }
[ -x "$ETCD_COMPARE" ] || [ -f "$ETCD_COMPARE" ] || { echo "error: no $ETCD_COMPARE" >&2; exit 1; }

node_flags() { # node index 0..2
  local b=$((BASE_PORT + $1 * 10))
  echo "--data-dir $TMP/n$1 --name n$1 --proxy-listen 127.0.0.1:$b \
--admin-listen 127.0.0.1:$((b + 1)) --etcd-listen 127.0.0.1:$((b + 2)) \
--raft-listen 127.0.0.1:$((b + 3)) --status-listen 127.0.0.1:$((b + 4)) \
--metrics-listen 127.0.0.1:$((b + 5)) --control-listen 127.0.0.1:$((b + 6)) --proxy-tls-listen 127.0.0.1:$((b + 7)) --workers 1 $APIGW_ARGS"
}

# shellcheck disable=SC2046
"$APIGW_BIN" start $(node_flags 0) >"$TMP/n0.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$TMP/n0/join-secret" ] && break; sleep 0.1; done
secret=$(cat "$TMP/n0/join-secret")
for i in 1 2; do
  # shellcheck disable=SC2046
  "$APIGW_BIN" join --peer 127.0.0.1:$((BASE_PORT + 2)) \
    --join-secret "$secret" $(node_flags $i) >"$TMP/n$i.log" 2>&1 &
  PIDS+=($!)
done
eps="127.0.0.1:$((BASE_PORT + 2)),127.0.0.1:$((BASE_PORT + 12)),127.0.0.1:$((BASE_PORT + 22))"
for _ in $(seq 1 150); do
  n=$(ETCDCTL_API=3 timeout 5 etcdctl --endpoints "127.0.0.1:$((BASE_PORT + 2))" member list \
    2>/dev/null | grep -c ', started, .*, false$')
  [ "$n" -ge 3 ] && break
  sleep 0.2
done
[ "$n" -ge 3 ] || { echo "error: the apigw cluster did not form (logs: KEEP_TMP=1)" >&2; exit 1; }
echo "# apigw cluster up: $eps (flags: ${APIGW_ARGS:-none})" >&2
ENDPOINTS=$eps COMPARE=${COMPARE:-1} bash "$ETCD_COMPARE"
