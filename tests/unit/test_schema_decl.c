/* test_schema_decl.c: schema/decl.c, the declarative config module shared
 * by `apigw config apply`, PUT /apisix/admin/configs and standalone mode:
 * YAML and JSON parse to the same objects, errors name the line, objects
 * without id are named as APISIX names them, consumers by username, stored
 * values compare equal to the file's whatever their times, and the diff
 * with and without prune. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "schema/decl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse and collect @text into @out; 0 or the error with @err. */
static int load(const char *text, struct gw_schema_decl *out, char *err, size_t n)
{
	cJSON *root = gw_schema_decl_parse("f.yaml", text, strlen(text), err, n);
	int rv;

	if (root == NULL) {
		return GW_EINVAL;
	}
	rv = gw_schema_decl_collect("f.yaml", root, out, err, n);
	cJSON_Delete(root);
	return rv;
}

static void test_yaml_and_json_agree(void **state)
{
	struct gw_schema_decl y = {0}, j = {0};
	char err[512];

	(void)state;
	assert_int_equal(load("routes:\n  - id: 1\n    uri: /a\n    upstream_id: u\n"
			      "upstreams:\n  - id: u\n    type: roundrobin\n    nodes:\n"
			      "      \"127.0.0.1:80\": 1\n#END\n",
			      &y, err, sizeof err),
			 0);
	assert_int_equal(load("{\"upstreams\":[{\"nodes\":{\"127.0.0.1:80\":1},\"id\":\"u\","
			      "\"type\":\"roundrobin\"}],\"routes\":[{\"uri\":\"/a\",\"id\":1,"
			      "\"upstream_id\":\"u\"}],\"routes_conf_version\":3}",
			      &j, err, sizeof err),
			 0);
	assert_int_equal(y.n, 2);
	assert_int_equal(j.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(y.objs[i].key, j.objs[i].key);
		assert_string_equal(y.objs[i].value, j.objs[i].value);
	}
	assert_string_equal(y.objs[0].key, "/apisix/routes/1");
	assert_string_equal(y.objs[0].value, "{\"id\":\"1\",\"upstream_id\":\"u\",\"uri\":\"/a\"}");
	assert_int_equal(y.objs[0].line, 2);
	gw_schema_decl_free(&y);
	gw_schema_decl_free(&j);
}

static void test_errors_name_the_line(void **state)
{
	struct gw_schema_decl d = {0};
	char err[512];

	(void)state;
	assert_int_equal(load("routes:\n  - id: a\n    uri: /a\n    upstream_id: u\n"
			      "  - id: b\n    uri: /b\n    priority: high\n",
			      &d, err, sizeof err),
			 GW_EINVAL);
	assert_non_null(strstr(err, "f.yaml:7: routes[1] (id b): "));
	assert_non_null(strstr(err, "priority"));
	gw_schema_decl_free(&d);
	assert_int_equal(load("routes: [\n", &d, err, sizeof err), GW_EINVAL);
	assert_non_null(strstr(err, "f.yaml:2: bad YAML"));
	assert_int_equal(load("routez: []\n", &d, err, sizeof err), GW_EINVAL);
	assert_string_equal(err, "f.yaml: unknown section \"routez\"");
	assert_int_equal(load("a: &x 1\nb: *x\n", &d, err, sizeof err), GW_EINVAL);
	assert_non_null(strstr(err, "aliases"));
	assert_int_equal(
	    load("routes:\n  - id: a\n    uri: /a\n    uri: /b\n", &d, err, sizeof err), GW_EINVAL);
	assert_non_null(strstr(err, "f.yaml:4: duplicate key \"uri\""));
	assert_int_equal(load("upstreams:\n  - id: u\n    nodes: {\"h:1\": 1}\n"
			      "  - id: u\n    nodes: {\"h:2\": 1}\n",
			      &d, err, sizeof err),
			 GW_EINVAL);
	assert_non_null(strstr(err, "/apisix/upstreams/u is given twice"));
	gw_schema_decl_free(&d);
	assert_int_equal(
	    load("plugins:\n  - name: key-auth\n  - name: no-such-plugin\n", &d, err, sizeof err),
	    GW_EINVAL);
	assert_non_null(strstr(err, "plugins[1]: unknown plugin [no-such-plugin]"));
	assert_int_equal(load("consumers:\n  - id: x\n    username: y\n", &d, err, sizeof err),
			 GW_EINVAL);
	assert_non_null(strstr(err, "named by its \"username\""));
	gw_schema_decl_free(&d);
}

