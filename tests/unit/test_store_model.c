/* test_store_model.c: random op sequences against the real store and a
 * plain in-memory model of etcd's semantics written here; every result is
 * compared (ranges at current and past revisions with every option,
 * revisions, versions, txn outcomes, deletes, leases, compaction), a watcher
 * must see exactly the model's change of every revision, the store is
 * reopened now and then, and a snapshot restored elsewhere must read back
 * the same. Seeds are fixed and printed; GW_MODEL_SEED=<n> runs one seed. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"
#include "store/store_int.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NK      10   /* keys in the universe */
#define NOPS    800  /* ops per seed */
#define MAXREV  1024 /* > NOPS + 1 */
#define HISTORY 60   /* auto-compaction window of the store under test */
#define MAXEV   4096

static char long1[601], long2[601];
static const char *keys[NK] = {"a", "b", "c", "d", "p/1", "p/2", "p/3", "q", long1, long2};
static const char *bounds[] = {"a", "b", "c0", "d", "p/",  "p/2", "p0",
			       "q", "r", "L",  "M", long1, long2};

struct mkv {
	bool present;
	char value[8];
	int64_t create, mod, version, lease;
};

struct model {
	struct mkv st[MAXREV][NK]; /* state after each revision */
	int64_t rev;
	int64_t compact;
	int64_t leases[64];
	int n_leases;
};

/* events seen by the watcher */
struct seen {
	int64_t rev[MAXEV];
	int key[MAXEV];
	int type[MAXEV];
	char value[MAXEV][8];
	size_t n;
	int64_t next; /* next revision expected */
	struct gw_watcher *w;
};

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static size_t klen(const char *k)
{
	return strlen(k);
}

static int key_index(const char *k, size_t len)
{
	for (int i = 0; i < NK; i++) {
		if (len == klen(keys[i]) && memcmp(k, keys[i], len) == 0) {
			return i;
		}
	}
	return -1;
}

static int bcmp_(const char *a, size_t al, const char *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	int c = memcmp(a, b, n);
	if (c != 0) {
		return c < 0 ? -1 : 1;
	}
	return al < bl ? -1 : (al > bl ? 1 : 0);
}

/* a random range: one key, [b1, b2), or from-key */
struct rng_range {
	const char *key;
	const char *end; /* NULL = one key; "" = from key ("\0") */
};

static struct rng_range rand_range(void)
{
	struct rng_range r;
	switch (rnd(3)) {
	case 0:
		r.key = keys[rnd(NK)];
		r.end = NULL;
		break;
	case 1:
		r.key = bounds[rnd(sizeof(bounds) / sizeof(bounds[0]))];
		r.end = bounds[rnd(sizeof(bounds) / sizeof(bounds[0]))];
		break;
	default:
		r.key = bounds[rnd(sizeof(bounds) / sizeof(bounds[0]))];
		r.end = "";
		break;
	}
	return r;
}

static bool in_range(const struct rng_range *r, int k)
{
	const char *s = keys[k];
	if (r->end == NULL) {
		return strcmp(s, r->key) == 0;
	}
	if (bcmp_(s, klen(s), r->key, klen(r->key)) < 0) {
		return false;
	}
	return r->end[0] == '\0' || bcmp_(s, klen(s), r->end, klen(r->end)) < 0;
}

static size_t end_len(const char *end)
{
	return end == NULL ? 0 : (end[0] == '\0' ? 1 : strlen(end));
}

static const char *end_ptr(const char *end)
{
	return end == NULL ? NULL : (end[0] == '\0' ? "\0" : end);
}

static bool lease_exists(const struct model *m, int64_t id)
{
	for (int i = 0; i < m->n_leases; i++) {
		if (m->leases[i] == id) {
			return true;
		}
	}
	return false;
}

/* model range over state @st; fills @idx with key indexes in result order */
struct mrange {
	int idx[NK];
	int n;
	int64_t count;
	bool more;
};

static enum gw_sort_target g_target;
static const struct mkv *g_st;

static int model_sort_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	const struct mkv *p = &g_st[x], *q = &g_st[y];
	int c = 0;
	switch (g_target) {
	case GW_SORT_KEY:
		break;
	case GW_SORT_VERSION:
		c = (p->version > q->version) - (p->version < q->version);
		break;
	case GW_SORT_CREATE:
		c = (p->create > q->create) - (p->create < q->create);
		break;
	case GW_SORT_MOD:
		c = (p->mod > q->mod) - (p->mod < q->mod);
		break;
	case GW_SORT_VALUE:
		c = bcmp_(p->value, strlen(p->value), q->value, strlen(q->value));
		break;
	}
	if (c == 0) {
		c = bcmp_(keys[x], klen(keys[x]), keys[y], klen(keys[y]));
	}
	return c;
}

