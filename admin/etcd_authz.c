/* etcd_authz.c: the decisions of etcd auth that need no call: key-range
 * permissions, tokens, password hashes, and the auth records in the
 * store's meta space.
 *
 * Permissions: a request range is allowed when the union of the user's
 * permitted ranges of the wanted kind covers it entirely (etcd 3.4's
 * range_perm_cache: an interval set, a single key being [key, key+"\0")).
 * Tokens are stateless so that every member accepts them: hex(payload) "."
 * hex(HMAC-SHA256(cluster key, payload)), payload = expiry (ms since the
 * epoch, 8 bytes big-endian) | the user's generation (8 bytes) | name. The
 * cluster key is made at auth enable (lib/rand.h) and replicated with the
 * auth state; the generation changes with the user's password, so deleting
 * a user, changing its password or disabling auth (a new key at the next
 * enable) makes its tokens stale. Passwords are PBKDF2-HMAC-SHA256 with a
 * 16-byte random salt, stored as "pbkdf2-sha256$ITER$SALT$HASH" (hex), and
 * compared in constant time (lib/ct.h); hashing is slow on purpose, so the
 * callers run it on libuv's thread pool.
 * Records (JSON, in meta, outside the keyspace: never readable through KV):
 *   etcdauth/state        {"on":true|false,"key":"<64 hex>"}
 *   etcdauth/user/<name>  {"pw":"..." (absent: no password),"gen":"<16 hex>",
 *                          "roles":["r", ...]} (roles sorted)
 *   etcdauth/role/<name>  {"perms":[{"t":0|1|2,"k":"<b64>","e":"<b64>"}, ...]}
 * Failure modes: malformed records read as absent (logged once per read);
 * every function is bounded by the limits in etcd_int.h. Pure functions
 * except the store reads; password functions are thread-safe, the rest run
 * on the server's loop thread. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/ct.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/rand.h"
#include "store/store.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key ranges ---- */

/* A bound of a range: the bytes @p[0..len) followed by one 0 byte when @z,
 * or +infinity when @inf. */
struct bound {
	const unsigned char *p;
	size_t len;
	bool z;
	bool inf;
};

static int bound_cmp(const struct bound *a, const struct bound *b)
{
	size_t la = a->len + (a->z ? 1 : 0), lb = b->len + (b->z ? 1 : 0), i;
	if (a->inf || b->inf) {
		return a->inf == b->inf ? 0 : (a->inf ? 1 : -1);
	}
	for (i = 0; i < la && i < lb; i++) {
		unsigned ca = i < a->len ? a->p[i] : 0, cb = i < b->len ? b->p[i] : 0;
		if (ca != cb) {
			return ca < cb ? -1 : 1;
		}
	}
	return la == lb ? 0 : (la < lb ? -1 : 1);
}

/* [lo, hi) of a key and range end with etcd's conventions. */
static void interval_of(const char *key, size_t key_len, const char *end, size_t end_len,
			struct bound *lo, struct bound *hi)
{
	*lo = (struct bound){(const unsigned char *)key, key_len, false, false};
	if (end_len == 0 || end == NULL) {
		*hi = (struct bound){(const unsigned char *)key, key_len, true, false};
	} else if (end_len == 1 && end[0] == '\0') {
		*hi = (struct bound){NULL, 0, false, true};
	} else {
		*hi = (struct bound){(const unsigned char *)end, end_len, false, false};
		if (bound_cmp(hi, lo) <= 0) {
			/* an empty or inverted range asks for its first key */
			*hi = (struct bound){(const unsigned char *)key, key_len, true, false};
		}
	}
}

static bool type_gives(int have, int want)
{
	return have == want || have == GW_ETCD__PERM_READWRITE;
}

