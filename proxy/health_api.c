/* health_api.c: what the outside sees of the health checks — the control
 * API's JSON (APISIX's /v1/healthcheck shapes) and the
 * apisix_upstream_status metric.
 *
 * Happy path: both read the registry under its mutex (a copy of a few
 * hundred bytes per node; the checker waits at most that long) and never
 * touch the workers. Failure modes: GW_ENOMEM; an unknown key GW_ENOTFOUND.
 * Threads: any (the control loop in practice). */
#include "config.h"

#include "lib/err.h"
#include "lib/prom.h"
#include "proxy/conn_int.h"
#include "proxy/dns_int.h"
#include "proxy/health_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(enum gw_proxy__htype t)
{
	return t == GW_PROXY__HT_TCP ? "tcp" : t == GW_PROXY__HT_HTTPS ? "https" : "http";
}

/* One upstream's object: {"name", "type", "nodes": [...]}. NULL on OOM. */
static cJSON *ups_json(const struct gw_proxy__hups *u)
{
	cJSON *o = cJSON_CreateObject(), *nodes = cJSON_CreateArray();
	bool ok = o != NULL && nodes != NULL;
	enum gw_proxy__htype t = u->conf.has_active ? u->conf.active.type : u->conf.passive_type;

	if (ok) {
		ok = cJSON_AddStringToObject(o, "name", u->key) != NULL &&
		     cJSON_AddStringToObject(o, "type", type_name(t)) != NULL;
		cJSON_AddItemToObject(o, "nodes", nodes);
		nodes = NULL;
	}
	for (const struct gw_proxy__hnode *n = u->nodes; ok && n != NULL; n = n->next) {
		cJSON *j = cJSON_CreateObject(), *c = cJSON_CreateObject();
		ok = j != NULL && c != NULL;
		if (ok) {
			ok = cJSON_AddStringToObject(j, "ip", n->ip) != NULL &&
			     cJSON_AddNumberToObject(j, "port", n->port) != NULL &&
			     cJSON_AddStringToObject(j, "hostname", n->ip) != NULL &&
			     cJSON_AddStringToObject(j, "status", gw_proxy__hstate_name(n->s.st)) !=
				 NULL &&
			     cJSON_AddNumberToObject(c, "success", n->s.ctr[GW_PROXY__C_SUCCESS]) !=
				 NULL &&
			     cJSON_AddNumberToObject(c, "http_failure",
						     n->s.ctr[GW_PROXY__C_HTTP]) != NULL &&
			     cJSON_AddNumberToObject(c, "tcp_failure", n->s.ctr[GW_PROXY__C_TCP]) !=
				 NULL &&
			     cJSON_AddNumberToObject(c, "timeout_failure",
						     n->s.ctr[GW_PROXY__C_TIMEOUT]) != NULL;
			cJSON_AddItemToObject(j, "counter", c);
			c = NULL;
			cJSON_AddItemToArray(cJSON_GetObjectItem(o, "nodes"), j);
			j = NULL;
		}
		cJSON_Delete(j);
		cJSON_Delete(c);
	}
	cJSON_Delete(nodes);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int gw_proxy_health_json(struct gw_proxy *p, const char *key, char **out)
{
	struct gw_proxy__health *h = p->health;
	cJSON *root = NULL;
	int rv = 0;

	*out = NULL;
	if (h == NULL) {
		return key ? GW_ENOTFOUND : GW_ENOMEM;
	}
	uv_mutex_lock(&h->mu);
	if (key == NULL) {
		root = cJSON_CreateArray();
		for (struct gw_proxy__hups *u = h->ups; root != NULL && u != NULL; u = u->next) {
			cJSON *o = ups_json(u);
			if (o == NULL) {
				cJSON_Delete(root);
				root = NULL;
				break;
			}
			cJSON_AddItemToArray(root, o);
		}
		rv = root ? 0 : GW_ENOMEM;
	} else {
		struct gw_proxy__hups *u = h->ups;
		while (u != NULL && strcmp(u->key, key) != 0) {
			u = u->next;
		}
		if (u == NULL) {
			rv = GW_ENOTFOUND;
		} else {
			root = ups_json(u);
			rv = root ? 0 : GW_ENOMEM;
		}
	}
	uv_mutex_unlock(&h->mu);
	if (root != NULL) {
		*out = cJSON_PrintUnformatted(root);
		cJSON_Delete(root);
		rv = *out ? 0 : GW_ENOMEM;
	}
	return rv;
}

int gw_proxy__health_metrics(struct gw_proxy *p, struct gw_buf *b)
{
	struct gw_proxy__health *h = p->health;
	int rv;

	if (h == NULL) {
		return 0;
	}
	rv = gw_prom_family(b, "apisix_upstream_status", "gauge",
			    "Upstream status from health check");
	uv_mutex_lock(&h->mu);
	for (struct gw_proxy__hups *u = h->ups; rv == 0 && u != NULL; u = u->next) {
		for (struct gw_proxy__hnode *n = u->nodes; rv == 0 && n != NULL; n = n->next) {
			char port[8];
			const char *l[] = {"name", u->key, "ip", n->ip, "port", port, NULL};
			snprintf(port, sizeof port, "%d", n->port);
			rv = gw_prom_sample(b, "apisix_upstream_status", l,
					    n->s.st <= GW_PROXY__H_MOSTLY_HEALTHY ? 1 : 0);
		}
	}
	uv_mutex_unlock(&h->mu);
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_health_probes_total", "counter",
				    "Active health check probes started");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_health_probes_total", NULL,
				    (double)atomic_load(&h->probes));
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_health_probes_finished_total", "counter",
				    "Active health check probes finished (verdict counted)");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_health_probes_finished_total", NULL,
				    (double)atomic_load(&h->probes_done));
	}
	if (rv == 0) {
		rv = gw_prom_family(b, "apigw_health_reports_dropped_total", "counter",
				    "Passive health reports dropped: the checker fell behind");
	}
	if (rv == 0) {
		rv = gw_prom_sample(b, "apigw_health_reports_dropped_total", NULL,
				    (double)atomic_load(&h->q_dropped));
	}
	return rv == 0 ? gw_proxy__dns_metrics(p->dns, b) : rv;
}
