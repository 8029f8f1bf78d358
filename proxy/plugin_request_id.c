/* plugin_request_id.c: request-id (priority 12015), as APISIX's with its
 * default algorithm (uuid, version 4).
 *
 * Happy path: a request that carries the header (header_name, default
 * X-Request-Id) keeps its id; otherwise a UUID v4 is made from the worker's
 * PRNG (lib/rand.h's xorshift, seeded from the kernel once per thread) and
 * set on the request going upstream; with include_in_response (default
 * true) the response carries it too. Failure modes: none. Threads: compile
 * on the config thread, rewrite on the request's worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/rand.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <string.h>

struct reqid {
	const char *header;
	bool in_response;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct reqid *q = gw_proxy__c_alloc(c, sizeof *q);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "header_name");

	if (q == NULL || (q->header = gw_proxy__c_strdup(
			      c, cJSON_IsString(h) ? h->valuestring : "X-Request-Id")) == NULL) {
		return GW_ENOMEM;
	}
	q->in_response = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "include_in_response"));
	*out = q;
	return 0;
}

static void uuid4(char out[37])
{
	static _Thread_local struct gw_rand_xs xs;
	static _Thread_local bool seeded;
	uint8_t b[16];
	uint64_t x;

	if (!seeded) {
		gw_rand_xs_seed(&xs);
		seeded = true;
	}
	x = gw_rand_xs_next(&xs);
	memcpy(b, &x, 8);
	x = gw_rand_xs_next(&xs);
	memcpy(b + 8, &x, 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct reqid *q = conf;
	const char *id = gw_proxy__plugin_req_header(r, q->header);
	char buf[37];

	if (id == NULL) {
		uuid4(buf);
		id = buf;
		gw_proxy__plugin_req_header_set(r, q->header, id);
	}
	if (q->in_response) {
		gw_proxy__plugin_resp_header(r, q->header, id);
	}
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_request_id = {
    .name = "request-id",
    .priority = 12015,
    .compile = compile,
    .rewrite = rewrite,
};
