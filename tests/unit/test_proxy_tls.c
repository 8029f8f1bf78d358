/* test_proxy_tls.c: the SNI table a snapshot compiles from its ssls objects
 * (proxy/ssl.c): exact names before wildcards, the longest wildcard suffix
 * first, names case-folded at compile, disabled objects and client objects
 * not served by SNI (a client object is found by id), a bad object skipped
 * while the others serve, sealed keys opened with the process's keyring,
 * an upstream's TLS settings, and contexts reused across compiles while
 * an object's bytes do not change. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/keyring.h"
#include "lib/pki.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "proxy/tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A self-signed pair, as JSON-escaped PEM texts (static buffers). */
static void pair(char *cert, char *key, size_t cap)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *c, *p;

	assert_int_equal(gw_pki_key_new(&k), 0);
	assert_int_equal(gw_pki_ca_new(k, "t", 30, &x), 0);
	c = gw_pki_cert_pem(x);
	p = gw_pki_key_pem(k);
	cJSON *s1 = cJSON_CreateString(c), *s2 = cJSON_CreateString(p);
	char *j1 = cJSON_PrintUnformatted(s1), *j2 = cJSON_PrintUnformatted(s2);
	snprintf(cert, cap, "%s", j1);
	snprintf(key, cap, "%s", j2);
	free(j1);
	free(j2);
	cJSON_Delete(s1);
	cJSON_Delete(s2);
	free(c);
	free(p);
	X509_free(x);
	EVP_PKEY_free(k);
}

struct obj {
	char key[64];
	char value[10000];
};

static void make(struct obj *o, const char *id, const char *extra, const char *cert,
		 const char *key)
{
	snprintf(o->key, sizeof o->key, "/apisix/ssls/%s", id);
	snprintf(o->value, sizeof o->value, "{\"cert\":%s,\"key\":%s,%s}", cert, key, extra);
}

static const char *id_of(const struct gw_proxy__ssl_table *t, const char *name)
{
	const struct gw_proxy__ssl_ent *e = gw_proxy__ssl_lookup(t, name, strlen(name));
	return e ? e->id : NULL;
}

static void test_sni_table(void **state)
{
	static char cert[4096], key[4096], cert2[4096], key2[4096];
	static struct obj o[7];
	struct gw_proxy_kv kvs[7];
	struct gw_proxy__ssl_table *t = NULL;
	(void)state;

	pair(cert, key, sizeof cert);
	pair(cert2, key2, sizeof cert2);
	make(&o[0], "exact", "\"snis\":[\"A.Example.com\"]", cert, key);
	make(&o[1], "wild", "\"snis\":[\"*.example.com\"]", cert, key);
	make(&o[2], "deep", "\"sni\":\"*.b.example.com\"", cert, key);
	make(&o[3], "off", "\"sni\":\"off.test\",\"status\":0", cert, key);
	make(&o[4], "cli", "\"sni\":\"cli.test\",\"type\":\"client\"", cert, key);
	make(&o[5], "bad", "\"sni\":\"bad.test\"", cert, key2); /* key of another cert */
	make(&o[6], "v", "\"sni\":\"v.test\",\"ssl_protocols\":[\"TLSv1.3\"]", cert2, key2);
	for (int i = 0; i < 7; i++) {
		kvs[i].key = o[i].key;
		kvs[i].key_len = strlen(o[i].key);
		kvs[i].value = o[i].value;
		kvs[i].value_len = strlen(o[i].value);
	}
	assert_int_equal(gw_proxy__ssl_compile(kvs, 7, 5, &t), 0);
	assert_non_null(t);
	assert_string_equal(id_of(t, "a.example.com"), "exact");
	assert_string_equal(id_of(t, "x.example.com"), "wild");
	assert_string_equal(id_of(t, "y.x.example.com"), "wild");
	assert_string_equal(id_of(t, "c.b.example.com"), "deep");
	assert_null(id_of(t, "example.com"));
	assert_null(id_of(t, "off.test"));
	assert_null(id_of(t, "cli.test"));
	assert_null(id_of(t, "bad.test"));
	assert_null(id_of(t, ""));
	assert_true(gw_proxy__ssl_by_id(t, "cli")->client);
	assert_null(gw_proxy__ssl_by_id(t, "bad"));
	assert_int_equal(gw_proxy__ssl_lookup(t, "v.test", 6)->min_version, TLS1_3_VERSION);
	assert_int_equal(gw_proxy__ssl_count(t), 4);
	/* the next compile reuses the contexts of unchanged objects, and builds
	 * a new one for a changed object */
	struct gw_proxy__ssl_table *t2 = NULL;
	make(&o[0], "exact", "\"snis\":[\"a.example.com\"],\"labels\":{\"v\":\"2\"}", cert, key);
	kvs[0].value_len = strlen(o[0].value);
	assert_int_equal(gw_proxy__ssl_compile(kvs, 7, 6, &t2), 0);
	assert_ptr_equal(gw_proxy__ssl_by_id(t2, "wild")->ctx, gw_proxy__ssl_by_id(t, "wild")->ctx);
	assert_ptr_not_equal(gw_proxy__ssl_by_id(t2, "exact")->ctx,
			     gw_proxy__ssl_by_id(t, "exact")->ctx);
	gw_proxy__ssl_table_free(t2);
	gw_proxy__ssl_table_free(t);
	/* nothing to compile: no table */
	assert_int_equal(gw_proxy__ssl_compile(kvs, 0, 5, &t), 0);
	assert_null(t);
	assert_null(gw_proxy__ssl_lookup(NULL, "a", 1));
}

