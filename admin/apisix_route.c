/* apisix_route.c: what the Admin API serves and how it answers errors.
 *
 * Three tables and one mapping: the resources (URL segment, store prefix,
 * schema, methods), the route table ((method, path pattern) -> handler),
 * and gw_admin__answer, the one place an error code becomes an HTTP status
 * and APISIX's error body.
 *
 * Happy path: the dispatcher (apisix.c) hands the path after /apisix/admin
 * to gw_admin__route, which splits it into at most five segments (the fifth
 * keeps the rest unsplit), walks the rows in order and returns the first
 * whose pattern matches and which serves the method, with the resource, the
 * id and the PATCH sub-path it captured.
 * Failure modes: a path no row matches is 404 "Unsupported resource type:
 * <first segment>"; a row bound to a resource that does not serve the
 * method is 405 "not supported `M` method for <type>". Pure functions of
 * their input; any thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_CT  "application/json"
#define HDRS     "X-API-VERSION: v3\r\n"
#define MAX_SEGS 5

#define M_ALL                                                                                      \
	(GW_ADMIN__M_GET | GW_ADMIN__M_PUT | GW_ADMIN__M_POST | GW_ADMIN__M_DELETE |               \
	 GW_ADMIN__M_PATCH)
#define M_NO_POST (M_ALL & ~GW_ADMIN__M_POST)
#define M_GPD     (GW_ADMIN__M_GET | GW_ADMIN__M_PUT | GW_ADMIN__M_DELETE)
#define F_IT      (GW_ADMIN__F_ID | GW_ADMIN__F_TIMES)

static const struct gw_admin__resource resources[] = {
    {"routes", "route", "/apisix/routes/", "route", M_ALL, F_IT},
    {"services", "service", "/apisix/services/", "service", M_ALL, F_IT},
    {"upstreams", "upstream", "/apisix/upstreams/", "upstream", M_ALL, F_IT},
    {"ssls", "ssl", "/apisix/ssls/", "ssl", M_ALL, F_IT},
    {"consumers", "consumer", "/apisix/consumers/", "consumer", M_GPD, GW_ADMIN__F_TIMES},
    {"credentials", "credential", "/apisix/consumers/", "credential", M_GPD,
     F_IT | GW_ADMIN__F_NESTED},
    {"global_rules", "global_rule", "/apisix/global_rules/", "global_rule", M_NO_POST, F_IT},
    {"plugin_configs", "plugin_config", "/apisix/plugin_configs/", "plugin_config", M_NO_POST,
     F_IT},
    {"consumer_groups", "consumer_group", "/apisix/consumer_groups/", "consumer_group", M_NO_POST,
     F_IT},
    {"plugin_metadata", "plugin_metadata", "/apisix/plugin_metadata/", "plugin_metadata", M_GPD, 0},
    {"stream_routes", "stream_route", "/apisix/stream_routes/", "stream_route",
     M_GPD | GW_ADMIN__M_POST, F_IT},
    {"protos", "proto", "/apisix/protos/", "proto", M_GPD | GW_ADMIN__M_POST, F_IT},
    {"secrets", "secret", "/apisix/secrets/", "secret", M_NO_POST, GW_ADMIN__F_ID},
};

/* The standard handlers of an object path; @get differs by path. */
#define CRUD(get_fn)                                                                               \
	.get = (get_fn), .put = gw_admin__h_put, .post = gw_admin__h_post,                         \
	.patch = gw_admin__h_patch, .del = gw_admin__h_delete

