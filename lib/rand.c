/* rand.c: getrandom(2) with its partial results handled, and xorshift64*
 * for jitter (see rand.h).
 *
 * Happy path: one getrandom call fills the buffer. getrandom may return
 * fewer bytes than asked (a signal during a large request) or fail with
 * EINTR/EAGAIN: the loop asks again for the rest. Any other error (ENOSYS
 * on an old kernel, EFAULT) is GW_EIO with errno kept; nothing falls back
 * to a predictable generator. */
#include "config.h"

#include "lib/rand.h"
#include "lib/err.h"

#include <errno.h>
#include <sys/random.h>
#include <time.h>

int gw_rand_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				continue;
			}
			return GW_EIO;
		}
		got += (size_t)n;
	}
	return 0;
}

void gw_rand_xs_seed(struct gw_rand_xs *x)
{
	struct timespec ts;
	uint64_t s = 0;

	if (gw_rand_bytes(&s, sizeof s) != 0 || s == 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)x;
	}
	x->s = s != 0 ? s : 0x9e3779b97f4a7c15ULL;
}

uint64_t gw_rand_xs_next(struct gw_rand_xs *x)
{
	uint64_t s = x->s;

	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	x->s = s;
	return s * 0x2545f4914f6cdd1dULL;
}
