/* test_schema.c: schema/ through both of its users. Each schema the proxy
 * compiles (upstream, route, service, plugin_config, global_rule and the
 * registered plugin schemas) is walked from a valid base object: every
 * enum member and a non-member, every bound (min, max, min-1, max+1, and
 * +-0.5 for numbers, 1e20 and -1e20), every length and count bound, every
 * wrong type, in every nested schema the base reaches ($ref, properties,
 * patternProperties, items, allOf/anyOf/oneOf). Each variant goes through
 * the Admin API's check (gw_schema_check) and the proxy's compiler
 * (gw_proxy_config_compile): accepted by the Admin API <=> compiled, and
 * every refusal carries a reason. Schemas the proxy does not compile (ssl,
 * consumer, ...) are walked through the validator only. Then the enum
 * tables are checked member by member against the compiled values, and the
 * issue's two cases (hash_on consumer, weight 1e20) against their wording. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy_int.h"
#include "schema/schema.h"
#include "schema/schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH 16
#define UP_JSON  "{\"nodes\":{\"127.0.0.1:80\":1}}"

/* What the walk starts from and how a variant is compiled. */
enum how { UPSTREAM, ROUTE, SERVICE, PLUGIN_CONFIG, GLOBAL_RULE, NONE };

struct target {
	const char *kind;   /* gw_schema_check's schema name */
	const char *plugin; /* walk this plugin's schema at plugins/<plugin> */
	enum how how;
	const char *base; /* a valid object */
};

struct run {
	const struct target *t;
	cJSON *base;
	const char *path[MAX_PATH];
	int depth;
	int variants, refused, compiled;
};