static void model_range(const struct mkv *st, const struct rng_range *r,
			const struct gw_range_req *q, struct mrange *out)
{
	int order[NK], n = 0;
	enum gw_sort_order so = q->sort_order;

	for (int i = 0; i < NK; i++) {
		order[i] = i;
	}
	g_st = st;
	g_target = GW_SORT_KEY;
	qsort(order, NK, sizeof(int), model_sort_cmp); /* key order */
	out->n = 0;
	out->more = false;
	out->count = 0;
	for (int j = 0; j < NK; j++) {
		int i = order[j];
		if (!st[i].present || !in_range(r, i)) {
			continue;
		}
		out->count++;
		if ((q->min_mod_revision && st[i].mod < q->min_mod_revision) ||
		    (q->max_mod_revision && st[i].mod > q->max_mod_revision) ||
		    (q->min_create_revision && st[i].create < q->min_create_revision) ||
		    (q->max_create_revision && st[i].create > q->max_create_revision)) {
			continue;
		}
		out->idx[n++] = i;
	}
	if (q->count_only) {
		return;
	}
	if (so == GW_SORT_NONE && q->sort_target != GW_SORT_KEY) {
		so = GW_SORT_ASCEND;
	}
	g_target = q->sort_target;
	if (so != GW_SORT_NONE) {
		qsort(out->idx, (size_t)n, sizeof(int), model_sort_cmp);
	}
	if (so == GW_SORT_DESCEND) {
		for (int i = 0; i < n / 2; i++) {
			int t = out->idx[i];
			out->idx[i] = out->idx[n - 1 - i];
			out->idx[n - 1 - i] = t;
		}
	}
	if (q->limit > 0 && n > q->limit) {
		n = (int)q->limit;
		out->more = true;
	}
	out->n = n;
}

static void check_kv(const struct gw_kv *kv, int i, const struct mkv *m, bool keys_only)
{
	assert_int_equal(kv->key_len, klen(keys[i]));
	assert_memory_equal(kv->key, keys[i], kv->key_len);
	assert_int_equal(kv->create_revision, m->create);
	assert_int_equal(kv->mod_revision, m->mod);
	assert_int_equal(kv->version, m->version);
	assert_int_equal(kv->lease, m->lease);
	if (keys_only) {
		assert_null(kv->value);
	} else {
		assert_int_equal(kv->value_len, strlen(m->value));
		assert_memory_equal(kv->value, m->value, kv->value_len);
	}
}

static void check_range(const struct mkv *st, const struct rng_range *r,
			const struct gw_range_req *q, const struct gw_range_resp *got)
{
	struct mrange want;
	model_range(st, r, q, &want);
	assert_int_equal(got->count, want.count);
	assert_int_equal(got->n_kvs, (size_t)want.n);
	assert_int_equal(got->more, want.more);
	for (int i = 0; i < want.n; i++) {
		check_kv(&got->kvs[i], want.idx[i], &st[want.idx[i]], q->keys_only);
	}
}

static struct gw_range_req rand_req(const struct rng_range *r, int64_t revision)
{
	struct gw_range_req q = {0};
	q.key = r->key;
	q.key_len = klen(r->key);
	q.range_end = end_ptr(r->end);
	q.range_end_len = end_len(r->end);
	q.revision = revision;
	if (rnd(3) == 0) {
		q.limit = rnd(4);
	}
	if (rnd(3) == 0) {
		q.sort_order = (enum gw_sort_order)rnd(3);
		q.sort_target = (enum gw_sort_target)rnd(5);
	}
	q.keys_only = rnd(6) == 0;
	q.count_only = rnd(8) == 0;
	if (rnd(6) == 0) {
		q.min_mod_revision = rnd(40);
		q.max_create_revision = rnd(3) ? 0 : rnd(400);
	}
	return q;
}

/* the store under test */
struct sut {
	char dir[64];
	struct gw_store_opts opts;
	struct gw_store *s;
	uint64_t index;
	struct seen *seen;
	struct model *m;
};

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct seen *sn = data;
	(void)w;
	for (size_t i = 0; i < n; i++) {
		assert_true(sn->n < MAXEV);
		assert_true(evs[i].kv.mod_revision >= sn->next); /* never a duplicate */
		sn->rev[sn->n] = evs[i].kv.mod_revision;
		sn->key[sn->n] = key_index(evs[i].kv.key, evs[i].kv.key_len);
		sn->type[sn->n] = evs[i].type;
		snprintf(sn->value[sn->n], sizeof(sn->value[0]), "%.*s",
			 evs[i].type == GW_EVENT_PUT ? (int)evs[i].kv.value_len : 0,
			 evs[i].type == GW_EVENT_PUT ? evs[i].kv.value : "");
		sn->n++;
	}
	sn->next = evs[n - 1].kv.mod_revision + 1;
	return 0;
}

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact, void *data)
{
	struct seen *sn = data;
	(void)w;
	(void)compact;
	assert_int_equal(reason, GW_ESHUTDOWN);
	sn->w = NULL;
}

