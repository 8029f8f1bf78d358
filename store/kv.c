/* kv.c: the MVCC keyspace: record encoding, range reads (current and past
 * revisions), put, delete range, txn and compaction.
 *
 * Happy path: a read scans the kv database over the range (collecting views
 * into LMDB memory), a past read then undoes, newest first, every history
 * event after the wanted revision; filters, sort and limit follow etcd's
 * apply order. Writes run inside the caller's write txn (struct
 * gw_store__wctx): each change writes the kv record, the lease index and one
 * history event at (revision + 1, sub), and keeps an owned copy of the event
 * for the watch hub. Failure modes: business errors (GW_ENOTFOUND,
 * GW_ELEASENOTFOUND, GW_ECOMPACTED, ...) and LMDB errors are returned as is;
 * the caller then aborts the whole LMDB txn, so nothing is half-written. */
#include "config.h"

#include "store/store_int.h"

#include "lib/err.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

/* encoding */

void gw_store__put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

uint64_t gw_store__get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) {
		v = (v << 8) | p[i];
	}
	return v;
}

void gw_store__put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t gw_store__get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t gw_store__hash(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

size_t gw_store__enc_key(const char *key, size_t len, unsigned char *out)
{
	if (len <= GW_STORE__INLINE) {
		memcpy(out, key, len);
		return len;
	}
	memcpy(out, key, GW_STORE__INLINE);
	gw_store__put_u64(out + GW_STORE__INLINE, gw_store__hash(key, len));
	return GW_STORE__ENC_MAX;
}

int gw_store__bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = n ? memcmp(a, b, n) : 0;
	if (c != 0) {
		return c < 0 ? -1 : 1;
	}
	return al < bl ? -1 : (al > bl ? 1 : 0);
}

/* Order of enc(key): by the inline part, a short key before the long keys
 * sharing its bytes, long keys of one prefix by hash. */
int gw_store__cmp_enc(const MDB_val *a, const MDB_val *b)
{
	size_t pa = a->mv_size < GW_STORE__INLINE ? a->mv_size : GW_STORE__INLINE;
	size_t pb = b->mv_size < GW_STORE__INLINE ? b->mv_size : GW_STORE__INLINE;
	int c = gw_store__bytes_cmp(a->mv_data, pa, b->mv_data, pb);
	if (c != 0) {
		return c;
	}
	if (a->mv_size == b->mv_size) {
		return a->mv_size > GW_STORE__INLINE
			   ? memcmp((const char *)a->mv_data + GW_STORE__INLINE,
				    (const char *)b->mv_data + GW_STORE__INLINE, 8)
			   : 0;
	}
	return a->mv_size < b->mv_size ? -1 : 1;
}

void gw_store__range_of(struct gw_store__range *r, const char *key, size_t key_len, const char *end,
			size_t end_len)
{
	r->key = key;
	r->key_len = key_len;
	r->end = end;
	r->end_len = end_len;
	if (end == NULL || end_len == 0) {
		r->kind = GW_STORE__POINT;
	} else if (end_len == 1 && end[0] == '\0') {
		r->kind = GW_STORE__FROM;
	} else {
		r->kind = GW_STORE__SPAN;
	}
}

bool gw_store__in_range(const struct gw_store__range *r, const char *k, size_t len)
{
	switch (r->kind) {
	case GW_STORE__POINT:
		return len == r->key_len && (len == 0 || memcmp(k, r->key, len) == 0);
	case GW_STORE__FROM:
		return gw_store__bytes_cmp(k, len, r->key, r->key_len) >= 0;
	case GW_STORE__SPAN:
		return gw_store__bytes_cmp(k, len, r->key, r->key_len) >= 0 &&
		       gw_store__bytes_cmp(k, len, r->end, r->end_len) < 0;
	}
	return false;
}

/* kv record: create, mod, version, lease (8 BE each), klen (4), key, vlen
 * (4), value. */
static size_t kv_size(size_t klen, size_t vlen)
{
	return GW_STORE__KV_HDR + 4 + klen + 4 + vlen;
}