static const struct target targets[] = {
    {"upstream", NULL, UPSTREAM,
     "{\"type\":\"roundrobin\",\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":80,\"weight\":1,"
     "\"priority\":0,\"metadata\":{}}],\"retries\":1,\"retry_timeout\":1,"
     "\"timeout\":{\"connect\":1,\"send\":1,\"read\":1},\"scheme\":\"http\","
     "\"pass_host\":\"pass\",\"hash_on\":\"vars\",\"key\":\"remote_addr\","
     "\"keepalive_pool\":{\"size\":1,\"idle_timeout\":1,\"requests\":1},\"name\":\"n\","
     "\"desc\":\"d\",\"labels\":{\"a\":\"b\"},\"id\":\"u\",\"create_time\":1,"
     "\"update_time\":1,\"tls\":{\"verify\":false},\"checks\":{\"active\":{\"type\":\"http\","
     "\"timeout\":1,\"concurrency\":1,\"host\":\"h\",\"port\":80,\"http_path\":\"/\","
     "\"https_verify_certificate\":true,\"req_headers\":[\"a: b\"],\"healthy\":{"
     "\"interval\":1,\"http_statuses\":[200],\"successes\":1},\"unhealthy\":{\"interval\":1,"
     "\"http_statuses\":[500],\"http_failures\":1,\"tcp_failures\":1,\"timeouts\":1}},"
     "\"passive\":{\"type\":\"http\",\"healthy\":{\"http_statuses\":[200],\"successes\":1},"
     "\"unhealthy\":{\"http_statuses\":[500],\"tcp_failures\":1,\"timeouts\":1,"
     "\"http_failures\":1}}}}"},
    {"upstream", NULL, UPSTREAM,
     "{\"type\":\"chash\",\"hash_on\":\"header\",\"key\":\"x\",\"nodes\":{\"127.0.0.1:80\":1,"
     "\"[::1]:8080\":2}}"},
    {"route", NULL, ROUTE,
     "{\"uri\":\"/a\",\"name\":\"r\",\"desc\":\"d\",\"priority\":0,\"methods\":[\"GET\"],"
     "\"host\":\"a.com\",\"remote_addr\":\"127.0.0.1\",\"timeout\":{\"connect\":1,"
     "\"send\":1,\"read\":1},\"vars\":[[\"arg_a\",\"==\",\"1\"]],\"labels\":{\"a\":\"b\"},"
     "\"enable_websocket\":false,\"status\":1,\"service_protocol\":\"http\",\"id\":\"r\","
     "\"upstream\":" UP_JSON ",\"plugins\":{}}"},
    {"route", NULL, ROUTE,
     "{\"uris\":[\"/a\",\"/b/*\"],\"hosts\":[\"*.a.com\"],\"remote_addrs\":[\"10.0.0.0/8\"],"
     "\"vars\":[\"OR\",[\"arg_a\",\"in\",[\"1\",2]],[\"remote_addr\",\"ipmatch\","
     "[\"127.0.0.1\"]],[\"arg_b\",\"!\",\"~~\",\"^x\"],[\"arg_c\",\">\",1]],"
     "\"upstream\":" UP_JSON "}"},
    {"service", NULL, SERVICE,
     "{\"name\":\"s\",\"desc\":\"d\",\"labels\":{\"a\":\"b\"},\"enable_websocket\":true,"
     "\"hosts\":[\"a.com\"],\"upstream\":" UP_JSON ",\"plugins\":{},\"id\":\"s\"}"},
    {"plugin_config", NULL, PLUGIN_CONFIG,
     "{\"name\":\"p\",\"desc\":\"d\",\"labels\":{\"a\":\"b\"},\"plugins\":{\"proxy-rewrite\":"
     "{\"uri\":\"/x\"}}}"},
    {"global_rule", NULL, GLOBAL_RULE,
     "{\"id\":\"g\",\"plugins\":{\"response-rewrite\":{\"headers\":{\"X-A\":\"1\"}}}}"},
    {"route", "proxy-rewrite", ROUTE,
     "{\"uri\":\"/p\",\"upstream\":" UP_JSON ",\"plugins\":{\"proxy-rewrite\":{"
     "\"uri\":\"/new\",\"method\":\"GET\",\"regex_uri\":[\"^/p(.*)\",\"/q$1\"],"
     "\"host\":\"h.com\",\"scheme\":\"http\",\"headers\":{\"set\":{\"X-A\":\"1\"},"
     "\"add\":{\"X-B\":2},\"remove\":[\"X-C\"]},\"use_real_request_uri_unsafe\":false}}}"},
    {"route", "proxy-rewrite", ROUTE,
     "{\"uri\":\"/p\",\"upstream\":" UP_JSON ",\"plugins\":{\"proxy-rewrite\":{"
     "\"headers\":{\"X-A\":\"1\"}}}}"},
    {"route", "response-rewrite", ROUTE,
     "{\"uri\":\"/p\",\"upstream\":" UP_JSON ",\"plugins\":{\"response-rewrite\":{"
     "\"status_code\":200,\"body\":\"b\",\"body_base64\":false,\"vars\":[[\"status\",\"==\","
     "200]],\"headers\":{\"set\":{\"X-A\":\"1\"},\"remove\":[\"X-B\"]}}}}"},
    {"route", "response-rewrite", ROUTE,
     "{\"uri\":\"/p\",\"upstream\":" UP_JSON ",\"plugins\":{\"response-rewrite\":{"
     "\"filters\":[{\"regex\":\"a\",\"scope\":\"once\",\"replace\":\"b\",\"options\":\"jo\"}]}}}"},
    /* not compiled by the proxy: the validator alone */
    {"consumer", NULL, NONE, "{\"username\":\"jack\",\"desc\":\"d\",\"labels\":{\"a\":\"b\"}}"},
    {"credential", NULL, NONE, "{\"name\":\"c\",\"plugins\":{}}"},
    {"proto", NULL, NONE, "{\"content\":\"syntax = 1;\"}"},
    {"consumer_group", NULL, NONE, "{\"plugins\":{},\"name\":\"g\"}"},
    {"stream_route", NULL, NONE,
     "{\"server_port\":9100,\"sni\":\"a.com\",\"remote_addr\":\"127.0.0.1\","
     "\"upstream\":" UP_JSON "}"},
};

/* ---- building variants */

/* The value at the run's path in @root (NULL if absent). "#0" is item 0. */
static cJSON *at(cJSON *root, const char *const *path, int n)
{
	for (int i = 0; i < n && root != NULL; i++) {
		root = strcmp(path[i], "#0") == 0 ? cJSON_GetArrayItem(root, 0)
						  : cJSON_GetObjectItemCaseSensitive(root, path[i]);
	}
	return root;
}

static void set_at(cJSON *root, const char *const *path, int n, cJSON *val)
{
	cJSON *parent = at(root, path, n - 1);

	assert_non_null(parent);
	if (strcmp(path[n - 1], "#0") == 0) {
		cJSON_ReplaceItemInArray(parent, 0, val);
	} else if (cJSON_GetObjectItemCaseSensitive(parent, path[n - 1]) != NULL) {
		cJSON_ReplaceItemInObjectCaseSensitive(parent, path[n - 1], val);
	} else {
		cJSON_AddItemToObject(parent, path[n - 1], val);
	}
}

static void add_kv(struct gw_proxy_kv *kv, const char *key, const char *value)
{
	memset(kv, 0, sizeof *kv); /* revisions unknown */
	kv->key = key;
	kv->key_len = strlen(key);
	kv->value = value;
	kv->value_len = strlen(value);
}