static void sut_watch(struct sut *t)
{
	struct gw_watch_opts o = {0};
	o.key = "\0";
	o.key_len = 1;
	o.range_end = "\0";
	o.range_end_len = 1;
	o.start_revision = t->seen->next;
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = t->seen;
	assert_int_equal(gw_store_watch(t->s, &o, &t->seen->w), 0);
	assert_non_null(t->seen->w);
}

static void sut_open(struct sut *t)
{
	assert_int_equal(gw_store_open(&t->opts, &t->s), 0);
	sut_watch(t);
}

static int64_t cur_rev(const struct model *m)
{
	return m->rev;
}

/* Commit the working state @w as a new revision if anything changed. */
static void model_commit(struct model *m, const struct mkv *w, bool changed)
{
	if (!changed) {
		return;
	}
	assert_true(m->rev + 1 < MAXREV);
	memcpy(m->st[m->rev + 1], w, sizeof(m->st[0]));
	m->rev++;
	if (m->rev - HISTORY > m->compact) {
		m->compact = m->rev - HISTORY;
	}
}

static int write(struct sut *t, const struct gw_store_op *op, struct gw_store_result *res)
{
	int rv = gw_store_write(t->s, ++t->index, op, res);
	assert_int_equal(rv, 0);
	assert_int_equal(gw_store_applied_index(t->s), t->index);
	return res->err;
}

/* model put into working state @w at revision @rev; 0 or an error */
static int model_put(const struct model *m, struct mkv *w, int k, const struct gw_put_req *p,
		     int64_t rev)
{
	struct mkv *e = &w[k];
	if ((p->ignore_value || p->ignore_lease) && !e->present) {
		return GW_ENOTFOUND;
	}
	if (!p->ignore_lease && p->lease != 0 && !lease_exists(m, p->lease)) {
		return GW_ELEASENOTFOUND;
	}
	if (!e->present) {
		e->create = rev;
		e->version = 0;
	}
	e->present = true;
	e->mod = rev;
	e->version++;
	if (!p->ignore_value) {
		snprintf(e->value, sizeof(e->value), "%.*s", (int)p->value_len, p->value);
	}
	if (!p->ignore_lease) {
		e->lease = p->lease;
	}
	return 0;
}

static char values[16][8];

static struct gw_put_req rand_put(const struct model *m, int *k)
{
	struct gw_put_req p = {0};
	*k = (int)rnd(NK);
	p.key = keys[*k];
	p.key_len = klen(keys[*k]);
	p.value = values[rnd(16)];
	p.value_len = strlen(p.value);
	switch (rnd(6)) {
	case 0:
		p.lease = m->n_leases ? m->leases[rnd((uint32_t)m->n_leases)] : 0;
		break;
	case 1:
		p.lease = 424242; /* never granted */
		break;
	default:
		break;
	}
	p.prev_kv = rnd(2);
	if (rnd(10) == 0) {
		p.ignore_value = true;
		p.value = "";
		p.value_len = 0;
	}
	if (rnd(10) == 0) {
		p.ignore_lease = true;
		p.lease = 0;
	}
	return p;
}

static void op_put(struct sut *t)
{
	struct model *m = t->m;
	struct mkv w[NK];
	struct gw_store_op op = {.type = GW_OP_PUT};
	struct gw_store_result res;
	int k, err, want;

	op.u.put = rand_put(m, &k);
	memcpy(w, m->st[m->rev], sizeof(w));
	want = model_put(m, w, k, &op.u.put, m->rev + 1);
	err = write(t, &op, &res);
	assert_int_equal(err, want);
	if (want == 0) {
		const struct mkv *old = &m->st[m->rev][k];
		assert_int_equal(res.revision, m->rev + 1);
		assert_int_equal(res.has_prev_kv, op.u.put.prev_kv && old->present);
		if (res.has_prev_kv) {
			check_kv(&res.prev_kv, k, old, false);
		}
	}
	gw_store_result_free(&res);
	model_commit(m, w, want == 0);
}

/* delete keys of @r in working state @w; returns how many */
static int model_delete(struct mkv *w, const struct rng_range *r)
{
	int n = 0;
	for (int i = 0; i < NK; i++) {
		if (w[i].present && in_range(r, i)) {
			memset(&w[i], 0, sizeof(w[i]));
			n++;
		}
	}
	return n;
}

