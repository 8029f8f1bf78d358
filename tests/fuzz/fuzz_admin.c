/* fuzz_admin.c: Admin API bodies (APISIX's API) through the strict JSON
 * parse (lib/json.c), the one schema (schema/: the Admin API's check), the
 * check of values written around the Admin API (gw_admin_check_stored,
 * etcdctl's path) and the proxy's config compiler (proxy/config.c).
 *
 * Input: one byte choosing the resource (routes, services, upstreams,
 * plugin_configs, global_rules, consumers, ssls, protos, stream_routes,
 * plugin_metadata), then the body. Invariants: a refusal has a reason; an
 * object the Admin API accepts also passes the proxy's looser check
 * (GW_SCHEMA_PROXY) and the stored-value check; the compiler takes any
 * value (valid or not) next to a valid upstream and service and never fails
 * but for memory; a route the Admin API accepts that refers to nothing
 * missing and uses only plugins the proxy implements compiles into exactly
 * one route. */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "fuzz_util.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "schema/schema.h"

#include <string.h>

static const char *const kinds[] = {
    "routes",    "services", "upstreams", "plugin_configs", "global_rules",
    "consumers", "ssls",     "protos",    "stream_routes",  "plugin_metadata"};

/* plugin_metadata objects are checked with their id, a plugin's name */
static const char *const meta_ids[] = {"http-logger", "cors", "limit-count", "fz"};

static const char up1[] = "{\"id\":\"1\",\"type\":\"roundrobin\",\"nodes\":{\"127.0.0.1:1980\":1}}";
static const char svc1[] = "{\"id\":\"1\",\"upstream_id\":\"1\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	gw_log_set_level(GW_LOG_NONE);
	return 0;
}

/* May the route compile on its own (next to upstream 1 and service 1)? */
static bool self_contained(const cJSON *v)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, "service_id");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(v, "upstream_id");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(v, "status");
	const cJSON *pl;
	if (cJSON_GetObjectItemCaseSensitive(v, "plugin_config_id") != NULL) {
		return false;
	}
	if (s != NULL && !(cJSON_IsString(s) && strcmp(s->valuestring, "1") == 0)) {
		return false;
	}
	if (u != NULL && !(cJSON_IsString(u) && strcmp(u->valuestring, "1") == 0)) {
		return false;
	}
	if (st != NULL && !(cJSON_IsNumber(st) && st->valuedouble == 1)) {
		return false; /* a disabled route is not compiled */
	}
	/* The Admin API takes every plugin of APISIX's catalogue; the proxy
	 * skips a route with a plugin it does not implement (fail closed). */
	cJSON_ArrayForEach(pl, cJSON_GetObjectItemCaseSensitive(v, "plugins"))
	{
		if (gw_proxy__plugin_find(pl->string) == NULL) {
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct gw_admin__resource *res;
	const char *body = (const char *)data + 1;
	size_t blen = size - 1;
	char err[1024], key[64];
	const char *id = "fz";
	struct gw_proxy_kv kv[3];
	struct gw_proxy_config *cfg = NULL;
	cJSON *v = NULL;
	bool admin_ok = false;
	int rv;

	if (size < 1) {
		return 0;
	}
	res = gw_admin__resource(kinds[data[0] % (sizeof kinds / sizeof kinds[0])], true);
	FUZZ_CHECK(res != NULL);
	if (strcmp(res->name, "plugin_metadata") == 0) {
		id = meta_ids[(data[0] / (sizeof kinds / sizeof kinds[0])) %
			      (sizeof meta_ids / sizeof meta_ids[0])];
	}
	err[0] = '\0';
	rv = gw_json_parse_strict(body, blen, GW_ADMIN__MAX_NESTING, &v, err, sizeof err);
	if (rv != 0) {
		FUZZ_CHECK(rv == GW_EINVAL && v == NULL && err[0] != '\0');
	} else if (cJSON_IsObject(v)) {
		err[0] = '\0';
		rv = gw_admin__check_object(res, v, err, sizeof err);
		FUZZ_CHECK(rv == 0 || ((rv == GW_EINVAL || rv == GW_ENOTFOUND) && err[0] != '\0'));
		if (rv == 0 && strcmp(res->name, "plugin_metadata") == 0) {
			/* the Admin API's TXN checks it with the id (apisix_txn.c) */
			rv = gw_schema_check_metadata(id, v, err, sizeof err);
			FUZZ_CHECK(rv == 0 || (rv == GW_EINVAL && err[0] != '\0'));
		}
		if (rv == 0) {
			admin_ok = true;
			FUZZ_CHECK(
			    gw_schema_check(res->schema, v, GW_SCHEMA_PROXY, err, sizeof err) == 0);
		}
	}
	snprintf(key, sizeof key, "%s%s", res->prefix, id);
	rv = gw_admin_check_stored(key, strlen(key), blen ? body : "", blen, err, sizeof err);
	FUZZ_CHECK(!admin_ok || rv == 0);

	kv[0] = (struct gw_proxy_kv){"/apisix/upstreams/1", 19, up1, sizeof up1 - 1};
	kv[1] = (struct gw_proxy_kv){"/apisix/services/1", 18, svc1, sizeof svc1 - 1};
	kv[2] = (struct gw_proxy_kv){key, strlen(key), blen ? body : "", blen};
	FUZZ_CHECK(gw_proxy_config_compile(kv, 3, 1, &cfg) == 0);
	if (admin_ok && strcmp(res->name, "routes") == 0 && self_contained(v)) {
		FUZZ_CHECK(gw_proxy_config_routes(cfg) == 1);
	}
	gw_proxy_config_unref(cfg);
	cJSON_Delete(v);
	return 0;
}
