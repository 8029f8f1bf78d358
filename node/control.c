/* control.c: the control API (see control.h).
 *
 * Happy path: a lib/httpd listener on the control loop (bounded like the
 * other control-plane listeners: header, body and connection limits, idle
 * timeouts) answers GET requests from allowed clients: health checks from
 * the proxy's registry (gw_proxy_health_json), host-name nodes' resolution
 * (/v1/dns: gw_proxy_dns_json), configuration objects from
 * the local store as APISIX's control API lists them ({"key", "value",
 * "createdIndex", "modifiedIndex"}), the schemas, and the revision of the
 * config the proxy serves. Failure modes: a client outside --control-allow
 * gets 403, another method 405, an unknown path or id 404 with APISIX's
 * {"error_msg": ...}; a part not running yet 503. Threads: the control
 * loop. */
#include "config.h"

#include "node/control.h"
#include "lib/cidr.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "node/cluster.h"
#include "node/confsync.h"
#include "proxy/proxy.h"
#include "schema/schema.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CIDRS   32
#define MAX_OBJECTS 100000 /* objects one listing returns */

struct gw_node_control {
	struct gw_httpd *srv;
	const struct gw_node_control_sources *src;
	struct gw_cidr cidrs[MAX_CIDRS];
	int n_cidrs;
	void (*stop_cb)(void *data);
	void *stop_data;
};

static void reply(struct gw_http_req *req, int status, const char *body)
{
	gw_http_respond(req, status, "application/json", "", body, strlen(body));
}

static void reply_owned(struct gw_http_req *req, char *body)
{
	if (body == NULL) {
		reply(req, 500, "{\"error_msg\":\"out of memory\"}\n");
		return;
	}
	gw_http_respond(req, 200, "application/json", "", body, strlen(body));
	free(body);
}

static void health(struct gw_node_control *c, struct gw_http_req *req, const char *rest)
{
	static const char *const kinds[] = {"upstreams", "routes", "services"};
	char key[320], *out = NULL;
	int rv;

	if (c->src->proxy == NULL) {
		reply(req, 503, "{\"error_msg\":\"proxy not running\"}\n");
		return;
	}
	if (*rest == '\0') {
		rv = gw_proxy_health_json(c->src->proxy, NULL, &out);
	} else {
		const char *id = NULL;
		for (size_t i = 0; i < 3 && id == NULL; i++) {
			size_t n = strlen(kinds[i]);
			if (strncmp(rest, kinds[i], n) == 0 && rest[n] == '/') {
				id = rest + n + 1;
				snprintf(key, sizeof key, "/apisix/%s/%.256s", kinds[i], id);
			}
		}
		if (id == NULL || *id == '\0' || strchr(id, '/') != NULL) {
			reply(req, 404, "{\"error_msg\":\"invalid src type\"}\n");
			return;
		}
		rv = gw_proxy_health_json(c->src->proxy, key, &out);
	}
	if (rv == GW_ENOTFOUND) {
		reply(req, 404, "{\"error_msg\":\"no checker found\"}\n");
		return;
	}
	reply_owned(req, rv == 0 ? out : NULL);
}

/* One stored object as APISIX's control API shows it. NULL on OOM. */
static cJSON *object_json(const struct gw_kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *v = cJSON_ParseWithLength(kv->value, kv->value_len);
	char *key = strndup(kv->key, kv->key_len);

	if (o == NULL || key == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(v);
		free(key);
		return NULL;
	}
	cJSON_AddStringToObject(o, "key", key);
	free(key);
	cJSON_AddItemToObject(o, "value", v ? v : cJSON_CreateNull());
	cJSON_AddNumberToObject(o, "createdIndex", (double)kv->create_revision);
	cJSON_AddNumberToObject(o, "modifiedIndex", (double)kv->mod_revision);
	return o;
}

/* /v1/<kind>[/<id>] from the local store. */
static void objects(struct gw_node_control *c, struct gw_http_req *req, const char *kind,
		    const char *id)
{
	struct gw_range_req rq;
	struct gw_range_resp rs;
	char key[320], end[320];
	cJSON *root;
	int n, rv;

	if (c->src->cluster == NULL) {
		reply(req, 503, "{\"error_msg\":\"store not open\"}\n");
		return;
	}
	memset(&rq, 0, sizeof rq);
	n = snprintf(key, sizeof key, "/apisix/%s/%.256s", kind, id ? id : "");
	rq.key = key;
	rq.key_len = (size_t)n;
	if (id == NULL) {
		memcpy(end, key, (size_t)n);
		end[n - 1] = '/' + 1; /* the prefix's range end */
		rq.range_end = end;
		rq.range_end_len = (size_t)n;
		rq.limit = MAX_OBJECTS;
	}
	rv = gw_store_range(gw_node_cluster_store(c->src->cluster), &rq, &rs);
	if (rv != 0) {
		reply(req, 500, "{\"error_msg\":\"store read failed\"}\n");
		return;
	}
	if (id != NULL) {
		root = rs.n_kvs == 1 ? object_json(&rs.kvs[0]) : NULL;
		if (rs.n_kvs != 1) {
			gw_store_range_resp_free(&rs);
			reply(req, 404, "{\"error_msg\":\"not found\"}\n");
			return;
		}
	} else {
		root = cJSON_CreateArray();
		for (size_t i = 0; root != NULL && i < rs.n_kvs; i++) {
			cJSON *o = object_json(&rs.kvs[i]);
			if (o == NULL) {
				cJSON_Delete(root);
				root = NULL;
				break;
			}
			cJSON_AddItemToArray(root, o);
		}
	}
	gw_store_range_resp_free(&rs);
	reply_owned(req, root ? cJSON_PrintUnformatted(root) : NULL);
	cJSON_Delete(root);
}

