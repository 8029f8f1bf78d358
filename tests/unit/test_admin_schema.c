/* test_admin_schema.c: the Admin API's schema validator, plugin catalogue and
 * PATCH merge (admin/apisix_schema.c), through admin/apisix_int.h. Each case
 * feeds JSON text and checks the verdict and APISIX's message wording. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char err[2048];

/* Validate @json against @schema; returns the gw code, message in err. */
static int val(const char *schema, const char *json)
{
	cJSON *v = cJSON_Parse(json);
	int rv;

	assert_non_null(v);
	rv = gw_admin__validate(schema, v, err, sizeof(err));
	cJSON_Delete(v);
	return rv;
}

static int plugins(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	int rv;

	assert_non_null(v);
	rv = gw_admin__check_plugins(v, err, sizeof(err));
	cJSON_Delete(v);
	return rv;
}

#define assert_err(rv, substr)                                                                     \
	do {                                                                                       \
		assert_int_equal((rv), GW_EINVAL);                                                 \
		if (strstr(err, (substr)) == NULL) {                                               \
			fail_msg("message \"%s\" lacks \"%s\"", err, (substr));                    \
		}                                                                                  \
	} while (0)

static void test_every_schema_loads(void **state)
{
	static const char *names[] = {
	    "route",          "service",      "upstream",    "consumer",
	    "credential",     "ssl",          "global_rule", "plugin_config",
	    "consumer_group", "stream_route", "proto",       "plugin_metadata",
	    "secret",         "id",           "labels",      "health_checker"};
	const char *const *p;
	size_t i;
	int n = 0;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* a JSON null is a valid value for none of them except by accident;
		 * what matters is that the schema exists (not GW_ENOTFOUND) */
		assert_int_not_equal(val(names[i], "null"), GW_ENOTFOUND);
	}
	assert_int_equal(val("no-such-schema", "{}"), GW_ENOTFOUND);
	for (p = gw_admin__plugin_names(); *p; p++) {
		assert_non_null(gw_admin__plugin_schema(*p));
		n++;
	}
	assert_true(n >= 9); /* the plugins the proxy implements */
	assert_true(gw_admin__plugin_validated("proxy-rewrite"));
	assert_true(gw_admin__plugin_validated("response-rewrite"));
	assert_true(gw_admin__plugin_validated("limit-count"));
	assert_false(gw_admin__plugin_validated("opa")); /* not implemented: unknown */
	assert_null(gw_admin__plugin_schema("no-such-plugin"));
}

static void test_route_valid(void **state)
{
	(void)state;
	assert_int_equal(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\"}"), 0);
	assert_int_equal(val("route", "{\"uris\":[\"/a\",\"/b\"],\"service_id\":7,"
				      "\"methods\":[\"GET\",\"POST\"],\"hosts\":[\"*.x.com\"],"
				      "\"remote_addrs\":[\"10.0.0.0/8\",\"::1\"],\"priority\":3,"
				      "\"labels\":{\"env\":\"prod\"},\"status\":0,"
				      "\"timeout\":{\"connect\":1,\"send\":2,\"read\":0.5}}"),
			 0);
	assert_int_equal(val("route", "{\"uri\":\"/a\",\"upstream\":{\"type\":\"roundrobin\","
				      "\"nodes\":{\"127.0.0.1:80\":1}}}"),
			 0);
	assert_int_equal(val("route", "{\"uri\":\"/a\",\"upstream\":{\"nodes\":[{\"host\":"
				      "\"a.b\",\"port\":80,\"weight\":0,\"priority\":-1}]}}"),
			 0);
}