static void op_delete(struct sut *t)
{
	struct model *m = t->m;
	struct mkv w[NK];
	struct rng_range r = rand_range();
	struct gw_store_op op = {.type = GW_OP_DELETE};
	struct gw_store_result res;
	int n;

	op.u.del.key = r.key;
	op.u.del.key_len = klen(r.key);
	op.u.del.range_end = end_ptr(r.end);
	op.u.del.range_end_len = end_len(r.end);
	op.u.del.prev_kv = rnd(2);
	memcpy(w, m->st[m->rev], sizeof(w));
	n = model_delete(w, &r);
	assert_int_equal(write(t, &op, &res), 0);
	assert_int_equal(res.deleted, n);
	assert_int_equal(res.revision, m->rev + (n > 0));
	assert_int_equal(res.n_prev_kvs, op.u.del.prev_kv ? (size_t)n : 0);
	gw_store_result_free(&res);
	model_commit(m, w, n > 0);
}

static void op_range(struct sut *t)
{
	struct model *m = t->m;
	struct rng_range r = rand_range();
	int64_t at =
	    rnd(4) ? 0 : (int64_t)m->compact - 1 + rnd((uint32_t)(m->rev - m->compact + 3));
	struct gw_range_req q = rand_req(&r, at);
	struct gw_range_resp out;
	int rv = gw_store_range(t->s, &q, &out);

	if (at > m->rev) {
		assert_int_equal(rv, GW_EFUTUREREV);
	} else if (at > 0 && at < m->compact) {
		assert_int_equal(rv, GW_ECOMPACTED);
	} else {
		assert_int_equal(rv, 0);
		assert_int_equal(out.revision, m->rev);
		check_range(m->st[at > 0 ? at : m->rev], &r, &q, &out);
	}
	gw_store_range_resp_free(&out);
}

/* txn: compares, then up to 3 ops per branch (range, put, delete) */
struct tops {
	struct gw_store_op ops[3];
	struct rng_range rr[3]; /* for ranges and deletes */
	int put_key[3];
	size_t n;
};

static void rand_branch(const struct model *m, struct tops *b)
{
	b->n = rnd(4);
	for (size_t i = 0; i < b->n; i++) {
		struct gw_store_op *op = &b->ops[i];
		memset(op, 0, sizeof(*op));
		b->rr[i] = rand_range();
		switch (rnd(3)) {
		case 0:
			op->type = GW_OP_RANGE;
			op->u.range = rand_req(&b->rr[i], 0);
			break;
		case 1:
			op->type = GW_OP_PUT;
			op->u.put = rand_put(m, &b->put_key[i]);
			break;
		default:
			op->type = GW_OP_DELETE;
			op->u.del.key = b->rr[i].key;
			op->u.del.key_len = klen(b->rr[i].key);
			op->u.del.range_end = end_ptr(b->rr[i].end);
			op->u.del.range_end_len = end_len(b->rr[i].end);
			break;
		}
	}
}

static bool branch_has_dup(const struct tops *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->ops[i].type != GW_OP_PUT) {
			continue;
		}
		for (size_t j = 0; j < b->n; j++) {
			if (j == i) {
				continue;
			}
			if (b->ops[j].type == GW_OP_PUT && b->put_key[j] == b->put_key[i]) {
				return true;
			}
			if (b->ops[j].type == GW_OP_DELETE && in_range(&b->rr[j], b->put_key[i])) {
				return true;
			}
		}
	}
	return false;
}

static bool model_compare(const struct mkv *st, const struct gw_compare *c,
			  const struct rng_range *r)
{
	bool any = false;
	for (int i = 0; i < NK; i++) {
		const struct mkv *e = &st[i];
		int x = 0;
		if (!e->present || !in_range(r, i)) {
			continue;
		}
		any = true;
		switch (c->target) {
		case GW_CMP_VALUE:
			x = bcmp_(e->value, strlen(e->value), c->value, c->value_len);
			break;
		case GW_CMP_VERSION:
			x = (e->version > c->number) - (e->version < c->number);
			break;
		case GW_CMP_CREATE:
			x = (e->create > c->number) - (e->create < c->number);
			break;
		case GW_CMP_MOD:
			x = (e->mod > c->number) - (e->mod < c->number);
			break;
		case GW_CMP_LEASE:
			x = (e->lease > c->number) - (e->lease < c->number);
			break;
		}
		if (!((c->result == GW_CMP_EQUAL && x == 0) ||
		      (c->result == GW_CMP_NOT_EQUAL && x != 0) ||
		      (c->result == GW_CMP_GREATER && x > 0) ||
		      (c->result == GW_CMP_LESS && x < 0))) {
			return false;
		}
	}
	if (!any) {
		int64_t v = 0;
		if (c->target == GW_CMP_VALUE) {
			return false;
		}
		switch (c->result) {
		case GW_CMP_EQUAL:
			return v == c->number;
		case GW_CMP_NOT_EQUAL:
			return v != c->number;
		case GW_CMP_GREATER:
			return v > c->number;
		case GW_CMP_LESS:
			return v < c->number;
		}
	}
	return true;
}

