/* ratelimit.c: see ratelimit.h. Fixed windows: simple, and a burst at a
 * window's edge costs at most 2 * burst lines, which is what matters. */
#include "lib/ratelimit.h"

#include <stddef.h>

bool gw_ratelimit_allow(struct gw_ratelimit *rl, uint64_t now_ms, unsigned *suppressed)
{
	if (rl->count == 0 || now_ms - rl->start >= rl->interval_ms || now_ms < rl->start) {
		rl->start = now_ms;
		rl->count = 0;
	}
	if (rl->count >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->count++;
	if (suppressed != NULL) {
		*suppressed = rl->suppressed;
	}
	rl->suppressed = 0;
	return true;
}
