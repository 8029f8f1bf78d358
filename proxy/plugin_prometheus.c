/* plugin_prometheus.c: prometheus (priority 500), APISIX's per-route
 * labels.
 *
 * apigw counts every request in APISIX's metric families (apisix_http_status,
 * apisix_http_latency, apisix_bandwidth; proxy/ops.c) under its route,
 * consumer and node. A route that has the plugin (its own, its service's,
 * its plugin_config's or a global rule's) gets APISIX's full label set as
 * well: service (the route's service_id), matched_uri (the route's uri
 * pattern that matched, "/hello*" as configured) and matched_host (the
 * host pattern that matched, "*.foo.com"); with prefer_name the route and
 * service labels are their names when they have one. Every label value
 * comes from the compiled configuration, never from the request, so the
 * series count stays bounded by the config (and by ops.c's cap).
 * Failure modes: none. Threads: compile on the config thread, the labels
 * on the request's worker when it ends. */
#include "config.h"

#include "lib/err.h"
#include "proxy/plugin_int.h"

#include <string.h>
#include <strings.h>

struct prom {
	bool prefer_name;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct prom *p = gw_proxy__c_alloc(c, sizeof *p);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->prefer_name = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "prefer_name"));
	*out = p;
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_prometheus = {
    .name = "prometheus",
    .priority = 500,
    .compile = compile,
};

/* The first uri pattern of @rt that matches @r's path ("" when none
 * does: the route matched through another way, or has no uri). */
static const char *matched_uri(const struct gw_proxy__req *r, const struct gw_proxy__route *rt)
{
	for (size_t i = 0; i < rt->n_uris; i++) {
		const char *u = rt->uris[i];
		size_t n = strlen(u);
		if (n > 0 && u[n - 1] == '*') {
			if (r->path_len >= n - 1 && memcmp(r->path, u, n - 1) == 0) {
				return u;
			}
		} else if (r->path_len == n && memcmp(r->path, u, n) == 0) {
			return u;
		}
	}
	return "";
}

/* The first host pattern of @rt that matches @r's host, or "". */
static const char *matched_host(const struct gw_proxy__req *r, const struct gw_proxy__route *rt)
{
	for (size_t i = 0; i < rt->n_hosts; i++) {
		const char *h = rt->hosts[i];
		size_t n = strlen(h);
		if (h[0] == '*' && n > 1) {
			/* "*.foo.com": any name ending in ".foo.com" */
			if (r->host_len > n - 1 &&
			    strncasecmp(r->host + r->host_len - (n - 1), h + 1, n - 1) == 0) {
				return h;
			}
		} else if (r->host_len == n && strncasecmp(r->host, h, n) == 0) {
			return h;
		}
	}
	return "";
}

void gw_proxy__prom_labels(const struct gw_proxy__req *r, struct gw_proxy__outcome *o)
{
	const struct gw_proxy__route *rt = r->route;
	const struct prom *p = NULL;
	size_t n = gw_proxy__req_n_plugins(r);

	for (size_t i = 0; i < n && p == NULL; i++) {
		const struct gw_proxy__plugin_inst *pi = gw_proxy__req_plugin(r, i);
		if (pi->p == &gw_proxy__plugin_prometheus) {
			p = pi->conf;
		}
	}
	if (p == NULL) {
		return;
	}
	o->service = rt->service_id != NULL ? rt->service_id : "";
	if (p->prefer_name) {
		if (rt->name != NULL) {
			o->route = rt->name;
		}
		if (rt->service_name != NULL) {
			o->service = rt->service_name;
		}
	}
	o->matched_uri = matched_uri(r, rt);
	o->matched_host = r->host != NULL ? matched_host(r, rt) : "";
}
