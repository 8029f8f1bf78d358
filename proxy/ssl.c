/* ssl.c: compile the ssls objects of a snapshot into its SNI table.
 *
 * Happy path: every /apisix/ssls/<id> object that passes gw_schema_check
 * (its PEM parses and the keys, opened with the node's keyring, match their
 * certificates) and has status 1 becomes one SSL_CTX holding all of its
 * pairs; its "snis" (or "sni") enter the exact map or, for "*.suffix", the
 * wildcard map keyed by ".suffix" (contexts are reused from the previous
 * compile when the object's bytes did not change). A later object naming the same SNI
 * replaces the earlier one in the order of the keys (APISIX gives no
 * order either; a warning names both). Client objects are kept by id only.
 * Failure modes: a bad object is skipped with one warning line; GW_ENOMEM.
 * Threads: any; the table is immutable after compile. */
#include "config.h"

#include "lib/certkey.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "proxy/tls_int.h"
#include "schema/schema.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFIX "/apisix/ssls/"

struct gw_proxy__ssl_table {
	atomic_int refs;            /* snapshots sharing it, and the compile cache */
	struct gw_proxy__map exact; /* name -> ent */
	struct gw_proxy__map wild;  /* ".suffix" -> ent */
	struct gw_proxy__map ids;   /* id -> ent */
	struct gw_proxy__ssl_ent **ents;
	size_t n, cap, n_server;
	char **names; /* keys of the maps, owned */
	size_t n_names, cap_names;
};

void gw_proxy__ssl_table_ref(struct gw_proxy__ssl_table *t)
{
	if (t != NULL) {
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	}
}

void gw_proxy__ssl_table_free(struct gw_proxy__ssl_table *t)
{
	if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
		return;
	}
	for (size_t i = 0; i < t->n; i++) {
		SSL_CTX_free(t->ents[i]->ctx);
		free(t->ents[i]);
	}
	for (size_t i = 0; i < t->n_names; i++) {
		free(t->names[i]);
	}
	free(t->names);
	free(t->ents);
	gw_proxy__map_close(&t->exact);
	gw_proxy__map_close(&t->wild);
	gw_proxy__map_close(&t->ids);
	free(t);
}

/* A copy of @s (lower-cased) owned by @t. NULL when out of memory. */
static char *own_name(struct gw_proxy__ssl_table *t, const char *s)
{
	char *c;

	if (t->n_names == t->cap_names) {
		size_t cap = t->cap_names ? t->cap_names * 2 : 8;
		char **p = realloc(t->names, cap * sizeof *p);
		if (p == NULL) {
			return NULL;
		}
		t->names = p;
		t->cap_names = cap;
	}
	c = strdup(s);
	if (c == NULL) {
		return NULL;
	}
	for (char *q = c; *q; q++) {
		*q = (char)tolower((unsigned char)*q);
	}
	t->names[t->n_names++] = c;
	return c;
}

static int version_of(const char *s)
{
	if (strcmp(s, "TLSv1.3") == 0) {
		return TLS1_3_VERSION;
	}
	/* TLSv1.1 is below the policy's floor: served as TLS 1.2 */
	return TLS1_2_VERSION;
}

/* A context with every pair of @j (schema-checked). 0, GW_EINVAL (why in
 * @err), GW_ENOMEM. */
