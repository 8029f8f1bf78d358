/* test_store_watch.c: the store's watch hub against real LMDB files: live
 * and past events, compaction, slow watchers, writes from a callback, and
 * watchers across close and restore. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"
#include "tests/unit/test_store_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rec {
	int64_t revs[4096]; /* mod revision of each event received */
	char keys[4096][16];
	int types[4096];
	bool prev[4096];
	size_t n;
	size_t calls;
	int cancel_reason;
	int64_t cancel_compact;
	int cancels;
	int fail_after; /* return non-zero from this call on (0 = never) */
	struct gw_watcher *unwatch_me;
	struct gw_watcher *unwatch_other;
	struct fx *f;
	const char *write_key; /* write this key from the first callback */
};

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct rec *r = data;
	int64_t first = evs[0].kv.mod_revision;
	assert_true(n > 0);
	r->calls++;
	for (size_t i = 0; i < n; i++) {
		assert_true(r->n < 4096);
		r->revs[r->n] = evs[i].kv.mod_revision;
		snprintf(r->keys[r->n], sizeof(r->keys[0]), "%.*s", (int)evs[i].kv.key_len,
			 evs[i].kv.key);
		r->types[r->n] = evs[i].type;
		r->prev[r->n] = evs[i].has_prev_kv;
		r->n++;
		assert_true(evs[i].kv.mod_revision >= first);
	}
	if (r->unwatch_other != NULL) {
		gw_store_unwatch(r->unwatch_other);
		r->unwatch_other = NULL;
	}
	if (r->unwatch_me != NULL) {
		assert_ptr_equal(r->unwatch_me, w);
		gw_store_unwatch(w);
		r->unwatch_me = NULL;
	}
	if (r->write_key != NULL) {
		const char *k = r->write_key;
		r->write_key = NULL;
		put(r->f, k, "from-callback");
	}
	if (r->fail_after && (int)r->calls >= r->fail_after) {
		return 1;
	}
	return 0;
}

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact, void *data)
{
	struct rec *r = data;
	(void)w;
	r->cancel_reason = reason;
	r->cancel_compact = compact;
	r->cancels++;
}

static struct gw_watcher *watch(struct fx *f, const char *k, const char *end, int64_t start,
				unsigned flags, struct rec *r)
{
	struct gw_watch_opts o = {0};
	struct gw_watcher *w;
	o.key = k;
	o.key_len = strlen(k);
	o.range_end = end;
	o.range_end_len = end ? (strcmp(end, "") == 0 ? 1 : strlen(end)) : 0;
	o.start_revision = start;
	o.flags = flags;
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = r;
	assert_int_equal(gw_store_watch(f->s, &o, &w), 0);
	return w;
}

/* Events must come in revision order with no revision repeated out of
 * order; returns how many distinct revisions were seen. */
static void assert_ordered(const struct rec *r)
{
	for (size_t i = 1; i < r->n; i++) {
		assert_true(r->revs[i] >= r->revs[i - 1]);
	}
}

static void test_watch_live(void **state)
{
	struct fx *f = *state;
	struct rec *all = calloc(1, sizeof(*all)), *pre = calloc(1, sizeof(*pre));
	struct rec *noput = calloc(1, sizeof(*noput)), *one = calloc(1, sizeof(*one));
	struct gw_store_op op;
	struct gw_store_result res;

	watch(f, "\0", "", 0, GW_WATCH_PREV_KV, all);
	watch(f, "p/", "p0", 0, 0, pre);
	watch(f, "p/", "p0", 0, GW_WATCH_NOPUT, noput);
	watch(f, "x", NULL, 0, 0, one);
	put(f, "p/1", "1");    /* 2 */
	put(f, "x", "1");      /* 3 */
	put(f, "p/1", "2");    /* 4 */
	put(f, "p/2", "1");    /* 5 */
	del(f, "p/", "p0", 2); /* 6: two events, one batch */
	del(f, "nothing", NULL, 0);
	assert_int_equal(all->n, 6);
	assert_int_equal(all->calls, 5);
	assert_false(all->prev[0]);
	assert_true(all->prev[2]);
	assert_int_equal(all->types[5], GW_EVENT_DELETE);
	assert_int_equal(all->revs[5], 6);
	assert_int_equal(pre->n, 5);
	assert_false(pre->prev[1]); /* no PREV_KV flag */
	assert_int_equal(noput->n, 2);
	assert_int_equal(noput->calls, 1); /* the whole revision at once */
	assert_int_equal(one->n, 1);
	assert_string_equal(one->keys[0], "x");
	assert_ordered(all);
	/* a read-only txn produces no event */
	op.type = GW_OP_TXN;
	memset(&op.u.txn, 0, sizeof(op.u.txn));
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(all->n, 6);
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(all);
	free(pre);
	free(noput);
	free(one);
}

