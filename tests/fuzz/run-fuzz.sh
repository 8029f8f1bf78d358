#!/bin/bash
# run-fuzz.sh: build the libFuzzer harnesses of tests/fuzz/ and run each for
# FUZZ_SECONDS seconds (docs/fuzzing.md).
#
# Two uses:
#   make check   runs it with no argument: TAP output, one test case per
#                harness (ok = no crash, leak, invariant failure or timeout
#                within the budget; FUZZ_SECONDS defaults to 15 here), every
#                case SKIPped with the reason when clang-14 with libFuzzer is
#                not installed.
#   make fuzz    runs it with --report: the same runs with FUZZ_SECONDS
#                (default 60) and a table of figures per harness.
# The harnesses are built in the tree that runs the script when it was
# configured with --enable-fuzzing, else in its build-fuzz/ subdirectory
# (configured here with CC=clang-14 on first use). Each harness starts from
# the seed corpus in tests/fuzz/corpus/<harness>/ plus what earlier runs
# found (build-fuzz/tests/fuzz/work/<harness>/), with its dictionary. A
# crash leaves its input in the work directory (the path is printed): run
# the harness binary on that file to reproduce it.
#
# Environment: FUZZ_SECONDS (per harness), FUZZ_JOBS (harnesses run at once,
# default 2), FUZZ_ONLY (space-separated harness names), FUZZ_CC (clang-14),
# FUZZ_BUILDDIR (the build tree; default APIGW_BUILDDIR or .).
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
mode=tap
[ "${1:-}" = "--report" ] && mode=report

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${FUZZ_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
top=${FUZZ_BUILDDIR:-${APIGW_BUILDDIR:-$(pwd)}}
cc=${FUZZ_CC:-clang-14}
jobs=${FUZZ_JOBS:-2}
if [ "$mode" = tap ]; then
	secs=${FUZZ_SECONDS:-15}
else
	secs=${FUZZ_SECONDS:-60}
fi
harnesses="fuzz_http1 fuzz_upstream_resp fuzz_pp fuzz_raft_frame fuzz_raft_codec fuzz_admin
fuzz_etcd_pb fuzz_etcd_json fuzz_etcd_server fuzz_h2"
[ -n "${FUZZ_ONLY:-}" ] && harnesses=$FUZZ_ONLY
n=$(echo $harnesses | wc -w)

# Which dictionary and input size bound each harness uses.
dict_of() {
	case $1 in
	fuzz_http1 | fuzz_upstream_resp | fuzz_pp | fuzz_etcd_server) echo "$srcdir/tests/fuzz/http.dict" ;;
	fuzz_etcd_pb | fuzz_raft_codec | fuzz_raft_frame) echo "$srcdir/tests/fuzz/protobuf.dict" ;;
	fuzz_admin | fuzz_etcd_json) echo "$srcdir/tests/fuzz/json.dict" ;;
	esac
}
max_len_of() {
	case $1 in
	fuzz_http1 | fuzz_upstream_resp | fuzz_etcd_server | fuzz_h2) echo 16384 ;;
	*) echo 8192 ;;
	esac
}

# Every harness's case at once, then exit: skip_all REASON (TAP: ok # SKIP),
# fail_all REASON (TAP: not ok).
all_cases() {
	local verdict=$1 why=$2 i=0 h
	if [ "$mode" = tap ]; then
		echo "1..$n"
		for h in $harnesses; do
			i=$((i + 1))
			if [ "$verdict" = skip ]; then
				echo "ok $i - $h # SKIP $why"
			else
				echo "not ok $i - $h: $why"
			fi
		done
		[ "$verdict" = skip ] && exit 0
		exit 1
	fi
	echo "run-fuzz: $why" >&2
	exit 1
}
skip_all() { all_cases skip "$1"; }
fail_all() { all_cases fail "$1"; }

# ---- the fuzzing build tree
if grep -q '^FUZZ_LDFLAGS = -fsanitize=fuzzer' "$top/Makefile" 2>/dev/null; then
	fb=$top
