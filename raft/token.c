/* token.c: join tokens ("apigw1.<id>.<secret>.<CA fingerprint>"), kept as
 * replicated records in the store's meta space (never in the etcd
 * keyspace, so the etcd API cannot read them).
 *
 * A record "token/<id>" holds the SHA-256 of the secret (never the secret),
 * its expiry, the uses left (-1 = unlimited until expiry), a description
 * and its creation time. Revocation is a separate record
 * "token-revoked/<id>" that consuming a use never rewrites, so a revocation
 * can never be lost to a concurrent enrollment. Creating and revoking go
 * through gw_raft_propose (any member; forwarded to the leader); consuming
 * a use is enroll.c's, serialized on the leader. The leader deletes the
 * records of tokens expired for longer than a grace time (an hour by
 * default, so `token list` still shows why a join just failed). Failure
 * modes: no PKI on
 * this member (GW_EINVAL: tokens pin the CA), getrandom failing (GW_EIO),
 * the proposal's errors. Control loop. */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/pki.h"
#include "lib/rand.h"
#include "raft/raft_int.h"
#include "lib/json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_PREFIX "apigw1."

static bool is_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

void gw_raft__token_hash(const char *secret, char out[65])
{
	unsigned char md[32];
	unsigned n = 0;
	int i;

	EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	}
}

int gw_raft__token_parse(const char *text, char id[GW_RAFT__TOKEN_ID_LEN + 1],
			 char secret[GW_RAFT__TOKEN_SECRET_LEN + 1], char fp[65])
{
	const char *p = text, *dot;
	size_t n;

	if (text == NULL || strncmp(p, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1) != 0) {
		return GW_EINVAL;
	}
	p += sizeof TOKEN_PREFIX - 1;
	dot = strchr(p, '.');
	if (dot == NULL || (size_t)(dot - p) != GW_RAFT__TOKEN_ID_LEN) {
		return GW_EINVAL;
	}
	memcpy(id, p, GW_RAFT__TOKEN_ID_LEN);
	id[GW_RAFT__TOKEN_ID_LEN] = '\0';
	p = dot + 1;
	dot = strchr(p, '.');
	if (dot == NULL || (size_t)(dot - p) != GW_RAFT__TOKEN_SECRET_LEN) {
		return GW_EINVAL;
	}
	memcpy(secret, p, GW_RAFT__TOKEN_SECRET_LEN);
	secret[GW_RAFT__TOKEN_SECRET_LEN] = '\0';
	p = dot + 1;
	n = strcspn(p, "\r\n \t");
	if (n != 64 || (p[n] != '\0' && strspn(p + n, "\r\n \t") != strlen(p + n))) {
		return GW_EINVAL;
	}
	memcpy(fp, p, 64);
	fp[64] = '\0';
	if (!is_hex(id, GW_RAFT__TOKEN_ID_LEN) || !is_hex(secret, GW_RAFT__TOKEN_SECRET_LEN) ||
	    !is_hex(fp, 64)) {
		return GW_EINVAL;
	}
	return 0;
}

int gw_raft__token_load(struct gw_raft *r, const char *id, struct gw_raft__token *t)
{
	char key[64], *val = NULL;
	size_t len = 0;
	cJSON *o;
	const cJSON *h, *e, *c, *u, *d;
	int rv;

	memset(t, 0, sizeof *t);
	if (!is_hex(id, GW_RAFT__TOKEN_ID_LEN)) {
		return GW_ENOTFOUND;
	}
	snprintf(key, sizeof key, "token/%s", id);
	rv = gw_store_meta_get(r->store, key, &val, &len);
	if (rv != 0) {
		return rv == GW_ENOTFOUND ? rv : GW_EIO;
	}
	o = cJSON_ParseWithLength(val, len);
	free(val);
	h = cJSON_GetObjectItemCaseSensitive(o, "hash");
	e = cJSON_GetObjectItemCaseSensitive(o, "expires");
	c = cJSON_GetObjectItemCaseSensitive(o, "created");
	u = cJSON_GetObjectItemCaseSensitive(o, "uses");
	d = cJSON_GetObjectItemCaseSensitive(o, "description");
	if (!cJSON_IsString(h) || !is_hex(h->valuestring, 64) || !cJSON_IsNumber(e) ||
	    !cJSON_IsNumber(u)) {
		cJSON_Delete(o);
		return GW_ECORRUPT;
	}
	snprintf(t->id, sizeof t->id, "%s", id);
	snprintf(t->hash, sizeof t->hash, "%s", h->valuestring);
	t->expires = gw_json_int(e, INT64_MIN, INT64_MAX, 0);
	t->created = gw_json_int(c, INT64_MIN, INT64_MAX, 0);
	t->uses = gw_json_int(u, INT64_MIN, INT64_MAX, 0);
	snprintf(t->description, sizeof t->description, "%s",
		 cJSON_IsString(d) ? d->valuestring : "");
	cJSON_Delete(o);
	snprintf(key, sizeof key, "token-revoked/%s", id);
	if (gw_store_meta_get(r->store, key, &val, &len) == 0) {
		free(val);
		t->revoked = true;
	}
	return 0;
}

