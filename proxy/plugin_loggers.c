/* plugin_loggers.c: http-logger (priority 410) and file-logger (399), as
 * APISIX's: one log entry per request, batched and delivered by the node's
 * logger service (plugin_logger.c).
 *
 * Happy path. compile takes a reference on the sink of the instance (its
 * object and configuration: APISIX keeps one batch processor per route
 * and configuration) and compiles log_format; the log hook, when the
 * request ends on its worker, builds the entry — APISIX's full log by
 * default (request {url, uri, method, headers, querystring, size, body
 * when include_req_body}, response {status, headers, size}, server,
 * upstream, route_id, service_id, consumer, client_ip, start_time and the
 * three latencies in ms), or the log_format object whose "$var" values are
 * the request's variables (with route_id and service_id added, as APISIX)
 * — and pushes it to the sink without waiting. Without its own log_format
 * a logger uses the one of /apisix/plugin_metadata/<plugin> if set.
 * Failure modes: a request body over the kept 64 KiB (or chunked) is left
 * out of the entry; an entry the node cannot queue is dropped and counted;
 * a configuration the proxy cannot serve (an https:// or host-name uri)
 * fails its route at compile time (the schema refuses most of it first).
 * Threads: compile on the config thread, log on any worker. */
#include "config.h"

#include "lib/err.h"
#include "lib/httpc.h"
#include "proxy/plugin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct logger {
	const char *name; /* the plugin's (its plugin_metadata) */
	struct gw_proxy__logsink *sink;
	struct gw_proxy__plogfmt *fmt; /* NULL: the metadata's, else APISIX's full log */
	bool req_body;
};

static unsigned uint_field(const cJSON *j, const char *name, unsigned def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9
		   ? (unsigned)v->valuedouble
		   : def;
}

int gw_proxy__plogfmt_compile(struct gw_proxy__compiler *c, const cJSON *lf,
			      struct gw_proxy__plogfmt **out)
{
	struct gw_proxy__plogfmt *f = gw_proxy__c_alloc(c, sizeof *f);
	const cJSON *it;

	if (f == NULL) {
		return GW_ENOMEM;
	}
	if (!cJSON_IsObject(lf)) {
		return gw_proxy__c_fail(c, "%s", "log_format must be an object");
	}
	f->v = gw_proxy__c_alloc(c, ((size_t)cJSON_GetArraySize(lf) + 1) * sizeof *f->v);
	if (f->v == NULL) {
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(it, lf)
	{
		struct gw_proxy__plogfmt_item *x = &f->v[f->n++];
		x->key = gw_proxy__c_strdup(c, it->string);
		if (cJSON_IsString(it) && it->valuestring[0] == '$') {
			x->var = gw_proxy__c_strdup(c, it->valuestring + 1);
		} else {
			char *txt = cJSON_PrintUnformatted(it);
			x->lit = txt != NULL ? gw_proxy__c_strdup(c, txt) : NULL;
			free(txt);
		}
		if (x->key == NULL || (x->var == NULL && x->lit == NULL)) {
			return GW_ENOMEM;
		}
	}
	*out = f;
	return 0;
}

static int compile_common(struct gw_proxy__compiler *c, const cJSON *j, const char *name,
			  const struct gw_proxy__logsink_conf *sc, const void **out)
{
	struct logger *l = gw_proxy__c_alloc(c, sizeof *l);
	const cJSON *lf = cJSON_GetObjectItemCaseSensitive(j, "log_format");
	int rv;

	if (l == NULL) {
		return GW_ENOMEM;
	}
	l->name = name;
	l->req_body = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "include_req_body"));
	if (cJSON_IsObject(lf) && lf->child != NULL &&
	    (rv = gw_proxy__plogfmt_compile(c, lf, &l->fmt)) != 0) {
		return rv;
	}
	if ((l->sink = gw_proxy__logsink_hold(c, j, sc)) == NULL) {
		return GW_ENOMEM;
	}
	*out = l;
	return 0;
}