/* Does the proxy compile @obj (as @t says)? */
static bool compiles(const struct target *t, const cJSON *obj)
{
	static const char *const keys[] = {"/apisix/upstreams/u", "/apisix/routes/r",
					   "/apisix/services/s", "/apisix/plugin_configs/p",
					   "/apisix/global_rules/g"};
	struct gw_proxy_kv kv[2];
	struct gw_proxy_config *cfg;
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
	char *text = cJSON_PrintUnformatted(obj);
	size_t n = 1;
	bool ok;

	assert_non_null(text);
	add_kv(&kv[0], keys[t->how], text);
	if (t->how == SERVICE) {
		add_kv(&kv[n++], "/apisix/routes/r", "{\"uri\":\"/s\",\"service_id\":\"s\"}");
	} else if (t->how == PLUGIN_CONFIG) {
		add_kv(&kv[n++], "/apisix/routes/r",
		       "{\"uri\":\"/s\",\"plugin_config_id\":\"p\",\"upstream\":" UP_JSON "}");
	}
	assert_int_equal(gw_proxy_config_compile(kv, n, 1, &cfg), 0);
	switch (t->how) {
	case UPSTREAM:
		ok = cfg->n_ups == 1;
		break;
	case GLOBAL_RULE:
		ok = cfg->n_global == 1;
		break;
	default:
		/* a route with status 0 is accepted and not routed */
		ok = gw_proxy_config_routes(cfg) == 1 ||
		     (t->how == ROUTE && cJSON_IsNumber(status) && status->valuedouble == 0);
		break;
	}
	gw_proxy_config_unref(cfg);
	free(text);
	return ok;
}

/* Check both verdicts on @obj (freed). */
static void verdicts(struct run *r, cJSON *obj)
{
	char err[1024] = "", *shown;
	bool admin, proxy;

	admin = gw_schema_check(r->t->kind, obj, 0, err, sizeof err) == 0;
	r->variants++;
	if (!admin) {
		r->refused++;
		if (err[0] == '\0') {
			fail_msg("%s: refused without a reason", r->t->kind);
		}
	}
	if (r->t->how != NONE) {
		proxy = compiles(r->t, obj);
		r->compiled += proxy;
		if (admin != proxy) {
			shown = cJSON_PrintUnformatted(obj);
			fail_msg("%s: Admin API %s (%s) but the proxy %s: %s", r->t->kind,
				 admin ? "accepts" : "refuses", err, proxy ? "compiles" : "skips",
				 shown);
		}
	}
	cJSON_Delete(obj);
}

/* Put @val (taken) at the run's path and check both verdicts. */
static void try_value(struct run *r, cJSON *val)
{
	cJSON *obj = cJSON_Duplicate(r->base, true);

	assert_non_null(obj);
	assert_non_null(val);
	set_at(obj, r->path, r->depth, val);
	verdicts(r, obj);
}

/* A string of @len characters from @like (truncated or padded with its
 * last character, 'a' if empty). */
static cJSON *string_of(const cJSON *like, size_t len)
{
	const char *s = cJSON_IsString(like) ? like->valuestring : "a";
	size_t have = strlen(s);
	char *b = malloc(len + 1);
	cJSON *v;

	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		b[i] = i < have ? s[i] : (have ? s[have - 1] : 'a');
	}
	b[len] = '\0';
	v = cJSON_CreateString(b);
	free(b);
	return v;
}

/* An array of @len copies of @like's first item (or of 1). */
static cJSON *array_of(const cJSON *like, int len)
{
	const cJSON *item = cJSON_GetArrayItem(like, 0);
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; i < len; i++) {
		cJSON_AddItemToArray(a, item ? cJSON_Duplicate(item, true) : cJSON_CreateNumber(1));
	}
	return a;
}

/* An object of @len properties "k<i>": "v". */
static cJSON *object_of(int len)
{
	cJSON *o = cJSON_CreateObject();
	char k[16];

	for (int i = 0; i < len; i++) {
		snprintf(k, sizeof k, "k%d", i);
		cJSON_AddStringToObject(o, k, "v");
	}
	return o;
}

static double num(const cJSON *s, const char *kw, bool *has)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, kw);

	*has = cJSON_IsNumber(x);
	return *has ? x->valuedouble : 0;
}

/* ---- the walk */

static void walk(struct run *r, const cJSON *s, int depth);