bool gw_etcd__perm_allows(const struct gw_etcd__perm *perms, size_t n, int want, const char *key,
			  size_t key_len, const char *end, size_t end_len)
{
	struct bound cur, need;
	size_t i;

	interval_of(key, key_len, end, end_len, &cur, &need);
	/* Walk from the range's start: each step jumps to the furthest end
	 * of a permitted interval that contains the current point. At most n
	 * steps, each O(n): n is bounded by the role limits. */
	for (size_t step = 0; step <= n; step++) {
		struct bound best = cur;
		bool moved = false;
		if (bound_cmp(&cur, &need) >= 0) {
			return true;
		}
		for (i = 0; i < n; i++) {
			struct bound lo, hi;
			if (!type_gives(perms[i].type, want)) {
				continue;
			}
			interval_of(perms[i].key, perms[i].key_len, perms[i].end, perms[i].end_len,
				    &lo, &hi);
			if (bound_cmp(&lo, &cur) <= 0 && bound_cmp(&hi, &best) > 0) {
				best = hi;
				moved = true;
			}
		}
		if (!moved) {
			return false;
		}
		cur = best;
	}
	return bound_cmp(&cur, &need) >= 0;
}

/* ---- hex ---- */

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

/* Lowercase hex of @n chars (even) into @out. 0 or GW_EINVAL. */
static int hex_decode(const char *s, size_t n, uint8_t *out)
{
	if (n % 2 != 0) {
		return GW_EINVAL;
	}
	for (size_t i = 0; i < n; i += 2) {
		int h = hexval((unsigned char)s[i]), l = hexval((unsigned char)s[i + 1]);
		if (h < 0 || l < 0) {
			return GW_EINVAL;
		}
		out[i / 2] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

/* ---- tokens ---- */

#define TOKEN_FIXED 16 /* expiry + generation */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8) {
		p[i] = (uint8_t)v;
	}
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = v << 8 | p[i];
	}
	return v;
}

static int mac_of(const uint8_t key[GW_ETCD__TOKEN_KEY], const uint8_t *p, size_t n,
		  uint8_t mac[32])
{
	unsigned len = 32;
	return HMAC(EVP_sha256(), key, GW_ETCD__TOKEN_KEY, p, n, mac, &len) != NULL && len == 32
		   ? 0
		   : GW_EIO;
}

int gw_etcd__token_sign(const uint8_t key[GW_ETCD__TOKEN_KEY], const char *user, uint64_t gen,
			uint64_t expiry_ms, char *out, size_t outlen)
{
	uint8_t payload[TOKEN_FIXED + GW_ETCD_AUTH_MAX_NAME], mac[32];
	size_t ulen = strlen(user), n = TOKEN_FIXED + ulen;

	if (ulen == 0 || ulen > GW_ETCD_AUTH_MAX_NAME || outlen < 2 * n + 1 + 64 + 1) {
		return GW_EINVAL;
	}
	put64(payload, expiry_ms);
	put64(payload + 8, gen);
	memcpy(payload + TOKEN_FIXED, user, ulen);
	if (mac_of(key, payload, n, mac) != 0) {
		return GW_EIO;
	}
	hex_encode(payload, n, out);
	out[2 * n] = '.';
	hex_encode(mac, 32, out + 2 * n + 1);
	return 0;
}

int gw_etcd__token_verify(const uint8_t key[GW_ETCD__TOKEN_KEY], const char *tok, size_t len,
			  uint64_t now_ms, char *user, size_t userlen, uint64_t *gen)
{
	uint8_t payload[TOKEN_FIXED + GW_ETCD_AUTH_MAX_NAME], mac[32], want[32];
	const char *dot = memchr(tok, '.', len);
	size_t plen, n;

	if (dot == NULL || len - (size_t)(dot - tok) - 1 != 64) {
		return GW_EINVALIDTOKEN;
	}
	plen = (size_t)(dot - tok);
	n = plen / 2;
	if (n <= TOKEN_FIXED || n > sizeof payload || n - TOKEN_FIXED >= userlen ||
	    hex_decode(tok, plen, payload) != 0 || hex_decode(dot + 1, 64, mac) != 0) {
		return GW_EINVALIDTOKEN;
	}
	if (mac_of(key, payload, n, want) != 0 || !gw_ct_equal(mac, 32, want, 32)) {
		return GW_EINVALIDTOKEN;
	}
	if (get64(payload) <= now_ms) {
		return GW_EINVALIDTOKEN; /* expired */
	}
	*gen = get64(payload + 8);
	memcpy(user, payload + TOKEN_FIXED, n - TOKEN_FIXED);
	user[n - TOKEN_FIXED] = '\0';
	if (strlen(user) != n - TOKEN_FIXED) {
		return GW_EINVALIDTOKEN;
	}
	return 0;
}