static int http_compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
	const cJSON *auth = cJSON_GetObjectItemCaseSensitive(j, "auth_header");
	const cJSON *cm = cJSON_GetObjectItemCaseSensitive(j, "concat_method");
	struct gw_proxy__logsink_conf sc = {.kind = GW_PROXY__SINK_HTTP};
	char hp[256];

	if (!cJSON_IsString(uri) || strncmp(uri->valuestring, "http://", 7) != 0 ||
	    gw_httpc_url_hostport(uri->valuestring, hp, sizeof hp) != 0) {
		return gw_proxy__c_fail(c, "%s", "http-logger: uri must be http://ip:port/...");
	}
	sc.uri = uri->valuestring;
	sc.auth_header = cJSON_IsString(auth) ? auth->valuestring : "";
	sc.new_line = cJSON_IsString(cm) && strcmp(cm->valuestring, "new_line") == 0;
	sc.timeout_ms = 1000 * uint_field(j, "timeout", 3);
	sc.batch_max_size = uint_field(j, "batch_max_size", 1000);
	sc.inactive_timeout_s = uint_field(j, "inactive_timeout", 5);
	sc.buffer_duration_s = uint_field(j, "buffer_duration", 60);
	sc.max_retry_count = uint_field(j, "max_retry_count", 0);
	sc.retry_delay_s = uint_field(j, "retry_delay", 1);
	if (sc.batch_max_size == 0) {
		sc.batch_max_size = 1;
	}
	return compile_common(c, j, "http-logger", &sc, out);
}

static int file_compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
	struct gw_proxy__logsink_conf sc = {.kind = GW_PROXY__SINK_FILE};

	if (!cJSON_IsString(path) || path->valuestring[0] == '\0') {
		return gw_proxy__c_fail(c, "%s", "file-logger: path is required");
	}
	sc.path = path->valuestring;
	return compile_common(c, j, "file-logger", &sc, out);
}

/* ---- the entry */