static const struct gw_admin__route routes[] = {
    {.pattern = "cluster", .get = gw_admin__h_cluster},
    {.pattern = "history", .get = gw_admin__h_history},
    {.pattern = "rollback", .post = gw_admin__h_rollback},
    {.pattern = "configs", .get = gw_admin__h_configs_get, .put = gw_admin__h_configs_put},
    {.pattern = "diff", .get = gw_admin__h_diff},
    {.pattern = "audit", .get = gw_admin__h_audit},
    {.pattern = "node/health", .get = gw_admin__h_node_health},
    {.pattern = "node/metrics", .get = gw_admin__h_node_metrics},
    {.pattern = "plugins/list", .get = gw_admin__h_plugin_list},
    {.pattern = "plugins/{id}", .get = gw_admin__h_plugin_schema},
    {.pattern = "plugins/**", .get = gw_admin__h_not_found},
    {.pattern = "schema/validate/{id}/**", .post = gw_admin__h_schema_validate},
    {.pattern = "schema/{id}", .get = gw_admin__h_schema_get},
    /* consumers/<user>/credentials[/<id>]: the id is "<user>/<id>" */
    {.pattern = "consumers/{id}/credentials/{id}/*", .any = gw_admin__h_not_found},
    {.pattern = "consumers/{id}/credentials",
     .res = "credentials",
     .get = gw_admin__h_list_credentials},
    {.pattern = "consumers/{id}/credentials/{id}", .res = "credentials", CRUD(gw_admin__h_get)},
    /* secrets/<manager>/<id>: the id has one slash, the rest is ignored */
    {.pattern = "secrets/{id}/{id}/**", .res = "secrets", CRUD(gw_admin__h_get)},
    {.pattern = "{res}", CRUD(gw_admin__h_list)},
    {.pattern = "{res}/{id}", CRUD(gw_admin__h_get)},
    {.pattern = "{res}/{id}/{sub+}", CRUD(gw_admin__h_not_found)},
};

/* ---- answers ----------------------------------------------------------- */

static int status_of(int err)
{
	switch (err) {
	case 0:
		return 200;
	case GW_EINVAL:
	case GW_EKEYEMPTY:
	case GW_EKEYTOOLARGE:
	case GW_EVALUETOOLARGE:
	case GW_EDUPKEY:
	case GW_ETOOMANYOPS:
	case GW_ELEASENOTFOUND:
	case GW_ELEASETTL:
	case GW_ECOMPACTED:
	case GW_EFUTUREREV:
		return 400;
	case GW_EPERM:
	case GW_ADMIN__EAUTH:
		return 401;
	case GW_ADMIN__EFORBIDDEN:
		return 403;
	case GW_ENOTFOUND:
		return 404;
	case GW_ADMIN__EMETHOD:
		return 405;
	case GW_EBUSY:
		return 409;
	case GW_ELIMIT:
		return 413;
	case GW_ENOLEADER:
	case GW_ETIMEOUT:
	case GW_ELEADERCHANGED:
	case GW_ENOTLEADER:
	case GW_EUNHEALTHY:
	case GW_ESHUTDOWN:
	case GW_EIO:
	case GW_ENOSPACE:
		return 503;
	default:
		return 500;
	}
}

int gw_admin__answer(int err, const char *msg, cJSON **body)
{
	int status = status_of(err);
	cJSON *o = cJSON_CreateObject();

	*body = o;
	if (o == NULL) {
		return status;
	}
	if (status == 404 && msg == NULL) {
		cJSON_AddStringToObject(o, "message", "Key not found");
	} else if (err == GW_ADMIN__EAUTH) {
		cJSON_AddStringToObject(o, "error_msg", "failed to check token");
		cJSON_AddStringToObject(o, "description", msg ? msg : "");
	} else {
		cJSON_AddStringToObject(o, "error_msg", msg ? msg : gw_strerror(err));
	}
	return status;
}

void gw_admin__send_json_hdrs(struct gw_http_req *req, int status, cJSON *body, const char *hdrs)
{
	char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
	char all[512];

	snprintf(all, sizeof(all), HDRS "%s", hdrs);
	if (txt == NULL) {
		static const char oom[] = "{\"error_msg\":\"out of memory\"}";
		gw_http_respond(req, 500, JSON_CT, HDRS, oom, sizeof(oom) - 1);
	} else {
		gw_http_respond(req, status, JSON_CT, all, txt, strlen(txt));
	}
	free(txt);
	cJSON_Delete(body);
}