static void test_route_errors(void **state)
{
	(void)state;
	assert_err(val("route", "{\"upstream_id\":\"1\"}"),
		   "allOf 1 failed: value should match only one schema, but matches none");
	assert_err(val("route", "{\"uri\":\"/a\",\"uris\":[\"/b\"],\"upstream_id\":1}"),
		   "value should match only one schema, but matches both schemas 1 and 2");
	assert_err(val("route", "{\"uri\":5,\"upstream_id\":\"1\"}"),
		   "property \"uri\" validation failed: wrong type: expected string, got number");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\",\"foo\":1}"),
		   "additional properties forbidden, found foo");
	assert_err(val("route", "{\"uri\":\"/a\"}"), "object matches none of the requireds: "
						     "[\"plugins\",\"uri\"] or ");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"a b\"}"),
		   "property \"upstream_id\" validation failed");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":0}"),
		   "property \"upstream_id\" validation failed");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\",\"methods\":[\"FOO\"]}"),
		   "property \"methods\" validation failed: failed to validate item 1: matches "
		   "none of the enum values");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\","
				"\"methods\":[\"GET\",\"GET\"]}"),
		   "expected unique items but items 1 and 2 are equal");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\",\"priority\":1.5}"),
		   "property \"priority\" validation failed: wrong type: expected integer, got "
		   "number");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\",\"host\":\"a.com\","
				"\"hosts\":[\"b.com\"]}"),
		   "allOf 2 failed");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\","
				"\"remote_addrs\":[\"300.1.1.1\"]}"),
		   "property \"remote_addrs\" validation failed: failed to validate item 1");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\",\"status\":2}"),
		   "property \"status\" validation failed: matches none of the enum values");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\","
				"\"labels\":{\"k\":\"has space\"}}"),
		   "property \"labels\" validation failed: failed to validate k (matching "
		   "\".*\"): failed to match pattern");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\","
				"\"timeout\":{\"connect\":0,\"send\":1,\"read\":1}}"),
		   "property \"timeout\" validation failed: property \"connect\" validation "
		   "failed: expected 0 to be sctrictly greater than 0");
	assert_err(val("route", "{\"uri\":\"/a\",\"upstream_id\":\"1\","
				"\"timeout\":{\"connect\":1}}"),
		   "property \"send\" is required");
	assert_err(val("route", "{\"uri\":\"\",\"upstream_id\":\"1\"}"),
		   "string too short, expected at least 1, got 0");
}

static void test_upstream(void **state)
{
	(void)state;
	assert_int_equal(val("upstream", "{\"type\":\"chash\",\"hash_on\":\"header\",\"key\":"
					 "\"x\",\"nodes\":{\"a:1\":1},\"retries\":0,"
					 "\"pass_host\":\"rewrite\",\"upstream_host\":\"h.com\","
					 "\"checks\":{\"active\":{\"http_path\":\"/h\","
					 "\"healthy\":{\"successes\":2}}}}"),
			 0);
	assert_err(val("upstream", "{\"type\":\"roundrobin\"}"),
		   "value should match only one schema, but matches none");
	assert_err(val("upstream", "{\"type\":\"random\",\"nodes\":{\"a:1\":1}}"),
		   "property \"type\" validation failed: matches none of the enum values");
	assert_err(val("upstream", "{\"nodes\":{\"a:1\":-1}}"),
		   "property \"nodes\" validation failed: object matches none of the requireds");
	assert_err(val("upstream", "{\"nodes\":{\"a:1\":1},\"retries\":-1}"),
		   "property \"retries\" validation failed: expected -1 to be greater than 0");
	assert_err(val("upstream", "{\"nodes\":{\"a:1\":1},\"checks\":{\"active\":{"
				   "\"healthy\":{\"successes\":255}}}}"),
		   "expected 255 to be smaller than 254");
}

static void test_other_resources(void **state)
{
	(void)state;
	assert_int_equal(val("consumer", "{\"username\":\"jack_1\",\"plugins\":{}}"), 0);
	assert_err(val("consumer", "{\"plugins\":{}}"), "property \"username\" is required");
	assert_err(val("consumer", "{\"username\":\"ja ck\"}"),
		   "property \"username\" validation failed: failed to match pattern");
	assert_err(val("ssl", "{\"cert\":\"x\",\"key\":\"y\"}"),
		   "property \"cert\" validation failed: string too short, expected at least 128");
	assert_err(val("global_rule", "{\"id\":\"1\"}"), "property \"plugins\" is required");
	assert_int_equal(val("global_rule", "{\"id\":\"1\",\"plugins\":{}}"), 0);
	assert_err(val("plugin_config", "{\"desc\":\"d\"}"), "property \"plugins\" is required");
	assert_int_equal(val("service", "{\"upstream_id\":\"u\",\"name\":\"s\"}"), 0);
	assert_err(val("service", "{\"uri\":\"/x\"}"),
		   "additional properties forbidden, found uri");
	assert_err(val("proto", "{}"), "property \"content\" is required");
	assert_int_equal(val("id", "\"abc-_.9\""), 0);
	assert_int_not_equal(val("id", "\"x/y\""), 0);
	assert_int_not_equal(
	    val("id", "\"12345678901234567890123456789012345678901234567890123456789012345\""), 0);
}