static uint64_t now_epoch_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Headers as an object of lower-case names (APISIX: ngx.req.get_headers). */
static cJSON *headers_obj(const struct gw_proxy__hcollect *hc)
{
	cJSON *o = cJSON_CreateObject();
	char name[256];
	for (size_t i = 0; o != NULL && i < hc->n; i++) {
		size_t k;
		for (k = 0; k < hc->v[i].name_len && k < sizeof name - 1; k++) {
			char ch = hc->v[i].name[k];
			name[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		name[k] = '\0';
		if (cJSON_GetObjectItemCaseSensitive(o, name) == NULL) {
			cJSON_AddStringToObject(o, name, hc->v[i].value);
		}
	}
	return o;
}

/* The query string as an object (values as received; a bare key is true). */
static cJSON *query_obj(const struct gw_proxy__req *r)
{
	cJSON *o = cJSON_CreateObject();
	const char *p = r->query, *end = r->query + r->query_len;
	char key[256], val[1024];

	while (o != NULL && p != NULL && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		const char *stop = amp != NULL ? amp : end;
		eq = memchr(p, '=', (size_t)(stop - p));
		snprintf(key, sizeof key, "%.*s", (int)((eq ? eq : stop) - p), p);
		if (key[0] != '\0' && cJSON_GetObjectItemCaseSensitive(o, key) == NULL) {
			if (eq != NULL) {
				snprintf(val, sizeof val, "%.*s", (int)(stop - eq - 1), eq + 1);
				cJSON_AddStringToObject(o, key, val);
			} else {
				cJSON_AddTrueToObject(o, key);
			}
		}
		p = stop + 1;
	}
	return o;
}

/* What ops.c's outcome says, computed here (the log hook runs after it). */
struct times {
	double latency, up_latency, apisix_latency;
	bool has_up;
	uint64_t start_ms;
};

static void times_of(const struct gw_proxy__req *r, struct times *t)
{
	uint64_t now = uv_hrtime();
	uint64_t total = r->t_begin != 0 && now > r->t_begin ? now - r->t_begin : 0;
	memset(t, 0, sizeof *t);
	t->latency = (double)total / 1e6;
	t->start_ms = now_epoch_ms() - total / 1000000;
	if (r->t_up_begin != 0) {
		uint64_t ue = r->t_up_end > r->t_up_begin ? r->t_up_end : now;
		uint64_t up = ue - r->t_up_begin;
		if (up > total) {
			up = total;
		}
		t->has_up = true;
		t->up_latency = (double)up / 1e6;
		t->apisix_latency = (double)(total - up) / 1e6;
	} else {
		t->apisix_latency = t->latency;
	}
}

static const char *upstream_addr(const struct gw_proxy__req *r)
{
	if (r->up != NULL && r->node >= 0 && (size_t)r->node < r->up->n_nodes) {
		return r->up->nodes[r->node].text;
	}
	return NULL;
}

static int status_of(const struct gw_proxy__req *r)
{
	return r->resp_started ? r->status : 499;
}

/* Variables a log format may name beyond the router's. */
static cJSON *log_var(struct gw_proxy__req *r, const char *name)
{
	char buf[1024];
	const char *v;
	size_t len;
	struct times t;

	if (strcmp(name, "status") == 0) {
		return cJSON_CreateNumber(status_of(r));
	}
	if (strcmp(name, "upstream_addr") == 0) {
		v = upstream_addr(r);
		return v != NULL ? cJSON_CreateString(v) : cJSON_CreateNull();
	}
	if (strcmp(name, "request_time") == 0) {
		times_of(r, &t);
		return cJSON_CreateNumber(t.latency / 1000.0);
	}
	if (strcmp(name, "bytes_sent") == 0) {
		return cJSON_CreateNumber((double)r->bytes_out);
	}
	if (strcmp(name, "service_id") == 0) {
		return r->route->service_id ? cJSON_CreateString(r->route->service_id)
					    : cJSON_CreateNull();
	}
	if (!gw_proxy__plugin_var(r, name, buf, sizeof buf, &v, &len)) {
		return cJSON_CreateNull();
	}
	{
		cJSON *s;
		char *tmp = malloc(len + 1);
		if (tmp == NULL) {
			return NULL;
		}
		memcpy(tmp, v, len);
		tmp[len] = '\0';
		s = cJSON_CreateString(tmp);
		free(tmp);
		return s;
	}
}

static cJSON *custom_log(struct gw_proxy__req *r, const struct gw_proxy__plogfmt *f)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o != NULL && i < f->n; i++) {
		cJSON *v = f->v[i].var != NULL ? log_var(r, f->v[i].var) : cJSON_Parse(f->v[i].lit);
		if (v != NULL) {
			cJSON_AddItemToObject(o, f->v[i].key, v);
		}
	}
	if (o != NULL) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, "route_id");
		cJSON_DeleteItemFromObjectCaseSensitive(o, "service_id");
		cJSON_AddStringToObject(o, "route_id", r->route->id ? r->route->id : "");
		if (r->route->service_id != NULL) {
			cJSON_AddStringToObject(o, "service_id", r->route->service_id);
		}
	}
	return o;
}

