/* fuzz_util.h: helpers shared by the libFuzzer harnesses of tests/fuzz/.
 *
 * A harness states an invariant with FUZZ_CHECK: when it does not hold, the
 * harness prints where and aborts, which libFuzzer records as a crash with
 * the input that caused it. Splitting: a harness that feeds a byte stream in
 * pieces reads the piece sizes from a fuzzer-chosen seed (struct fuzz_split),
 * so libFuzzer itself picks the split points and can minimise them. Header
 * only; every harness is one process running one input at a time. */
#ifndef GW_FUZZ_UTIL_H
#define GW_FUZZ_UTIL_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Piece sizes from a 32-bit seed: xorshift32, pieces of 1..@max bytes (a
 * seed of 0 is replaced by a fixed one: xorshift needs a non-zero state). */
struct fuzz_split {
	uint32_t s;
	size_t max;
};

static inline void fuzz_split_init(struct fuzz_split *sp, uint32_t seed, size_t max)
{
	sp->s = seed != 0 ? seed : 0x9e3779b9u;
	sp->max = max > 0 ? max : 1;
}

/* Size of the next piece of a stream with @left bytes left (>= 1 when
 * @left > 0). */
static inline size_t fuzz_split_next(struct fuzz_split *sp, size_t left)
{
	size_t n;
	sp->s ^= sp->s << 13;
	sp->s ^= sp->s >> 17;
	sp->s ^= sp->s << 5;
	n = 1 + sp->s % sp->max;
	return n < left ? n : left;
}

/* Take @n bytes of the input as a little-endian integer (fewer when the
 * input is shorter); advances *@p and *@len. */
static inline uint32_t fuzz_take(const uint8_t **p, size_t *len, size_t n)
{
	uint32_t v = 0;
	for (size_t i = 0; i<n && * len> 0; i++) {
		v |= (uint32_t) * *p << (8 * i);
		(*p)++;
		(*len)--;
	}
	return v;
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove the directory tree at @dir (a harness's temporary store). */
static inline void fuzz_rm_tree(const char *dir)
{
	nftw(dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