static void try_types(struct run *r, const cJSON *type)
{
	static const char *const all[] = {"boolean", "number", "integer", "string",
					  "array",   "object", NULL};
	const char *t = cJSON_IsString(type) ? type->valuestring : NULL;

	if (t == NULL) {
		return; /* no type, or a list of types: any value */
	}
	for (int i = 0; all[i] != NULL; i++) {
		if (strcmp(all[i], t) == 0 || (strcmp(t, "number") == 0 && i == 2)) {
			continue;
		}
		switch (i) {
		case 0:
			try_value(r, cJSON_CreateTrue());
			break;
		case 1:
			try_value(r, cJSON_CreateNumber(0.5));
			break;
		case 2:
			try_value(r, cJSON_CreateNumber(7));
			break;
		case 3:
			try_value(r, cJSON_CreateString("x"));
			break;
		case 4:
			try_value(r, cJSON_CreateArray());
			break;
		default:
			try_value(r, cJSON_CreateObject());
			break;
		}
	}
}

static void try_bounds(struct run *r, const cJSON *s, bool integer)
{
	static const char *const kws[] = {"minimum", "maximum", "exclusiveMinimum",
					  "exclusiveMaximum"};
	bool has, any = false;

	for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++) {
		double lim = num(s, kws[k], &has);
		if (!has) {
			continue;
		}
		any = true;
		for (int d = -2; d <= 2; d++) {
			if (integer && (d == -1 || d == 1)) {
				continue;
			}
			try_value(r, cJSON_CreateNumber(lim + (d % 2 ? d * 0.5 : d / 2)));
		}
	}
	if (any) {
		try_value(r, cJSON_CreateNumber(1e20));
		try_value(r, cJSON_CreateNumber(-1e20));
	}
}

static void try_sizes(struct run *r, const cJSON *s, const cJSON *cur)
{
	static const char *const kws[] = {"minLength", "maxLength",     "minItems",
					  "maxItems",  "minProperties", "maxProperties"};
	bool has;

	for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++) {
		double lim = num(s, kws[k], &has);
		if (!has) {
			continue;
		}
		for (int d = -1; d <= 1; d++) {
			int len = (int)lim + d;
			if (len < 0) {
				continue;
			}
			if (k < 2) {
				try_value(r, string_of(cur, (size_t)len));
			} else if (k < 4) {
				try_value(r, array_of(cur, len));
			} else {
				try_value(r, object_of(len));
			}
		}
	}
}

static void try_enum(struct run *r, const cJSON *list)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, list)
	{
		try_value(r, cJSON_Duplicate(m, true));
	}
	m = cJSON_GetArrayItem(list, 0);
	try_value(r, cJSON_IsString(m) ? cJSON_CreateString("no-such-member")
				       : cJSON_CreateNumber(99));
}

/* Walk @sub at the run's path extended by @seg. */
static void descend(struct run *r, const cJSON *sub, const char *seg, int depth)
{
	if (r->depth >= MAX_PATH) {
		return;
	}
	r->path[r->depth++] = seg;
	walk(r, sub, depth + 1);
	r->depth--;
}

static void walk(struct run *r, const cJSON *s, int depth)
{
	const cJSON *cur = at(r->base, r->path, r->depth), *x, *p;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");
	static const char *const combos[] = {"allOf", "anyOf", "oneOf"};

	if (depth > 24 || cur == NULL) {
		return; /* only where the base has a value */
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "$ref");
	if (cJSON_IsString(x)) {
		walk(r, gw_schema__find(x->valuestring), depth + 1);
		return;
	}
	if (r->depth > 0) {
		try_types(r, type);
		x = cJSON_GetObjectItemCaseSensitive(s, "enum");
		if (cJSON_IsArray(x)) {
			try_enum(r, x);
		}
		try_bounds(r, s, cJSON_IsString(type) && strcmp(type->valuestring, "integer") == 0);
		try_sizes(r, s, cur);
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, "properties"))
	{
		if (cJSON_IsObject(cur) && cJSON_GetObjectItemCaseSensitive(cur, p->string)) {
			descend(r, p, p->string, depth);
		}
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "patternProperties");
	if (cJSON_IsObject(cur) && x != NULL && x->child != NULL && cur->child != NULL) {
		descend(r, x->child, cur->child->string, depth);
	}
	x = cJSON_GetObjectItemCaseSensitive(s, "items");
	if (cJSON_IsObject(x) && cJSON_IsArray(cur) && cJSON_GetArraySize(cur) > 0) {
		descend(r, x, "#0", depth);
	}
	for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, combos[i]))
		{
			walk(r, p, depth + 1);
		}
	}
}

