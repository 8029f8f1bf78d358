/* ratelimit.h: at most @burst events per @interval_ms, for log lines that
 * an outsider can trigger at will (refused requests, malformed frames), so a
 * flood of bad input cannot flood the log. The caller passes the time (its
 * loop's uv_now), so the limiter is pure and testable. Not thread-safe: a
 * limiter belongs to one thread. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct gw_ratelimit {
	uint64_t interval_ms; /* window length */
	unsigned burst;       /* events allowed per window */
	uint64_t start;       /* current window's start (ms) */
	unsigned count;       /* events in the current window */
	unsigned suppressed;  /* events refused since the last allowed one */
};

#define GW_RATELIMIT_INIT(interval_ms, burst)                                                      \
	{                                                                                          \
		(interval_ms), (burst), 0, 0, 0                                                    \
	}

/* True when the event at @now_ms may be logged. Then *@suppressed (if not
 * NULL) is how many were refused since the last allowed one (say so in the
 * line), and the count restarts. */
bool gw_ratelimit_allow(struct gw_ratelimit *rl, uint64_t now_ms, unsigned *suppressed);

#endif