static void test_plugins(void **state)
{
	(void)state;
	assert_int_equal(plugins("{\"proxy-rewrite\":{\"uri\":\"/new\",\"headers\":{\"set\":"
				 "{\"X-A\":\"1\"},\"remove\":[\"X-B\"]}}}"),
			 0);
	/* APISIX's limit-count schema has no additionalProperties: false */
	assert_int_equal(
	    plugins("{\"limit-count\":{\"count\":1,\"time_window\":60,\"anything\":[1]}}"), 0);
	assert_err(plugins("{\"limit-count\":{\"count\":1}}"),
		   "failed to check the configuration of plugin limit-count err: property "
		   "\"time_window\" is required");
	assert_int_equal(plugins("{\"response-rewrite\":{\"status_code\":200,\"body\":\"x\","
				 "\"_meta\":{\"priority\":1},\"disable\":false}}"),
			 0);
	assert_err(plugins("{\"no-such\":{}}"), "unknown plugin [no-such]");
	assert_err(plugins("{\"proxy-rewrite\":{\"uri\":\"relative\"}}"),
		   "failed to check the configuration of plugin proxy-rewrite err: property "
		   "\"uri\" validation failed: failed to match pattern");
	assert_err(plugins("{\"proxy-rewrite\":{\"bogus\":1}}"),
		   "failed to check the configuration of plugin proxy-rewrite err: additional "
		   "properties forbidden, found bogus");
	assert_err(plugins("{\"response-rewrite\":{\"status_code\":99}}"),
		   "expected 99 to be greater than 200");
	assert_err(plugins("{\"response-rewrite\":{\"body\":\"x\",\"filters\":[{\"regex\":\"a\","
			   "\"replace\":\"b\"}]}}"),
		   "value wasn't supposed to match schema");
	assert_err(plugins("{\"limit-count\":5}"), "wrong type: expected object, got number");
	assert_err(plugins("{\"limit-count\":{\"disable\":\"yes\"}}"), "\"disable\"");
}

static int upstream(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	int rv;

	assert_non_null(v);
	rv = gw_admin__check_upstream(v, err, sizeof(err));
	cJSON_Delete(v);
	return rv;
}

static void test_upstream_semantics(void **state)
{
	(void)state;
	assert_int_equal(upstream("{\"nodes\":{\"a:1\":1},\"pass_host\":\"node\"}"), 0);
	assert_err(upstream("{\"nodes\":{\"a:1\":1,\"b:1\":1},\"pass_host\":\"node\"}"),
		   "only support single node for `node` mode currently");
	assert_err(upstream("{\"nodes\":{\"a:1\":1},\"pass_host\":\"rewrite\"}"),
		   "`upstream_host` can't be empty when `pass_host` is `rewrite`");
	assert_int_equal(upstream("{\"nodes\":{},\"pass_host\":\"rewrite\","
				  "\"upstream_host\":\"h\"}"),
			 0);
	assert_err(upstream("{\"nodes\":{},\"type\":\"chash\"}"), "missing key");
	assert_int_equal(upstream("{\"nodes\":{},\"type\":\"chash\",\"key\":\"remote_addr\"}"), 0);
	assert_int_equal(upstream("{\"nodes\":{},\"type\":\"chash\",\"hash_on\":\"consumer\"}"), 0);
	assert_int_equal(upstream("null"), 0); /* no upstream: nothing to check */
}

static char *merged(const char *target, const char *patch)
{
	cJSON *t = cJSON_Parse(target), *p = cJSON_Parse(patch), *m;
	char *s;

	assert_non_null(t);
	assert_non_null(p);
	m = gw_admin__merge(t, p);
	assert_non_null(m);
	s = cJSON_PrintUnformatted(m);
	cJSON_Delete(m);
	cJSON_Delete(p);
	return s;
}

static void test_merge(void **state)
{
	char *s;

	(void)state;
	s = merged("{\"a\":1,\"b\":{\"c\":1,\"d\":2},\"e\":[1,2]}",
		   "{\"a\":null,\"b\":{\"c\":3,\"x\":{\"y\":1}},\"e\":[3],\"n\":\"new\"}");
	assert_string_equal(s, "{\"b\":{\"c\":3,\"d\":2,\"x\":{\"y\":1}},\"e\":[3],\"n\":\"new\"}");
	free(s);
	s = merged("{\"a\":1}", "[1]"); /* a non-object patch replaces the whole */
	assert_string_equal(s, "[1]");
	free(s);
	s = merged("{\"a\":{\"b\":1}}", "{\"a\":5}");
	assert_string_equal(s, "{\"a\":5}");
	free(s);
	s = merged("{\"a\":5}", "{\"a\":{\"b\":null,\"c\":1}}");
	assert_string_equal(s, "{\"a\":{\"c\":1}}");
	free(s);
}