static void walk_target(const struct target *t, int *variants)
{
	struct run r = {.t = t};
	const cJSON *s;

	r.base = cJSON_Parse(t->base);
	assert_non_null(r.base);
	/* the base itself: accepted and compiled */
	if (t->plugin != NULL) {
		r.path[r.depth++] = "plugins";
		r.path[r.depth++] = t->plugin;
		s = gw_schema__plugin(t->plugin);
	} else {
		s = gw_schema__find(t->kind);
	}
	assert_non_null(s);
	verdicts(&r, cJSON_Duplicate(r.base, true));
	if (r.refused != 0) {
		fail_msg("%s: the base object is refused", t->kind);
	}
	walk(&r, s, 0);
	print_message("# %-15s %-16s %4d variants, %4d refused by the Admin API, %4d compiled\n",
		      t->kind, t->plugin ? t->plugin : "", r.variants, r.refused, r.compiled);
	assert_true(r.refused > 0 && r.refused < r.variants);
	*variants += r.variants;
	cJSON_Delete(r.base);
}

static void test_walk_every_schema(void **state)
{
	int variants = 0;

	(void)state;
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		walk_target(&targets[i], &variants);
	}
	print_message("# %d variants in all\n", variants);
	assert_true(variants > 1000);
}

/* Every member of the compiler's enumerations: accepted, compiled, and
 * compiled to its own C value. */
static void test_enum_members_compile(void **state)
{
	static const struct gw_schema_enum *const enums[] = {
	    &gw_schema_lb, &gw_schema_hash_on, &gw_schema_pass_host, &gw_schema_scheme};
	char json[256], err[512];
	struct gw_proxy_kv kv;
	struct gw_proxy_config *cfg;

	(void)state;
	for (size_t e = 0; e < sizeof enums / sizeof enums[0]; e++) {
		for (int i = 0; i < gw_schema_enum_count(enums[e]); i++) {
			cJSON *v;
			snprintf(json, sizeof json,
				 "{\"nodes\":{\"127.0.0.1:80\":1},\"key\":\"k\",\"upstream_host\":"
				 "\"h\",\"%s\":\"%s\"}",
				 enums[e]->field, enums[e]->names[i]);
			v = cJSON_Parse(json);
			assert_non_null(v);
			assert_int_equal(gw_schema_check("upstream", v, 0, err, sizeof err), 0);
			assert_int_equal(
			    gw_schema_enum_value(enums[e], cJSON_GetObjectItem(v, enums[e]->field)),
			    i);
			cJSON_Delete(v);
			add_kv(&kv, "/apisix/upstreams/u", json);
			assert_int_equal(gw_proxy_config_compile(&kv, 1, 1, &cfg), 0);
			assert_int_equal(cfg->n_ups, 1);
			if (enums[e] == &gw_schema_lb) {
				assert_int_equal((int)cfg->ups[0]->type, i);
			} else if (enums[e] == &gw_schema_hash_on) {
				assert_int_equal((int)cfg->ups[0]->hash_on, i);
			} else if (enums[e] == &gw_schema_pass_host) {
				assert_int_equal((int)cfg->ups[0]->pass_host, i);
			}
			gw_proxy_config_unref(cfg);
		}
		assert_int_equal(gw_schema_enum_find(enums[e], "no-such"), GW_EINVAL);
		assert_int_equal(gw_schema_enum_value(enums[e], NULL), enums[e]->dflt);
	}
	for (int i = 0; i < gw_schema_enum_count(&gw_schema_vars_op); i++) {
		static const char *const vals[] = {
		    "\"x\"", "\"x\"",        "1", "1", "1", "1", "\"^x\"", "\"^x\"", "[\"x\"]",
		    "\"x\"", "\"127.0.0.1\""};
		cJSON *v;
		snprintf(json, sizeof json,
			 "{\"uri\":\"/a\",\"upstream\":" UP_JSON
			 ",\"vars\":[[\"arg_a\",\"%s\",%s]]}",
			 gw_schema_vars_op.names[i], vals[i]);
		v = cJSON_Parse(json);
		assert_non_null(v);
		assert_int_equal(gw_schema_check("route", v, 0, err, sizeof err), 0);
		cJSON_Delete(v);
		add_kv(&kv, "/apisix/routes/r", json);
		assert_int_equal(gw_proxy_config_compile(&kv, 1, 1, &cfg), 0);
		assert_int_equal(gw_proxy_config_routes(cfg), 1);
		assert_int_equal((int)cfg->routes[0]->vars->kids[0]->op, i);
		gw_proxy_config_unref(cfg);
	}
	assert_int_equal(gw_schema_enum_find(&gw_schema_vars_op, "IPMATCH"),
			 GW_SCHEMA_VARS_OP_IPMATCH);
}

static void check_refused(const char *schema, const char *json, const char *reason)
{
	cJSON *v = cJSON_Parse(json);
	char err[1024];

	assert_non_null(v);
	assert_int_equal(gw_schema_check(schema, v, 0, err, sizeof err), GW_EINVAL);
	if (strstr(err, reason) == NULL) {
		fail_msg("message \"%s\" lacks \"%s\"", err, reason);
	}
	cJSON_Delete(v);
}