static cJSON *full_log(struct gw_proxy__req *r, const struct logger *l)
{
	cJSON *o = cJSON_CreateObject(), *req, *resp, *srv;
	struct times t;
	char host[256], url[8192];
	const char *up = upstream_addr(r), *ip = gw_proxy__req_remote_ip(r);
	size_t in_size = r->url.len + 16 + r->body_bytes;

	if (o == NULL) {
		return NULL;
	}
	times_of(r, &t);
	for (size_t i = 0; i < r->hc.n; i++) {
		in_size += r->hc.v[i].name_len + r->hc.v[i].value_len + 4;
	}
	req = cJSON_AddObjectToObject(o, "request");
	snprintf(url, sizeof url, "%s://%.*s%.*s", r->dc->tls != NULL ? "https" : "http",
		 (int)(r->host_hdr ? strlen(r->host_hdr) : r->host_len),
		 r->host_hdr ? r->host_hdr : (r->host ? r->host : ""), (int)r->url.len,
		 r->url.data ? r->url.data : "");
	cJSON_AddStringToObject(req, "url", url);
	snprintf(url, sizeof url, "%.*s", (int)r->url.len, r->url.data ? r->url.data : "");
	cJSON_AddStringToObject(req, "uri", url);
	cJSON_AddStringToObject(req, "method", http_method_str((enum http_method)r->method));
	cJSON_AddItemToObject(req, "headers", headers_obj(&r->hc));
	cJSON_AddItemToObject(req, "querystring", query_obj(r));
	cJSON_AddNumberToObject(req, "size", (double)in_size);
	if (l->req_body && r->body_bytes > 0 && !r->chunked_in && r->replay_ok &&
	    r->replay.len == r->body_bytes) {
		char *body = malloc(r->replay.len + 1);
		if (body != NULL) {
			memcpy(body, r->replay.data, r->replay.len);
			body[r->replay.len] = '\0';
			cJSON_AddStringToObject(req, "body", body);
			free(body);
		}
	}
	resp = cJSON_AddObjectToObject(o, "response");
	cJSON_AddNumberToObject(resp, "status", status_of(r));
	cJSON_AddItemToObject(resp, "headers", headers_obj(&r->rh));
	cJSON_AddNumberToObject(resp, "size", (double)r->bytes_out);
	srv = cJSON_AddObjectToObject(o, "server");
	if (gethostname(host, sizeof host) != 0) {
		host[0] = '\0';
	}
	host[sizeof host - 1] = '\0';
	cJSON_AddStringToObject(srv, "hostname", host);
	cJSON_AddStringToObject(srv, "version", PACKAGE_VERSION);
	if (up != NULL) {
		cJSON_AddStringToObject(o, "upstream", up);
	}
	cJSON_AddStringToObject(o, "route_id", r->route->id ? r->route->id : "");
	if (r->route->service_id != NULL) {
		cJSON_AddStringToObject(o, "service_id", r->route->service_id);
	}
	if (r->consumer != NULL) {
		cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "consumer"), "username",
					r->consumer->username);
	}
	cJSON_AddStringToObject(o, "client_ip", ip != NULL ? ip : "");
	cJSON_AddNumberToObject(o, "start_time", (double)t.start_ms);
	cJSON_AddNumberToObject(o, "latency", t.latency);
	if (t.has_up) {
		cJSON_AddNumberToObject(o, "upstream_latency", t.up_latency);
	}
	cJSON_AddNumberToObject(o, "apisix_latency", t.apisix_latency);
	return o;
}

static void log_hook(struct gw_proxy__req *r, const void *conf)
{
	const struct logger *l = conf;
	const struct gw_proxy__plogfmt *f =
	    l->fmt != NULL ? l->fmt : gw_proxy__metadata_log_format(r->snap->cfg, l->name);
	cJSON *o = f != NULL ? custom_log(r, f) : full_log(r, l);
	char *txt = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

	if (txt != NULL) {
		gw_proxy__logsink_push(l->sink, txt, strlen(txt));
	} else {
		gw_proxy__logsink_push(l->sink, NULL, 0); /* counted as dropped */
	}
	free(txt);
	cJSON_Delete(o);
}

const struct gw_proxy__plugin gw_proxy__plugin_http_logger = {
    .name = "http-logger",
    .priority = 410,
    .compile = http_compile,
    .log = log_hook,
};

const struct gw_proxy__plugin gw_proxy__plugin_file_logger = {
    .name = "file-logger",
    .priority = 399,
    .compile = file_compile,
    .log = log_hook,
};