static void op_txn(struct sut *t)
{
	struct model *m = t->m;
	struct gw_store_op op = {.type = GW_OP_TXN};
	struct gw_compare cs[2];
	struct rng_range cr[2];
	struct tops succ, fail, *br;
	struct gw_store_result res;
	struct mkv w[NK];
	bool ok = true, changed = false;
	int want = 0, err;
	int64_t subrev[3];
	int64_t deleted[3] = {0};

	size_t nc = rnd(3);
	for (size_t i = 0; i < nc; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cr[i] = rand_range();
		cs[i].key = cr[i].key;
		cs[i].key_len = klen(cr[i].key);
		cs[i].range_end = end_ptr(cr[i].end);
		cs[i].range_end_len = end_len(cr[i].end);
		cs[i].result = (enum gw_cmp_result)rnd(4);
		cs[i].target = (enum gw_cmp_target)rnd(5);
		cs[i].number = rnd(3) ? (int64_t)rnd(5) : m->rev - (int64_t)rnd(4);
		cs[i].value = values[rnd(16)];
		cs[i].value_len = strlen(cs[i].value);
	}
	rand_branch(m, &succ);
	rand_branch(m, &fail);
	op.u.txn.compares = cs;
	op.u.txn.n_compares = nc;
	op.u.txn.success = succ.ops;
	op.u.txn.n_success = succ.n;
	op.u.txn.failure = fail.ops;
	op.u.txn.n_failure = fail.n;

	memcpy(w, m->st[m->rev], sizeof(w));
	for (size_t i = 0; i < nc && ok; i++) {
		ok = model_compare(w, &cs[i], &cr[i]);
	}
	br = ok ? &succ : &fail;
	if (branch_has_dup(&succ) || branch_has_dup(&fail)) {
		want = GW_EDUPKEY;
	}
	for (size_t i = 0; i < br->n && want == 0; i++) {
		const struct gw_store_op *o = &br->ops[i];
		if (o->type == GW_OP_PUT) {
			want = model_put(m, w, br->put_key[i], &o->u.put, m->rev + 1);
			changed = changed || want == 0;
		} else if (o->type == GW_OP_DELETE) {
			deleted[i] = model_delete(w, &br->rr[i]);
			changed = changed || deleted[i] > 0;
		}
		subrev[i] = m->rev + changed;
	}
	err = write(t, &op, &res);
	assert_int_equal(err, want);
	if (want == 0) {
		assert_int_equal(res.succeeded, ok);
		assert_int_equal(res.n_responses, br->n);
		assert_int_equal(res.revision, m->rev + changed);
		/* replay to check range responses against the intermediate states */
		struct mkv w2[NK];
		memcpy(w2, m->st[m->rev], sizeof(w2));
		bool ch2 = false;
		for (size_t i = 0; i < br->n; i++) {
			const struct gw_store_op *o = &br->ops[i];
			const struct gw_store_result *sub = &res.responses[i];
			assert_int_equal(sub->type, o->type);
			assert_int_equal(sub->revision, subrev[i]);
			if (o->type == GW_OP_PUT) {
				model_put(m, w2, br->put_key[i], &o->u.put, m->rev + 1);
				ch2 = true;
			} else if (o->type == GW_OP_DELETE) {
				assert_int_equal(sub->deleted, deleted[i]);
				ch2 = model_delete(w2, &br->rr[i]) > 0 || ch2;
			} else {
				check_range(w2, &br->rr[i], &o->u.range, &sub->range);
				assert_int_equal(sub->range.revision, m->rev + ch2);
			}
		}
	}
	gw_store_result_free(&res);
	model_commit(m, w, want == 0 && changed);
}

static void op_compact(struct sut *t)
{
	struct model *m = t->m;
	struct gw_store_op op = {.type = GW_OP_COMPACT};
	struct gw_store_result res;
	int64_t at = m->compact - 1 + rnd((uint32_t)(m->rev - m->compact + 3));
	int want = at <= m->compact ? GW_ECOMPACTED : (at > m->rev ? GW_EFUTUREREV : 0);

	op.u.compact.revision = at;
	assert_int_equal(write(t, &op, &res), want);
	assert_int_equal(res.revision, m->rev);
	gw_store_result_free(&res);
	if (want == 0) {
		m->compact = at;
	}
	assert_int_equal(gw_store_compact_revision(t->s), m->compact);
}

