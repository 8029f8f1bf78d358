/* rand.h: random numbers, from the kernel only.
 *
 * gw_rand_bytes is the one source of secrets, ids and keys: getrandom(2),
 * retried when a signal interrupts it or it returns fewer bytes than asked
 * (both are allowed by its contract), and never replaced by a weaker
 * generator: when the kernel cannot give randomness the caller fails (at
 * start-up, with the reason logged). The xorshift generator is for what is
 * not security-relevant (retry jitter), seeded once from gw_rand_bytes so
 * nodes do not retry in step; libc's rand is never used. Any thread for
 * gw_rand_bytes; a struct gw_rand_xs belongs to one thread. */
#ifndef GW_RAND_H
#define GW_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fill the @len bytes at @buf from getrandom(2) (blocking until the
 * kernel's pool is initialised). 0, or GW_EIO with errno kept (ENOSYS,
 * EFAULT, ...) for the caller's log line; then @buf holds no secret. */
int gw_rand_bytes(void *buf, size_t len);

/* xorshift64* state: not for secrets. */
struct gw_rand_xs {
	uint64_t s; /* never 0 */
};

/* Seed @x from gw_rand_bytes, or (jitter still works without the kernel)
 * from the clock and @x's address. Never fails. */
void gw_rand_xs_seed(struct gw_rand_xs *x);
/* The next number of @x's sequence. */
uint64_t gw_rand_xs_next(struct gw_rand_xs *x);

#endif
