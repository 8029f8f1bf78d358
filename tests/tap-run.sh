#!/bin/bash
# tap-run.sh: run one unit test binary under a time bound and turn its TAP
# output into one stream with a single plan. cmocka prints one plan per
# group, and a binary may run several groups; automake's TAP driver wants
# one. Test lines are renumbered, the plan is printed last, the binary's
# exit status is kept (a crash or a timeout fails the file).
#   usage: tap-run.sh [--timeout SECS] PROGRAM [ARGS...]
secs=900
if [ "${1:-}" = "--timeout" ]; then
	secs=$2
	shift 2
fi
timeout "$secs" "$@" | awk '
	/^[0-9]+\.\.[0-9]+/ { next }
	/^(not )?ok [0-9]+/ {
		n++
		if ($1 == "not") { sub(/^not ok [0-9]+/, "not ok " n) } else { sub(/^ok [0-9]+/, "ok " n) }
		print; fflush(); next
	}
	{ print; fflush() }
	END { print "1.." n }'
rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ]; then
	echo "# timed out after ${secs}s"
fi
exit "$rc"
