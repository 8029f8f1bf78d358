/* lease.c: leases as records (grant, revoke, attach, time-to-live, list).
 *
 * The store only records leases; expiry timing belongs to the caller (the
 * raft leader proposes revokes). A revoke deletes every attached key in one
 * revision, in key order. Ids given as 0 are derived from the raft index
 * (a splitmix64 hash, skipping ids in use), so every replica picks the same.
 * Failure modes: GW_ELEASENOTFOUND, GW_ELEASEEXIST, GW_ELEASETTL as business
 * errors; LMDB errors translated by gw_store__mdb_err. */
#include "config.h"

#include "store/store_int.h"

#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

/* Lease ids sort as signed integers. */
static void enc_id(unsigned char *p, int64_t id)
{
	gw_store__put_u64(p, (uint64_t)id ^ 0x8000000000000000ULL);
}

static int64_t dec_id(const unsigned char *p)
{
	return (int64_t)(gw_store__get_u64(p) ^ 0x8000000000000000ULL);
}

int gw_store__lease_exists(struct gw_store *s, MDB_txn *txn, int64_t id)
{
	unsigned char kb[8];
	MDB_val k = {8, kb}, v;
	int rc;

	enc_id(kb, id);
	rc = mdb_get(txn, s->leases, &k, &v);
	if (rc == MDB_NOTFOUND) {
		return GW_ELEASENOTFOUND;
	}
	return rc == 0 ? 0 : gw_store__mdb_err(rc, "lease get");
}

static size_t lkey(unsigned char *buf, int64_t id, const char *key, size_t len)
{
	enc_id(buf, id);
	return 8 + gw_store__enc_key(key, len, buf + 8);
}

int gw_store__lease_attach(struct gw_store__wctx *w, int64_t id, const char *key, size_t len)
{
	unsigned char kb[8 + GW_STORE__ENC_MAX];
	MDB_val k, v;
	int rc;

	k.mv_size = lkey(kb, id, key, len);
	k.mv_data = kb;
	v.mv_size = len;
	v.mv_data = (void *)key;
	rc = mdb_put(w->txn, w->s->lkeys, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		return 0;
	}
	if (rc != 0) {
		return gw_store__mdb_err(rc, "lease attach");
	}
	w->size += GW_STORE__REC(k.mv_size, len);
	return 0;
}

int gw_store__lease_detach(struct gw_store__wctx *w, int64_t id, const char *key, size_t len)
{
	unsigned char kb[8 + GW_STORE__ENC_MAX];
	MDB_val k;
	int rc;

	k.mv_size = lkey(kb, id, key, len);
	k.mv_data = kb;
	rc = mdb_del(w->txn, w->s->lkeys, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		return 0; /* the lease was revoked before */
	}
	if (rc != 0) {
		return gw_store__mdb_err(rc, "lease detach");
	}
	w->size -= GW_STORE__REC(k.mv_size, len);
	return 0;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

int gw_store__do_lease_grant(struct gw_store__wctx *w, int64_t id, int64_t ttl,
			     struct gw_store_result *res)
{
	unsigned char kb[8], vb[8];
	MDB_val k = {8, kb}, v = {8, vb};
	int rc, rv;

	res->revision = w->rev;
	if (ttl > GW_STORE__MAX_LEASE_TTL) {
		return GW_ELEASETTL;
	}
	if (id == 0) {
		uint64_t x = w->index;
		do {
			x = splitmix64(x);
			id = (int64_t)(x & 0x7fffffffffffffffULL);
			rv = id == 0 ? 0 : gw_store__lease_exists(w->s, w->txn, id);
		} while (rv == 0);
		if (rv != GW_ELEASENOTFOUND) {
			return rv;
		}
	} else {
		rv = gw_store__lease_exists(w->s, w->txn, id);
		if (rv == 0) {
			return GW_ELEASEEXIST;
		}
		if (rv != GW_ELEASENOTFOUND) {
			return rv;
		}
	}
	enc_id(kb, id);
	gw_store__put_u64(vb, (uint64_t)ttl);
	rc = mdb_put(w->txn, w->s->leases, &k, &v, 0);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "lease put");
	}
	w->size += GW_STORE__REC(8, 8);
	res->lease_id = id;
	res->lease_ttl = ttl;
	return 0;
}

struct keylist {
	struct gw_kv *v;
	size_t n;
	size_t cap;
};

static int key_cmp(const void *a, const void *b)
{
	const struct gw_kv *x = a, *y = b;
	return gw_store__bytes_cmp(x->key, x->key_len, y->key, y->key_len);
}

