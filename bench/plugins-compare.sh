#!/usr/bin/env bash
# plugins-compare.sh: what plugins cost on the proxy — APISIX's benchmark
# scenario (proxy-compare.sh of its repo): one route without plugins, one
# with limit-count + prometheus, one with key-auth + limit-count +
# prometheus, on one apigw (1 worker) in front of the shared nginx upstream,
# measured by wrk in the same run, rounds interleaved; prints req/s, p99
# and the ratio to the no-plugin route. The limit is set high enough never
# to reject: what is measured is the counting.
#   APIGW_BIN=build-release/apigw bench/plugins-compare.sh
# Environment: DURATION [10] s per run, ROUNDS [3], CONNS [50],
#   WRK_CPU [0], PROXY_CPU [1], SHARED_BENCH [../../shared/bench].
set -u
here=$(cd "$(dirname "$0")" && pwd)
SHARED_BENCH=${SHARED_BENCH:-$here/../../shared/bench}
. "$SHARED_BENCH/lib.sh"
APIGW_BIN=${APIGW_BIN:-$here/../build-release/apigw}
DURATION=${DURATION:-10}; ROUNDS=${ROUNDS:-3}; CONNS=${CONNS:-50}
WRK_CPU=${WRK_CPU:-0}; PROXY_CPU=${PROXY_CPU:-1}
GW_PORT=${GW_PORT:-18090}; ADM_PORT=${ADM_PORT:-18091}
KEY=bench-admin-key-0123456789

bench_need nginx wrk taskset timeout curl
[ -x "$APIGW_BIN" ] || bench_die "no apigw at $APIGW_BIN (set APIGW_BIN)"
bench_mktemp
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_start_upstream 1 "$WRK_CPU"
taskset -c "$PROXY_CPU" "$APIGW_BIN" start --name b1 --data-dir "$BENCH_TMP/data" \
  --workers 1 --log-level warn --admin-key "$KEY" \
  --proxy-listen "127.0.0.1:$GW_PORT" --admin-listen "127.0.0.1:$ADM_PORT" \
  --etcd-listen 127.0.0.1:18092 --raft-listen 127.0.0.1:18093 \
  --status-listen 127.0.0.1:18094 --metrics-listen 127.0.0.1:18095 \
  --proxy-tls-listen 127.0.0.1:18096 --control-listen 127.0.0.1:18097 \
  > "$BENCH_TMP/apigw.log" 2>&1 &
GW_PID=$!
BENCH_PIDS+=("$GW_PID")
bench_wait_port "$ADM_PORT"

adm() {
  curl -sf -X PUT -H "X-API-KEY: $KEY" "http://127.0.0.1:$ADM_PORT/apisix/admin/$1" -d "$2" \
    >/dev/null || bench_die "admin PUT $1 failed"
}
UP="{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$UP_PORT\":1}}"
LC='"limit-count":{"count":2000000000,"time_window":60}'
adm routes/none "{\"uri\":\"/none\",\"upstream\":$UP}"
adm routes/lc "{\"uri\":\"/lc\",\"upstream\":$UP,\"plugins\":{$LC,\"prometheus\":{}}}"
adm consumers '{"username":"bench","plugins":{"key-auth":{"key":"bench-key"}}}'
adm routes/ka "{\"uri\":\"/ka\",\"upstream\":$UP,\"plugins\":{\"key-auth\":{},$LC,\"prometheus\":{}}}"
for p in none lc; do
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/$p" && break
    sleep 0.1
  done
done

declare -A RPS P99
for r in $(seq "$ROUNDS"); do
  for p in none lc ka; do
    out="$BENCH_TMP/wrk-$p-$r"
    hdr=()
    [ "$p" = ka ] && hdr=(-H "apikey: bench-key")
    timeout $((DURATION + 30)) taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
      --latency "${hdr[@]}" "http://127.0.0.1:$GW_PORT/$p" > "$out" 2>&1
    read -r rps _ p99 err <<< "$(bench_parse_wrk "$out")"
    [ "$err" = 0 ] || echo "warning: $p round $r: $err errors or non-2xx" >&2
    RPS[$p]="${RPS[$p]:-} $rps"
    P99[$p]="${P99[$p]:-} $p99"
  done
done
# shellcheck disable=SC2086
base=$(bench_median ${RPS[none]})
printf '%-28s %12s %10s %8s\n' scenario "req/s" "p99 ms" ratio
for p in none lc ka; do
  # shellcheck disable=SC2086
  m=$(bench_median ${RPS[$p]}); q=$(bench_median ${P99[$p]})
  case $p in none) n="no plugins" ;; lc) n="limit-count+prometheus" ;;
    ka) n="key-auth+limit-count+prom" ;; esac
  printf '%-28s %12.0f %10s %8s\n' "$n" "$m" "$q" \
    "$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
done
