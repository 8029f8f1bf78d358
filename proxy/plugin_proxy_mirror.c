/* plugin_proxy_mirror.c: proxy-mirror (priority 1010), a fire-and-forget
 * copy of each proxied request to another server.
 *
 * Happy path. compile takes a reference on the instance's mirror sink in
 * the node's logger service (plugin_logger.c: one thread with its own
 * loop, which sends each copy with lib/httpc and forgets the answer). When
 * a request that went upstream ends, the log hook draws the sample
 * (sample_ratio), builds the copy — the method and target sent upstream
 * (path replaces it, or prefixes it with path_concat_mode "prefix"; the
 * query string is kept), the request headers as sent upstream without
 * hop-by-hop ones, and the body — and pushes it without waiting. The main
 * request is finished by then: a dead, slow or failing mirror can neither
 * slow nor fail it.
 * Failure modes: a body that was not kept (over 64 KiB, or chunked) makes
 * the copy dropped rather than sent without it; a full queue or more than
 * 16 copies in flight per mirror drop the copy; every drop and failure is
 * counted (apigw_mirror_*_total). Requests answered without going upstream
 * (auth, limits) are not copied, as nginx's mirror. Threads: compile on the
 * config thread, log on any worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/httpc.h"
#include "proxy/plugin_int.h"

#include <stdlib.h>
#include <string.h>

#define MIRROR_TIMEOUT_MS 10000

struct mirror {
	struct gw_proxy__logsink *sink;
	const char *path; /* NULL: the request's */
	bool prefix;      /* path_concat_mode "prefix" */
	double ratio;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct mirror *m = gw_proxy__c_alloc(c, sizeof *m);
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "host");
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(j, "path_concat_mode");
	const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(j, "sample_ratio");
	struct gw_proxy__logsink_conf sc = {.kind = GW_PROXY__SINK_MIRROR,
					    .timeout_ms = MIRROR_TIMEOUT_MS};
	char hp[256];

	if (m == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsString(host) || strncmp(host->valuestring, "http://", 7) != 0 ||
	    strchr(host->valuestring + 7, '/') != NULL ||
	    gw_httpc_url_hostport(host->valuestring, hp, sizeof hp) != 0) {
		return gw_proxy__c_fail(c, "%s", "proxy-mirror: host must be http://ip:port");
	}
	if (path != NULL) {
		if (!cJSON_IsString(path) || path->valuestring[0] != '/') {
			return gw_proxy__c_fail(c, "%s", "proxy-mirror: path must start with /");
		}
		if ((m->path = gw_proxy__c_strdup(c, path->valuestring)) == NULL) {
			return GW_ENOMEM;
		}
	}
	m->prefix = cJSON_IsString(mode) && strcmp(mode->valuestring, "prefix") == 0;
	m->ratio = cJSON_IsNumber(ratio) ? ratio->valuedouble : 1.0;
	sc.uri = host->valuestring;
	if ((m->sink = gw_proxy__logsink_hold(c, j, &sc)) == NULL) {
		return GW_ENOMEM;
	}
	*out = m;
	return 0;
}

/* A uniform draw in [0, 1) from a per-thread xorshift generator. */
static double draw(void)
{
	static _Thread_local uint64_t x;
	if (x == 0) {
		x = uv_hrtime() | 1;
	}
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (double)(x >> 11) / 9007199254740992.0;
}

static const struct gw_proxy__hname skip[] = {
    GW_PROXY__HNAME("host"),
    GW_PROXY__HNAME("content-length"),
    GW_PROXY__HNAME("connection"),
    GW_PROXY__HNAME("keep-alive"),
    GW_PROXY__HNAME("transfer-encoding"),
    GW_PROXY__HNAME("te"),
    GW_PROXY__HNAME("trailer"),
    GW_PROXY__HNAME("upgrade"),
    GW_PROXY__HNAME("expect"),
    GW_PROXY__HNAME("proxy-connection"),
};

static void log_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct mirror *m = conf;
	const char *target, *q;
	struct gw_buf b;
	int method;

	if (r->t_up_begin == 0 || (m->ratio < 1.0 && draw() >= m->ratio)) {
		return; /* not proxied (answered by a plugin), or not sampled */
	}
	if (r->body_bytes > 0 &&
	    (r->chunked_in || !r->replay_ok || r->replay.len != r->body_bytes)) {
		gw_proxy__logsink_push(m->sink, NULL, 0); /* counted as dropped */
		return;
	}
	gw_buf_init(&b);
	method = r->up_method >= 0 ? r->up_method : r->method;
	if (r->up_target != NULL) {
		target = r->up_target;
	} else {
		target = gw_arena_strndup(&r->arena, r->url.data ? r->url.data : "/", r->url.len);
	}
	if (target == NULL) {
		return;
	}
	q = strchr(target, '?');
	gw_buf_appends(&b, http_method_str((enum http_method)method));
	gw_buf_append(&b, "\n", 1);
	if (m->path != NULL && m->prefix) {
		gw_buf_appends(&b, m->path);
		gw_buf_appends(&b, target);
	} else if (m->path != NULL) {
		gw_buf_appends(&b, m->path);
		if (q != NULL) {
			gw_buf_appends(&b, q);
		}
	} else {
		gw_buf_appends(&b, target);
	}
	gw_buf_append(&b, "\n", 1);
	for (size_t i = 0; i < r->hc.n; i++) {
		const struct gw_proxy__hdr *h = &r->hc.v[i];
		if (gw_proxy__hdr_in(h, skip, sizeof skip / sizeof skip[0]) ||
		    memchr(h->value, '\n', h->value_len) != NULL) {
			continue;
		}
		gw_buf_append(&b, h->name, h->name_len);
		gw_buf_append(&b, ": ", 2);
		gw_buf_append(&b, h->value, h->value_len);
		gw_buf_append(&b, "\r\n", 2);
	}
	if (gw_buf_append(&b, "", 1) == 0 && r->body_bytes > 0) {
		gw_buf_append(&b, r->replay.data, r->replay.len);
	}
	gw_proxy__logsink_push(m->sink, b.data, b.len);
	gw_buf_close(&b);
}

const struct gw_proxy__plugin gw_proxy__plugin_proxy_mirror = {
    .name = "proxy-mirror",
    .priority = 1010,
    .compile = compile,
    .log = log_hook,
};