static int build_ctx(const cJSON *j, SSL_CTX **out, char *err, size_t n)
{
	const cJSON *certs = cJSON_GetObjectItemCaseSensitive(j, "certs");
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "keys");
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int rv = 0;

	if (ctx == NULL) {
		return GW_ENOMEM;
	}
	for (int i = -1; rv == 0 && i < cJSON_GetArraySize(certs); i++) {
		const cJSON *c = i < 0 ? cJSON_GetObjectItemCaseSensitive(j, "cert")
				       : cJSON_GetArrayItem(certs, i);
		const cJSON *k = i < 0 ? cJSON_GetObjectItemCaseSensitive(j, "key")
				       : cJSON_GetArrayItem(keys, i);
		struct gw_certkey ck;
		if (!cJSON_IsString(c) || !cJSON_IsString(k)) {
			snprintf(err, n, "missing cert or key");
			rv = GW_EINVAL;
			break;
		}
		rv = gw_certkey_load(c->valuestring, k->valuestring, gw_keyring_default(), 0,
				     time(NULL), &ck, err, n);
		if (rv == 0) {
			rv = gw_certkey_use(ctx, &ck, err, n);
			gw_certkey_free(&ck);
		}
	}
	if (rv == 0 && gw_proxy__tls_policy(ctx) != 0) {
		snprintf(err, n, "TLS policy refused by OpenSSL");
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		SSL_CTX_free(ctx);
		return rv;
	}
	*out = ctx;
	return 0;
}

static int add_ent(struct gw_proxy__ssl_table *t, struct gw_proxy__ssl_ent *e)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		void *p = realloc(t->ents, cap * sizeof *t->ents);
		if (p == NULL) {
			return GW_ENOMEM;
		}
		t->ents = p;
		t->cap = cap;
	}
	t->ents[t->n++] = e;
	return 0;
}

/* Enter @name of @e into the exact or wildcard map. */
static int add_name(struct gw_proxy__ssl_table *t, const char *name,
		    const struct gw_proxy__ssl_ent *e, int64_t revision)
{
	bool wild = name[0] == '*';
	struct gw_proxy__map *m = wild ? &t->wild : &t->exact;
	char *k = own_name(t, wild ? name + 1 : name);
	const struct gw_proxy__ssl_ent *old;

	if (k == NULL) {
		return GW_ENOMEM;
	}
	if (wild && k[0] != '.') {
		gw_warnf("proxy", "ssl %s: sni %s skipped: a wildcard is \"*.\" and a suffix",
			 e->id, name);
		return 0;
	}
	old = gw_proxy__map_get(m, k, strlen(k));
	if (old != NULL) {
		gw_warnf("proxy",
			 "ssl %s: sni %s also served by ssl %s, which it replaces (revision "
			 "%lld)",
			 e->id, name, old->id, (long long)revision);
	}
	return gw_proxy__map_put(m, k, strlen(k), (void *)e);
}

/* One object: 0 (compiled or skipped with a warning) or GW_ENOMEM. */
/* ---- contexts kept from one compile to the next ------------------------
 * Every committed change recompiles the whole snapshot; parsing the PEM,
 * opening the keys and building a context for each of thousands of
 * certificates each time would make a route change cost seconds. A context
 * is kept under the SHA-256 of its object's stored bytes (any change of the
 * object builds a new one) for as long as a compile still uses it. */