static unsigned char *enc_kv(unsigned char *p, const struct gw_store__kvview *kv)
{
	gw_store__put_u64(p, (uint64_t)kv->create_revision);
	gw_store__put_u64(p + 8, (uint64_t)kv->mod_revision);
	gw_store__put_u64(p + 16, (uint64_t)kv->version);
	gw_store__put_u64(p + 24, (uint64_t)kv->lease);
	p += GW_STORE__KV_HDR;
	gw_store__put_u32(p, (uint32_t)kv->key_len);
	if (kv->key_len) {
		memcpy(p + 4, kv->key, kv->key_len);
	}
	p += 4 + kv->key_len;
	gw_store__put_u32(p, (uint32_t)kv->value_len);
	if (kv->value_len) {
		memcpy(p + 4, kv->value, kv->value_len);
	}
	return p + 4 + kv->value_len;
}

int gw_store__dec_kv(const unsigned char *p, size_t len, struct gw_store__kvview *kv, size_t *used)
{
	size_t klen, vlen;
	if (len < GW_STORE__KV_HDR + 4) {
		return GW_ECORRUPT;
	}
	kv->create_revision = (int64_t)gw_store__get_u64(p);
	kv->mod_revision = (int64_t)gw_store__get_u64(p + 8);
	kv->version = (int64_t)gw_store__get_u64(p + 16);
	kv->lease = (int64_t)gw_store__get_u64(p + 24);
	klen = gw_store__get_u32(p + GW_STORE__KV_HDR);
	if (klen > len - GW_STORE__KV_HDR - 4 || len - GW_STORE__KV_HDR - 4 - klen < 4) {
		return GW_ECORRUPT;
	}
	kv->key = (const char *)p + GW_STORE__KV_HDR + 4;
	kv->key_len = klen;
	vlen = gw_store__get_u32(p + GW_STORE__KV_HDR + 4 + klen);
	if (vlen > len - kv_size(klen, 0)) {
		return GW_ECORRUPT;
	}
	kv->value = (const char *)p + kv_size(klen, 0);
	kv->value_len = vlen;
	*used = kv_size(klen, vlen);
	return 0;
}

static char *dup_bytes(const char *p, size_t len)
{
	char *d = malloc(len + 1);
	if (d == NULL) {
		return NULL;
	}
	if (len) {
		memcpy(d, p, len);
	}
	d[len] = '\0';
	return d;
}

int gw_store__kv_dup(struct gw_kv *dst, const struct gw_store__kvview *src, bool with_value)
{
	memset(dst, 0, sizeof(*dst));
	dst->key = dup_bytes(src->key, src->key_len);
	if (dst->key == NULL) {
		return GW_ENOMEM;
	}
	dst->key_len = src->key_len;
	if (with_value) {
		dst->value = dup_bytes(src->value, src->value_len);
		if (dst->value == NULL) {
			free(dst->key);
			dst->key = NULL;
			return GW_ENOMEM;
		}
		dst->value_len = src->value_len;
	}
	dst->create_revision = src->create_revision;
	dst->mod_revision = src->mod_revision;
	dst->version = src->version;
	dst->lease = src->lease;
	return 0;
}

int gw_store__kv_copy(struct gw_kv *dst, const struct gw_kv *src)
{
	struct gw_store__kvview v = {
	    src->key,          src->key_len, src->value, src->value_len, src->create_revision,
	    src->mod_revision, src->version, src->lease};
	return gw_store__kv_dup(dst, &v, src->value != NULL);
}

static void view_of(struct gw_store__kvview *v, const struct gw_kv *kv)
{
	v->key = kv->key;
	v->key_len = kv->key_len;
	v->value = kv->value;
	v->value_len = kv->value_len;
	v->create_revision = kv->create_revision;
	v->mod_revision = kv->mod_revision;
	v->version = kv->version;
	v->lease = kv->lease;
}

/* event record: type (1), has_prev (1), kv record, [prev kv record] */
int gw_store__dec_event(const unsigned char *p, size_t len, struct gw_event *ev)
{
	struct gw_store__kvview kv, prev;
	size_t used, used2;
	int rv;

	memset(ev, 0, sizeof(*ev));
	if (len < 2 || p[0] > 1) {
		return GW_ECORRUPT;
	}
	rv = gw_store__dec_kv(p + 2, len - 2, &kv, &used);
	if (rv != 0) {
		return rv;
	}
	ev->type = p[0] ? GW_EVENT_DELETE : GW_EVENT_PUT;
	rv = gw_store__kv_dup(&ev->kv, &kv, ev->type == GW_EVENT_PUT);
	if (rv != 0) {
		return rv;
	}
	if (p[1]) {
		rv = gw_store__dec_kv(p + 2 + used, len - 2 - used, &prev, &used2);
		if (rv == 0) {
			rv = gw_store__kv_dup(&ev->prev_kv, &prev, true);
		}
		if (rv != 0) {
			gw_store_kv_free(&ev->kv);
			return rv;
		}
		ev->has_prev_kv = true;
	}
	return 0;
}