/* The cases of the issue, and the other mismatches found, in APISIX's words
 * where APISIX has words for them. */
static void test_refused_what_the_proxy_cannot_serve(void **state)
{
	(void)state;
	check_refused(
	    "upstream",
	    "{\"type\":\"chash\",\"hash_on\":\"consumer\",\"nodes\":{\"127.0.0.1:80\":1}}",
	    "invalid configuration: property \"hash_on\" validation failed: matches none "
	    "of the enum values");
	check_refused("upstream",
		      "{\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":80,\"weight\":1e20}]}",
		      "invalid configuration: property \"nodes\" validation failed: object matches "
		      "none of the requireds");
	check_refused(
	    "route",
	    "{\"uri\":\"/a\",\"upstream\":{\"nodes\":{\"127.0.0.1:80\":100000000000000000000}}}",
	    "property \"upstream\" validation failed: property \"nodes\" validation failed");
	check_refused("upstream", "{\"scheme\":\"grpcs\",\"nodes\":{\"127.0.0.1:80\":1}}",
		      "property \"scheme\" validation failed: matches none of the enum values");
	check_refused("upstream", "{\"nodes\":{\"bad_host!:80\":1}}",
		      "invalid upstream node bad_host!: not an IP address or a host name");
	check_refused("upstream", "{\"nodes\":[{\"host\":\"1.2.3\",\"port\":80,\"weight\":1}]}",
		      "invalid upstream node 1.2.3: not an IP address or a host name");
	{
		/* host names are resolved by the proxy (proxy/dns.c) */
		cJSON *v =
		    cJSON_Parse("{\"nodes\":{\"example.com:80\":1,\"svc_a.internal:8080\":2}}");
		char err[256];
		assert_non_null(v);
		assert_int_equal(gw_schema_check("upstream", v, 0, err, sizeof err), 0);
		cJSON_Delete(v);
	}
	check_refused("upstream", "{\"service_name\":\"a\",\"discovery_type\":\"dns\"}",
		      "service discovery is not supported yet");
	check_refused("route", "{\"uri\":\"a\",\"upstream\":" UP_JSON "}",
		      "property \"uri\" validation failed: failed to match pattern");
	check_refused("route",
		      "{\"uri\":\"/a\",\"filter_func\":\"function(vars) return true end\","
		      "\"upstream\":" UP_JSON "}",
		      "additional properties forbidden, found filter_func");
	check_refused("route", "{\"uri\":\"/a\",\"priority\":4294967296,\"upstream\":" UP_JSON "}",
		      "expected 4294967296 to be smaller than 2147483647");
	check_refused("route",
		      "{\"uri\":\"/a\",\"vars\":[[\"arg_a\",\"=~\",\"x\"]],\"upstream\":" UP_JSON
		      "}",
		      "property \"vars\" validation failed: failed to validate the 'vars' "
		      "expression: invalid operator '=~'");
	check_refused("route",
		      "{\"uri\":\"/a\",\"upstream\":" UP_JSON ",\"plugins\":{\"proxy-rewrite\":{"
		      "\"regex_uri\":[\"(\",\"/x\"]}}}",
		      "failed to check the configuration of plugin proxy-rewrite err: property "
		      "\"regex_uri\" validation failed: invalid regex_uri((, /x)");
	/* Found by tests/fuzz/fuzz_admin: an "upstream" member the object's
	 * schema does not bound (plugin_metadata) reached the node check
	 * unvalidated, and a port beyond the range of long was converted
	 * (undefined behaviour, an abort under clang's UBSan). */
	/* Found by tests/fuzz/fuzz_admin: a header name with ':' (and an
	 * object for its value) passed the schema's second form, which had no
	 * additionalProperties, and the compiler then skipped the route. */
	check_refused("route",
		      "{\"uri\":\"/rw\",\"plugins\":{\"proxy-rewrite\":{\"headers\":"
		      "{\"s:t\":{\"X-A\":\"1\"}}}}}",
		      "proxy-rewrite");
	check_refused("route",
		      "{\"uri\":\"/rw\",\"plugins\":{\"proxy-rewrite\":{\"headers\":"
		      "{\"set\":{\"a:b\":\"1\"}}}}}",
		      "proxy-rewrite");
	check_refused("plugin_metadata",
		      "{\"upstream\":{\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":1.4e42}]}}",
		      "invalid upstream node 127.0.0.1: port must be 1..65535");
	check_refused("plugin_metadata",
		      "{\"upstream\":{\"nodes\":[{\"host\":\"127.0.0.1\",\"port\":-1e300}]}}",
		      "port must be 1..65535");
}

/* The catalogue is the proxy's registry: every name in it is implemented,
 * and a name APISIX ships that the proxy does not implement is refused. */
