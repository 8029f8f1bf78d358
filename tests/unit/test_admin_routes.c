/* test_admin_routes.c: the Admin API's route table and its one mapping of
 * errors to answers (admin/apisix_route.c), through admin/apisix_int.h.
 *
 * Every route of the Admin API is resolved from (method, path) to its
 * handler and captures, without a server: each resource with each method
 * (served -> its handler, not served -> 405 with APISIX's wording), the
 * plugin catalogue, schema validation, a consumer's credentials, secrets'
 * two-part ids, unknown paths (404 "Unsupported resource type") and the
 * path-splitting corner cases. Then every error code through
 * gw_admin__answer: its status and APISIX's error body. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "admin/apisix_int.h"
#include "lib/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gw_admin__match m;
static char msg[512];

/* Route @method @path; the result in m and msg. */
static int route(const char *method, const char *path)
{
	memset(&m, 0, sizeof(m));
	msg[0] = '\0';
	return gw_admin__route(method, path, &m, msg, sizeof(msg));
}

/* @method @path routes to handler @fn, with @res (NULL: none) and @id. */
#define assert_route(method, path, fn, res_name, id_text)                                          \
	do {                                                                                       \
		assert_int_equal(route((method), (path)), 0);                                      \
		assert_ptr_equal(m.handler, (fn));                                                 \
		if ((res_name) == NULL) {                                                          \
			assert_null(m.res);                                                        \
		} else {                                                                           \
			assert_non_null(m.res);                                                    \
			assert_string_equal(m.res->name, (const char *)(res_name));                \
		}                                                                                  \
		assert_string_equal(m.id, (id_text));                                              \
	} while (0)

/* @method @path is refused with @err and message @text. */
#define assert_refused(method, path, err, text)                                                    \
	do {                                                                                       \
		assert_int_equal(route((method), (path)), (err));                                  \
		assert_string_equal(msg, (text));                                                  \
	} while (0)

struct expect {
	const char *name; /* URL segment */
	const char *type; /* in 405 messages */
	const char *methods;
};

/* What each top-level resource serves (APISIX's Admin API). */
static const struct expect resources[] = {
    {"routes", "route", "GET PUT POST PATCH DELETE"},
    {"services", "service", "GET PUT POST PATCH DELETE"},
    {"upstreams", "upstream", "GET PUT POST PATCH DELETE"},
    {"ssls", "ssl", "GET PUT POST PATCH DELETE"},
    {"consumers", "consumer", "GET PUT DELETE"},
    {"global_rules", "global_rule", "GET PUT PATCH DELETE"},
    {"plugin_configs", "plugin_config", "GET PUT PATCH DELETE"},
    {"consumer_groups", "consumer_group", "GET PUT PATCH DELETE"},
    {"plugin_metadata", "plugin_metadata", "GET PUT DELETE"},
    {"stream_routes", "stream_route", "GET PUT POST DELETE"},
    {"protos", "proto", "GET PUT POST DELETE"},
    {"secrets", "secret", "GET PUT PATCH DELETE"},
};

static bool serves(const struct expect *e, const char *method)
{
	const char *p = strstr(e->methods, method);

	return p != NULL && (p[strlen(method)] == ' ' || p[strlen(method)] == '\0');
}

/* @method on @path of resource @e: its handler when served, else 405. */
static void check_method(const struct expect *e, const char *method, const char *path,
			 gw_admin__handler_cb handler, const char *id)
{
	char want[128];

	if (serves(e, method)) {
		assert_route(method, path, handler, e->name, id);
		return;
	}
	snprintf(want, sizeof(want), "not supported `%s` method for %s", method, e->type);
	assert_refused(method, path, GW_ADMIN__EMETHOD, want);
}