/* Views of the history event at @p: its key, and its prev kv if any. */
static int peek_event(const unsigned char *p, size_t len, int *type, struct gw_store__kvview *kv,
		      bool *has_prev, struct gw_store__kvview *prev)
{
	size_t used, used2;
	int rv;
	if (len < 2 || p[0] > 1) {
		return GW_ECORRUPT;
	}
	*type = p[0];
	rv = gw_store__dec_kv(p + 2, len - 2, kv, &used);
	if (rv != 0) {
		return rv;
	}
	*has_prev = p[1] != 0;
	if (*has_prev) {
		return gw_store__dec_kv(p + 2 + used, len - 2 - used, prev, &used2);
	}
	return 0;
}

/* reading */

struct item {
	struct gw_store__kvview kv;
	bool present;
};

struct items {
	struct item *v;
	size_t n;
	size_t cap;
	bool unsorted; /* a group of long keys was seen */
};

static int items_push(struct items *it, const struct gw_store__kvview *kv)
{
	if (it->n == it->cap) {
		size_t cap = it->cap ? it->cap * 2 : 16;
		struct item *v = realloc(it->v, cap * sizeof(*v));
		if (v == NULL) {
			return GW_ENOMEM;
		}
		it->v = v;
		it->cap = cap;
	}
	it->v[it->n].kv = *kv;
	it->v[it->n].present = true;
	it->n++;
	return 0;
}

static int item_key_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return gw_store__bytes_cmp(x->kv.key, x->kv.key_len, y->kv.key, y->kv.key_len);
}

int gw_store__kv_get(struct gw_store *s, MDB_txn *txn, const char *key, size_t len,
		     struct gw_store__kvview *kv)
{
	unsigned char enc[GW_STORE__ENC_MAX];
	MDB_val k, v;
	size_t used;
	int rc, rv;

	k.mv_size = gw_store__enc_key(key, len, enc);
	k.mv_data = enc;
	rc = mdb_get(txn, s->kv, &k, &v);
	if (rc == MDB_NOTFOUND) {
		return GW_ENOTFOUND;
	}
	if (rc != 0) {
		return gw_store__mdb_err(rc, "kv get");
	}
	rv = gw_store__dec_kv(v.mv_data, v.mv_size, kv, &used);
	if (rv != 0) {
		gw_errorf("store", "corrupt kv record");
		return rv;
	}
	if (kv->key_len != len || memcmp(kv->key, key, len) != 0) {
		return GW_EEXIST; /* another long key with the same prefix and hash */
	}
	return 0;
}

/* Current kvs of range @r, sorted by key, as views valid in @txn. */
static int collect(struct gw_store *s, MDB_txn *txn, const struct gw_store__range *r,
		   struct items *it)
{
	unsigned char enc[GW_STORE__ENC_MAX];
	struct gw_store__kvview kv;
	MDB_cursor *c;
	MDB_val k, v;
	size_t used, tlen;
	int rc, rv = 0;

	if (r->kind == GW_STORE__POINT) {
		rv = gw_store__kv_get(s, txn, r->key, r->key_len, &kv);
		if (rv == GW_ENOTFOUND || rv == GW_EEXIST) {
			return 0;
		}
		return rv == 0 ? items_push(it, &kv) : rv;
	}
	rc = mdb_cursor_open(txn, s->kv, &c);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "cursor open");
	}
	/* seek to the first key >= the start's inline part */
	tlen = r->key_len < GW_STORE__INLINE ? r->key_len : GW_STORE__INLINE;
	memcpy(enc, r->key, tlen);
	k.mv_size = tlen;
	k.mv_data = enc;
	if (tlen == 0) {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		rv = gw_store__dec_kv(v.mv_data, v.mv_size, &kv, &used);
		if (rv != 0) {
			gw_errorf("store", "corrupt kv record");
			goto out;
		}
		if (r->kind == GW_STORE__SPAN &&
		    gw_store__bytes_cmp(kv.key, kv.key_len, r->end, r->end_len) >= 0) {
			size_t ke = r->end_len < GW_STORE__INLINE ? r->end_len : GW_STORE__INLINE;
			if (kv.key_len <= GW_STORE__INLINE ||
			    gw_store__bytes_cmp(kv.key, GW_STORE__INLINE, r->end, ke) > 0) {
				break;
			}
			continue; /* inside a group of long keys: later ones may be < end */
		}
		if (gw_store__bytes_cmp(kv.key, kv.key_len, r->key, r->key_len) < 0) {
			continue;
		}
		if (kv.key_len > GW_STORE__INLINE) {
			it->unsorted = true;
		}
		rv = items_push(it, &kv);
		if (rv != 0) {
			goto out;
		}
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rv = gw_store__mdb_err(rc, "cursor get");
	}