static void test_sealed_key(void **state)
{
	static char cert[4096], key[4096], obj[8192];
	char dir[] = "/tmp/gw-ptls-XXXXXX", path[64], *sealed = NULL;
	struct gw_keyring *kr = NULL;
	struct gw_proxy__ssl_table *t = NULL;
	struct gw_proxy_kv kv;
	cJSON *k;
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(gw_keyring_load(dir, true, &kr), 0);
	pair(cert, key, sizeof cert);
	k = cJSON_Parse(key);
	assert_int_equal(
	    gw_keyring_seal(kr, "ssl key", k->valuestring, strlen(k->valuestring), &sealed), 0);
	cJSON_Delete(k);
	snprintf(obj, sizeof obj, "{\"cert\":%s,\"key\":\"%s\",\"sni\":\"s.test\"}", cert, sealed);
	kv.key = "/apisix/ssls/s";
	kv.key_len = strlen(kv.key);
	kv.value = obj;
	kv.value_len = strlen(obj);
	/* no ring: skipped */
	assert_int_equal(gw_proxy__ssl_compile(&kv, 1, 1, &t), 0);
	assert_null(id_of(t, "s.test"));
	gw_proxy__ssl_table_free(t);
	gw_keyring_set_default(kr);
	assert_int_equal(gw_proxy__ssl_compile(&kv, 1, 1, &t), 0);
	assert_string_equal(id_of(t, "s.test"), "s");
	gw_proxy__ssl_table_free(t);
	gw_keyring_set_default(NULL);
	free(sealed);
	snprintf(path, sizeof path, "%s/keyring", dir);
	unlink(path);
	rmdir(dir);
}

static void test_upstream_settings(void **state)
{
	struct gw_arena arena;
	struct gw_proxy__upstream up;
	cJSON *j = cJSON_Parse("{\"tls\":{\"verify\":true,\"client_cert_id\":12}}");
	(void)state;

	memset(&up, 0, sizeof up);
	gw_arena_init(&arena);
	assert_int_equal(gw_proxy__ssl_upstream(&arena, j, true, &up), 0);
	assert_true(up.tls);
	assert_true(up.tls_verify);
	assert_string_equal(up.tls_client_cert_id, "12");
	cJSON_Delete(j);
	j = cJSON_Parse("{}");
	memset(&up, 0, sizeof up);
	assert_int_equal(gw_proxy__ssl_upstream(&arena, j, false, &up), 0);
	assert_false(up.tls);
	assert_false(up.tls_verify);
	assert_null(up.tls_client_cert_id);
	cJSON_Delete(j);
	gw_arena_close(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sni_table),
	    cmocka_unit_test(test_sealed_key),
	    cmocka_unit_test(test_upstream_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