static void test_every_resource_and_method(void **state)
{
	char p1[64], p2[64], p3[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		const struct expect *e = &resources[i];

		snprintf(p1, sizeof(p1), "/%s", e->name);
		snprintf(p2, sizeof(p2), "/%s/1", e->name);
		snprintf(p3, sizeof(p3), "/%s/1/plugins/limit-count", e->name);
		check_method(e, "GET", p1, gw_admin__h_list, "");
		check_method(e, "GET", p2, gw_admin__h_get, "1");
		check_method(e, "PUT", p1, gw_admin__h_put, "");
		check_method(e, "PUT", p2, gw_admin__h_put, "1");
		check_method(e, "POST", p1, gw_admin__h_post, "");
		check_method(e, "POST", p2, gw_admin__h_post, "1");
		check_method(e, "PATCH", p2, gw_admin__h_patch, "1");
		check_method(e, "DELETE", p2, gw_admin__h_delete, "1");
		check_method(e, "DELETE", p1, gw_admin__h_delete, "");
		check_method(e, "HEAD", p1, NULL, "");
		check_method(e, "OPTIONS", p2, NULL, "");
		if (strcmp(e->name, "secrets") == 0) {
			continue; /* secrets/<manager>/<id>: see test_secrets */
		}
		check_method(e, "GET", p3, gw_admin__h_not_found, "1");
		check_method(e, "PUT", p3, gw_admin__h_put, "1"); /* 404 after ?ttl= */
		check_method(e, "PATCH", p3, gw_admin__h_patch, "1");
		if (serves(e, "PATCH")) {
			assert_true(m.has_sub);
			assert_string_equal(m.sub, "plugins/limit-count");
		}
	}
}

static void test_no_sub_path_on_plain_paths(void **state)
{
	(void)state;
	assert_route("PATCH", "/routes/1", gw_admin__h_patch, "routes", "1");
	assert_false(m.has_sub);
	assert_int_equal(m.n_ids, 1);
	assert_route("PUT", "/routes", gw_admin__h_put, "routes", "");
	assert_int_equal(m.n_ids, 0);
	assert_int_equal(m.method, GW_ADMIN__M_PUT);
}

static void test_plugins(void **state)
{
	(void)state;
	assert_route("GET", "/plugins/list", gw_admin__h_plugin_list, NULL, "");
	assert_route("GET", "/plugins/key-auth", gw_admin__h_plugin_schema, NULL, "key-auth");
	assert_route("GET", "/plugins/no-such", gw_admin__h_plugin_schema, NULL, "no-such");
	assert_route("GET", "/plugins", gw_admin__h_not_found, NULL, "");
	assert_route("GET", "/plugins/a/b", gw_admin__h_not_found, NULL, "");
	/* other methods are no route of the catalogue */
	assert_refused("POST", "/plugins/list", GW_ENOTFOUND, "Unsupported resource type: plugins");
	assert_refused("PUT", "/plugins", GW_ENOTFOUND, "Unsupported resource type: plugins");
}

static void test_schema_validate(void **state)
{
	(void)state;
	assert_route("POST", "/schema/validate/routes", gw_admin__h_schema_validate, NULL,
		     "routes");
	assert_route("POST", "/schema/validate/nope/x", gw_admin__h_schema_validate, NULL, "nope");
	assert_refused("GET", "/schema/validate/routes", GW_ENOTFOUND,
		       "Unsupported resource type: schema");
	assert_refused("POST", "/schema/validate", GW_ENOTFOUND,
		       "Unsupported resource type: schema");
}

static void test_credentials(void **state)
{
	(void)state;
	assert_route("GET", "/consumers/jack/credentials", gw_admin__h_list_credentials,
		     "credentials", "jack");
	assert_refused("PUT", "/consumers/jack/credentials", GW_ADMIN__EMETHOD,
		       "not supported `PUT` method for credential");
	assert_route("GET", "/consumers/jack/credentials/c1", gw_admin__h_get, "credentials",
		     "jack/c1");
	assert_route("PUT", "/consumers/jack/credentials/c1", gw_admin__h_put, "credentials",
		     "jack/c1");
	assert_route("DELETE", "/consumers/jack/credentials/c1", gw_admin__h_delete, "credentials",
		     "jack/c1");
	assert_refused("PATCH", "/consumers/jack/credentials/c1", GW_ADMIN__EMETHOD,
		       "not supported `PATCH` method for credential");
	assert_refused("POST", "/consumers/jack/credentials/c1", GW_ADMIN__EMETHOD,
		       "not supported `POST` method for credential");
	/* anything deeper is not found, whatever the method */
	assert_route("GET", "/consumers/jack/credentials/c1/x", gw_admin__h_not_found, NULL,
		     "jack/c1");
	assert_route("OPTIONS", "/consumers/jack/credentials/c1/x/y", gw_admin__h_not_found, NULL,
		     "jack/c1");
	/* a consumer's other sub-paths are the consumer's */
	assert_route("GET", "/consumers/jack/other", gw_admin__h_not_found, "consumers", "jack");
	/* credentials are no top-level resource */
	assert_refused("GET", "/credentials", GW_ENOTFOUND,
		       "Unsupported resource type: credentials");
}