out:
	mdb_cursor_close(c);
	if (rv == 0 && it->unsorted && it->n > 1) {
		qsort(it->v, it->n, sizeof(*it->v), item_key_cmp);
	}
	return rv;
}

/* Turn the current kvs of @it into the kvs as of revision @at by undoing the
 * history events after it, newest first. */
static int undo_to(struct gw_store *s, MDB_txn *txn, const struct gw_store__range *r, int64_t at,
		   struct items *it)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, rv = 0;

	rc = mdb_cursor_open(txn, s->hist, &c);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "cursor open");
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_LAST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
		struct gw_store__kvview kv, prev;
		struct item key_item;
		struct item *found;
		bool has_prev;
		int type;

		if (k.mv_size != 16) {
			rv = GW_ECORRUPT;
			break;
		}
		if ((int64_t)gw_store__get_u64(k.mv_data) <= at) {
			break;
		}
		rv = peek_event(v.mv_data, v.mv_size, &type, &kv, &has_prev, &prev);
		if (rv != 0) {
			gw_errorf("store", "corrupt history record");
			break;
		}
		if (!gw_store__in_range(r, kv.key, kv.key_len)) {
			continue;
		}
		key_item.kv = kv;
		found =
		    it->n ? bsearch(&key_item, it->v, it->n, sizeof(*it->v), item_key_cmp) : NULL;
		if (found == NULL) {
			size_t lo = 0, hi = it->n;
			/* insert in key order */
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (item_key_cmp(&it->v[mid], &key_item) < 0) {
					lo = mid + 1;
				} else {
					hi = mid;
				}
			}
			rv = items_push(it, &kv);
			if (rv != 0) {
				break;
			}
			memmove(&it->v[lo + 1], &it->v[lo], (it->n - 1 - lo) * sizeof(*it->v));
			it->v[lo].kv = kv;
			found = &it->v[lo];
		}
		if (has_prev) {
			found->kv = prev;
			found->present = true;
		} else {
			found->present = false;
		}
	}
	if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
		rv = gw_store__mdb_err(rc, "cursor get");
	}
	mdb_cursor_close(c);
	return rv;
}

/* Kvs of range @r as of revision @at (0 = current), sorted by key. */
static int collect_at(struct gw_store *s, MDB_txn *txn, const struct gw_store__range *r, int64_t at,
		      int64_t cur_rev, struct items *it)
{
	int rv = collect(s, txn, r, it);
	size_t j = 0;
	if (rv != 0 || at <= 0 || at >= cur_rev) {
		return rv;
	}
	rv = undo_to(s, txn, r, at, it);
	if (rv != 0) {
		return rv;
	}
	for (size_t i = 0; i < it->n; i++) {
		if (it->v[i].present) {
			it->v[j++] = it->v[i];
		}
	}
	it->n = j;
	return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : (a > b ? 1 : 0);
}

static enum gw_sort_target sort_target;

static int item_sort_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = 0;
	switch (sort_target) {
	case GW_SORT_KEY:
		break;
	case GW_SORT_VERSION:
		c = cmp_i64(x->kv.version, y->kv.version);
		break;
	case GW_SORT_CREATE:
		c = cmp_i64(x->kv.create_revision, y->kv.create_revision);
		break;
	case GW_SORT_MOD:
		c = cmp_i64(x->kv.mod_revision, y->kv.mod_revision);
		break;
	case GW_SORT_VALUE:
		c = gw_store__bytes_cmp(x->kv.value, x->kv.value_len, y->kv.value, y->kv.value_len);
		break;
	}
	return c != 0 ? c : item_key_cmp(a, b);
}