static void test_plugin_registry(void **state)
{
	int n = 0;

	(void)state;
	for (const char *const *p = gw_schema_plugin_names(); *p != NULL; p++) {
		bool proxy = gw_proxy__plugin_find(*p) != NULL;
		if (proxy != gw_schema_plugin_validated(*p)) {
			fail_msg("plugin %s: implemented %d, schema registered %d", *p, proxy,
				 !proxy);
		}
		n += proxy;
	}
	assert_int_equal(n, 24); /* every row implemented (above) */
	assert_non_null(gw_proxy__plugin_find("jwt-auth"));
	assert_non_null(gw_proxy__plugin_find("http-logger"));
	assert_null(gw_schema_plugin_schema("no-such-plugin"));
	assert_null(gw_proxy__plugin_find("opa"));
	check_refused("global_rule", "{\"plugins\":{\"opa\":{}}}", "unknown plugin [opa]");
	check_refused("global_rule", "{\"plugins\":{\"no-such\":{}}}", "unknown plugin [no-such]");
}

/* Values the walk does not generate, found by reading the compiler. */
static void test_compiler_edges(void **state)
{
	static const char *const ok[] = {
	    /* a legacy header map with a header named "set" */
	    "{\"uri\":\"/a\",\"upstream\":" UP_JSON ",\"plugins\":{\"proxy-rewrite\":{"
	    "\"headers\":{\"set\":\"1\"}}}}",
	    /* retry_timeout and keepalive idle_timeout 0 (schema minimum 0) */
	    "{\"uri\":\"/a\",\"upstream\":{\"nodes\":{\"127.0.0.1:80\":1},\"retry_timeout\":0,"
	    "\"keepalive_pool\":{\"size\":1,\"idle_timeout\":0,\"requests\":1}}}",
	    /* IPv6 node keys, weight 0 */
	    "{\"uri\":\"*\",\"upstream\":{\"nodes\":{\"[::1]:80\":0,\"[::1]\":1}}}",
	};
	struct run r = {.t = &targets[2]};

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		cJSON *v = cJSON_Parse(ok[i]);
		assert_non_null(v);
		r.base = v;
		verdicts(&r, cJSON_Duplicate(v, true));
		cJSON_Delete(v);
	}
	assert_int_equal(r.refused, 0);
	assert_int_equal(r.compiled, (int)(sizeof ok / sizeof ok[0]));
	check_refused("upstream",
		      "{\"type\":\"chash\",\"key\":\"\",\"nodes\":{\"127.0.0.1:80\":1}}",
		      "property \"key\" validation failed: string too short, expected at least 1");
	check_refused("upstream", "{\"nodes\":{\"127.0.0.1:0\":1}}", "port must be 1..65535");
	check_refused("upstream", "{\"nodes\":{\"127.0.0.1:x\":1}}", "bad host:port");
}

/* The loader makes a table's single-quoted text JSON: ",]" is an X-macro
 * list's trailing comma outside strings, and kept inside them (a regex
 * "[^,]" once lost its comma there). */
static void test_unquote(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"{'enum':['a','b',]}", "{\"enum\":[\"a\",\"b\"]}"},
	    {"{'pattern':'^[^,]+(,[^,]+)*$'}", "{\"pattern\":\"^[^,]+(,[^,]+)*$\"}"},
	    {"{'p':'a,]b','q':[1,]}", "{\"p\":\"a,]b\",\"q\":[1]}"},
	    {"{'p':'x\\\\',]'}", NULL}, /* an escaped backslash ends before the quote */
	    {"{'p':'\\\\d,]'}", "{\"p\":\"\\\\d,]\"}"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = gw_schema__unquote(cases[i].in);
		if (cases[i].out != NULL) {
			assert_string_equal(t, cases[i].out);
		}
		free(t);
	}
	/* the cors pattern of the catalogue keeps its commas */
	const cJSON *cors = gw_schema__plugin("cors");
	const cJSON *ao = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cors, "properties"),
					     "allow_origins"),
	    "pattern");
	assert_non_null(strstr(ao->valuestring, "[^,]+"));
}

/* User schemas (request-validation): served keywords pass, others are
 * refused with the keyword named; validation uses precompiled patterns. */