static void test_apisix_names(void **state)
{
	struct gw_schema_decl d = {0};
	char err[512];

	(void)state;
	/* no id: arr_<position>; consumers by username, without an id */
	assert_int_equal(
	    load("routes:\n  -\n    uri: /a\n    upstream: {nodes: {\"h:1\": 1}}\n"
		 "  -\n    uri: /b\n    upstream: {nodes: {\"h:1\": 1}}\n"
		 "consumers:\n  - username: jack\n"
		 "plugins:\n  - name: key-auth\n  - name: mqtt-proxy\n    stream: true\n"
		 "#END\n",
		 &d, err, sizeof err),
	    0);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.objs[0].key, "/apisix/consumers/jack");
	assert_string_equal(d.objs[0].value, "{\"username\":\"jack\"}");
	assert_string_equal(d.objs[1].key, "/apisix/routes/arr_1");
	assert_string_equal(d.objs[2].key, "/apisix/routes/arr_2");
	gw_schema_decl_free(&d);
}

static void test_stored_and_diff(void **state)
{
	struct gw_schema_decl want = {0}, have = {0};
	struct gw_schema_decl_diff d;
	char err[512];
	const char *same = "{\"uri\":\"/a\",\"upstream_id\":\"u\",\"create_time\":1,"
			   "\"update_time\":2,\"id\":\"1\"}";
	const char *other = "{\"uri\":\"/old\",\"upstream_id\":\"u\"}";

	(void)state;
	assert_int_equal(load("routes:\n  - {id: 1, uri: /a, upstream_id: u}\n"
			      "  - {id: 2, uri: /new, upstream_id: u}\n"
			      "  - {id: 3, uri: /c, upstream_id: u}\n",
			      &want, err, sizeof err),
			 0);
	assert_int_equal(
	    gw_schema_decl_add_stored(&have, "/apisix/routes/3", 16, other, strlen(other)), 0);
	assert_int_equal(
	    gw_schema_decl_add_stored(&have, "/apisix/routes/1", 16, same, strlen(same)), 0);
	assert_int_equal(
	    gw_schema_decl_add_stored(&have, "/apisix/routes/9", 16, other, strlen(other)), 0);
	/* not objects of a section: skipped */
	assert_int_equal(
	    gw_schema_decl_add_stored(&have, "/apisix/consumers/a/credentials/c", 33, "{}", 2), 1);
	assert_int_equal(gw_schema_decl_add_stored(&have, "/apisix/data_plane/x", 20, "{}", 2), 1);
	assert_int_equal(gw_schema_decl_add_stored(&have, "/apisix/routes/bad", 18, "[1]", 3),
			 GW_EINVAL);
	gw_schema_decl_sort_keys(&have);

	assert_int_equal(gw_schema_decl_diff(&want, &have, false, &d), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.same, 1); /* routes/1: equal, times aside */
	assert_string_equal(d.ops[0].key, "/apisix/routes/2");
	assert_int_equal(d.ops[0].op, '+');
	assert_string_equal(d.ops[1].key, "/apisix/routes/3");
	assert_int_equal(d.ops[1].op, '~');
	free(d.ops);
	assert_int_equal(gw_schema_decl_diff(&want, &have, true, &d), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.n_del, 1);
	assert_string_equal(d.ops[2].key, "/apisix/routes/9");
	assert_int_equal(d.ops[2].op, '-');
	free(d.ops);
	gw_schema_decl_free(&want);
	gw_schema_decl_free(&have);
}

/* Plain scalars strtod reads as NaN or infinity ("-nan", "+nan", "1e999")
 * are not numbers: a NaN passed every numeric bound of the schema and was
 * stored as null. They stay strings, which the schema then refuses. */
static void test_non_finite_numbers_refused(void **state)
{
	static const char *const vals[] = {"-nan", "+nan", "1e999", "-1e999", "+inf"};
	char text[256], err[512];

	(void)state;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		struct gw_schema_decl d = {0};
		cJSON *root, *v;

		snprintf(text, sizeof text, "v: %s\n", vals[i]);
		root = gw_schema_decl_parse("f.yaml", text, strlen(text), err, sizeof err);
		assert_non_null(root);
		v = cJSON_GetObjectItemCaseSensitive(root, "v");
		assert_true(cJSON_IsString(v));
		assert_string_equal(v->valuestring, vals[i]);
		cJSON_Delete(root);
		snprintf(text, sizeof text,
			 "routes:\n  - id: 1\n    uri: /a\n    plugins: {}\n"
			 "    timeout: {connect: %s, send: 1, read: 1}\n",
			 vals[i]);
		assert_int_equal(load(text, &d, err, sizeof err), GW_EINVAL);
		assert_non_null(strstr(err, "timeout"));
		gw_schema_decl_free(&d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_yaml_and_json_agree),
	    cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_apisix_names),
	    cmocka_unit_test(test_stored_and_diff),
	    cmocka_unit_test(test_non_finite_numbers_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