void gw_admin__send_json(struct gw_http_req *req, int status, cJSON *body)
{
	gw_admin__send_json_hdrs(req, status, body, "");
}

void gw_admin__send_err(struct gw_http_req *req, int err, const char *msg)
{
	cJSON *body;
	int status = gw_admin__answer(err, msg, &body);

	gw_admin__send_json(req, status, body);
}

void gw_admin__send_text(struct gw_http_req *req, const char *text, size_t len)
{
	gw_http_respond(req, 200, JSON_CT, HDRS, text, len);
}

/* ---- resources --------------------------------------------------------- */

const struct gw_admin__resource *gw_admin__resource(const char *name, bool top_level)
{
	size_t i;

	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		if (strcmp(resources[i].name, name) == 0 &&
		    !(top_level && (resources[i].flags & GW_ADMIN__F_NESTED))) {
			return &resources[i];
		}
	}
	return NULL;
}

bool gw_admin__is(const struct gw_admin__resource *res, const char *name)
{
	return res != NULL && strcmp(res->name, name) == 0;
}

void gw_admin__object_key(const struct gw_admin__resource *res, const char *id, char *out, size_t n)
{
	const char *slash = strchr(id, '/');

	if (gw_admin__is(res, "credentials") && slash != NULL) {
		snprintf(out, n, "/apisix/consumers/%.*s/credentials/%s", (int)(slash - id), id,
			 slash + 1);
	} else {
		snprintf(out, n, "%s%s", res->prefix, id);
	}
}

/* True when the @n bytes at @p are a non-empty segment without '/'. */
static bool segment(const char *p, size_t n)
{
	return n > 0 && memchr(p, '/', n) == NULL;
}

const struct gw_admin__resource *gw_admin__resource_of_key(const char *key, size_t len)
{
	static const char cred[] = "/credentials/";
	size_t i, pl, rl;
	const char *rest, *slash;

	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		const struct gw_admin__resource *res = &resources[i];

		pl = strlen(res->prefix);
		if (len <= pl || memcmp(key, res->prefix, pl) != 0) {
			continue;
		}
		rest = key + pl;
		rl = len - pl;
		slash = memchr(rest, '/', rl);
		if (gw_admin__is(res, "credentials")) {
			/* <user>/credentials/<id> */
			size_t ul = slash != NULL ? (size_t)(slash - rest) : rl;
			if (ul > 0 && rl > ul + sizeof(cred) - 1 &&
			    memcmp(rest + ul, cred, sizeof(cred) - 1) == 0 &&
			    segment(rest + ul + sizeof(cred) - 1, rl - ul - (sizeof(cred) - 1))) {
				return res;
			}
		} else if (gw_admin__is(res, "secrets")) {
			/* <manager>/<id> */
			if (slash != NULL && slash > rest &&
			    segment(slash + 1, rl - (size_t)(slash + 1 - rest))) {
				return res;
			}
		} else if (segment(rest, rl)) {
			return res;
		}
	}
	return NULL;
}

/* ---- routing ----------------------------------------------------------- */

unsigned gw_admin__method_bit(const char *method)
{
	static const char *const names[] = {"GET", "PUT", "POST", "DELETE", "PATCH"};
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(method, names[i]) == 0) {
			return 1u << i;
		}
	}
	return GW_ADMIN__M_OTHER;
}

/* Split @path ("a/b/c") into at most @max segments (modified in place): the
 * last keeps the rest unsplit; empty segments between slashes count. */
static int split(char *path, char **segs, int max)
{
	int n = 0;
	char *p = path;

	while (*p == '/') {
		p++;
	}
	while (*p && n < max) {
		segs[n++] = p;
		p = strchr(p, '/');
		if (p == NULL) {
			break;
		}
		*p++ = '\0';
		if (n == max - 1) { /* the rest, unsplit */
			if (*p) {
				segs[n++] = p;
			}
			break;
		}
	}
	return n;
}