else
	fb=$top/build-fuzz
	if ! command -v "$cc" >/dev/null 2>&1; then
		skip_all "$cc not found (install the Debian packages clang-14 and libfuzzer-14-dev)"
	fi
	probe=$(mktemp -d)
	printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; return (int)n * 0; }\n' >"$probe/p.c"
	if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
		rm -rf "$probe"
		skip_all "$cc cannot link libFuzzer harnesses (install libfuzzer-14-dev and libclang-rt-14-dev)"
	fi
	rm -rf "$probe"
	mkdir -p "$fb"
	if [ ! -f "$fb/Makefile" ]; then
		echo "# configuring $fb (CC=$cc --enable-fuzzing)"
		if ! (cd "$fb" && CC=$cc "$srcdir/configure" --enable-fuzzing >configure.out 2>&1); then
			tail -20 "$fb/configure.out" | sed 's/^/# /'
			fail_all "configure --enable-fuzzing failed (see $fb/configure.out)"
		fi
	fi
fi
echo "# building the harnesses in $fb"
if ! (unset MAKEFLAGS MFLAGS MAKELEVEL && make -C "$fb" -j"$jobs" fuzz-build >"$fb/fuzz-build.out" 2>&1); then
	grep -E 'error|Error' "$fb/fuzz-build.out" | head -20 | sed 's/^/# /'
	fail_all "the harnesses do not build (see $fb/fuzz-build.out)"
fi

# ---- the runs
work=$fb/tests/fuzz/work
mkdir -p "$work"
run_one() {
	local h=$1 bin=$fb/tests/fuzz/$1 w=$work/$1 seeds=$srcdir/tests/fuzz/corpus/$1
	local dict args
	mkdir -p "$w/corpus"
	rm -f "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-*
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len_of "$h")"
		-print_final_stats=1 -artifact_prefix="$w/")
	dict=$(dict_of "$h")
	[ -n "$dict" ] && [ -f "$dict" ] && args+=(-dict="$dict")
	[ -d "$seeds" ] || seeds=
	(cd "$w" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		timeout $((secs + 120)) "$bin" "${args[@]}" "$w/corpus" $seeds >"$w/log" 2>&1)
	echo $? >"$w/rc"
}

pids=()
running=0
for h in $harnesses; do
	run_one "$h" &
	pids+=($!)
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# ---- results
[ "$mode" = tap ] && echo "1..$n"
[ "$mode" = report ] && printf '%-20s %8s %10s %8s %8s %12s  %s\n' harness seconds execs exec/s cov corpus result
i=0
failed=0
for h in $harnesses; do
	i=$((i + 1))
	w=$work/$h
	rc=$(cat "$w/rc" 2>/dev/null || echo 99)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$w/log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$w/log" | tail -1 | awk '{print $2}')
	corp=$(grep -oE 'corp: [0-9]+/[0-9]+[bKM]b?' "$w/log" | tail -1 | awk '{print $2}')
	art=$(ls "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-* 2>/dev/null | head -1)
	what="${execs:-0} execs, ${eps:-0} exec/s, cov ${cov:-?}, corpus ${corp:-?}"
	if [ "$rc" = 0 ] && [ -z "$art" ]; then
		result=ok
		[ "$mode" = tap ] && echo "ok $i - $h ($secs s: $what)"
	else
		result="FAILED rc=$rc ${art:+input $art}"
		failed=$((failed + 1))
		if [ "$mode" = tap ]; then
			echo "not ok $i - $h (rc $rc${art:+, input $art})"
			grep -E 'invariant failed|ERROR:|SUMMARY|^    #[0-9]' "$w/log" | head -25 | sed 's/^/# /'
		else
			grep -E 'invariant failed|ERROR:|SUMMARY|^    #[0-9]' "$w/log" | head -25 >&2
		fi
	fi
	[ "$mode" = report ] && printf '%-20s %8s %10s %8s %8s %12s  %s\n' "$h" "$secs" "${execs:-0}" "${eps:-0}" "${cov:-?}" "${corp:-?}" "$result"
done
[ "$failed" -eq 0 ]