/* ---- passwords ---- */

#define PW_SALT 16
#define PW_HASH 32

static int pbkdf2(const char *pw, size_t len, const uint8_t *salt, unsigned iter,
		  uint8_t out[PW_HASH])
{
	return PKCS5_PBKDF2_HMAC(pw, (int)len, salt, PW_SALT, (int)iter, EVP_sha256(), PW_HASH,
				 out) == 1
		   ? 0
		   : GW_EIO;
}

int gw_etcd__pw_hash(const char *pw, size_t len, unsigned iter, char *out, size_t outlen)
{
	uint8_t salt[PW_SALT], h[PW_HASH];
	char sh[2 * PW_SALT + 1], hh[2 * PW_HASH + 1];
	int n;

	if (len > GW_ETCD_AUTH_MAX_PASSWORD || iter == 0 || iter > 10000000u) {
		return GW_EINVAL;
	}
	if (gw_rand_bytes(salt, sizeof salt) != 0) {
		return GW_EIO;
	}
	if (pbkdf2(pw, len, salt, iter, h) != 0) {
		return GW_EIO;
	}
	hex_encode(salt, PW_SALT, sh);
	hex_encode(h, PW_HASH, hh);
	n = snprintf(out, outlen, "pbkdf2-sha256$%u$%s$%s", iter, sh, hh);
	return n > 0 && (size_t)n < outlen ? 0 : GW_EINVAL;
}

bool gw_etcd__pw_check(const char *pw, size_t len, const char *stored)
{
	uint8_t salt[PW_SALT], want[PW_HASH], got[PW_HASH];
	unsigned long iter;
	const char *p;
	char *end;

	if (stored == NULL || strncmp(stored, "pbkdf2-sha256$", 14) != 0 ||
	    len > GW_ETCD_AUTH_MAX_PASSWORD) {
		return false;
	}
	iter = strtoul(stored + 14, &end, 10);
	if (*end != '$' || iter == 0 || iter > 10000000ul) {
		return false;
	}
	p = end + 1;
	if (strlen(p) != 2 * PW_SALT + 1 + 2 * PW_HASH || p[2 * PW_SALT] != '$' ||
	    hex_decode(p, 2 * PW_SALT, salt) != 0 ||
	    hex_decode(p + 2 * PW_SALT + 1, 2 * PW_HASH, want) != 0) {
		return false;
	}
	if (pbkdf2(pw, len, salt, (unsigned)iter, got) != 0) {
		return false;
	}
	return gw_ct_equal(got, PW_HASH, want, PW_HASH);
}

/* ---- names ---- */

int gw_etcd__auth_name_check(const char *name, int empty_err)
{
	size_t n = name != NULL ? strlen(name) : 0;
	if (n == 0) {
		return empty_err;
	}
	if (n > GW_ETCD_AUTH_MAX_NAME) {
		return GW_ELIMIT;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			return GW_EINVAL;
		}
	}
	return 0;
}

/* ---- records ---- */

void gw_etcd__auth_meta_key(const char *kind, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s%s/%s", GW_ETCD__AUTH_META, kind, name);
}