static void test_set_path(void **state)
{
	cJSON *root = cJSON_Parse("{\"plugins\":{\"a\":{\"x\":1}},\"n\":1}");
	char *s;

	(void)state;
	assert_int_equal(gw_admin__set_path(root, "plugins/a", cJSON_Parse("{\"y\":2}")), 0);
	assert_int_equal(gw_admin__set_path(root, "labels/env", cJSON_CreateString("p")), 0);
	assert_int_equal(gw_admin__set_path(root, "uri", cJSON_CreateString("/u")), 0);
	s = cJSON_PrintUnformatted(root);
	assert_string_equal(
	    s, "{\"plugins\":{\"a\":{\"y\":2}},\"n\":1,\"labels\":{\"env\":\"p\"},\"uri\":\"/u\"}");
	free(s);
	cJSON *v = cJSON_CreateNumber(1);
	assert_int_equal(gw_admin__set_path(root, "n/x", v), GW_EINVAL);
	cJSON_Delete(v);
	v = cJSON_CreateNumber(1);
	assert_int_equal(gw_admin__set_path(root, "a//b", v), GW_EINVAL);
	cJSON_Delete(v);
	cJSON_Delete(root);
}

/* gw_admin_check_stored of @key = @value; the code, the reason in err. */
static int stored(const char *key, const char *value)
{
	err[0] = '\0';
	return gw_admin_check_stored(key, strlen(key), value, strlen(value), err, sizeof(err));
}

/* Which keys name objects: the inverse of gw_admin__object_key. */
static void test_resource_of_key(void **state)
{
	static const struct {
		const char *key, *res; /* NULL: not an object key */
	} cases[] = {
	    {"/apisix/routes/1", "routes"},
	    {"/apisix/upstreams/u-1.x_y", "upstreams"},
	    {"/apisix/plugin_metadata/cors", "plugin_metadata"},
	    {"/apisix/stream_routes/9", "stream_routes"},
	    {"/apisix/consumers/jack", "consumers"},
	    {"/apisix/consumers/jack/credentials/c1", "credentials"},
	    {"/apisix/secrets/vault/1", "secrets"},
	    {"/apisix/routes/", NULL}, /* APISIX's init_dir placeholder */
	    {"/apisix/routes", NULL},
	    {"/apisix/routes/1/x", NULL},
	    {"/apisix/consumers/jack/credentials/", NULL},
	    {"/apisix/consumers/jack/credentials/c1/x", NULL},
	    {"/apisix/consumers/jack/other/c1", NULL},
	    {"/apisix/consumers//credentials/c1", NULL},
	    {"/apisix/secrets/vault", NULL},
	    {"/apisix/secrets/vault/", NULL},
	    {"/apisix/secrets//1", NULL},
	    {"/apisix/plugins", NULL},
	    {"/apisix/data_plane/server_info/x", NULL},
	    {"/apisix/x/1", NULL},
	    {"/routes/1", NULL},
	    {"", NULL},
	};
	const struct gw_admin__resource *res;
	char key[GW_ADMIN__MAX_KEY];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		res = gw_admin__resource_of_key(cases[i].key, strlen(cases[i].key));
		if (cases[i].res == NULL) {
			assert_null(res);
			continue;
		}
		assert_non_null(res);
		assert_string_equal(res->name, cases[i].res);
	}
	/* an id is bytes: a NUL in it does not hide the object */
	res = gw_admin__resource_of_key("/apisix/routes/a\0b", 18);
	assert_true(gw_admin__is(res, "routes"));
	/* round trip with the Admin API's own keys */
	gw_admin__object_key(gw_admin__resource("credentials", false), "jack/c1", key, sizeof(key));
	assert_true(gw_admin__is(gw_admin__resource_of_key(key, strlen(key)), "credentials"));
	gw_admin__object_key(gw_admin__resource("routes", true), "r1", key, sizeof(key));
	assert_true(gw_admin__is(gw_admin__resource_of_key(key, strlen(key)), "routes"));
}