struct cached {
	unsigned char md[32];
	SSL_CTX *ctx; /* one reference held by the cache */
	uint64_t gen; /* compile that used it last */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache;
static size_t n_cache, cap_cache;
static uint64_t cache_gen;

/* A new reference to the context built from bytes of digest @md, or NULL. */
static SSL_CTX *cache_get(const unsigned char *md)
{
	for (size_t i = 0; i < n_cache; i++) {
		if (memcmp(cache[i].md, md, 32) == 0) {
			cache[i].gen = cache_gen;
			SSL_CTX_up_ref(cache[i].ctx);
			return cache[i].ctx;
		}
	}
	return NULL;
}

/* Keep @ctx (a new reference) for @md; silently not when out of memory. */
static void cache_put(const unsigned char *md, SSL_CTX *ctx)
{
	if (n_cache == cap_cache) {
		size_t cap = cap_cache ? cap_cache * 2 : 16;
		struct cached *c = realloc(cache, cap * sizeof *c);
		if (c == NULL) {
			return;
		}
		cache = c;
		cap_cache = cap;
	}
	memcpy(cache[n_cache].md, md, 32);
	SSL_CTX_up_ref(ctx);
	cache[n_cache].ctx = ctx;
	cache[n_cache].gen = cache_gen;
	n_cache++;
}

/* Drop what the compile that just ended did not use. */
static void cache_sweep(void)
{
	size_t k = 0;

	for (size_t i = 0; i < n_cache; i++) {
		if (cache[i].gen == cache_gen) {
			cache[k++] = cache[i];
		} else {
			SSL_CTX_free(cache[i].ctx);
		}
	}
	n_cache = k;
}

static int compile_one(struct gw_proxy__ssl_table *t, const char *id, const cJSON *j,
		       const struct gw_proxy_kv *kv, int64_t revision)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(j, "status");
	const cJSON *protos = cJSON_GetObjectItemCaseSensitive(j, "ssl_protocols");
	const cJSON *sni = cJSON_GetObjectItemCaseSensitive(j, "sni");
	const cJSON *snis = cJSON_GetObjectItemCaseSensitive(j, "snis");
	const cJSON *it;
	struct gw_proxy__ssl_ent *e;
	unsigned char md[32];
	char why[512];
	char *idc;
	SSL_CTX *ctx = NULL;
	bool have_md = false;
	int rv = GW_EIO;

	if (EVP_Digest(kv->value, kv->value_len, md, NULL, EVP_sha256(), NULL) == 1) {
		have_md = true;
		ctx = cache_get(md);
		rv = 0;
	}
	if (ctx == NULL) {
		rv = gw_schema_check("ssl", j, GW_SCHEMA_PROXY, why, sizeof why);
	}
	if (rv == GW_ENOMEM || rv == GW_EIO) {
		SSL_CTX_free(ctx);
		return GW_ENOMEM;
	}
	if (rv == 0 && cJSON_IsNumber(status) && status->valueint == 0) {
		SSL_CTX_free(ctx);
		return 0; /* disabled */
	}
	e = rv == 0 ? calloc(1, sizeof *e) : NULL;
	if (rv == 0 && e == NULL) {
		SSL_CTX_free(ctx);
		return GW_ENOMEM;
	}
	if (rv == 0) {
		snprintf(e->id, sizeof e->id, "%s", id);
		e->client = cJSON_IsString(type) && strcmp(type->valuestring, "client") == 0;
		e->ctx = ctx;
		if (ctx == NULL && (rv = build_ctx(j, &e->ctx, why, sizeof why)) == 0 && have_md) {
			cache_put(md, e->ctx); /* (never under a digest that failed) */
		}
		if (rv != 0) {
			free(e);
		}
	}
	if (rv == GW_ENOMEM) {
		return rv;
	}
	if (rv != 0) {
		gw_warnf("proxy", "ssl %s skipped (revision %lld): %s", id, (long long)revision,
			 why);
		return 0;
	}
	cJSON_ArrayForEach(it, protos)
	{
		int v = version_of(it->valuestring);
		if (e->min_version == 0 || v < e->min_version) {
			e->min_version = v;
		}
		if (v > e->max_version) {
			e->max_version = v;
		}
	}
	if (add_ent(t, e) != 0) {
		SSL_CTX_free(e->ctx);
		free(e);
		return GW_ENOMEM;
	}
	idc = own_name(t, id);
	if (idc == NULL || gw_proxy__map_put(&t->ids, idc, strlen(idc), e) != 0) {
		return GW_ENOMEM;
	}
	if (e->client) {
		return 0;
	}
	t->n_server++;
	if (cJSON_IsString(sni) && (rv = add_name(t, sni->valuestring, e, revision)) != 0) {
		return rv;
	}
	cJSON_ArrayForEach(it, snis)
	{
		if (cJSON_IsString(it) && (rv = add_name(t, it->valuestring, e, revision)) != 0) {
			return rv;
		}
	}
	return 0;
}