static void test_watch_past_then_live(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r)), *fut = calloc(1, sizeof(*fut));
	char k[16];

	for (int i = 0; i < 600; i++) {
		snprintf(k, sizeof(k), "k%04d", i);
		put(f, k, "v"); /* revs 2..601 */
	}
	del(f, "k", "l", 600);    /* rev 602: 600 events in one revision */
	put(f, "k0000", "again"); /* 603 */
	watch(f, "k", "l", 500, 0, r);
	/* past events arrived within the call, in chunks of whole revisions */
	assert_int_equal(r->n, 102 + 600 + 1);
	assert_int_equal(r->revs[0], 500);
	assert_int_equal(r->revs[102], 602);
	assert_int_equal(r->revs[701], 602);
	assert_int_equal(r->revs[702], 603);
	assert_true(r->calls >= 2);
	assert_ordered(r);
	put(f, "k0001", "live"); /* 604 */
	assert_int_equal(r->n, 704);
	assert_int_equal(r->revs[703], 604);
	/* a future start revision waits for it */
	watch(f, "k", "l", 606, 0, fut);
	put(f, "k0002", "x"); /* 605 */
	assert_int_equal(fut->n, 0);
	put(f, "k0003", "x"); /* 606 */
	assert_int_equal(fut->n, 1);
	assert_int_equal(fut->revs[0], 606);
	/* no duplicates, no gaps: every revision 500..606 once per event */
	assert_int_equal(r->n, 706);
	for (size_t i = 1; i < r->n; i++) {
		assert_true(r->revs[i] == r->revs[i - 1] || r->revs[i] == r->revs[i - 1] + 1);
	}
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(r);
	free(fut);
}

static void test_watch_compacted(void **state)
{
	struct fx *f = *state;
	struct rec *r = calloc(1, sizeof(*r)), *ok = calloc(1, sizeof(*ok));
	struct gw_store_op op = {.type = GW_OP_COMPACT};
	struct gw_store_result res;
	struct gw_watcher *w;

	for (int i = 0; i < 5; i++) {
		put(f, "a", "v"); /* 2..6 */
	}
	op.u.compact.revision = 4;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	w = watch(f, "a", NULL, 3, 0, r);
	assert_null(w);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ECOMPACTED);
	assert_int_equal(r->cancel_compact, 4);
	assert_int_equal(r->n, 0);
	/* from the compact revision itself: allowed */
	w = watch(f, "a", NULL, 4, 0, ok);
	assert_non_null(w);
	assert_int_equal(ok->n, 3);
	assert_int_equal(ok->revs[0], 4);
	gw_store_unwatch(w);
	put(f, "a", "v");
	assert_int_equal(ok->n, 3);
	free(r);
	free(ok);
}

static void test_watch_slow_and_unwatch(void **state)
{
	struct fx *f = *state;
	struct rec *slow = calloc(1, sizeof(*slow)), *self = calloc(1, sizeof(*self));
	struct rec *killer = calloc(1, sizeof(*killer)), *victim = calloc(1, sizeof(*victim));
	struct rec *past = calloc(1, sizeof(*past));
	struct gw_watcher *w;

	slow->fail_after = 2;
	w = watch(f, "a", NULL, 0, 0, slow);
	self->unwatch_me = watch(f, "a", NULL, 0, 0, self);
	watch(f, "a", NULL, 0, 0, killer);
	killer->unwatch_other = watch(f, "a", NULL, 0, 0, victim);
	assert_non_null(w);
	put(f, "a", "1");
	put(f, "a", "2");
	put(f, "a", "3");
	assert_int_equal(slow->n, 2);
	assert_int_equal(slow->cancels, 1);
	assert_int_equal(slow->cancel_reason, GW_ELIMIT);
	assert_int_equal(self->n, 1);
	assert_int_equal(self->cancels, 0);
	assert_int_equal(killer->n, 3);
	assert_int_equal(victim->n, 0); /* unwatched before its turn */
	/* slow during its catch-up: cancelled, *out NULL */
	past->fail_after = 1;
	assert_null(watch(f, "a", NULL, 2, 0, past));
	assert_int_equal(past->cancel_reason, GW_ELIMIT);
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(slow);
	free(self);
	free(killer);
	free(victim);
	free(past);
}

