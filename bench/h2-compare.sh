#!/usr/bin/env bash
# h2-compare.sh: HTTP/2 downstream throughput of apigw and nginx in the same
# run: h2load with 10 connections x 10 concurrent streams (the issue's
# scenario) over TLS (ALPN h2, the same ECDSA P-256 certificate for both)
# and, for apigw, h2c by prior knowledge; both proxies have one worker on
# PROXY_CPU in front of the shared nginx upstream (100-byte answers, HTTP/1.1
# keep-alive). Rounds are interleaved; the table shows the median req/s.
# apigw sends GOAWAY after 1000 streams on a connection (max_requests, as an
# HTTP/1 keep-alive connection ends) and h2load does not reconnect: a run is
# at most 10 x 1000 requests, so use more ROUNDS rather than more REQUESTS.
#   APIGW_BIN=build-release/apigw bench/h2-compare.sh
# Environment: REQUESTS [10000] per run, ROUNDS [7], H2LOAD_CPU [0],
#   PROXY_CPU [1], SHARED_BENCH [../../shared/bench].
set -u
here=$(cd "$(dirname "$0")" && pwd)
SHARED_BENCH=${SHARED_BENCH:-$here/../../shared/bench}
. "$SHARED_BENCH/lib.sh"
APIGW_BIN=${APIGW_BIN:-$here/../build-release/apigw}
REQUESTS=${REQUESTS:-10000}; ROUNDS=${ROUNDS:-7}
H2LOAD_CPU=${H2LOAD_CPU:-0}; PROXY_CPU=${PROXY_CPU:-1}
GW_PORT=${GW_PORT:-18100}; GW_TLS=${GW_TLS:-18101}; ADM_PORT=${ADM_PORT:-18102}
NGX_TLS=${NGX_TLS:-18110}
KEY=bench-admin-key-0123456789

bench_need nginx h2load openssl taskset timeout curl python3
[ -x "$APIGW_BIN" ] || bench_die "no apigw at $APIGW_BIN (set APIGW_BIN)"
bench_mktemp
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# one ECDSA P-256 certificate for both proxies
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
  -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" 2>/dev/null ||
  bench_die "openssl req failed"

bench_start_upstream 1 "$H2LOAD_CPU"

taskset -c "$PROXY_CPU" "$APIGW_BIN" start --name h2b --data-dir "$BENCH_TMP/data" \
  --workers 1 --log-level warn --admin-key "$KEY" --proxy-h2c on \
  --proxy-tls-fallback-sni bench.test \
  --proxy-listen "127.0.0.1:$GW_PORT" --proxy-tls-listen "127.0.0.1:$GW_TLS" \
  --admin-listen "127.0.0.1:$ADM_PORT" --etcd-listen 127.0.0.1:18103 \
  --raft-listen 127.0.0.1:18104 --status-listen 127.0.0.1:18105 \
  --metrics-listen 127.0.0.1:18106 --control-listen 127.0.0.1:18107 \
  > "$BENCH_TMP/apigw.log" 2>&1 &
GW_PID=$!
BENCH_PIDS+=("$GW_PID")
bench_wait_port "$ADM_PORT"
adm() {
  curl -sf -X PUT -H "X-API-KEY: $KEY" "http://127.0.0.1:$ADM_PORT/apisix/admin/$1" \
    --data-binary @- >/dev/null || bench_die "admin PUT $1 failed"
}
echo "{\"uri\":\"/*\",\"upstream\":{\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:$UP_PORT\":1}}}" |
  adm routes/all
python3 -c 'import json,sys; print(json.dumps({"sni": "bench.test",
  "cert": open(sys.argv[1]).read(), "key": open(sys.argv[2]).read()}))' \
  "$BENCH_TMP/cert.pem" "$BENCH_TMP/key.pem" | adm ssls/bench
for _ in $(seq 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/" && break
  sleep 0.1
done

d="$BENCH_TMP/nginx-h2"
mkdir -p "$d"
{
  echo "worker_processes 1;"
  bench_nginx_common "$d"
  echo "http {"
  bench_nginx_http_common "$d"
  cat <<EOF
  tcp_nodelay on;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$NGX_TLS ssl http2 backlog=4096;
    ssl_certificate $BENCH_TMP/cert.pem;
    ssl_certificate_key $BENCH_TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
} > "$d/nginx.conf"
taskset -c "$PROXY_CPU" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' &
BENCH_PIDS+=("$!")
bench_wait_port "$NGX_TLS"

# h2load's req/s of one run; "fail" when a request failed or was not 2xx
run() {
  local out
  out=$(timeout 300 taskset -c "$H2LOAD_CPU" h2load -n "$REQUESTS" -c 10 -m 10 "$1" 2>&1)
  if ! grep -q "status codes: $REQUESTS 2xx" <<<"$out"; then
    echo fail
    echo "$out" | tail -n 12 >&2
    return
  fi
  awk '/^finished in/ { print $4 }' <<<"$out"
}

declare -A R
names="apigw-tls nginx-tls apigw-h2c"
for round in $(seq "$ROUNDS"); do
  for t in $names; do
    case $t in
    apigw-tls) url="https://127.0.0.1:$GW_TLS/" ;;
    nginx-tls) url="https://127.0.0.1:$NGX_TLS/" ;;
    apigw-h2c) url="http://127.0.0.1:$GW_PORT/" ;;
    esac
    v=$(run "$url")
    R[$t]="${R[$t]:-} $v"
    echo "round $round $t: $v req/s" >&2
  done
done

printf "%-10s %12s   (h2load -n %d -c 10 -m 10, median of %d)\n" target "req/s" \
  "$REQUESTS" "$ROUNDS"
for t in $names; do
  # shellcheck disable=SC2086
  printf "%-10s %12s\n" "$t" "$(bench_median ${R[$t]} | bench_round)"
done
