/* dns_api.c: what the outside sees of the resolver — the control API's
 * /v1/dns JSON and the apigw_dns_* metrics.
 *
 * Happy path: both copy the table under its mutex (a few hundred bytes per
 * name; at most GW_PROXY__DNS_MAX_NAMES names) and never touch the
 * resolver's loop. Failure modes: GW_ENOMEM. Threads: any (the control and
 * metrics loops in practice). */
#include "config.h"

#include "lib/err.h"
#include "lib/prom.h"
#include "proxy/conn_int.h"
#include "proxy/dns_int.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <time.h>

static const char *status_of(const struct gw_proxy__dname *n)
{
	if (n->failing) {
		return n->n > 0 ? "failing" : "unresolved";
	}
	return n->resolved_ms != 0 ? "ok" : "pending";
}

/* One name: {"name", "status", "addresses", "ttl", "error", "failures"}.
 * NULL on OOM. Under mu. */
static cJSON *name_json(const struct gw_proxy__dname *n)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
	bool ok = o != NULL && a != NULL;

	if (ok) {
		ok = cJSON_AddStringToObject(o, "name", n->name) != NULL &&
		     cJSON_AddStringToObject(o, "status", status_of(n)) != NULL;
		cJSON_AddItemToObject(o, "addresses", a);
		a = NULL;
	}
	for (size_t i = 0; ok && i < n->n; i++) {
		char ip[INET6_ADDRSTRLEN];
		gw_proxy__dns_ntop(&n->addrs[i], ip, sizeof ip);
		ok = cJSON_AddItemToArray(cJSON_GetObjectItem(o, "addresses"),
					  cJSON_CreateString(ip));
	}
	ok = ok && cJSON_AddNumberToObject(o, "ttl", n->ttl_s) != NULL &&
	     cJSON_AddStringToObject(o, "error", n->err) != NULL &&
	     cJSON_AddNumberToObject(o, "failures", (double)n->failures) != NULL;
	if (!ok) {
		cJSON_Delete(o);
		cJSON_Delete(a);
		return NULL;
	}
	return o;
}

int gw_proxy_dns_json(struct gw_proxy *p, char **out)
{
	struct gw_proxy__dns *d = p->dns;
	cJSON *root = cJSON_CreateObject(), *names = cJSON_CreateArray();
	bool ok = root != NULL && names != NULL;

	if (ok) {
		ok = cJSON_AddStringToObject(root, "resolvers",
					     d && d->servers ? d->servers : "/etc/resolv.conf") &&
		     cJSON_AddNumberToObject(root, "min_ttl", d ? d->min_ttl_ms / 1000.0 : 0) &&
		     cJSON_AddNumberToObject(root, "max_ttl", d ? d->max_ttl_ms / 1000.0 : 0);
		cJSON_AddItemToObject(root, "names", names);
		names = NULL;
	}
	if (ok && d != NULL) {
		cJSON *arr = cJSON_GetObjectItem(root, "names");
		uv_mutex_lock(&d->mu);
		for (const struct gw_proxy__dname *n = d->names; ok && n != NULL; n = n->next) {
			cJSON *j = n->refs > 0 ? name_json(n) : NULL;
			ok = n->refs == 0 || (j != NULL && cJSON_AddItemToArray(arr, j));
		}
		uv_mutex_unlock(&d->mu);
	}
	*out = ok ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	cJSON_Delete(names);
	return *out != NULL ? 0 : GW_ENOMEM;
}

int gw_proxy__dns_metrics(struct gw_proxy__dns *d, struct gw_buf *b)
{
	size_t n = 0, failing = 0, unresolved = 0;
	int rv;

	if (d == NULL) {
		return 0;
	}
	uv_mutex_lock(&d->mu);
	for (const struct gw_proxy__dname *dn = d->names; dn != NULL; dn = dn->next) {
		n += dn->refs > 0;
		failing += dn->refs > 0 && dn->failing;
		unresolved += dn->refs > 0 && dn->n == 0;
	}
	uv_mutex_unlock(&d->mu);
	struct {
		const char *name, *type, *help;
		double v;
	} m[] = {
	    {"apigw_dns_names", "gauge", "Host names of upstream nodes being resolved", (double)n},
	    {"apigw_dns_names_failing", "gauge",
	     "Host names whose last resolution failed (their last good addresses are kept)",
	     (double)failing},
	    {"apigw_dns_names_unresolved", "gauge", "Host names without any address yet",
	     (double)unresolved},
	    {"apigw_dns_queries_total", "counter", "DNS resolutions started",
	     (double)atomic_load(&d->queries)},
	    {"apigw_dns_failures_total", "counter", "DNS resolutions that failed",
	     (double)atomic_load(&d->failures)},
	    {"apigw_dns_changes_total", "counter",
	     "DNS answers that changed a name's addresses (each recompiles its upstreams)",
	     (double)atomic_load(&d->changes)},
	};
	rv = 0;
	for (size_t i = 0; rv == 0 && i < sizeof m / sizeof m[0]; i++) {
		rv = gw_prom_family(b, m[i].name, m[i].type, m[i].help);
		if (rv == 0) {
			rv = gw_prom_sample(b, m[i].name, NULL, m[i].v);
		}
	}
	return rv;
}
