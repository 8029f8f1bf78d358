/* io_guard.c: guards around libraft's raft_io, for a libraft 0.22.1
 * use-after-free, and the test hook that makes it reproducible.
 *
 * libraft's legacy raft_io layer sends an InstallSnapshot message only
 * after it has loaded the snapshot from disk on the thread pool. The
 * message it keeps meanwhile points at the target's address string inside
 * the leader's configuration (server_address), and any membership change
 * started in that window (raft_add, raft_assign, raft_remove, a catch-up
 * that ends in a promotion) replaces that configuration and frees the
 * string. The send then read freed memory in raft_uv's client lookup
 * (strcmp of the client's address with the freed one: ASan, with
 * raft_assign from raft/membership.c in the "freed by" stack, under load).
 *
 * Happy path: every message passes through unchanged, except an
 * InstallSnapshot, whose address is taken from the current configuration
 * by the target's id (the core took it from the configuration too; an id
 * keeps its address while it is a member). Failure mode: a target that is
 * no longer a member gets no snapshot (RAFT_NOCONNECTION: libraft then
 * frees the message and the snapshot). The stale pointer is never read.
 * Once raft_close was called nothing is sent (a load still in flight would
 * otherwise make raft_uv open a client that outlives its close).
 *
 * Test hook (APIGW_TEST_SNAPSHOT_LOAD_DELAY_MS, opts.test_snapshot_load_
 * delay_ms): each snapshot load for an InstallSnapshot starts that much
 * later, which holds the window open; the loads held are started at once
 * when raft stops (before raft_close, as raft_uv requires; their sends are
 * then refused, which frees them).
 * Control loop (libraft calls these from it). */
#include "config.h"

#include "lib/list.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <stdlib.h>

static int guarded_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
			raft_io_send_cb cb)
{
	struct gw_raft *r = gw_container_of(io, struct gw_raft, io);
	const struct raft_server *s;
	struct raft_message fixed;

	if (r->io_closing) {
		/* raft_close was called, but a snapshot load that was in flight
		 * still ends in a send: raft_uv would open a client after its
		 * close went past the clients, and that client's retry timer
		 * would fire after the transport and r are freed (ASan in
		 * tr_connect). libraft frees the message and snapshot. */
		return RAFT_CANCELED;
	}
	if (m->type != RAFT_INSTALL_SNAPSHOT) {
		/* sent by libraft right after the step that built it: its
		 * address is still the configuration's */
		return r->uv_send(io, req, m, cb);
	}
	s = gw_raft__conf_get(r, m->server_id);
	if (s == NULL) {
		return RAFT_NOCONNECTION; /* removed while the snapshot loaded */
	}
	fixed = *m; /* raft_uv encodes it and copies the address before returning */
	fixed.server_address = s->address;
	return r->uv_send(io, req, &fixed, cb);
}

/* ---- test hook: snapshot loads start late ------------------------------ */

struct held_load {
	struct gw_list link;
	struct raft_io_snapshot_get *get;
	raft_io_snapshot_get_cb cb;
	uint64_t due; /* uv_now() */
};

static void start_load(struct gw_raft *r, struct held_load *h)
{
	int rv = r->uv_snapshot_get(&r->io, h->get, h->cb);

	if (rv != 0) {
		/* libraft's callback cannot take a failure here (it would close
		 * a configuration the message never had): the request leaks */
		gw_errorf("raft", "test hook: held snapshot load failed: %s", raft_strerror(rv));
	}
	free(h);
}

static void held_timer_cb(uv_timer_t *t)
{
	struct gw_raft *r = t->data;
	uint64_t now = uv_now(r->loop);

	while (!gw_list_empty(&r->held_loads)) {
		struct held_load *h = gw_container_of(r->held_loads.next, struct held_load, link);
		if (h->due > now) {
			uv_timer_start(&r->held_timer, held_timer_cb, h->due - now, 0);
			return;
		}
		gw_list_del(&h->link);
		start_load(r, h);
	}
}

static int held_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *get,
			     raft_io_snapshot_get_cb cb)
{
	struct gw_raft *r = gw_container_of(io, struct gw_raft, io);
	struct held_load *h;

	if (!r->held_timer_open || (h = calloc(1, sizeof *h)) == NULL) {
		return r->uv_snapshot_get(io, get, cb);
	}
	h->get = get;
	h->cb = cb;
	h->due = uv_now(r->loop) + r->test_snapshot_load_delay_ms;
	if (gw_list_empty(&r->held_loads)) {
		uv_timer_start(&r->held_timer, held_timer_cb, r->test_snapshot_load_delay_ms, 0);
	}
	gw_list_add_tail(&r->held_loads, &h->link);
	gw_infof("raft", "test hook: snapshot load for an InstallSnapshot held %u ms",
		 r->test_snapshot_load_delay_ms);
	return 0;
}

void gw_raft__io_guard(struct gw_raft *r)
{
	r->uv_send = r->io.send;
	r->io.send = guarded_send;
	r->uv_snapshot_get = r->io.snapshot_get;
	gw_list_init(&r->held_loads);
	if (r->test_snapshot_load_delay_ms > 0) {
		r->io.snapshot_get = held_snapshot_get;
		gw_raft__timer_init(r, &r->held_timer, r);
		r->held_timer_open = true;
	}
}

void gw_raft__io_guard_stop(struct gw_raft *r)
{
	r->io_closing = true;
	if (!r->held_timer_open) {
		return;
	}
	r->held_timer_open = false;
	uv_timer_stop(&r->held_timer);
	uv_close((uv_handle_t *)&r->held_timer, gw_raft__handle_closed);
	while (!gw_list_empty(&r->held_loads)) {
		struct held_load *h = gw_container_of(r->held_loads.next, struct held_load, link);
		gw_list_del(&h->link);
		start_load(r, h);
	}
}