int gw_store__range_txn(struct gw_store *s, MDB_txn *txn, const struct gw_range_req *req,
			int64_t cur_rev, struct gw_range_resp *out)
{
	struct gw_store__range r;
	struct items it = {0};
	enum gw_sort_order order = req->sort_order;
	size_t j = 0, n;
	int rv;

	memset(out, 0, sizeof(*out));
	out->revision = cur_rev;
	if (req->key_len == 0 || req->key == NULL) {
		return GW_EKEYEMPTY;
	}
	if (req->revision > cur_rev) {
		return GW_EFUTUREREV;
	}
	if (req->revision > 0 && req->revision < s->compact_rev) {
		return GW_ECOMPACTED;
	}
	gw_store__range_of(&r, req->key, req->key_len, req->range_end, req->range_end_len);
	rv = collect_at(s, txn, &r, req->revision, cur_rev, &it);
	if (rv != 0) {
		goto out;
	}
	out->count = (int64_t)it.n;
	if (req->count_only) {
		goto out;
	}
	for (size_t i = 0; i < it.n; i++) {
		const struct gw_store__kvview *kv = &it.v[i].kv;
		if ((req->min_mod_revision && kv->mod_revision < req->min_mod_revision) ||
		    (req->max_mod_revision && kv->mod_revision > req->max_mod_revision) ||
		    (req->min_create_revision && kv->create_revision < req->min_create_revision) ||
		    (req->max_create_revision && kv->create_revision > req->max_create_revision)) {
			continue;
		}
		it.v[j++] = it.v[i];
	}
	it.n = j;
	if (order == GW_SORT_NONE && req->sort_target != GW_SORT_KEY) {
		order = GW_SORT_ASCEND;
	}
	if (order != GW_SORT_NONE && req->sort_target != GW_SORT_KEY && it.n > 1) {
		sort_target = req->sort_target; /* the store is single-threaded */
		qsort(it.v, it.n, sizeof(*it.v), item_sort_cmp);
	}
	if (order == GW_SORT_DESCEND) {
		for (size_t i = 0; i < it.n / 2; i++) {
			struct item t = it.v[i];
			it.v[i] = it.v[it.n - 1 - i];
			it.v[it.n - 1 - i] = t;
		}
	}
	n = it.n;
	if (req->limit > 0 && n > (size_t)req->limit) {
		n = (size_t)req->limit;
		out->more = true;
	}
	if (n > 0) {
		out->kvs = calloc(n, sizeof(*out->kvs));
		if (out->kvs == NULL) {
			rv = GW_ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		rv = gw_store__kv_dup(&out->kvs[i], &it.v[i].kv, !req->keys_only);
		if (rv != 0) {
			goto out;
		}
		out->n_kvs++;
	}
out:
	free(it.v);
	if (rv != 0) { /* errors leave an empty response */
		int64_t rev = out->revision;
		gw_store_range_resp_free(out);
		out->revision = rev;
	}
	return rv;
}

/* writing */

int gw_store__wctx_rev(const struct gw_store__wctx *w)
{
	return w->changes > 0 ? 1 : 0;
}

static int push_event(struct gw_store__wctx *w, enum gw_event_type type,
		      const struct gw_store__kvview *kv, const struct gw_kv *prev)
{
	struct gw_event *ev;
	int rv;
	if (gw_list_empty(&w->s->watchers)) {
		return 0; /* nobody to tell: no copies (watchers join only between writes) */
	}
	if (w->n_evs == w->cap_evs) {
		size_t cap = w->cap_evs ? w->cap_evs * 2 : 4;
		struct gw_event *v = realloc(w->evs, cap * sizeof(*v));
		if (v == NULL) {
			return GW_ENOMEM;
		}
		w->evs = v;
		w->cap_evs = cap;
	}
	ev = &w->evs[w->n_evs];
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	rv = gw_store__kv_dup(&ev->kv, kv, type == GW_EVENT_PUT);
	if (rv != 0) {
		return rv;
	}
	if (prev != NULL) {
		rv = gw_store__kv_copy(&ev->prev_kv, prev);
		if (rv != 0) {
			gw_store_kv_free(&ev->kv);
			return rv;
		}
		ev->has_prev_kv = true;
	}
	w->n_evs++;
	return 0;
}

/* Append the history event (rev + 1, changes) and count the change. */
static int write_event(struct gw_store__wctx *w, enum gw_event_type type,
		       const struct gw_store__kvview *kv, const struct gw_kv *prev)
{
	struct gw_store__kvview pv;
	unsigned char hk[16];
	MDB_val k, v;
	size_t size = 2 + kv_size(kv->key_len, kv->value_len);
	unsigned char *p;
	int rc;

	if (prev != NULL) {
		view_of(&pv, prev);
		size += kv_size(pv.key_len, pv.value_len);
	}
	gw_store__put_u64(hk, (uint64_t)(w->rev + 1));
	gw_store__put_u64(hk + 8, (uint64_t)w->changes);
	k.mv_size = 16;
	k.mv_data = hk;
	v.mv_size = size;
	rc = mdb_put(w->txn, w->s->hist, &k, &v, MDB_RESERVE | MDB_APPEND);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "history put");
	}
	w->size += GW_STORE__REC(16, size);
	p = v.mv_data;
	p[0] = type == GW_EVENT_DELETE;
	p[1] = prev != NULL;
	p = enc_kv(p + 2, kv);
	if (prev != NULL) {
		enc_kv(p, &pv);
	}
	w->changes++;
	return push_event(w, type, kv, prev);
}

