/* fuzz_pp.c: PROXY protocol v1/v2 headers (proxy/pp.c, gw_proxy__pp_parse),
 * the first bytes a proxy_protocol listener reads from a peer.
 *
 * Input: the bytes at the start of a connection. Invariants beyond "no
 * crash": a complete header of L bytes parses the same from exactly its L
 * bytes as with anything after it; every shorter prefix of it is "need more"
 * (0), never "bad" (-1) nor "complete" (1); L is within the input and within
 * GW_PROXY__PP_MAX; a "bad" verdict stays bad with more bytes appended. */
#include "config.h"

#include "fuzz_util.h"
#include "proxy/conn_int.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct gw_proxy__pp a, b;
	int rv;

	memset(&a, 0, sizeof a);
	rv = gw_proxy__pp_parse(size ? p : NULL, size, &a);
	FUZZ_CHECK(rv == -1 || rv == 0 || rv == 1);
	if (rv == 1) {
		FUZZ_CHECK(a.len > 0 && a.len <= size && a.len <= GW_PROXY__PP_MAX);
		FUZZ_CHECK(a.version == 1 || a.version == 2);
		FUZZ_CHECK(a.local || a.src.ss_family == AF_INET || a.src.ss_family == AF_INET6);
		memset(&b, 0, sizeof b);
		FUZZ_CHECK(gw_proxy__pp_parse(p, a.len, &b) == 1);
		FUZZ_CHECK(b.len == a.len && b.version == a.version && b.local == a.local);
		FUZZ_CHECK(memcmp(&a.src, &b.src, sizeof a.src) == 0);
		FUZZ_CHECK(memcmp(&a.dst, &b.dst, sizeof a.dst) == 0);
		/* every prefix (sampled above 512 bytes) needs more */
		size_t step = a.len > 512 ? a.len / 256 : 1;
		for (size_t k = 0; k < a.len; k += step) {
			FUZZ_CHECK(gw_proxy__pp_parse(k ? p : NULL, k, &b) == 0);
		}
		FUZZ_CHECK(gw_proxy__pp_parse(p, a.len - 1, &b) == 0);
	} else if (rv == 0 && size > 0) {
		/* a valid beginning: so is every prefix */
		FUZZ_CHECK(gw_proxy__pp_parse(p, size - 1, &b) == 0);
		FUZZ_CHECK(gw_proxy__pp_parse(p, size / 2, &b) == 0);
	} else if (rv == -1) {
		/* never a valid beginning again, whatever follows */
		char *q = malloc(size + 16);
		FUZZ_CHECK(q != NULL);
		memcpy(q, p, size);
		memset(q + size, '\n', 16);
		FUZZ_CHECK(gw_proxy__pp_parse(q, size + 16, &b) == -1);
		free(q);
	}
	return 0;
}
