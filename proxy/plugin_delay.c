/* plugin_delay.c: requests that wait before going upstream (limit-req's
 * delay, as resty.limit.req's sleep).
 *
 * Happy path: each worker has one timer (made on the first delay) and a
 * list of waiting requests; gw_proxy__plugin_delay links a request with its
 * due time and arms the timer for the earliest; when it fires, every due
 * request is unlinked and continues (gw_proxy__req_proceed, or the answer
 * a plugin deferred to the end of the wait: r->delay_then), and the timer
 * is armed again for the next. The worker loop is never blocked: a delayed
 * request costs a list entry, its body (if any) is buffered with the usual
 * back-pressure meanwhile.
 * Failure modes: out of memory for the timer: the request goes on at once.
 * A request that ends while waiting (client gone) is unlinked by
 * req_release. Threads: the worker's own loop only. */
#include "config.h"

#include "lib/list.h"
#include "proxy/plugin_int.h"

#include <stdlib.h>

struct gw_proxy__delay {
	uv_timer_t timer;
	struct gw_list waiting; /* struct gw_proxy__req by delay_link */
	struct gw_proxy__worker *w;
};

static void on_timer(uv_timer_t *t);

/* The wait is over: upstream, or the answer a plugin deferred. */
static void resume(struct gw_proxy__req *r)
{
	int (*then)(struct gw_proxy__req *, const void *) = r->delay_then;

	if (then != NULL) {
		r->delay_then = NULL;
		then(r, r->delay_then_conf);
		return;
	}
	gw_proxy__req_proceed(r);
}

static void arm(struct gw_proxy__delay *d)
{
	uint64_t now = uv_now(&d->w->loop), first = UINT64_MAX;
	struct gw_list *e;

	for (e = d->waiting.next; e != &d->waiting; e = e->next) {
		struct gw_proxy__req *r = gw_container_of(e, struct gw_proxy__req, delay_link);
		first = r->delay_due < first ? r->delay_due : first;
	}
	if (first == UINT64_MAX) {
		uv_timer_stop(&d->timer);
		return;
	}
	uv_timer_start(&d->timer, on_timer, first > now ? first - now : 0, 0);
}

static void fire(struct gw_proxy__delay *d)
{
	for (;;) {
		uint64_t now = uv_now(&d->w->loop);
		struct gw_proxy__req *due = NULL;
		struct gw_list *e;

		for (e = d->waiting.next; e != &d->waiting; e = e->next) {
			struct gw_proxy__req *r =
			    gw_container_of(e, struct gw_proxy__req, delay_link);
			if (r->delay_due <= now) {
				due = r;
				break;
			}
		}
		if (due == NULL) {
			break;
		}
		gw_proxy__plugin_undelay(due);
		resume(due);
	}
	arm(d);
}

static void on_timer(uv_timer_t *t)
{
	fire(t->data);
}

void gw_proxy__plugin_delay(struct gw_proxy__req *r)
{
	struct gw_proxy__worker *w = r->dc->w;
	struct gw_proxy__delay *d = w->delay;

	if (d == NULL) {
		d = calloc(1, sizeof *d);
		if (d == NULL || uv_timer_init(&w->loop, &d->timer) != 0) {
			free(d);
			resume(r);
			return;
		}
		d->timer.data = d;
		d->w = w;
		gw_list_init(&d->waiting);
		w->delay = d;
	}
	r->delay_due = uv_now(&w->loop) + r->delay_ms;
	gw_list_add_tail(&d->waiting, &r->delay_link);
	arm(d);
}

void gw_proxy__plugin_undelay(struct gw_proxy__req *r)
{
	struct gw_proxy__delay *d;

	if (r->delay_due == 0) {
		return;
	}
	gw_list_del(&r->delay_link);
	r->delay_due = 0;
	d = r->dc->w->delay;
	if (d != NULL && gw_list_empty(&d->waiting)) {
		/* nobody waits: an armed timer would hold the loop (and a
		 * stopping worker) until it fires */
		uv_timer_stop(&d->timer);
	}
}

static void on_close(uv_handle_t *h)
{
	free(h->data);
}

void gw_proxy__plugin_worker_close(struct gw_proxy__worker *w)
{
	if (w->delay != NULL) {
		uv_close((uv_handle_t *)&w->delay->timer, on_close);
		w->delay = NULL;
	}
}