int gw_etcd__auth_load(struct gw_store *s, const char *kind, const char *name, cJSON **out)
{
	char key[32 + GW_ETCD_AUTH_MAX_NAME];
	char *val = NULL;
	size_t len = 0;
	cJSON *j;

	*out = NULL;
	if (strlen(name) > GW_ETCD_AUTH_MAX_NAME) {
		return GW_ENOTFOUND;
	}
	gw_etcd__auth_meta_key(kind, name, key, sizeof key);
	if (gw_store_meta_get(s, key, &val, &len) != 0 || val == NULL) {
		free(val);
		return GW_ENOTFOUND;
	}
	j = cJSON_ParseWithLength(val, len);
	free(val);
	if (j == NULL || !cJSON_IsObject(j)) {
		gw_warnf("etcd", "auth record %s is malformed: ignored", key);
		cJSON_Delete(j);
		return GW_ENOTFOUND;
	}
	*out = j;
	return 0;
}

int gw_etcd__auth_state(struct gw_etcd *srv, bool *on, uint8_t key[GW_ETCD__TOKEN_KEY])
{
	struct gw_store *s = srv->opts.store;
	uint64_t idx = gw_store_applied_index(s);
	char *val = NULL;
	size_t len = 0;

	if (!srv->auth_cache_valid || srv->auth_cache_idx != idx) {
		cJSON *j = NULL, *k;
		srv->auth_on = false;
		if (gw_store_meta_get(s, GW_ETCD__AUTH_META "state", &val, &len) == 0 &&
		    val != NULL) {
			j = cJSON_ParseWithLength(val, len);
		}
		free(val);
		k = cJSON_GetObjectItemCaseSensitive(j, "key");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "on")) && cJSON_IsString(k) &&
		    strlen(k->valuestring) == 2 * GW_ETCD__TOKEN_KEY &&
		    hex_decode(k->valuestring, 2 * GW_ETCD__TOKEN_KEY, srv->auth_key) == 0) {
			srv->auth_on = true;
		}
		cJSON_Delete(j);
		srv->auth_cache_idx = idx;
		srv->auth_cache_valid = true;
	}
	*on = srv->auth_on;
	if (key != NULL) {
		memcpy(key, srv->auth_key, GW_ETCD__TOKEN_KEY);
	}
	return 0;
}

int gw_etcd__auth_state_json(bool on, char **out)
{
	uint8_t key[GW_ETCD__TOKEN_KEY];
	char hex[2 * GW_ETCD__TOKEN_KEY + 1];
	char buf[160];

	if (on) {
		if (gw_rand_bytes(key, sizeof key) != 0) {
			return GW_EIO;
		}
		hex_encode(key, sizeof key, hex);
		snprintf(buf, sizeof buf, "{\"on\":true,\"key\":\"%s\"}", hex);
	} else {
		snprintf(buf, sizeof buf, "{\"on\":false}");
	}
	*out = strdup(buf);
	return *out != NULL ? 0 : GW_ENOMEM;
}

uint64_t gw_etcd__auth_user_gen(const cJSON *user)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(user, "gen");
	uint8_t b[8];
	if (!cJSON_IsString(g) || strlen(g->valuestring) != 16 ||
	    hex_decode(g->valuestring, 16, b)) {
		return 0;
	}
	return get64(b);
}

int gw_etcd__auth_new_gen(cJSON *user)
{
	uint8_t b[8];
	char hex[17];
	if (gw_rand_bytes(b, sizeof b) != 0) {
		return GW_EIO;
	}
	hex_encode(b, sizeof b, hex);
	cJSON_DeleteItemFromObjectCaseSensitive(user, "gen");
	return cJSON_AddStringToObject(user, "gen", hex) != NULL ? 0 : GW_ENOMEM;
}

bool gw_etcd__auth_has_role(const cJSON *user, const char *role)
{
	const cJSON *r, *roles = cJSON_GetObjectItemCaseSensitive(user, "roles");
	cJSON_ArrayForEach(r, roles)
	{
		if (cJSON_IsString(r) && strcmp(r->valuestring, role) == 0) {
			return true;
		}
	}
	return false;
}