int gw_store__do_put(struct gw_store__wctx *w, const struct gw_put_req *req,
		     struct gw_store_result *res)
{
	struct gw_store *s = w->s;
	struct gw_store__kvview old, nkv;
	struct gw_kv prev = {0};
	unsigned char enc[GW_STORE__ENC_MAX];
	MDB_val k, v;
	bool found;
	int64_t rev = w->rev + 1;
	int rv, rc;

	rv = gw_store__kv_get(s, w->txn, req->key, req->key_len, &old);
	if (rv == GW_EEXIST) {
		/* 64-bit hash collision of two long keys: refuse, never overwrite */
		gw_warnf("store", "put: long key collides with a stored key; refused");
		return GW_EKEYTOOLARGE;
	}
	if (rv != 0 && rv != GW_ENOTFOUND) {
		return rv;
	}
	found = rv == 0;
	if ((req->ignore_value || req->ignore_lease) && !found) {
		return GW_ENOTFOUND;
	}
	nkv.key = req->key;
	nkv.key_len = req->key_len;
	nkv.value = req->ignore_value ? old.value : req->value;
	nkv.value_len = req->ignore_value ? old.value_len : req->value_len;
	nkv.lease = req->ignore_lease ? old.lease : req->lease;
	if (!req->ignore_lease && req->lease != 0) {
		rv = gw_store__lease_exists(s, w->txn, req->lease);
		if (rv != 0) {
			return rv;
		}
	}
	nkv.create_revision = found ? old.create_revision : rev;
	nkv.mod_revision = rev;
	nkv.version = found ? old.version + 1 : 1;
	if (found) {
		/* copy before the page holding it is rewritten */
		rv = gw_store__kv_dup(&prev, &old, true);
		if (rv != 0) {
			return rv;
		}
		nkv.value = req->ignore_value ? prev.value : nkv.value;
	}
	k.mv_size = gw_store__enc_key(req->key, req->key_len, enc);
	k.mv_data = enc;
	v.mv_size = kv_size(nkv.key_len, nkv.value_len);
	rc = mdb_put(w->txn, s->kv, &k, &v, MDB_RESERVE);
	if (rc != 0) {
		rv = gw_store__mdb_err(rc, "kv put");
		goto out;
	}
	w->size += GW_STORE__REC(k.mv_size, v.mv_size);
	if (found) {
		w->size -= GW_STORE__REC(k.mv_size, kv_size(prev.key_len, prev.value_len));
	}
	enc_kv(v.mv_data, &nkv);
	if (found && prev.lease != nkv.lease && prev.lease != 0) {
		rv = gw_store__lease_detach(w, prev.lease, req->key, req->key_len);
		if (rv != 0) {
			goto out;
		}
	}
	if (nkv.lease != 0 && (!found || prev.lease != nkv.lease)) {
		rv = gw_store__lease_attach(w, nkv.lease, req->key, req->key_len);
		if (rv != 0) {
			goto out;
		}
	}
	rv = write_event(w, GW_EVENT_PUT, &nkv, found ? &prev : NULL);
	if (rv != 0) {
		goto out;
	}
	res->revision = rev;
	if (req->prev_kv && found) {
		res->prev_kv = prev;
		res->has_prev_kv = true;
		return 0;
	}
out:
	gw_store_kv_free(&prev);
	return rv;
}

static void kvs_free(struct gw_kv *kvs, size_t n)
{
	if (kvs == NULL) {
		return;
	}
	for (size_t i = 0; i < n; i++) {
		gw_store_kv_free(&kvs[i]);
	}
	free(kvs);
}