static void test_user_schema(void **state)
{
	static const struct {
		const char *schema;
		const char *why; /* NULL: accepted */
	} cases[] = {
	    {"{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{"
	     "\"type\":\"string\",\"pattern\":\"^x\"}},\"title\":\"t\"}",
	     NULL},
	    {"{\"propertyNames\":{}}", "keyword \"propertyNames\" is not supported"},
	    {"{\"items\":[{}, 1]}", "a schema must be an object, got a scalar"},
	    {"{\"items\":[]}", "\"items\": expected a non-empty array of schemas"},
	    {"{\"type\":[\"string\",\"nul\"]}",
	     "\"type\": expected a type name or an array of them"},
	    {"{\"patternProperties\":{\"(\":{}}}", "invalid pattern \"(\""},
	    {"{\"minLength\":-1}", "\"minLength\": expected a non-negative integer"},
	    {"{\"not\":true}", "a schema must be an object, got a scalar"},
	};
	struct gw_schema_user *u;
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *s = cJSON_Parse(cases[i].schema);
		int rv = gw_schema_user_check(s, err, sizeof err);
		assert_non_null(s);
		if (cases[i].why == NULL) {
			assert_int_equal(rv, 0);
		} else {
			assert_int_equal(rv, GW_EINVAL);
			assert_non_null(strstr(err, cases[i].why));
		}
		cJSON_Delete(s);
	}
	cJSON *s = cJSON_Parse(cases[0].schema);
	assert_int_equal(gw_schema_user_new(s, &u, err, sizeof err), 0);
	cJSON_Delete(s);
	cJSON *ok = cJSON_Parse("{\"a\":\"xy\"}"), *bad = cJSON_Parse("{\"a\":\"yx\"}");
	assert_int_equal(gw_schema_user_validate(u, ok, err, sizeof err), 0);
	assert_int_equal(gw_schema_user_validate(u, bad, err, sizeof err), GW_EINVAL);
	assert_string_equal(err, "property \"a\" validation failed: failed to match pattern \"^x\" "
				 "with \"yx\"");
	cJSON_Delete(ok);
	cJSON_Delete(bad);
	gw_schema_user_free(u);
}

/* uniqueItems over more than 64 items hashes instead of comparing every
 * pair: on random arrays (numbers, strings, objects whose members come in
 * either order) it finds the same first equal pair as the pairwise walk. */
static void test_unique_hashed(void **state)
{
	static const char *const objs[] = {"{\"a\":1,\"b\":[1,2]}", "{\"b\":[1,2],\"a\":1}",
					   "{\"a\":1,\"b\":[2,1]}", "{\"a\":2}"};
	cJSON *schema = cJSON_Parse("{\"uniqueItems\":true}");
	struct gw_schema_user *u;
	uint64_t x = 88172645463325252u; /* xorshift: the same arrays every run */
	char err[256], want[256];
	int seen[2] = {0, 0}; /* rounds without and with an equal pair */

	(void)state;
	assert_int_equal(gw_schema_user_new(schema, &u, err, sizeof err), 0);
	for (int round = 0; round < 200; round++) {
		cJSON *arr = cJSON_CreateArray();
		int n = 65 + round % 100, wi = 0, wj = 0;

		for (int k = 0; k < n; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			unsigned pick = (unsigned)(x % 1000);
			cJSON *it = pick < 970   ? cJSON_CreateNumber((double)(x >> 20) + 0.5)
				    : pick < 985 ? cJSON_CreateString(round % 2 ? "s" : "t")
						 : cJSON_Parse(objs[(x >> 8) % 4]);
			assert_non_null(it);
			cJSON_AddItemToArray(arr, it);
		}
		/* the pairwise answer */
		for (int i = 0; i < n && wi == 0; i++) {
			for (int j = i + 1; j < n; j++) {
				if (cJSON_Compare(cJSON_GetArrayItem(arr, i),
						  cJSON_GetArrayItem(arr, j), true)) {
					wi = i + 1;
					wj = j + 1;
					break;
				}
			}
		}
		int rv = gw_schema_user_validate(u, arr, err, sizeof err);
		seen[wi != 0]++;
		if (wi == 0) {
			assert_int_equal(rv, 0);
		} else {
			snprintf(want, sizeof want,
				 "expected unique items but items %d and %d are equal", wi, wj);
			assert_int_equal(rv, GW_EINVAL);
			assert_string_equal(err, want);
		}
		cJSON_Delete(arr);
	}
	assert_true(seen[0] > 20 && seen[1] > 20); /* both cases were tried */
	gw_schema_user_free(u);
	cJSON_Delete(schema);
}

int main(void)
{
	gw_log_set_level(getenv("GW_TEST_LOG") ? GW_LOG_DEBUG : GW_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_walk_every_schema),
	    cmocka_unit_test(test_enum_members_compile),
	    cmocka_unit_test(test_refused_what_the_proxy_cannot_serve),
	    cmocka_unit_test(test_plugin_registry),
	    cmocka_unit_test(test_compiler_edges),
	    cmocka_unit_test(test_unquote),
	    cmocka_unit_test(test_user_schema),
	    cmocka_unit_test(test_unique_hashed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