static void op_lease(struct sut *t)
{
	struct model *m = t->m;
	struct gw_store_op op;
	struct gw_store_result res;

	if (rnd(2) == 0 && m->n_leases < 64) {
		int64_t id = rnd(2) ? 0 : 1 + (int64_t)rnd(5);
		int want = id && lease_exists(m, id) ? GW_ELEASEEXIST : 0;
		op.type = GW_OP_LEASE_GRANT;
		op.u.lease_grant.id = id;
		op.u.lease_grant.ttl = 10 + rnd(100);
		assert_int_equal(write(t, &op, &res), want);
		if (want == 0) {
			assert_true(res.lease_id > 0);
			assert_false(lease_exists(m, res.lease_id));
			assert_true(id == 0 || res.lease_id == id);
			m->leases[m->n_leases++] = res.lease_id;
		}
		assert_int_equal(res.revision, m->rev);
		gw_store_result_free(&res);
	} else {
		int64_t id = m->n_leases && rnd(4) ? m->leases[rnd((uint32_t)m->n_leases)] : 77;
		bool exists = lease_exists(m, id);
		struct mkv w[NK];
		bool changed = false;
		op.type = GW_OP_LEASE_REVOKE;
		op.u.lease_revoke.id = id;
		memcpy(w, m->st[m->rev], sizeof(w));
		for (int i = 0; exists && i < NK; i++) {
			if (w[i].present && w[i].lease == id) {
				memset(&w[i], 0, sizeof(w[i]));
				changed = true;
			}
		}
		assert_int_equal(write(t, &op, &res), exists ? 0 : GW_ELEASENOTFOUND);
		assert_int_equal(res.revision, m->rev + changed);
		gw_store_result_free(&res);
		if (exists) {
			for (int i = 0; i < m->n_leases; i++) {
				if (m->leases[i] == id) {
					m->leases[i] = m->leases[--m->n_leases];
					break;
				}
			}
			model_commit(m, w, changed);
		}
	}
}

/* The watcher's events, revision by revision, are exactly the model's
 * changes (from revision @from on). */
static void check_events(const struct model *m, const struct seen *sn, int64_t from)
{
	size_t e = 0;
	while (e < sn->n && sn->rev[e] < from) {
		e++;
	}
	for (int64_t r = from; r <= m->rev; r++) {
		for (int k = 0; k < NK; k++) {
			const struct mkv *a = &m->st[r - 1][k], *b = &m->st[r][k];
			bool changed = (b->present && b->mod == r) || (a->present && !b->present);
			if (!changed) {
				continue;
			}
			/* events of one revision come in the store's order; find it */
			size_t j = e;
			while (j < sn->n && sn->rev[j] == r && sn->key[j] != k) {
				j++;
			}
			assert_true(j < sn->n && sn->rev[j] == r);
			assert_int_equal(sn->type[j], b->present ? GW_EVENT_PUT : GW_EVENT_DELETE);
			if (b->present) {
				assert_string_equal(sn->value[j], b->value);
			}
		}
		{
			size_t cnt = 0;
			int want = 0;
			while (e < sn->n && sn->rev[e] == r) {
				e++;
				cnt++;
			}
			for (int k = 0; k < NK; k++) {
				const struct mkv *a = &m->st[r - 1][k], *b = &m->st[r][k];
				want += (b->present && b->mod == r) || (a->present && !b->present);
			}
			assert_int_equal(cnt, (size_t)want);
		}
	}
	assert_int_equal(e, sn->n);
}

/* Watchers with random ranges, filters and start revisions, checked against
 * the model over the revisions they covered. */
#define NW 6
struct fwatch {
	struct rng_range r;
	unsigned flags;
	int64_t start; /* first revision covered */
	int64_t end;   /* last revision covered (once not live) */
	bool used, live;
	int64_t compacted; /* compact revision reported by a GW_ECOMPACTED cancel */
	int64_t compact0;  /* compact revision when it was created */
	struct gw_watcher *w;
	struct model *m;
	int64_t next;
	size_t n;
	int64_t rev[MAXEV];
	int key[MAXEV];
	int type[MAXEV];
	char value[MAXEV][8];
	bool has_prev[MAXEV];
	char prev[MAXEV][8];
};
static struct fwatch fws[NW];

