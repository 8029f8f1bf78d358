/* regex.h: bounded PCRE2 regular expressions, the one regex engine of the
 * configuration (vars ~~ and ~*, proxy-rewrite regex_uri, schema patterns).
 *
 * APISIX's regexes are PCRE (ngx.re with "jo"); these are PCRE2 with JIT,
 * so a pattern written for APISIX means the same here. Untrusted patterns
 * come from the Admin API and the etcd API, so every step is bounded:
 *  - compile: the pattern text at most GW_REGEX_PATTERN_MAX bytes, the
 *    memory PCRE2 may allocate while compiling at most GW_REGEX_COMPILE_MEM,
 *    and the compiled code at most GW_REGEX_CODE_MAX bytes. A pattern over
 *    a limit is refused with a reason (the Admin API shows it);
 *  - match: PCRE2's match limit (backtracking steps), depth limit and heap
 *    limit. A match that hits one counts as no match and increments the
 *    process-wide counter gw_regex_limit_hits (a metric), so one request
 *    costs a bounded time and can never stall a worker loop.
 * Happy path: compile once per config snapshot (gw_regex_compile), match
 * on any worker thread (gw_regex_match: a compiled pattern is read-only;
 * the match scratch is per thread), free with the snapshot.
 * Threads: compile and free on any thread; match concurrently from any
 * number of threads on one compiled pattern. */
#ifndef GW_REGEX_H
#define GW_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_REGEX_PATTERN_MAX  4096        /* bytes of pattern text */
#define GW_REGEX_COMPILE_MEM  (1u << 20)  /* bytes PCRE2 may allocate to compile */
#define GW_REGEX_CODE_MAX     (64u << 10) /* bytes of compiled code */
#define GW_REGEX_MATCH_LIMIT  100000u     /* pcre2_set_match_limit */
#define GW_REGEX_DEPTH_LIMIT  2000u       /* pcre2_set_depth_limit */
#define GW_REGEX_HEAP_LIMIT_K 1024u       /* pcre2_set_heap_limit, KiB */
#define GW_REGEX_GROUPS       10          /* capture pairs reported: $0..$9 */

#define GW_REGEX_CASELESS 1u /* ~* and APISIX's "i" option */

struct gw_regex; /* opaque, immutable after compile */

/* Compile @pattern (NUL-terminated PCRE2 syntax) with GW_REGEX_* @flags.
 * Returns 0 with *@out owned by the caller (gw_regex_free), GW_EINVAL with
 * the reason in @err (a syntax error with its offset, or the limit that was
 * passed), GW_ENOMEM. JIT is used when the platform has it (a JIT failure
 * leaves the interpreter, which has the same limits). */
int gw_regex_compile(const char *pattern, unsigned flags, struct gw_regex **out, char *err,
		     size_t errlen);

/* Free a compiled pattern; NULL is accepted. */
void gw_regex_free(struct gw_regex *re);

/* Match @re against the @len bytes at @s. On a match returns the number of
 * capture pairs written to @ovec (2 * @n_pairs size_t, may be NULL with
 * @n_pairs 0): pair i is [ovec[2i], ovec[2i+1]), SIZE_MAX for an unset
 * group. Returns 0 for no match, and also 0 when the match hit a limit
 * (then gw_regex_limit_hits grows by one). Any thread. */
int gw_regex_match(const struct gw_regex *re, const char *s, size_t len, size_t *ovec,
		   size_t n_pairs);

/* True when @re matches somewhere in @s (NUL-terminated). */
bool gw_regex_find(const struct gw_regex *re, const char *s);

/* Number of matches that hit a limit since the process started. */
uint64_t gw_regex_limit_hits(void);

/* True if PCRE2 JIT is in use. */
bool gw_regex_jit(void);

#endif