/* Append @seg to @dst (NUL-terminated, @n bytes) after @sep, truncating. */
static void join(char *dst, size_t n, const char *sep, const char *seg)
{
	size_t l = strlen(dst);

	snprintf(dst + l, n - l, "%s%s", sep, seg);
}

static bool token_is(const char *tok, size_t len, const char *s)
{
	return strlen(s) == len && strncmp(tok, s, len) == 0;
}

/* Match segments @segs[0..n) against @pattern, capturing into @m. */
static bool match_pattern(const char *pattern, char **segs, int n, struct gw_admin__match *m)
{
	const char *p = pattern, *e;
	size_t len;
	int i = 0;

	m->res = NULL;
	m->id[0] = m->sub[0] = '\0';
	m->n_ids = 0;
	m->has_sub = false;
	for (; *p != '\0'; p = *e ? e + 1 : e, i++) {
		e = p + strcspn(p, "/");
		len = (size_t)(e - p);
		if (token_is(p, len, "**")) {
			return true;
		}
		if (token_is(p, len, "{sub+}")) {
			for (m->has_sub = i < n; i < n; i++) {
				join(m->sub, sizeof(m->sub), m->sub[0] ? "/" : "", segs[i]);
			}
			return m->has_sub;
		}
		if (i >= n) {
			return false;
		}
		if (token_is(p, len, "{res}")) {
			m->res = gw_admin__resource(segs[i], true);
			if (m->res == NULL) {
				return false;
			}
		} else if (token_is(p, len, "{id}")) {
			join(m->id, sizeof(m->id), m->n_ids++ ? "/" : "", segs[i]);
		} else if (!token_is(p, len, "*") && !token_is(p, len, segs[i])) {
			return false;
		}
	}
	return i == n;
}

/* The row's handler for the method bit @mb, or NULL. */
static gw_admin__handler_cb handler_of(const struct gw_admin__route *r, unsigned mb)
{
	if (r->any != NULL) {
		return r->any;
	}
	switch (mb) {
	case GW_ADMIN__M_GET:
		return r->get;
	case GW_ADMIN__M_PUT:
		return r->put;
	case GW_ADMIN__M_POST:
		return r->post;
	case GW_ADMIN__M_PATCH:
		return r->patch;
	case GW_ADMIN__M_DELETE:
		return r->del;
	default:
		return NULL;
	}
}

int gw_admin__route(const char *method, const char *path, struct gw_admin__match *m, char *msg,
		    size_t n)
{
	char buf[GW_ADMIN__MAX_PATH], *segs[MAX_SEGS];
	const struct gw_admin__route *r;
	int n_segs;

	snprintf(buf, sizeof(buf), "%s", path);
	n_segs = split(buf, segs, MAX_SEGS);
	m->method = gw_admin__method_bit(method);
	for (r = routes; r < routes + sizeof(routes) / sizeof(routes[0]); r++) {
		if (!match_pattern(r->pattern, segs, n_segs, m)) {
			continue;
		}
		if (r->res != NULL) {
			m->res = gw_admin__resource(r->res, false);
		}
		m->route = r;
		m->handler = handler_of(r, m->method);
		if (m->res != NULL && !(m->res->methods & m->method) && r->any == NULL) {
			m->handler = NULL;
		}
		if (m->handler != NULL) {
			return 0;
		}
		if (m->res != NULL) {
			snprintf(msg, n, "not supported `%s` method for %s", method, m->res->type);
			return GW_ADMIN__EMETHOD;
		}
	}
	m->route = NULL;
	m->handler = NULL;
	snprintf(msg, n, "Unsupported resource type: %.200s", n_segs > 0 ? segs[0] : "");
	return GW_ENOTFOUND;
}
