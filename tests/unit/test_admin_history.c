/* test_admin_history.c: the pure parts of the Admin API's config history,
 * through admin/apisix_int.h, without a server: the structural JSON diff
 * (gw_admin__json_diff, gw_admin__object_diff: paths as JSON Pointers with
 * '~' and '/' escaped, arrays replaced whole, a top-level update_time
 * ignored, creates and deletes whole, ssls private keys never shown), and
 * the routes of the history endpoints in the route table. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/apisix_int.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* The diff of two JSON texts, printed compactly (caller frees). */
static char *diff_text(const char *a, const char *b)
{
	cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b), *d;
	char *s;

	assert_non_null(x);
	assert_non_null(y);
	d = gw_admin__json_diff(x, y);
	assert_non_null(d);
	s = cJSON_PrintUnformatted(d);
	cJSON_Delete(x);
	cJSON_Delete(y);
	cJSON_Delete(d);
	return s;
}

#define assert_diff(a, b, want)                                                                    \
	do {                                                                                       \
		char *got_ = diff_text(a, b);                                                      \
		assert_string_equal(got_, want);                                                   \
		free(got_);                                                                        \
	} while (0)

static void test_json_diff(void **state)
{
	(void)state;
	assert_diff("{\"a\":1}", "{\"a\":1}", "[]");
	assert_diff("{\"uri\":\"/a\"}", "{\"uri\":\"/b\"}",
		    "[{\"path\":\"/uri\",\"op\":\"replace\",\"from\":\"/a\",\"to\":\"/b\"}]");
	assert_diff("{\"a\":1,\"b\":2}", "{\"a\":1,\"c\":3}",
		    "[{\"path\":\"/b\",\"op\":\"remove\",\"from\":2},"
		    "{\"path\":\"/c\",\"op\":\"add\",\"to\":3}]");
	/* nested objects are walked; names escaped as JSON Pointer tokens */
	assert_diff("{\"plugins\":{\"a/b~c\":{\"x\":1}}}", "{\"plugins\":{\"a/b~c\":{\"x\":2}}}",
		    "[{\"path\":\"/plugins/a~1b~0c/x\",\"op\":\"replace\",\"from\":1,\"to\":2}]");
	/* arrays are replaced whole */
	assert_diff("{\"m\":[\"GET\"]}", "{\"m\":[\"GET\",\"POST\"]}",
		    "[{\"path\":\"/m\",\"op\":\"replace\",\"from\":[\"GET\"],\"to\":[\"GET\","
		    "\"POST\"]}]");
	/* every write sets update_time: alone it is no change (top level only) */
	assert_diff("{\"update_time\":1,\"x\":{\"update_time\":1}}",
		    "{\"update_time\":2,\"x\":{\"update_time\":2}}",
		    "[{\"path\":\"/x/update_time\",\"op\":\"replace\",\"from\":1,\"to\":2}]");
	/* a type change is a replace */
	assert_diff("{\"a\":{\"b\":1}}", "{\"a\":5}",
		    "[{\"path\":\"/a\",\"op\":\"replace\",\"from\":{\"b\":1},\"to\":5}]");
}

static struct gw_kv kv_of(const char *key, const char *value)
{
	struct gw_kv kv;

	memset(&kv, 0, sizeof kv);
	kv.key = (char *)key;
	kv.key_len = strlen(key);
	kv.value = (char *)value;
	kv.value_len = value ? strlen(value) : 0;
	return kv;
}

static void test_object_diff(void **state)
{
	struct gw_kv a = kv_of("/apisix/routes/1", "{\"uri\":\"/a\"}");
	struct gw_kv b = kv_of("/apisix/routes/1", "{\"uri\":\"/b\"}");
	struct gw_kv s1 = kv_of("/apisix/ssls/1", "{\"cert\":\"C\",\"key\":\"CLEAR1\"}");
	struct gw_kv s2 = kv_of("/apisix/ssls/1", "{\"cert\":\"C\",\"key\":\"CLEAR2\"}");
	cJSON *o;
	char *s;

	(void)state;
	o = gw_admin__object_diff(&a, &b);
	s = cJSON_PrintUnformatted(o);
	assert_string_equal(
	    s, "{\"key\":\"/apisix/routes/1\",\"op\":\"update\",\"changes\":[{"
	       "\"path\":\"/uri\",\"op\":\"replace\",\"from\":\"/a\",\"to\":\"/b\"}]}");
	free(s);
	cJSON_Delete(o);
	o = gw_admin__object_diff(NULL, &b);
	s = cJSON_PrintUnformatted(o);
	assert_string_equal(s, "{\"key\":\"/apisix/routes/1\",\"op\":\"create\",\"changes\":[{"
			       "\"path\":\"/\",\"op\":\"add\",\"to\":{\"uri\":\"/b\"}}]}");
	free(s);
	cJSON_Delete(o);
	o = gw_admin__object_diff(&a, NULL);
	assert_string_equal(cJSON_GetObjectItem(o, "op")->valuestring, "delete");
	cJSON_Delete(o);
	/* an ssls private key never shows, neither side */
	o = gw_admin__object_diff(&s1, &s2);
	s = cJSON_PrintUnformatted(o);
	assert_null(strstr(s, "CLEAR"));
	assert_non_null(strstr(s, "\"path\":\"/key\""));
	free(s);
	cJSON_Delete(o);
}

static void test_history_routes(void **state)
{
	struct gw_admin__match m;
	char msg[256];

	(void)state;
	assert_int_equal(gw_admin__route("GET", "/cluster", &m, msg, sizeof msg), 0);
	assert_ptr_equal(m.handler, gw_admin__h_cluster);
	assert_int_equal(gw_admin__route("GET", "/history", &m, msg, sizeof msg), 0);
	assert_ptr_equal(m.handler, gw_admin__h_history);
	assert_int_equal(gw_admin__route("POST", "/rollback", &m, msg, sizeof msg), 0);
	assert_ptr_equal(m.handler, gw_admin__h_rollback);
	assert_int_equal(gw_admin__route("GET", "/diff", &m, msg, sizeof msg), 0);
	assert_ptr_equal(m.handler, gw_admin__h_diff);
	assert_int_equal(gw_admin__route("GET", "/audit", &m, msg, sizeof msg), 0);
	assert_ptr_equal(m.handler, gw_admin__h_audit);
	/* only their own methods */
	assert_int_not_equal(gw_admin__route("GET", "/rollback", &m, msg, sizeof msg), 0);
	assert_int_not_equal(gw_admin__route("PUT", "/audit", &m, msg, sizeof msg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_diff),
	    cmocka_unit_test(test_object_diff),
	    cmocka_unit_test(test_history_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