int gw_raft__token_check(const struct gw_raft__token *t, const char *secret, int64_t now,
			 const char **why)
{
	char hash[65];

	/* The secret first, so that a wrong secret learns nothing about the
	 * token's state. */
	gw_raft__token_hash(secret, hash);
	if (!gw_ct_equal(hash, 64, t->hash, 64)) {
		*why = "wrong token secret";
		return GW_EPERM;
	}
	if (t->revoked) {
		*why = "the token was revoked";
		return GW_EPERM;
	}
	if (now >= t->expires) {
		*why = "the token has expired";
		return GW_EPERM;
	}
	if (t->uses == 0) {
		*why = "the token has no uses left";
		return GW_EPERM;
	}
	return 0;
}

int gw_raft__encode_meta_put(const char *key, const char *value, struct gw_buf *out)
{
	struct gw_store_op op;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = value;
	op.u.meta.value_len = strlen(value);
	return gw_raft__encode_op(&op, out);
}

int gw_raft__token_op(const struct gw_raft__token *t, struct gw_buf *out)
{
	char key[64], *val;
	cJSON *o = cJSON_CreateObject();
	int rv;

	if (o == NULL || cJSON_AddStringToObject(o, "hash", t->hash) == NULL ||
	    cJSON_AddNumberToObject(o, "expires", (double)t->expires) == NULL ||
	    cJSON_AddNumberToObject(o, "created", (double)t->created) == NULL ||
	    cJSON_AddNumberToObject(o, "uses", (double)t->uses) == NULL ||
	    cJSON_AddStringToObject(o, "description", t->description) == NULL) {
		cJSON_Delete(o);
		return GW_ENOMEM;
	}
	val = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (val == NULL) {
		return GW_ENOMEM;
	}
	snprintf(key, sizeof key, "token/%s", t->id);
	rv = gw_raft__encode_meta_put(key, val, out);
	free(val);
	return rv;
}

/* ---- create / revoke / list ------------------------------------------- */

struct token_call {
	gw_raft_token_cb cb;
	void *data;
	char text[GW_RAFT_TOKEN_TEXT_LEN]; /* the answer on success */
};

static void token_propose_done(void *data, int err, struct gw_store_result *res)
{
	struct token_call *x = data;

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	x->cb(x->data, err, err == 0 ? x->text : NULL);
	OPENSSL_cleanse(x->text, sizeof x->text);
	free(x);
}

/* Propose the encoded op in @b for @x (freed on failure). */
static int propose_encoded(struct gw_raft *r, struct gw_buf *b, struct token_call *x)
{
	struct gw_store_op op;
	int rv;

	/* gw_raft_propose takes a store op: decode ours back (it validates). */
	rv = gw_raft__decode_op(b->data, b->len, &op);
	if (rv == 0) {
		rv = gw_raft_propose(r, &op, 0, token_propose_done, x);
		gw_raft__op_free(&op);
	}
	if (rv != 0) {
		free(x);
	}
	return rv;
}

static void hex_of(const unsigned char *raw, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	}
}

int gw_raft_token_create(struct gw_raft *r, unsigned ttl_s, int uses, const char *description,
			 gw_raft_token_cb cb, void *data)
{
	unsigned char raw[GW_RAFT__TOKEN_ID_LEN / 2 + GW_RAFT__TOKEN_SECRET_LEN / 2];
	char secret[GW_RAFT__TOKEN_SECRET_LEN + 1], fp[GW_PKI_FINGERPRINT_LEN];
	struct gw_raft__token t;
	struct token_call *x;
	struct gw_buf b;
	int64_t now = (int64_t)time(NULL);
	int rv;

	if (r->tls == NULL || gw_pki_fingerprint(r->tls->ca, fp) != 0) {
		return GW_EINVAL; /* a token pins the cluster CA: none here */
	}
	if (ttl_s == 0 || uses == 0 || uses < -1) {
		return GW_EINVAL;
	}
	if (gw_rand_bytes(raw, sizeof raw) != 0) {
		gw_errorf("raft", "cannot create a join token: getrandom failed");
		return GW_EIO;
	}
	memset(&t, 0, sizeof t);
	hex_of(raw, GW_RAFT__TOKEN_ID_LEN / 2, t.id);
	hex_of(raw + GW_RAFT__TOKEN_ID_LEN / 2, GW_RAFT__TOKEN_SECRET_LEN / 2, secret);
	OPENSSL_cleanse(raw, sizeof raw);
	gw_raft__token_hash(secret, t.hash);
	t.created = now;
	t.expires = now + (int64_t)ttl_s;
	t.uses = uses;
	snprintf(t.description, sizeof t.description, "%s", description ? description : "");
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		OPENSSL_cleanse(secret, sizeof secret);
		return GW_ENOMEM;
	}
	x->cb = cb;
	x->data = data;
	snprintf(x->text, sizeof x->text, TOKEN_PREFIX "%s.%s.%s", t.id, secret, fp);
	OPENSSL_cleanse(secret, sizeof secret);
	gw_buf_init(&b);
	rv = gw_raft__token_op(&t, &b);
	if (rv == 0) {
		rv = propose_encoded(r, &b, x);
		if (rv == 0) {
			gw_infof("raft", "join token %s created (expires in %us, %d uses)", t.id,
				 ttl_s, uses);
		}
	} else {
		free(x);
	}
	gw_buf_close(&b);
	return rv;
}