static int on_fevents(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct fwatch *fw = data;
	(void)w;
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		const struct gw_event *e = &evs[i];
		assert_true(fw->n < MAXEV);
		/* in order; a revision already delivered never comes again */
		assert_true(e->kv.mod_revision >= (i == 0 ? fw->next : evs[i - 1].kv.mod_revision));
		fw->rev[fw->n] = e->kv.mod_revision;
		fw->key[fw->n] = key_index(e->kv.key, e->kv.key_len);
		fw->type[fw->n] = e->type;
		snprintf(fw->value[fw->n], sizeof(fw->value[0]), "%.*s",
			 e->type == GW_EVENT_PUT ? (int)e->kv.value_len : 0,
			 e->type == GW_EVENT_PUT ? e->kv.value : "");
		fw->has_prev[fw->n] = e->has_prev_kv;
		snprintf(fw->prev[fw->n], sizeof(fw->prev[0]), "%.*s",
			 e->has_prev_kv ? (int)e->prev_kv.value_len : 0,
			 e->has_prev_kv ? e->prev_kv.value : "");
		fw->n++;
	}
	fw->next = evs[n - 1].kv.mod_revision + 1;
	return 0;
}

static void on_fcancel(struct gw_watcher *w, int reason, int64_t compact, void *data)
{
	struct fwatch *fw = data;
	(void)w;
	if (reason == GW_ECOMPACTED) {
		fw->compacted = compact;
		return;
	}
	assert_int_equal(reason, GW_ESHUTDOWN);
	fw->live = false;
	fw->w = NULL;
	fw->end = fw->m->rev;
}

static bool fw_wants(const struct fwatch *fw, int k, bool put)
{
	if (!in_range(&fw->r, k)) {
		return false;
	}
	return put ? !(fw->flags & GW_WATCH_NOPUT) : !(fw->flags & GW_WATCH_NODELETE);
}

static void check_fwatch(const struct model *m, const struct fwatch *fw)
{
	size_t e = 0;
	for (int64_t r = fw->start; r <= fw->end; r++) {
		size_t want = 0, first = e;
		for (int k = 0; k < NK; k++) {
			const struct mkv *a = &m->st[r - 1][k], *b = &m->st[r][k];
			bool put = b->present && b->mod == r, gone = a->present && !b->present;
			size_t j;
			if (!(put || gone) || !fw_wants(fw, k, put)) {
				continue;
			}
			if (gone && r == fw->compact0) {
				continue; /* compaction drops the deletes at its revision, like etcd
					   */
			}
			want++;
			for (j = first; j < fw->n && fw->rev[j] == r && fw->key[j] != k; j++) {
			}
			assert_true(j < fw->n && fw->rev[j] == r);
			assert_int_equal(fw->type[j], put ? GW_EVENT_PUT : GW_EVENT_DELETE);
			if (put) {
				assert_string_equal(fw->value[j], b->value);
			}
			if (fw->flags & GW_WATCH_PREV_KV) {
				assert_int_equal(fw->has_prev[j], a->present);
				if (a->present) {
					assert_string_equal(fw->prev[j], a->value);
				}
			} else {
				assert_false(fw->has_prev[j]);
			}
		}
		while (e < fw->n && fw->rev[e] == r) {
			e++;
		}
		assert_int_equal(e - first, want);
	}
	assert_int_equal(e, fw->n);
}

static void op_watch(struct sut *t)
{
	struct model *m = t->m;
	struct fwatch *fw = &fws[rnd(NW)];
	struct gw_watch_opts o = {0};
	int64_t start;

	if (fw->used) {
		/* retire it: unwatch if live, check what it saw */
		if (fw->live) {
			gw_store_unwatch(fw->w);
			fw->live = false;
			fw->end = m->rev;
		}
		check_fwatch(m, fw);
		fw->used = false;
		return;
	}
	memset(fw, 0, sizeof(*fw));
	fw->m = m;
	fw->r = rand_range();
	fw->flags = rnd(8);
	start =
	    rnd(3) == 0 ? 0 : m->compact - 1 + (int64_t)rnd((uint32_t)(m->rev - m->compact + 4));
	o.key = fw->r.key;
	o.key_len = klen(fw->r.key);
	o.range_end = end_ptr(fw->r.end);
	o.range_end_len = end_len(fw->r.end);
	o.start_revision = start;
	o.flags = fw->flags;
	o.on_events = on_fevents;
	o.on_cancel = on_fcancel;
	o.data = fw;
	if (start > 0 && start < m->compact) {
		assert_int_equal(gw_store_watch(t->s, &o, &fw->w), 0);
		assert_null(fw->w);
		assert_int_equal(fw->compacted, m->compact);
		assert_int_equal(fw->n, 0);
		return;
	}
	fw->compact0 = m->compact;
	fw->start = start > 0 ? start : m->rev + 1;
	fw->next = fw->start;
	fw->used = true;
	fw->live = true;
	assert_int_equal(gw_store_watch(t->s, &o, &fw->w), 0);
	assert_non_null(fw->w);
	if (fw->start <= 1) {
		fw->start = 2; /* no events before the first write */
	}
}