/* Decode a base64 field of a permission into @a; NULL for "" or bad. */
static char *b64_field(struct gw_etcd__arena *a, const cJSON *o, const char *name, size_t *len)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t n;
	char *out;
	long got;

	*len = 0;
	if (!cJSON_IsString(f) || (n = strlen(f->valuestring)) == 0) {
		return NULL;
	}
	out = gw_etcd__arena_alloc(a, 3 * (n / 4) + 3);
	if (out == NULL) {
		return NULL;
	}
	got = gw_etcd__b64_decode(f->valuestring, n, (uint8_t *)out);
	if (got < 0) {
		return NULL;
	}
	*len = (size_t)got;
	return out;
}

int gw_etcd__auth_role_perms(struct gw_store *s, const char *role, struct gw_etcd__arena *a,
			     struct gw_etcd__perm **perms, size_t *n)
{
	cJSON *j, *list, *p;
	struct gw_etcd__perm *out;
	size_t k = 0, cnt;
	int rv = gw_etcd__auth_load(s, "role", role, &j);

	*perms = NULL;
	*n = 0;
	if (rv != 0) {
		return rv;
	}
	list = cJSON_GetObjectItemCaseSensitive(j, "perms");
	cnt = (size_t)cJSON_GetArraySize(list);
	if (cnt == 0) {
		cJSON_Delete(j);
		return 0;
	}
	out = gw_etcd__arena_alloc(a, cnt * sizeof *out);
	if (out == NULL) {
		cJSON_Delete(j);
		return GW_ENOMEM;
	}
	cJSON_ArrayForEach(p, list)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "t");
		if (k >= cnt || !cJSON_IsNumber(t)) {
			continue;
		}
		out[k].type = t->valueint;
		out[k].key = b64_field(a, p, "k", &out[k].key_len);
		out[k].end = b64_field(a, p, "e", &out[k].end_len);
		if (out[k].key == NULL) {
			continue; /* a permission always has a key */
		}
		k++;
	}
	cJSON_Delete(j);
	*perms = out;
	*n = k;
	return 0;
}

int gw_etcd__auth_user_perms(struct gw_store *s, const cJSON *user, struct gw_etcd__arena *a,
			     struct gw_etcd__perm **perms, size_t *n)
{
	const cJSON *r, *roles = cJSON_GetObjectItemCaseSensitive(user, "roles");
	struct gw_etcd__perm *all = NULL;
	size_t total = 0;

	*perms = NULL;
	*n = 0;
	cJSON_ArrayForEach(r, roles)
	{
		struct gw_etcd__perm *p, *grown;
		size_t m;
		if (!cJSON_IsString(r) ||
		    gw_etcd__auth_role_perms(s, r->valuestring, a, &p, &m) != 0 || m == 0) {
			continue; /* a deleted role gives nothing */
		}
		grown = gw_etcd__arena_alloc(a, (total + m) * sizeof *grown);
		if (grown == NULL) {
			return GW_ENOMEM;
		}
		if (total > 0) {
			memcpy(grown, all, total * sizeof *all);
		}
		memcpy(grown + total, p, m * sizeof *p);
		all = grown;
		total += m;
	}
	*perms = all;
	*n = total;
	return 0;
}

int gw_etcd__auth_list(struct gw_store *s, const char *kind, char ***names, size_t *n)
{
	char prefix[32];
	char **keys = NULL, **vals = NULL;
	size_t cnt = 0, i, plen;
	int rv;

	snprintf(prefix, sizeof prefix, "%s%s/", GW_ETCD__AUTH_META, kind);
	plen = strlen(prefix);
	rv = gw_store_meta_list(s, prefix, &keys, &vals, &cnt);
	if (rv != 0) {
		return rv;
	}
	for (i = 0; i < cnt; i++) {
		/* names are the keys without the prefix: shift in place */
		memmove(keys[i], keys[i] + plen, strlen(keys[i] + plen) + 1);
		free(vals[i]);
	}
	free(vals);
	*names = keys;
	*n = cnt;
	return 0;
}

void gw_etcd__auth_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(names[i]);
	}
	free(names);
}