static void test_watch_write_from_callback(void **state)
{
	struct fx *f = *state;
	struct rec *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	a->f = f;
	a->write_key = "w2";
	watch(f, "w", "x", 0, 0, a);
	watch(f, "w", "x", 0, 0, b);
	put(f, "w1", "1"); /* a's callback writes w2 (rev 3) */
	assert_int_equal(a->n, 2);
	assert_int_equal(b->n, 2);
	assert_int_equal(b->revs[0], 2); /* b sees rev 2 before rev 3 */
	assert_int_equal(b->revs[1], 3);
	assert_string_equal(b->keys[1], "w2");
	fx_reopen(f); /* cancels the live watchers before their records go */
	free(a);
	free(b);
}

static void test_watch_close_and_restore(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	struct rec *r = calloc(1, sizeof(*r)), *rg = calloc(1, sizeof(*rg));
	void *img;
	size_t len;

	put(f, "a", "1");
	put(f, "a", "2");
	put(f, "b", "1");
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);

	strcpy(g.dir, "/tmp/gw-test-store4-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	put(&g, "a", "1"); /* the same history, one entry behind */
	watch(&g, "a", "z", 0, 0, rg);
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	/* the watcher catches up over the restored history: revs 3, 4 */
	assert_int_equal(rg->n, 2);
	assert_int_equal(rg->revs[0], 3);
	assert_int_equal(rg->revs[1], 4);
	free(img);

	watch(&g, "a", NULL, 0, 0, r);
	gw_store_close(g.s);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ESHUTDOWN);
	assert_int_equal(rg->cancel_reason, GW_ESHUTDOWN);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
	free(rg);
}

/* A restore that jumps past what a watcher can catch up on (the image's
 * history is compacted beyond its position) cancels it with the compact
 * revision, like a watch from a compacted revision. */
static void test_watch_restore_compacted(void **state)
{
	struct fx *f = *state;
	struct fx g = {0};
	struct rec *r = calloc(1, sizeof(*r));
	struct gw_store_op op = {.type = GW_OP_COMPACT};
	struct gw_store_result res;
	void *img;
	size_t len;

	for (int i = 0; i < 6; i++) {
		put(f, "a", "v"); /* 2..7 */
	}
	op.u.compact.revision = 5;
	assert_int_equal(wr(f, &op, &res), 0);
	gw_store_result_free(&res);
	assert_int_equal(gw_store_snapshot(f->s, &img, &len), 0);

	strcpy(g.dir, "/tmp/gw-test-store6-XXXXXX");
	assert_non_null(mkdtemp(g.dir));
	g.opts.dir = g.dir;
	g.opts.no_sync = true;
	fx_open(&g);
	put(&g, "a", "v"); /* rev 2: the watcher expects 3 next */
	assert_non_null(watch(&g, "a", NULL, 0, 0, r));
	assert_int_equal(gw_store_restore(g.s, img, len), 0);
	assert_int_equal(r->cancels, 1);
	assert_int_equal(r->cancel_reason, GW_ECOMPACTED);
	assert_int_equal(r->cancel_compact, 5);
	assert_int_equal(r->n, 0);
	assert_int_equal(gw_store_revision(g.s), 7);
	free(img);
	gw_store_close(g.s);
	nftw(g.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_watch_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_past_then_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_compacted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_slow_and_unwatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_write_from_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_close_and_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watch_restore_compacted, setup, teardown),
	};
	gw_log_set_level(GW_LOG_NONE);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