/* A value written around the Admin API (etcd API) gets its checks. */
static void test_check_stored(void **state)
{
	static const char up[] = "\"upstream\":{\"nodes\":{\"127.0.0.1:80\":1}}";
	char good[256];

	(void)state;
	snprintf(good, sizeof(good), "{\"uri\":\"/a\",%s}", up);
	assert_int_equal(stored("/apisix/routes/1", good), 0);
	/* keys that are no object pass whatever they hold */
	assert_int_equal(stored("/apisix/routes/", "init_dir"), 0);
	assert_int_equal(stored("/apisix/plugins", "[{\"name\":\"cors\"}]"), 0);
	assert_int_equal(stored("/apisix/data_plane/server_info/n1", "x"), 0);
	assert_int_equal(stored("/other/k", "{not json"), 0);
	/* the schema, as the proxy checks it */
	assert_int_equal(stored("/apisix/routes/1", "{\"uri\":5}"), GW_EINVAL);
	assert_non_null(
	    strstr(err, "/apisix/routes/1 is not a valid route: invalid configuration: "));
	assert_int_equal(stored("/apisix/upstreams/u", "{\"nodes\":{\"a_bad!:80\":1}}"), GW_EINVAL);
	assert_non_null(strstr(err, "/apisix/upstreams/u is not a valid upstream: "));
	assert_int_equal(stored("/apisix/routes/1", "[]"), GW_EINVAL);
	assert_int_equal(stored("/apisix/consumers/jack/credentials/c1", "{\"plugins\":5}"),
			 GW_EINVAL);
	assert_non_null(strstr(err, "is not a valid credential: "));
	/* strict JSON */
	assert_int_equal(stored("/apisix/routes/1", "{not json"), GW_EINVAL);
	assert_string_equal(err, "/apisix/routes/1 is not a valid route: invalid JSON: malformed "
				 "JSON at byte 2");
	snprintf(good, sizeof(good), "{\"uri\":\"/a\",%s,\"uri\":5}", up);
	assert_int_equal(stored("/apisix/routes/1", good), GW_EINVAL);
	assert_string_equal(err, "/apisix/routes/1 is not a valid route: invalid JSON: duplicate "
				 "key \"uri\"");
	snprintf(good, sizeof(good), "{\"uri\":\"/a\",%s}xxx", up);
	assert_int_equal(stored("/apisix/routes/1", good), GW_EINVAL);
	assert_non_null(strstr(err, "invalid JSON: trailing bytes after the JSON value"));
	/* a key with control bytes is shown safely */
	assert_int_equal(stored("/apisix/routes/a\nb", "5"), GW_EINVAL);
	assert_non_null(strstr(err, "/apisix/routes/a?b is not a valid route"));
}

static void test_admin_key_file(void **state)
{
	char dir[] = "/tmp/test_admin_key.XXXXXX", path[128], k1[128], k2[128];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/admin.key", dir);
	/* the flag wins and writes nothing */
	assert_int_equal(gw_admin_key_load(dir, "flag-key", false, k1, sizeof(k1)), 0);
	assert_string_equal(k1, "flag-key");
	assert_int_not_equal(stat(path, &st), 0);
	/* a joiner: no key yet, none generated */
	assert_int_equal(gw_admin_key_load(dir, "", false, k1, sizeof(k1)), GW_ENOTFOUND);
	assert_int_not_equal(stat(path, &st), 0);
	/* first start: a random key, mode 0600 */
	assert_int_equal(gw_admin_key_load(dir, "", true, k1, sizeof(k1)), 0);
	assert_int_equal(strlen(k1), 32);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* later starts: the same key */
	assert_int_equal(gw_admin_key_load(dir, NULL, false, k2, sizeof(k2)), 0);
	assert_string_equal(k1, k2);
	/* an empty key file is an error, not a silent empty key */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(gw_admin_key_load(dir, NULL, true, k2, sizeof(k2)), GW_EIO);
	/* an adopted key replaces the file, mode 0600 */
	assert_int_equal(gw_admin_key_save(dir, "adopted-key"), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(gw_admin_key_load(dir, NULL, false, k2, sizeof(k2)), 0);
	assert_string_equal(k2, "adopted-key");
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_schema_loads), cmocka_unit_test(test_route_valid),
	    cmocka_unit_test(test_route_errors),       cmocka_unit_test(test_upstream),
	    cmocka_unit_test(test_other_resources),    cmocka_unit_test(test_plugins),
	    cmocka_unit_test(test_upstream_semantics), cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_set_path),           cmocka_unit_test(test_resource_of_key),
	    cmocka_unit_test(test_check_stored),       cmocka_unit_test(test_admin_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