static void config_reply(struct gw_node_control *c, struct gw_http_req *req)
{
	char body[256];
	struct gw_node_confsync_stats cs = {0};
	int64_t served = -1;

	if (c->src->confsync != NULL) {
		gw_node_confsync_stats(c->src->confsync, &cs);
	}
	if (c->src->proxy != NULL) {
		struct gw_proxy_stats st;
		gw_proxy_stats(c->src->proxy, &st);
		served = st.revision;
	}
	snprintf(body, sizeof body,
		 "{\"revision\":%lld,\"published_revision\":%lld,\"compiles\":%llu}\n",
		 (long long)served, (long long)cs.revision, (unsigned long long)cs.compiles);
	reply(req, 200, body);
}

static void handler(struct gw_http_req *req, void *data)
{
	struct gw_node_control *c = data;
	const char *p = req->path;
	static const char *const kinds[] = {"routes", "services", "upstreams"};

	if (!gw_cidr_match(c->cidrs, c->n_cidrs, (const struct sockaddr *)&req->peer)) {
		reply(req, 403, "{\"error_msg\":\"client not allowed by --control-allow\"}\n");
		return;
	}
	if (strcmp(req->method, "GET") != 0) {
		reply(req, 405, "{\"error_msg\":\"method not allowed\"}\n");
		return;
	}
	if (strcmp(p, "/v1/healthcheck") == 0) {
		health(c, req, "");
		return;
	}
	if (strncmp(p, "/v1/healthcheck/", 16) == 0) {
		health(c, req, p + 16);
		return;
	}
	if (strcmp(p, "/v1/schema") == 0) {
		reply_owned(req, gw_schema_export_json());
		return;
	}
	if (strcmp(p, "/v1/dns") == 0) {
		char *out = NULL;
		if (c->src->proxy == NULL) {
			reply(req, 503, "{\"error_msg\":\"proxy not running\"}\n");
			return;
		}
		reply_owned(req, gw_proxy_dns_json(c->src->proxy, &out) == 0 ? out : NULL);
		return;
	}
	if (strcmp(p, "/v1/config") == 0) {
		config_reply(c, req);
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(kinds[i]);
		if (strncmp(p, "/v1/", 4) != 0 || strncmp(p + 4, kinds[i], n) != 0) {
			continue;
		}
		if (p[4 + n] == '\0') {
			objects(c, req, kinds[i], NULL);
			return;
		}
		if (p[4 + n] == '/' && p[5 + n] != '\0' && strchr(p + 5 + n, '/') == NULL &&
		    strlen(p + 5 + n) <= 256) {
			objects(c, req, kinds[i], p + 5 + n);
			return;
		}
	}
	reply(req, 404, "{\"error_msg\":\"not found\"}\n");
}

int gw_node_control_start(uv_loop_t *loop, const struct gw_addr *addr, const char *allow,
			  const struct gw_node_control_sources *src, struct gw_node_control **out)
{
	struct gw_node_control *c = calloc(1, sizeof *c);
	struct gw_httpd_opts o;
	int rv;

	if (c == NULL) {
		return GW_ENOMEM;
	}
	c->src = src;
	if (allow == NULL || *allow == '\0') {
		allow = "127.0.0.0/8,::1/128";
	}
	rv = gw_cidr_parse(allow, c->cidrs, MAX_CIDRS, &c->n_cidrs);
	if (rv != 0) {
		gw_errorf("control", "bad --control-allow %s", allow);
		free(c);
		return GW_EINVAL;
	}
	memset(&o, 0, sizeof o);
	o.name = "control";
	o.max_body_bytes = 4096; /* GET only */
	o.max_conns = 256;
	rv = gw_httpd_start(loop, addr, &o, handler, c, &c->srv);
	if (rv != 0) {
		free(c);
		return rv;
	}
	gw_infof("control", "control API on %s", addr->text);
	*out = c;
	return 0;
}

static void stopped(void *data)
{
	struct gw_node_control *c = data;
	void (*cb)(void *) = c->stop_cb;
	void *d = c->stop_data;
	free(c);
	cb(d);
}

void gw_node_control_stop(struct gw_node_control *c, void (*cb)(void *data), void *data)
{
	c->stop_cb = cb;
	c->stop_data = data;
	gw_httpd_stop(c->srv, stopped, c);
}