static void keylist_free(struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		gw_store_kv_free(&l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Keys attached to lease @id, sorted, as owned copies (key bytes only). */
static int lease_keys(struct gw_store *s, MDB_txn *txn, int64_t id, struct keylist *out)
{
	unsigned char kb[8];
	MDB_cursor *c;
	MDB_val k = {8, kb}, v;
	int rc, rv = 0;

	enc_id(kb, id);
	rc = mdb_cursor_open(txn, s->lkeys, &c);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "cursor open");
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct gw_store__kvview kv = {0};
		if (k.mv_size < 8 || dec_id(k.mv_data) != id) {
			break;
		}
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 8;
			struct gw_kv *nv = realloc(out->v, cap * sizeof(*nv));
			if (nv == NULL) {
				rv = GW_ENOMEM;
				break;
			}
			out->v = nv;
			out->cap = cap;
		}
		kv.key = v.mv_data;
		kv.key_len = v.mv_size;
		kv.lease = id;
		rv = gw_store__kv_dup(&out->v[out->n], &kv, false);
		if (rv != 0) {
			break;
		}
		out->n++;
	}
	mdb_cursor_close(c);
	if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
		rv = gw_store__mdb_err(rc, "cursor get");
	}
	if (rv != 0) {
		keylist_free(out);
		return rv;
	}
	if (out->n > 1) {
		qsort(out->v, out->n, sizeof(*out->v), key_cmp);
	}
	return 0;
}

int gw_store__do_lease_revoke(struct gw_store__wctx *w, int64_t id, struct gw_store_result *res)
{
	struct keylist keys = {0};
	unsigned char kb[8];
	MDB_val k = {8, kb};
	int rc, rv;

	res->revision = w->rev;
	rv = gw_store__lease_exists(w->s, w->txn, id);
	if (rv != 0) {
		return rv;
	}
	rv = lease_keys(w->s, w->txn, id, &keys);
	if (rv != 0) {
		return rv;
	}
	for (size_t i = 0; i < keys.n; i++) {
		struct gw_store_result scratch = {0};
		struct gw_store__range r;
		gw_store__range_of(&r, keys.v[i].key, keys.v[i].key_len, NULL, 0);
		rv = gw_store__do_delete(w, &r, false, &scratch);
		gw_store_result_free(&scratch);
		if (rv != 0) {
			goto out;
		}
	}
	enc_id(kb, id);
	rc = mdb_del(w->txn, w->s->leases, &k, NULL);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "lease delete");
		goto out;
	}
	w->size -= GW_STORE__REC(8, 8);
	res->revision = w->rev + gw_store__wctx_rev(w);
out:
	keylist_free(&keys);
	return rv;
}

int gw_store_lease_get(struct gw_store *s, int64_t id, bool with_keys, struct gw_lease_info *out)
{
	struct keylist keys = {0};
	unsigned char kb[8];
	MDB_val k = {8, kb}, v;
	MDB_txn *txn;
	int rc, rv;

	memset(out, 0, sizeof(*out));
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	enc_id(kb, id);
	rc = mdb_get(txn, s->leases, &k, &v);
	if (rc == MDB_NOTFOUND) {
		rv = GW_ELEASENOTFOUND;
		goto out;
	}
	if (rc != 0 || v.mv_size != 8) {
		rv = rc != 0 ? gw_store__mdb_err(rc, "lease get") : GW_ECORRUPT;
		goto out;
	}
	out->id = id;
	out->ttl = (int64_t)gw_store__get_u64(v.mv_data);
	if (with_keys) {
		rv = lease_keys(s, txn, id, &keys);
		if (rv != 0) {
			goto out;
		}
		out->keys = keys.v;
		out->n_keys = keys.n;
	}
out:
	gw_store__rtxn_done(s);
	return rv;
}

void gw_store_lease_info_free(struct gw_lease_info *info)
{
	if (info == NULL) {
		return;
	}
	for (size_t i = 0; i < info->n_keys; i++) {
		gw_store_kv_free(&info->keys[i]);
	}
	free(info->keys);
	memset(info, 0, sizeof(*info));
}

int gw_store_lease_list(struct gw_store *s, int64_t **ids, int64_t **ttls, size_t *n)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	MDB_stat st;
	int rc, rv;
	size_t i = 0;

	*ids = NULL;
	*ttls = NULL;
	*n = 0;
	rv = gw_store__rtxn(s, &txn);
	if (rv != 0) {
		return rv;
	}
	rc = mdb_stat(txn, s->leases, &st);
	if (rc == 0) {
		rc = mdb_cursor_open(txn, s->leases, &c);
	}
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "lease list");
		goto out;
	}
	*ids = malloc((st.ms_entries + 1) * sizeof(**ids));
	*ttls = malloc((st.ms_entries + 1) * sizeof(**ttls));
	if (*ids == NULL || *ttls == NULL) {
		rv = GW_ENOMEM;
		goto out_cursor;
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && i < st.ms_entries;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8 || v.mv_size != 8) {
			rv = GW_ECORRUPT;
			goto out_cursor;
		}
		(*ids)[i] = dec_id(k.mv_data);
		(*ttls)[i] = (int64_t)gw_store__get_u64(v.mv_data);
		i++;
	}
	*n = i;
out_cursor:
	mdb_cursor_close(c);
out:
	gw_store__rtxn_done(s);
	if (rv != 0) {
		free(*ids);
		free(*ttls);
		*ids = NULL;
		*ttls = NULL;
		*n = 0;
	}
	return rv;
}