static void test_secrets(void **state)
{
	(void)state;
	assert_route("GET", "/secrets/vault", gw_admin__h_get, "secrets", "vault");
	assert_route("GET", "/secrets/vault/1", gw_admin__h_get, "secrets", "vault/1");
	assert_route("GET", "/secrets/vault/1/x/y", gw_admin__h_get, "secrets", "vault/1");
	assert_route("PUT", "/secrets/vault/1", gw_admin__h_put, "secrets", "vault/1");
	assert_route("PATCH", "/secrets/vault/1/x", gw_admin__h_patch, "secrets", "vault/1");
	assert_false(m.has_sub);
	assert_route("DELETE", "/secrets/vault/1", gw_admin__h_delete, "secrets", "vault/1");
	assert_refused("POST", "/secrets/vault/1", GW_ADMIN__EMETHOD,
		       "not supported `POST` method for secret");
}

static void test_unknown_paths(void **state)
{
	(void)state;
	assert_refused("GET", "", GW_ENOTFOUND, "Unsupported resource type: ");
	assert_refused("GET", "/", GW_ENOTFOUND, "Unsupported resource type: ");
	assert_refused("PUT", "//", GW_ENOTFOUND, "Unsupported resource type: ");
	assert_refused("GET", "/nope", GW_ENOTFOUND, "Unsupported resource type: nope");
	assert_refused("DELETE", "/nope/1/2", GW_ENOTFOUND, "Unsupported resource type: nope");
	assert_refused("GET", "/Routes", GW_ENOTFOUND, "Unsupported resource type: Routes");
	assert_refused("HEAD", "/nope", GW_ENOTFOUND, "Unsupported resource type: nope");
}

static void test_path_splitting(void **state)
{
	(void)state;
	/* leading and trailing slashes do not count; inner empty segments do */
	assert_route("GET", "//routes/1/", gw_admin__h_get, "routes", "1");
	assert_route("GET", "/routes//1", gw_admin__h_not_found, "routes", "");
	assert_route("GET", "/routes//", gw_admin__h_get, "routes", "");
	assert_int_equal(m.n_ids, 1);
	/* the fifth segment keeps the rest */
	assert_route("PATCH", "/routes/1/a/b/c/d", gw_admin__h_patch, "routes", "1");
	assert_string_equal(m.sub, "a/b/c/d");
	assert_route("PATCH", "/routes/1/a//b", gw_admin__h_patch, "routes", "1");
	assert_string_equal(m.sub, "a//b");
}

static void test_method_bits(void **state)
{
	(void)state;
	assert_int_equal(gw_admin__method_bit("GET"), GW_ADMIN__M_GET);
	assert_int_equal(gw_admin__method_bit("PUT"), GW_ADMIN__M_PUT);
	assert_int_equal(gw_admin__method_bit("POST"), GW_ADMIN__M_POST);
	assert_int_equal(gw_admin__method_bit("DELETE"), GW_ADMIN__M_DELETE);
	assert_int_equal(gw_admin__method_bit("PATCH"), GW_ADMIN__M_PATCH);
	assert_int_equal(gw_admin__method_bit("HEAD"), GW_ADMIN__M_OTHER);
	assert_int_equal(gw_admin__method_bit("get"), GW_ADMIN__M_OTHER);
}

static void test_resources_and_keys(void **state)
{
	char key[GW_ADMIN__MAX_KEY];

	(void)state;
	assert_null(gw_admin__resource("credentials", true));
	assert_non_null(gw_admin__resource("credentials", false));
	assert_null(gw_admin__resource("nope", false));
	gw_admin__object_key(gw_admin__resource("routes", true), "r1", key, sizeof(key));
	assert_string_equal(key, "/apisix/routes/r1");
	gw_admin__object_key(gw_admin__resource("secrets", true), "vault/1", key, sizeof(key));
	assert_string_equal(key, "/apisix/secrets/vault/1");
	gw_admin__object_key(gw_admin__resource("credentials", false), "jack/c1", key, sizeof(key));
	assert_string_equal(key, "/apisix/consumers/jack/credentials/c1");
}

/* gw_admin__answer(@err, @why): status @status and body text @body. */
static void check_answer(int err, const char *why, int status, const char *body)
{
	cJSON *o = NULL;
	char *txt;

	assert_int_equal(gw_admin__answer(err, why, &o), status);
	assert_non_null(o);
	txt = cJSON_PrintUnformatted(o);
	assert_string_equal(txt, body);
	free(txt);
	cJSON_Delete(o);
}