int gw_raft_token_revoke(struct gw_raft *r, const char *id, gw_raft_token_cb cb, void *data)
{
	struct gw_raft__token t;
	struct gw_store_op op;
	struct token_call *x;
	char key[64];
	int rv;

	rv = gw_raft__token_load(r, id, &t);
	if (rv != 0) {
		return rv == GW_ENOTFOUND ? GW_ENOTFOUND : rv;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->cb = cb;
	x->data = data;
	snprintf(x->text, sizeof x->text, "%s", t.id);
	snprintf(key, sizeof key, "token-revoked/%s", t.id);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = "1";
	op.u.meta.value_len = 1;
	rv = gw_raft_propose(r, &op, 0, token_propose_done, x);
	if (rv != 0) {
		free(x);
		return rv;
	}
	gw_infof("raft", "join token %s revoked", t.id);
	return 0;
}

char *gw_raft_token_list_json(struct gw_raft *r)
{
	char **keys = NULL, **values = NULL, *text = NULL;
	size_t n = 0, i;
	cJSON *arr = cJSON_CreateArray();

	if (arr == NULL || gw_store_meta_list(r->store, "token/", &keys, &values, &n) != 0) {
		cJSON_Delete(arr);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		struct gw_raft__token t;
		cJSON *o;

		if (gw_raft__token_load(r, keys[i] + 6, &t) != 0) {
			continue;
		}
		o = cJSON_CreateObject();
		if (o == NULL) {
			break;
		}
		cJSON_AddStringToObject(o, "id", t.id);
		cJSON_AddNumberToObject(o, "created", (double)t.created);
		cJSON_AddNumberToObject(o, "expires", (double)t.expires);
		cJSON_AddNumberToObject(o, "uses_left", (double)t.uses);
		cJSON_AddBoolToObject(o, "revoked", t.revoked);
		cJSON_AddBoolToObject(o, "expired", (int64_t)time(NULL) >= t.expires);
		cJSON_AddStringToObject(o, "description", t.description);
		cJSON_AddItemToArray(arr, o);
	}
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(values);
	text = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return text;
}

/* ---- sweep ---------------------------------------------------------------- */

#define SWEEP_MAX 64 /* tokens deleted per sweep at most */

static void sweep_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_raft *r = data;

	if (err == 0 && res != NULL && res->err != 0) {
		err = res->err;
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	r->token_sweep_inflight--;
	if (err != 0 && err != GW_ESHUTDOWN) {
		gw_debugf("raft", "token sweep: %s", gw_strerror(err));
	}
}

static int propose_meta_delete(struct gw_raft *r, const char *key)
{
	struct gw_store_op op;
	int rv;

	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_DELETE;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	rv = gw_raft_propose(r, &op, 0, sweep_done, r);
	if (rv == 0) {
		r->token_sweep_inflight++;
	}
	return rv;
}

void gw_raft__token_sweep(struct gw_raft *r)
{
	char **keys = NULL, **values = NULL, key[96];
	int64_t now = (int64_t)time(NULL);
	size_t n = 0, i, done = 0;

	if (r->token_sweep_inflight > 0 ||
	    gw_store_meta_list(r->store, "token/", &keys, &values, &n) != 0) {
		return;
	}
	for (i = 0; i < n && done < SWEEP_MAX; i++) {
		struct gw_raft__token t;

		if (gw_raft__token_load(r, keys[i] + 6, &t) != 0 ||
		    now < t.expires + (int64_t)r->token_grace_s) {
			continue;
		}
		/* The token first: a revocation record never outlives it. */
		snprintf(key, sizeof key, "token/%s", t.id);
		if (propose_meta_delete(r, key) != 0) {
			break;
		}
		if (t.revoked) {
			snprintf(key, sizeof key, "token-revoked/%s", t.id);
			if (propose_meta_delete(r, key) != 0) {
				break;
			}
		}
		gw_infof("raft", "join token %s expired %lld s ago: deleted", t.id,
			 (long long)(now - t.expires));
		done++;
	}
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(values);
}
