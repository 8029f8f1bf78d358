#!/usr/bin/env bash
# health-figures.sh: the figures of issue 18's closing note, on one apigw
# node (release build) — bench/health_bench.py run in both modes:
#   failover: time from a backend's death to the node being out and to the
#     last request sent to it, requests failed meanwhile, active and passive
#     checks, retries 0 and 1;
#   cpu: the checker thread's CPU (utime + stime of the thread named
#     apigw-health in /proc/<pid>/task/<tid>/stat) with UPSTREAMS upstreams
#     x 3 nodes probed every 1 s (3 nginx listeners answer the probes);
#   dns: time from a changed DNS answer to traffic on the new address, and
#     the resolver thread's CPU (apigw-dns) with NAMES names at TTL 1 s.
#   APIGW_BIN=build-release/apigw bench/health-figures.sh
# Environment: UPSTREAMS [1000], NAMES [1000], SECS [20] of CPU sampling, REQUESTS [3000],
#   TYPE [http] (probe type for the CPU run: http or tcp).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
APIGW_BIN=${APIGW_BIN:-$here/../build-release/apigw}
[ -x "$APIGW_BIN" ] || { echo "no apigw at $APIGW_BIN (set APIGW_BIN)" >&2; exit 2; }
export APIGW_BIN
cd "$here"
echo "== failover (sequential client, 2 backends, one killed)"
python3 health_bench.py failover --requests "${REQUESTS:-3000}"
echo "== checker CPU"
python3 health_bench.py cpu --upstreams "${UPSTREAMS:-1000}" --secs "${SECS:-20}" \
  --type "${TYPE:-http}" --nginx
echo "== DNS (host-name nodes, TTL 1 s)"
python3 health_bench.py dns --names "${NAMES:-1000}" --secs "${SECS:-20}"