static void test_error_answers(void **state)
{
	(void)state;
	check_answer(GW_EINVAL, "wrong route id", 400, "{\"error_msg\":\"wrong route id\"}");
	check_answer(GW_EINVAL, NULL, 400, "{\"error_msg\":\"invalid argument\"}");
	check_answer(GW_ENOTFOUND, NULL, 404, "{\"message\":\"Key not found\"}");
	check_answer(GW_ENOTFOUND, "Unsupported resource type: x", 404,
		     "{\"error_msg\":\"Unsupported resource type: x\"}");
	check_answer(
	    GW_ADMIN__EAUTH, "missing apikey", 401,
	    "{\"error_msg\":\"failed to check token\",\"description\":\"missing apikey\"}");
	check_answer(GW_EPERM, NULL, 401, "{\"error_msg\":\"permission denied\"}");
	check_answer(GW_ADMIN__EFORBIDDEN, "client address is not allowed to use the Admin API",
		     403, "{\"error_msg\":\"client address is not allowed to use the Admin API\"}");
	check_answer(GW_ADMIN__EMETHOD, "not supported `PATCH` method for consumer", 405,
		     "{\"error_msg\":\"not supported `PATCH` method for consumer\"}");
	check_answer(GW_EBUSY, "too many", 409, "{\"error_msg\":\"too many\"}");
	check_answer(GW_ELIMIT, NULL, 413, "{\"error_msg\":\"limit exceeded\"}");
	check_answer(GW_ENOLEADER, NULL, 503, "{\"error_msg\":\"etcdserver: no leader\"}");
	check_answer(GW_ETIMEOUT, NULL, 503, "{\"error_msg\":\"etcdserver: request timed out\"}");
	check_answer(GW_ESHUTDOWN, NULL, 503, "{\"error_msg\":\"shutting down\"}");
	check_answer(GW_ENOMEM, NULL, 500, "{\"error_msg\":\"out of memory\"}");
	check_answer(GW_ECORRUPT, NULL, 500, "{\"error_msg\":\"data is corrupt\"}");
}

static void test_error_statuses(void **state)
{
	static const struct {
		int err;
		int status;
	} cases[] = {
	    {0, 200},
	    {GW_EINVAL, 400},
	    {GW_EKEYEMPTY, 400},
	    {GW_EKEYTOOLARGE, 400},
	    {GW_EVALUETOOLARGE, 400},
	    {GW_EDUPKEY, 400},
	    {GW_ETOOMANYOPS, 400},
	    {GW_ELEASENOTFOUND, 400},
	    {GW_ELEASETTL, 400},
	    {GW_ECOMPACTED, 400},
	    {GW_EFUTUREREV, 400},
	    {GW_EPERM, 401},
	    {GW_ADMIN__EAUTH, 401},
	    {GW_ADMIN__EFORBIDDEN, 403},
	    {GW_ENOTFOUND, 404},
	    {GW_ADMIN__EMETHOD, 405},
	    {GW_EBUSY, 409},
	    {GW_ELIMIT, 413},
	    {GW_ENOLEADER, 503},
	    {GW_ETIMEOUT, 503},
	    {GW_ELEADERCHANGED, 503},
	    {GW_ENOTLEADER, 503},
	    {GW_EUNHEALTHY, 503},
	    {GW_ESHUTDOWN, 503},
	    {GW_EIO, 503},
	    {GW_ENOSPACE, 503},
	    {GW_ENOMEM, 500},
	    {GW_EEXIST, 500},
	    {GW_ELEASEEXIST, 500},
	    {-5, 500},
	};
	cJSON *o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(gw_admin__answer(cases[i].err, "x", &o), cases[i].status);
		cJSON_Delete(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_resource_and_method),
	    cmocka_unit_test(test_no_sub_path_on_plain_paths),
	    cmocka_unit_test(test_plugins),
	    cmocka_unit_test(test_schema_validate),
	    cmocka_unit_test(test_credentials),
	    cmocka_unit_test(test_secrets),
	    cmocka_unit_test(test_unknown_paths),
	    cmocka_unit_test(test_path_splitting),
	    cmocka_unit_test(test_method_bits),
	    cmocka_unit_test(test_resources_and_keys),
	    cmocka_unit_test(test_error_answers),
	    cmocka_unit_test(test_error_statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