int gw_store__do_delete(struct gw_store__wctx *w, const struct gw_store__range *r, bool prev_kv,
			struct gw_store_result *res)
{
	struct gw_store *s = w->s;
	struct items it = {0};
	struct gw_kv *olds = NULL;
	size_t n = 0;
	int rv;

	rv = collect(s, w->txn, r, &it);
	if (rv != 0) {
		goto out;
	}
	if (it.n > 0) {
		olds = calloc(it.n, sizeof(*olds));
		if (olds == NULL) {
			rv = GW_ENOMEM;
			goto out;
		}
	}
	/* own copies first: deleting rewrites the pages the views point into */
	for (; n < it.n; n++) {
		rv = gw_store__kv_dup(&olds[n], &it.v[n].kv, true);
		if (rv != 0) {
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char enc[GW_STORE__ENC_MAX];
		struct gw_store__kvview tomb = {0};
		MDB_val k;
		int rc;

		k.mv_size = gw_store__enc_key(olds[i].key, olds[i].key_len, enc);
		k.mv_data = enc;
		rc = mdb_del(w->txn, s->kv, &k, NULL);
		if (rc != 0) {
			rv = gw_store__mdb_err(rc, "kv delete");
			goto out;
		}
		w->size -= GW_STORE__REC(k.mv_size, kv_size(olds[i].key_len, olds[i].value_len));
		if (olds[i].lease != 0) {
			rv = gw_store__lease_detach(w, olds[i].lease, olds[i].key, olds[i].key_len);
			if (rv != 0) {
				goto out;
			}
		}
		tomb.key = olds[i].key;
		tomb.key_len = olds[i].key_len;
		tomb.value = "";
		tomb.mod_revision = w->rev + 1;
		rv = write_event(w, GW_EVENT_DELETE, &tomb, &olds[i]);
		if (rv != 0) {
			goto out;
		}
	}
	res->deleted = (int64_t)n;
	res->revision = w->rev + gw_store__wctx_rev(w);
	if (prev_kv && n > 0) {
		res->prev_kvs = olds;
		res->n_prev_kvs = n;
		olds = NULL;
	}
out:
	kvs_free(olds, n);
	free(it.v);
	return rv;
}

/* txn */

struct path {
	bool *v; /* branch taken by each txn, in execution order */
	size_t n;
	size_t cap;
	size_t pos;
};

static int compare_kv(const struct gw_compare *c, const struct gw_store__kvview *kv)
{
	int r;
	switch (c->target) {
	case GW_CMP_VALUE:
		r = gw_store__bytes_cmp(kv->value, kv->value_len, c->value, c->value_len);
		break;
	case GW_CMP_VERSION:
		r = cmp_i64(kv->version, c->number);
		break;
	case GW_CMP_CREATE:
		r = cmp_i64(kv->create_revision, c->number);
		break;
	case GW_CMP_MOD:
		r = cmp_i64(kv->mod_revision, c->number);
		break;
	case GW_CMP_LEASE:
		r = cmp_i64(kv->lease, c->number);
		break;
	default:
		return false;
	}
	switch (c->result) {
	case GW_CMP_EQUAL:
		return r == 0;
	case GW_CMP_NOT_EQUAL:
		return r != 0;
	case GW_CMP_GREATER:
		return r > 0;
	case GW_CMP_LESS:
		return r < 0;
	}
	return false;
}

static int eval_compare(struct gw_store__wctx *w, const struct gw_compare *c, bool *ok)
{
	struct gw_store__range r;
	struct items it = {0};
	int rv;

	gw_store__range_of(&r, c->key, c->key_len, c->range_end, c->range_end_len);
	rv = collect(w->s, w->txn, &r, &it);
	if (rv != 0) {
		free(it.v);
		return rv;
	}
	if (it.n == 0) {
		struct gw_store__kvview zero = {0};
		zero.value = "";
		*ok = c->target != GW_CMP_VALUE && compare_kv(c, &zero);
	} else {
		*ok = true;
		for (size_t i = 0; i < it.n && *ok; i++) {
			*ok = compare_kv(c, &it.v[i].kv);
		}
	}
	free(it.v);
	return 0;
}

/* Decide every branch against the state before the txn writes anything,
 * like etcd does. */
static int eval_path(struct gw_store__wctx *w, const struct gw_txn_req *t, struct path *p)
{
	const struct gw_store_op *ops;
	size_t n;
	bool ok = true;
	int rv;

	for (size_t i = 0; i < t->n_compares && ok; i++) {
		rv = eval_compare(w, &t->compares[i], &ok);
		if (rv != 0) {
			return rv;
		}
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		bool *v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL) {
			return GW_ENOMEM;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = ok;
	ops = ok ? t->success : t->failure;
	n = ok ? t->n_success : t->n_failure;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].type == GW_OP_TXN) {
			rv = eval_path(w, &ops[i].u.txn, p);
			if (rv != 0) {
				return rv;
			}
		}
	}
	return 0;
}