int gw_proxy__ssl_compile(const struct gw_proxy_kv *kvs, size_t n, int64_t revision,
			  struct gw_proxy__ssl_table **out)
{
	struct gw_proxy__ssl_table *t = NULL;
	size_t plen = strlen(PREFIX);
	int rv = 0;

	*out = NULL;
	pthread_mutex_lock(&cache_lock);
	cache_gen++;
	for (size_t i = 0; i < n && rv == 0; i++) {
		char id[128];
		size_t idlen;
		cJSON *j;

		if (kvs[i].key_len <= plen || memcmp(kvs[i].key, PREFIX, plen) != 0) {
			continue;
		}
		idlen = kvs[i].key_len - plen;
		if (idlen >= sizeof id || memchr(kvs[i].key + plen, '/', idlen) != NULL) {
			continue;
		}
		memcpy(id, kvs[i].key + plen, idlen);
		id[idlen] = '\0';
		if (t == NULL) {
			t = calloc(1, sizeof *t);
			if (t == NULL) {
				rv = GW_ENOMEM;
				break;
			}
			atomic_init(&t->refs, 1);
			gw_proxy__map_init(&t->exact);
			gw_proxy__map_init(&t->wild);
			gw_proxy__map_init(&t->ids);
		}
		j = cJSON_ParseWithLength(kvs[i].value, kvs[i].value_len);
		if (j == NULL) {
			gw_warnf("proxy", "ssl %s skipped (revision %lld): invalid JSON", id,
				 (long long)revision);
			continue;
		}
		rv = compile_one(t, id, j, &kvs[i], revision);
		cJSON_Delete(j);
	}
	ERR_clear_error();
	if (rv == 0) {
		cache_sweep(); /* after a failed compile the previous one still serves */
	}
	pthread_mutex_unlock(&cache_lock);
	if (rv != 0) {
		gw_proxy__ssl_table_free(t);
		return rv;
	}
	*out = t;
	return 0;
}

int gw_proxy__ssl_upstream(struct gw_arena *arena, const cJSON *j, bool https,
			   struct gw_proxy__upstream *up)
{
	const cJSON *tls = cJSON_GetObjectItemCaseSensitive(j, "tls");
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(tls, "client_cert_id");
	char num[32] = "";

	up->tls = https;
	up->tls_verify = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tls, "verify"));
	if (cid == NULL) {
		return 0;
	}
	if (cJSON_IsNumber(cid)) {
		snprintf(num, sizeof num, "%.0f", cid->valuedouble);
	}
	const char *s = cJSON_IsString(cid) ? cid->valuestring : num;
	up->tls_client_cert_id = gw_arena_strndup(arena, s, strlen(s));
	return up->tls_client_cert_id != NULL ? 0 : GW_ENOMEM;
}

const struct gw_proxy__ssl_ent *gw_proxy__ssl_lookup(const struct gw_proxy__ssl_table *t,
						     const char *name, size_t len)
{
	const struct gw_proxy__ssl_ent *e;

	if (t == NULL || len == 0) {
		return NULL;
	}
	e = gw_proxy__map_get(&t->exact, name, len);
	if (e != NULL) {
		return e;
	}
	/* the longest ".suffix" first */
	for (size_t i = 1; i < len; i++) {
		if (name[i] == '.' && i + 1 < len) {
			e = gw_proxy__map_get(&t->wild, name + i, len - i);
			if (e != NULL) {
				return e;
			}
		}
	}
	return NULL;
}

const struct gw_proxy__ssl_ent *gw_proxy__ssl_by_id(const struct gw_proxy__ssl_table *t,
						    const char *id)
{
	return t == NULL ? NULL : gw_proxy__map_get(&t->ids, id, strlen(id));
}

size_t gw_proxy__ssl_count(const struct gw_proxy__ssl_table *t)
{
	return t == NULL ? 0 : t->n_server;
}