static void run_seed(uint64_t seed)
{
	struct sut *t = calloc(1, sizeof(*t));
	struct model *m = calloc(1, sizeof(*m));
	struct seen *sn = calloc(1, sizeof(*sn));
	struct gw_store_opts o2 = {0};
	struct gw_store *s2;
	char dir2[64];
	void *img;
	size_t len;

	printf("# store model: seed %llu\n", (unsigned long long)seed);
	fflush(stdout);
	rng = seed * 2654435761ULL + 1;
	strcpy(t->dir, "/tmp/gw-test-model-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	t->opts.dir = t->dir;
	t->opts.no_sync = true;
	t->opts.history_revs = HISTORY;
	t->m = m;
	t->seen = sn;
	m->rev = 1;
	sn->next = 2;
	memset(fws, 0, sizeof(fws));
	sut_open(t);

	for (int i = 0; i < NOPS; i++) {
		uint32_t c = rnd(100);
		if (c < 30) {
			op_put(t);
		} else if (c < 42) {
			op_delete(t);
		} else if (c < 58) {
			op_range(t);
		} else if (c < 62) {
			op_watch(t);
		} else if (c < 80) {
			op_txn(t);
		} else if (c < 85) {
			op_compact(t);
		} else if (c < 96) {
			op_lease(t);
		} else {
			gw_store_close(t->s); /* cancels the watcher with GW_ESHUTDOWN */
			assert_null(sn->w);
			sut_open(t); /* and it resumes from history */
		}
		assert_int_equal(gw_store_revision(t->s), cur_rev(m));
		assert_int_equal(sn->next, m->rev + 1);
	}
	check_events(m, sn, 2);
	for (int i = 0; i < NW; i++) {
		struct fwatch *fw = &fws[i];
		if (!fw->used) {
			continue;
		}
		if (fw->live) {
			gw_store_unwatch(fw->w);
			fw->end = m->rev;
		}
		check_fwatch(m, fw);
	}
	{
		/* the incrementally kept logical size matches a recount */
		MDB_txn *txn;
		int64_t recount = -1;
		assert_int_equal(gw_store__rtxn(t->s, &txn), 0);
		assert_int_equal(gw_store__count_size(t->s, txn, &recount), 0);
		gw_store__rtxn_done(t->s);
		assert_int_equal(recount, gw_store_logical_size(t->s));
	}

	/* a snapshot restored into another store reads back the same */
	assert_int_equal(gw_store_snapshot(t->s, &img, &len), 0);
	strcpy(dir2, "/tmp/gw-test-model2-XXXXXX");
	assert_non_null(mkdtemp(dir2));
	o2.dir = dir2;
	o2.no_sync = true;
	assert_int_equal(gw_store_open(&o2, &s2), 0);
	assert_int_equal(gw_store_restore(s2, img, len), 0);
	free(img);
	assert_int_equal(gw_store_revision(s2), m->rev);
	assert_int_equal(gw_store_compact_revision(s2), m->compact);
	assert_int_equal(gw_store_logical_size(s2), gw_store_logical_size(t->s));
	for (int64_t r = m->compact; r <= m->rev; r++) {
		struct rng_range all = {"\x01", ""};
		struct gw_range_req q = {0};
		struct gw_range_resp out;
		q.key = all.key;
		q.key_len = 1;
		q.range_end = "\0";
		q.range_end_len = 1;
		q.revision = r;
		assert_int_equal(gw_store_range(s2, &q, &out), 0);
		check_range(m->st[r], &all, &q, &out);
		gw_store_range_resp_free(&out);
	}
	gw_store_close(s2);
	nftw(dir2, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	gw_store_close(t->s);
	nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	free(m);
	free(sn);
}

static void test_model(void **state)
{
	const char *env = getenv("GW_MODEL_SEED");
	(void)state;
	memset(long1, 'L', 600);
	memcpy(long2, long1, 600);
	long1[599] = '1';
	long2[599] = '2';
	for (int i = 0; i < 16; i++) {
		snprintf(values[i], sizeof(values[i]), "v%d", i % 10);
	}
	if (env != NULL) {
		run_seed(strtoull(env, NULL, 10));
		return;
	}
	for (uint64_t seed = 1; seed <= 30; seed++) {
		run_seed(seed);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model),
	};
	gw_log_set_level(GW_LOG_NONE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