static int exec_txn(struct gw_store__wctx *w, const struct gw_txn_req *t, struct path *p,
		    struct gw_store_result *res)
{
	const struct gw_store_op *ops;
	size_t n;
	bool ok = p->v[p->pos++];
	int rv;

	res->succeeded = ok;
	ops = ok ? t->success : t->failure;
	n = ok ? t->n_success : t->n_failure;
	if (n > 0) {
		res->responses = calloc(n, sizeof(*res->responses));
		if (res->responses == NULL) {
			return GW_ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct gw_store_op *op = &ops[i];
		struct gw_store_result *sub = &res->responses[i];
		struct gw_store__range r;

		res->n_responses++;
		sub->type = op->type;
		switch (op->type) {
		case GW_OP_RANGE:
			/* like etcd, "future" is judged against the txn's start */
			if (op->u.range.revision > w->rev) {
				rv = GW_EFUTUREREV;
				break;
			}
			rv = gw_store__range_txn(w->s, w->txn, &op->u.range,
						 w->rev + gw_store__wctx_rev(w), &sub->range);
			sub->revision = w->rev + gw_store__wctx_rev(w);
			break;
		case GW_OP_PUT:
			rv = gw_store__do_put(w, &op->u.put, sub);
			break;
		case GW_OP_DELETE:
			gw_store__range_of(&r, op->u.del.key, op->u.del.key_len,
					   op->u.del.range_end, op->u.del.range_end_len);
			rv = gw_store__do_delete(w, &r, op->u.del.prev_kv, sub);
			break;
		case GW_OP_TXN:
			rv = exec_txn(w, &op->u.txn, p, sub);
			sub->revision = w->rev + gw_store__wctx_rev(w);
			break;
		default:
			rv = GW_EINVAL;
			break;
		}
		if (rv != 0) {
			return rv;
		}
	}
	return 0;
}

int gw_store__do_txn(struct gw_store__wctx *w, const struct gw_txn_req *req,
		     struct gw_store_result *res)
{
	struct path p = {0};
	int rv = eval_path(w, req, &p);
	if (rv == 0) {
		rv = exec_txn(w, req, &p, res);
	}
	free(p.v);
	res->revision = w->rev + gw_store__wctx_rev(w);
	return rv;
}

/* compaction */

int gw_store__compact_to(struct gw_store__wctx *w, int64_t revision)
{
	struct gw_store *s = w->s;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, rv = 0;

	rc = mdb_cursor_open(w->txn, s->hist, &c);
	if (rc != 0) {
		return gw_store__mdb_err(rc, "cursor open");
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		int64_t rev;
		if (k.mv_size != 16 || v.mv_size < 1) {
			rv = GW_ECORRUPT;
			break;
		}
		rev = (int64_t)gw_store__get_u64(k.mv_data);
		if (rev > revision) {
			break;
		}
		/* like etcd, a compacted store keeps the puts at the compact
		 * revision itself (a watch may start there), not its deletes */
		if (rev == revision && ((const unsigned char *)v.mv_data)[0] == 0) {
			continue;
		}
		w->size -= GW_STORE__REC(k.mv_size, v.mv_size);
		rc = mdb_cursor_del(c, 0);
		if (rc != 0) {
			break;
		}
	}
	mdb_cursor_close(c);
	if (rv != 0) {
		gw_errorf("store", "corrupt history key");
		return rv;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		return gw_store__mdb_err(rc, "compact");
	}
	w->compact = revision;
	return gw_store__sys_put(s, w->txn, "compact", (uint64_t)revision);
}

int gw_store__do_compact(struct gw_store__wctx *w, int64_t revision)
{
	if (revision <= w->s->compact_rev) {
		return GW_ECOMPACTED;
	}
	if (revision > w->rev) {
		return GW_EFUTUREREV;
	}
	return gw_store__compact_to(w, revision);
}
