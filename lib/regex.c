/* regex.c: PCRE2 with compile and match limits (see regex.h).
 *
 * Compile: the pattern length is checked first; PCRE2 then compiles with a
 * general context whose allocator counts bytes and fails past
 * GW_REGEX_COMPILE_MEM (so nested counted repeats such as
 * "(((a{0,15}){0,15}){0,15}){0,15}" fail fast instead of growing RSS); the
 * compiled size is checked against GW_REGEX_CODE_MAX; JIT is tried last.
 * Match: one read-only match context (match, depth and heap limits) shared
 * by every thread, and one match data block per thread (pthread key, freed
 * when the thread exits). A limit hit is no match plus one count.
 * Failure modes: GW_EINVAL with a reason, GW_ENOMEM. Never aborts on input. */
#include "config.h"

#include "lib/regex.h"

#include "lib/err.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t limit_hits;
static pcre2_match_context *mctx; /* read-only after init_once */
static pthread_key_t md_key;
static bool jit_ok;
static bool init_ok;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void md_free(void *p)
{
	pcre2_match_data_free(p);
}

static void init_once(void)
{
	uint32_t jit = 0;

	mctx = pcre2_match_context_create(NULL);
	if (mctx == NULL || pthread_key_create(&md_key, md_free) != 0) {
		return;
	}
	pcre2_set_match_limit(mctx, GW_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(mctx, GW_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(mctx, GW_REGEX_HEAP_LIMIT_K);
	jit_ok = pcre2_config(PCRE2_CONFIG_JIT, &jit) == 0 && jit == 1;
	init_ok = true;
}

/* ---- compile: a counting allocator bounds PCRE2's memory */

struct budget {
	size_t used, cap;
};

/* The code keeps its allocator (the budget, lifted after compile) for
 * pcre2_code_free and JIT data, so the budget lives in the struct. */
struct gw_regex {
	pcre2_code *code;
	struct budget budget;
	bool jit; /* JIT-compiled */
};

static void *budget_malloc(PCRE2_SIZE n, void *data)
{
	struct budget *b = data;
	size_t *p;

	if (n > b->cap - b->used) {
		return NULL;
	}
	p = malloc(sizeof(size_t) + n);
	if (p == NULL) {
		return NULL;
	}
	b->used += n;
	p[0] = n;
	return p + 1;
}

static void budget_free(void *q, void *data)
{
	struct budget *b = data;
	size_t *p = q;

	if (p == NULL) {
		return;
	}
	p--;
	b->used -= p[0];
	free(p);
}

int gw_regex_compile(const char *pattern, unsigned flags, struct gw_regex **out, char *err,
		     size_t errlen)
{
	pcre2_general_context *gctx;
	pcre2_compile_context *cctx;
	pcre2_code *code;
	struct gw_regex *re;
	PCRE2_SIZE eoff = 0, size = 0;
	size_t len = strlen(pattern);
	int ecode = 0;

	*out = NULL;
	pthread_once(&once, init_once);
	if (!init_ok) {
		return GW_ENOMEM;
	}
	if (len > GW_REGEX_PATTERN_MAX) {
		snprintf(err, errlen, "regex longer than %d bytes", GW_REGEX_PATTERN_MAX);
		return GW_EINVAL;
	}
	re = calloc(1, sizeof *re);
	if (re == NULL) {
		return GW_ENOMEM;
	}
	re->budget.cap = GW_REGEX_COMPILE_MEM;
	gctx = pcre2_general_context_create(budget_malloc, budget_free, &re->budget);
	cctx = gctx ? pcre2_compile_context_create(gctx) : NULL;
	if (cctx == NULL) {
		pcre2_general_context_free(gctx);
		free(re);
		return GW_ENOMEM;
	}
	pcre2_set_max_pattern_length(cctx, GW_REGEX_PATTERN_MAX);
	code = pcre2_compile((PCRE2_SPTR)pattern, len,
			     (flags & GW_REGEX_CASELESS) ? PCRE2_CASELESS : 0, &ecode, &eoff, cctx);
	pcre2_compile_context_free(cctx);
	pcre2_general_context_free(gctx);
	if (code == NULL) {
		PCRE2_UCHAR msg[160];
		bool big = ecode == PCRE2_ERROR_HEAPLIMIT || ecode == PCRE2_ERROR_NOMEMORY ||
			   ecode == PCRE2_ERROR_PATTERN_TOO_LARGE ||
			   re->budget.used + 4096 > re->budget.cap;

		free(re);
		if (big) {
			snprintf(err, errlen,
				 "regex too large: its compiled form exceeds the limits (%u KiB to "
				 "compile, %u KiB of code; nested counted repeats?)",
				 GW_REGEX_COMPILE_MEM >> 10, GW_REGEX_CODE_MAX >> 10);
			return GW_EINVAL;
		}
		if (pcre2_get_error_message(ecode, msg, sizeof msg) < 0) {
			snprintf((char *)msg, sizeof msg, "error %d", ecode);
		}
		snprintf(err, errlen, "invalid regex at offset %zu: %s", (size_t)eoff, (char *)msg);
		return GW_EINVAL;
	}
	re->code = code;
	re->budget.cap = SIZE_MAX; /* JIT data and the final free */
	if (pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size) != 0 || size > GW_REGEX_CODE_MAX) {
		gw_regex_free(re);
		snprintf(err, errlen, "regex too large: compiled size %zu bytes, limit %u",
			 (size_t)size, GW_REGEX_CODE_MAX);
		return GW_EINVAL;
	}
	re->jit = jit_ok && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
	*out = re;
	return 0;
}

void gw_regex_free(struct gw_regex *re)
{
	if (re != NULL) {
		pcre2_code_free(re->code);
		free(re);
	}
}

/* ---- match */

static pcre2_match_data *thread_md(void)
{
	pcre2_match_data *md = pthread_getspecific(md_key);

	if (md == NULL) {
		md = pcre2_match_data_create(GW_REGEX_GROUPS, NULL);
		if (md != NULL && pthread_setspecific(md_key, md) != 0) {
			pcre2_match_data_free(md);
			md = NULL;
		}
	}
	return md;
}

int gw_regex_match(const struct gw_regex *re, const char *s, size_t len, size_t *ovec,
		   size_t n_pairs)
{
	pcre2_match_data *md;
	PCRE2_SIZE *v;
	int rc;

	if (re == NULL || !init_ok || (md = thread_md()) == NULL) {
		return 0;
	}
	rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx);
	if (rc == PCRE2_ERROR_NOMATCH) {
		return 0;
	}
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
	    rc == PCRE2_ERROR_NOMEMORY) {
		atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
		return 0;
	}
	if (rc < 0) {
		return 0; /* other errors (bad UTF is impossible without PCRE2_UTF) */
	}
	if (rc == 0) {
		rc = GW_REGEX_GROUPS; /* ovector too small: every pair we have is set */
	}
	v = pcre2_get_ovector_pointer(md);
	for (size_t i = 0; i < n_pairs; i++) {
		bool set = i < (size_t)rc && v[2 * i] != PCRE2_UNSET;
		ovec[2 * i] = set ? v[2 * i] : SIZE_MAX;
		ovec[2 * i + 1] = set ? v[2 * i + 1] : SIZE_MAX;
	}
	return rc;
}

bool gw_regex_find(const struct gw_regex *re, const char *s)
{
	return gw_regex_match(re, s, strlen(s), NULL, 0) > 0;
}

uint64_t gw_regex_limit_hits(void)
{
	return atomic_load_explicit(&limit_hits, memory_order_relaxed);
}

bool gw_regex_jit(void)
{
	pthread_once(&once, init_once);
	return jit_ok;
}
