/* transport.c: our own raft_uv_transport for libraft 0.22.1 (canonical/raft
 * unmodified), replacing raft_uv_tcp_init. We own the peer TCP sockets;
 * libraft gets one end of a socketpair (a uv_pipe_t) per connection and a
 * relay moves bytes between the TCP socket and our end of the pair.
 *
 * Happy path, inbound: accept, read the raft handshake from the peer, hand
 * libraft its pipe through the accept callback, then relay every byte the
 * peer sends after gw_raft__frame_feed (frame.c) has checked it. Outbound:
 * connect (bounded by a timeout), send the handshake, hand libraft its pipe
 * through the connect callback, then relay what libraft writes.
 *
 * Failure modes: a frame the checker refuses closes that connection before
 * any of its bytes reach libraft; it is counted and logged (one line per
 * reason per 10 s). A connection with bytes unacknowledged by the peer and no
 * progress for stall_ms (the election timeout) is dropped, so libraft
 * reconnects at once instead of waiting out TCP's retransmission back-off
 * after a network cut (TCP_USER_TIMEOUT and keepalive make the kernel do the
 * same). Closing our end of the pair makes libraft see EOF or EPIPE and
 * reconnect; libraft closing its end closes the connection. A connect or a
 * handshake that takes too long is dropped. A term libraft cannot
 * increment (within 2^32 of 2^64) is refused; one that jumps implausibly is
 * refused from an authenticated peer, logged and passed on otherwise.
 *
 * The peer-facing byte stream is behind struct peer_ops (transport_int.h):
 * plain TCP here, TLS 1.3 in transport_tls.c when the member has
 * credentials (opts.tls). With TLS, the id of raft's handshake must be the
 * one in the peer's certificate, and a member the allow-list (opts.allowed)
 * no longer admits is cut off at the next tick. */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/list.h"
#include "lib/log.h"
#include "lib/sm.h"
#include "raft/transport_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK          65536
#define KEEPALIVE_S         2
#define KEEPINTVL_S         1
#define KEEPCNT             3
#define PEER_RTO_MAX_MS     1000 /* retransmission timeout ceiling (gw_addr_peer_sockopts) */
#define STALL_CAPPED_FACTOR 4    /* stall limit x this when the ceiling holds */
#define MAX_UNREADY         256  /* inbound connections without a complete handshake */

/* Bytes a write could not pass at once, queued with their request. */
struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

static void local_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

bool gw_raft__tr_may_log(struct transport *tr, int kind, uint64_t *skipped)
{
	uint64_t now = now_ms(tr);

	if (now < tr->log_next[kind]) {
		tr->log_skipped[kind]++;
		return false;
	}
	tr->log_next[kind] = now + LOG_EVERY_MS;
	*skipped = tr->log_skipped[kind];
	tr->log_skipped[kind] = 0;
	return true;
}

/* Reads go to a buffer of the connection, one per direction: the relay
 * writes what it can at once and copies only the rest. */
static void alloc_in(char **slot, uv_buf_t *buf)
{
	if (*slot == NULL) {
		*slot = malloc(READ_CHUNK);
	}
	buf->base = *slot;
	buf->len = *slot != NULL ? READ_CHUNK : 0; /* 0: the read fails with ENOBUFS */
}

void gw_raft__conn_alloc_peer(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	alloc_in(&c->rbuf_peer, buf);
}

static void alloc_local(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	alloc_in(&c->rbuf_local, buf);
}

/* Write @len bytes at @p to @dst: what the socket takes now, the rest
 * copied into a queued request completed by @cb. @counted: bytes for the
 * peer (stall detection). 0 or a libuv error. */
static int relay_write(struct conn *c, uv_stream_t *dst, const char *p, size_t len, uv_write_cb cb,
		       bool counted)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
	int n = uv_try_write(dst, &b, 1); /* UV_EAGAIN while requests are queued */
	struct wreq *w;

	if (n < 0 && n != UV_EAGAIN) {
		return n;
	}
	n = n < 0 ? 0 : n;
	if (counted) {
		c->written += (uint64_t)n;
	}
	if ((size_t)n == len) {
		return 0;
	}
	w = malloc(sizeof *w + len - (size_t)n);
	if (w == NULL) {
		return UV_ENOMEM;
	}
	w->c = c;
	w->len = len - (size_t)n;
	w->req.data = w;
	memcpy(w->data, p + n, w->len);
	b = uv_buf_init(w->data, (unsigned)w->len);
	n = uv_write(&w->req, dst, &b, 1, cb);
	if (n != 0) {
		free(w);
	}
	return n;
}

/* Peer sockets: no Nagle delay for raft's small messages; keepalive and
 * TCP_USER_TIMEOUT so the kernel also gives up on a dead peer. */
static void set_sockopts(struct conn *c)
{
	uv_os_fd_t fd;
	unsigned timeout;
	int v;

	c->stall_ms = c->tr->o.stall_ms;

	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0) {
		return;
	}
	v = KEEPINTVL_S;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof v);
	v = KEEPCNT;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v);
	if (gw_addr_peer_sockopts(fd, PEER_RTO_MAX_MS)) {
		/* Retransmissions never back off past PEER_RTO_MAX_MS, so a
		 * healed path resumes this connection within it: no need to
		 * drop it after one election timeout — on a lossy path that
		 * drop, and the reconnect and handshake through the same loss,
		 * cost more than the stall (docs/fault-tolerance.md). */
		c->stall_ms = STALL_CAPPED_FACTOR * c->tr->o.stall_ms;
	}
	timeout = c->stall_ms;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
}

/* ---- plain TCP: the peer_ops of this increment --------------------------- */

static void plain_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread > 0) {
		gw_raft__conn_quickack(c);
		gw_raft__conn_from_peer(c, buf->base, (size_t)nread);
		return;
	}
	if (nread < 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
	}
}

void gw_raft__conn_quickack(struct conn *c)
{
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
		gw_addr_quickack(fd);
	}
}

static int plain_start(struct conn *c)
{
	int rv = uv_read_start((uv_stream_t *)&c->tcp, gw_raft__conn_alloc_peer, plain_read_cb);

	if (rv == 0) {
		gw_raft__conn_peer_ready(c);
	}
	return rv;
}

static void to_peer_cb(uv_write_t *req, int status)
{
	struct wreq *w = req->data;
	struct conn *c = w->c;

	if (status == 0) {
		c->written += w->len;
	}
	free(w);
	if (status != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (c->local_paused && !c->closing && c->ops->pending(c) < HIGH_WATER / 2) {
		c->local_paused = false;
		uv_read_start((uv_stream_t *)&c->local, alloc_local, local_read_cb);
	}
}

int gw_raft__conn_write_peer(struct conn *c, const char *p, size_t len)
{
	return relay_write(c, (uv_stream_t *)&c->tcp, p, len, to_peer_cb, true);
}

static size_t plain_pending(struct conn *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void plain_pause(struct conn *c, bool paused)
{
	if (paused) {
		uv_read_stop((uv_stream_t *)&c->tcp);
	} else {
		uv_read_start((uv_stream_t *)&c->tcp, gw_raft__conn_alloc_peer, plain_read_cb);
	}
}

static uint64_t plain_auth_id(struct conn *c)
{
	(void)c;
	return 0; /* not authenticated */
}

static void plain_release(struct conn *c)
{
	(void)c;
}

static const struct peer_ops plain_ops = {
    .name = "tcp",
    .start = plain_start,
    .send = gw_raft__conn_write_peer,
    .pending = plain_pending,
    .pause = plain_pause,
    .auth_id = plain_auth_id,
    .release = plain_release,
};

/* ---- connections ------------------------------------------------------ */

static void maybe_closed(struct transport *tr)
{
	raft_uv_transport_close_cb cb = tr->close_cb;

	if (!tr->closing || cb == NULL || tr->listener_open || tr->tick_open ||
	    !gw_list_empty(&tr->conns)) {
		return;
	}
	tr->close_cb = NULL;
	cb(tr->t);
}

/* One handle of @c is closed; the last one frees it. */
static void conn_unref(struct conn *c)
{
	struct transport *tr = c->tr;

	GW_ASSERT(c->handles > 0);
	if (--c->handles > 0) {
		return;
	}
	gw_list_del(&c->link);
	if (c->inbound && !c->ready) {
		tr->n_unready--;
	}
	if (!c->inbound && !c->handed && c->cb != NULL) {
		tr->st.connect_failed++;
		c->cb(c->req, NULL, c->status);
	}
	c->ops->release(c);
	gw_raft__frame_close(&c->frame);
	free(c->rbuf_peer);
	free(c->rbuf_local);
	free(c);
	maybe_closed(tr); /* may free tr */
}

static void conn_handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void raft_end_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	raft_free(c->raft_end);
	c->raft_end = NULL;
	conn_unref(c);
}

/* Close every handle of @c; it is freed (and a pending connect answered
 * with @status) once they are closed. Idempotent. */
void gw_raft__conn_close(struct conn *c, int status)
{
	if (c->closing) {
		return;
	}
	c->closing = true;
	c->status = status;
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
	if (c->local_open) {
		uv_close((uv_handle_t *)&c->local, conn_handle_closed);
	}
	if (c->raft_end != NULL && !c->handed) {
		c->raft_end->data = c;
		uv_close((uv_handle_t *)c->raft_end, raft_end_closed);
	}
}

static struct conn *conn_new(struct transport *tr, bool inbound)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL) {
		return NULL;
	}
	c->tr = tr;
	c->ops = tr->o.tls != NULL ? &gw_raft__tls_ops : &plain_ops;
	c->inbound = inbound;
	c->started = now_ms(tr);
	c->progress_at = c->started;
	c->status = RAFT_NOCONNECTION;
	gw_raft__frame_init(&c->frame, &tr->o.limits);
	uv_tcp_init(tr->loop, &c->tcp);
	c->tcp.data = c;
	c->handles = 1;
	gw_list_add_tail(&tr->conns, &c->link);
	return c;
}

static void to_raft_cb(uv_write_t *req, int status)
{
	struct wreq *w = req->data;
	struct conn *c = w->c;

	free(w);
	if (status != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (c->peer_paused && !c->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->local) < HIGH_WATER / 2) {
		c->peer_paused = false;
		c->ops->pause(c, false);
	}
}

/* Pass @len checked bytes at @p to libraft. */
static void to_raft(struct conn *c, const char *p, size_t len)
{
	if (len == 0) {
		return;
	}
	if (relay_write(c, (uv_stream_t *)&c->local, p, len, to_raft_cb, false) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (!c->peer_paused &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->local) >= HIGH_WATER) {
		c->peer_paused = true;
		c->ops->pause(c, true);
	}
}

/* Bytes libraft wrote on its end: to the peer (outbound); libraft never
 * writes on an accepted stream, so inbound ones are dropped. EOF: libraft
 * closed its end. */
static void local_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread <= 0) {
		if (nread < 0) {
			gw_raft__conn_close(c, RAFT_NOCONNECTION);
		}
		return;
	}
	if (c->inbound) {
		return;
	}
	if (c->ops->send(c, buf->base, (size_t)nread) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (c->ops->pending(c) >= HIGH_WATER) {
		c->local_paused = true;
		uv_read_stop((uv_stream_t *)&c->local);
	}
}

/* Create the socketpair and libraft's pipe. 0 or a libuv error. */
static int make_pair(struct conn *c)
{
	uv_loop_t *loop = c->tr->loop;
	int sv[2], rv;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return -errno;
	}
	c->raft_end = raft_malloc(sizeof *c->raft_end);
	if (c->raft_end == NULL) {
		close(sv[0]);
		close(sv[1]);
		return UV_ENOMEM;
	}
	uv_pipe_init(loop, &c->local, 0);
	c->local.data = c;
	c->local_open = true;
	c->handles++;
	uv_pipe_init(loop, c->raft_end, 0);
	c->raft_end->data = c;
	c->handles++;
	rv = uv_pipe_open(&c->local, sv[0]);
	if (rv != 0) {
		close(sv[0]);
		close(sv[1]);
		return rv;
	}
	rv = uv_pipe_open(c->raft_end, sv[1]);
	if (rv != 0) {
		close(sv[1]);
		return rv;
	}
	return uv_read_start((uv_stream_t *)&c->local, alloc_local, local_read_cb);
}

/* libraft owns its end from here: it closes it and frees it with
 * raft_free; we stop counting it. */
static void hand_over(struct conn *c)
{
	c->handed = true;
	c->handles--;
	c->ready = true;
	if (c->inbound) {
		c->tr->n_unready--;
	}
	c->progress_at = now_ms(c->tr);
}

void gw_raft__conn_refuse(struct conn *c, int why, const char *detail)
{
	struct transport *tr = c->tr;
	uint64_t skipped;
	char auth[40] = "";

	tr->st.refused++;
	if (why > 0 && why < GW_RAFT__REF_N) {
		tr->st.refused_by[why]++;
	}
	if (gw_raft__tr_may_log(tr, LOG_REFUSED + (why > 0 && why < GW_RAFT__REF_N ? why : 0),
				&skipped)) {
		if (c->auth != 0) {
			snprintf(auth, sizeof auth, " (certificate of %016" PRIx64 ")", c->auth);
		}
		gw_warnf("raft",
			 "refused raft peer %s%s%s%s: %s%s%s (connection closed; %" PRIu64
			 " refused so far, %" PRIu64 " similar lines suppressed)",
			 c->peer, auth, c->frame.handshake_done ? " claiming " : "",
			 c->frame.handshake_done ? c->frame.address : "",
			 gw_raft__frame_strerror(why), detail != NULL ? ": " : "",
			 detail != NULL ? detail : "", tr->st.refused, skipped);
	}
	gw_raft__conn_close(c, RAFT_NOCONNECTION);
}

/* Plaintext from the peer. Inbound: check, then pass to libraft. */
/* Bytes came from peer @id now: remember when (the oldest entry makes room). */
static void heard(struct transport *tr, uint64_t id)
{
	size_t i, oldest = 0;

	for (i = 0; i < HEARD_MAX; i++) {
		if (tr->heard[i].id == id) {
			break;
		}
		if (tr->heard[i].at < tr->heard[oldest].at) {
			oldest = i;
		}
	}
	if (i == HEARD_MAX) {
		i = oldest;
		tr->heard[i].id = id;
	}
	tr->heard[i].at = uv_now(tr->loop);
}

uint64_t gw_raft__transport_heard(const struct raft_uv_transport *t, uint64_t id)
{
	const struct transport *tr = t->impl;

	for (size_t i = 0; tr != NULL && i < HEARD_MAX; i++) {
		if (tr->heard[i].id == id && id != 0) {
			return tr->heard[i].at;
		}
	}
	return 0;
}

void gw_raft__conn_from_peer(struct conn *c, const char *data, size_t len)
{
	struct transport *tr = c->tr;
	size_t hs_len;
	uint64_t skipped, auth;
	int rv;

	if (!c->inbound || c->closing) {
		return; /* a peer never writes on our outbound connections */
	}
	c->frame.ref_term = tr->o.term != NULL ? tr->o.term(tr->o.term_data) : 0;
	rv = gw_raft__frame_feed(&c->frame, data, len, &hs_len);
	if (rv != 0) {
		gw_raft__conn_refuse(c, rv, NULL);
		return;
	}
	if (c->frame.term_jump) {
		/* An honest cluster moves one term per election: 2^32 terms
		 * are out of reach however long a node was partitioned (and
		 * with pre-vote a partitioned node does not even raise its
		 * term). From an authenticated member such a message is
		 * refused; from an unauthenticated peer (plain TCP) we cannot
		 * tell a peer that lost its mind from a forged one, so it is
		 * logged and passed on. */
		c->frame.term_jump = false;
		tr->st.term_jumps++;
		if (c->ops->auth_id(c) != 0) {
			char detail[64];
			snprintf(detail, sizeof detail, "term %" PRIu64 ", ours %" PRIu64,
				 c->frame.jump_term, c->frame.ref_term);
			gw_raft__conn_refuse(c, GW_RAFT__REF_TERM_JUMP, detail);
			return;
		}
		if (gw_raft__tr_may_log(tr, LOG_TERM, &skipped)) {
			gw_warnf("raft",
				 "raft peer %s (id %016" PRIx64 ") sent term %" PRIu64
				 ", implausibly far from ours (%" PRIu64 "); %" PRIu64
				 " such messages so far, %" PRIu64 " similar lines suppressed",
				 c->peer, c->frame.peer_id, c->frame.jump_term, c->frame.ref_term,
				 tr->st.term_jumps, skipped);
		}
	}
	if (!c->ready && c->frame.handshake_done) {
		/* mTLS: the id raft's handshake claims must be the
		 * certificate's. Plain TCP authenticates nobody (auth 0). */
		auth = c->ops->auth_id(c);
		if (auth != 0 && auth != c->frame.peer_id) {
			gw_raft__conn_refuse(c, GW_RAFT__REF_ID_MISMATCH, NULL);
			return;
		}
		if (tr->closing || tr->accept_cb == NULL || make_pair(c) != 0) {
			gw_raft__conn_close(c, RAFT_NOCONNECTION);
			return;
		}
		hand_over(c);
		tr->st.accepted++;
		tr->accept_cb(tr->t, c->frame.peer_id, c->frame.address,
			      (uv_stream_t *)c->raft_end);
		if (c->closing) {
			return;
		}
	}
	if (c->ready) {
		heard(tr, c->frame.peer_id);
		to_raft(c, data + hs_len, len - hs_len);
	}
}

/* The peer-facing stream is usable. Outbound: send raft's handshake and
 * hand libraft its end. */
void gw_raft__conn_peer_ready(struct conn *c)
{
	struct transport *tr = c->tr;
	size_t alen, len;
	char hs[24 + GW_RAFT__HS_MAX_ADDRESS] = {0};
	int i;

	if (c->inbound) {
		return; /* waits for the raft handshake */
	}
	/* With TLS, transport_tls.c checked that the certificate names
	 * c->id before calling us. */
	alen = (strlen(tr->address) + 1 + 7) / 8 * 8;
	len = 24 + alen;
	for (i = 0; i < 8; i++) {
		hs[i] = (char)((uint64_t)GW_RAFT__HS_PROTOCOL >> (8 * i));
		hs[8 + i] = (char)(tr->id >> (8 * i));
		hs[16 + i] = (char)((uint64_t)alen >> (8 * i));
	}
	memcpy(hs + 24, tr->address, strlen(tr->address));
	if (c->ops->send(c, hs, len) != 0 || make_pair(c) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	hand_over(c);
	tr->st.connected++;
	c->cb(c->req, (uv_stream_t *)c->raft_end, 0);
}

/* ---- ticks: connect/handshake timeouts, stalled connections ----------- */

/* Bytes the peer acknowledged so far: handed to the kernel minus what the
 * kernel still holds (unsent or unacknowledged). */
static bool check_progress(struct conn *c, uint64_t now)
{
	uv_os_fd_t fd;
	int outq = 0;
	uint64_t acked;

	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, SIOCOUTQ, &outq) != 0) {
		return true;
	}
	acked = c->written - (uint64_t)(outq > 0 ? outq : 0);
	if ((outq == 0 && c->ops->pending(c) == 0) || acked != c->acked) {
		c->acked = acked;
		c->progress_at = now;
		return true;
	}
	return now - c->progress_at < (c->stall_ms ? c->stall_ms : c->tr->o.stall_ms);
}

static void tick_cb(uv_timer_t *t)
{
	struct transport *tr = t->data;
	uint64_t now = now_ms(tr), skipped;
	struct gw_list *it, *tmp;

	gw_list_foreach_safe(it, tmp, &tr->conns)
	{
		struct conn *c = gw_container_of(it, struct conn, link);
		unsigned limit = c->inbound ? 5 * tr->o.stall_ms : tr->o.stall_ms;

		if (c->closing) {
			continue;
		}
		if (!c->ready) {
			if (now - c->started >= limit) {
				tr->st.timed_out++;
				gw_raft__conn_close(c, RAFT_NOCONNECTION);
			}
			continue;
		}
		if (c->inbound) {
			/* A member removed since it connected is cut off. */
			uint64_t auth = c->ops->auth_id(c);
			if (auth != 0 && tr->o.allowed != NULL &&
			    !tr->o.allowed(tr->o.allowed_data, auth)) {
				gw_raft__conn_refuse(c, GW_RAFT__REF_NOT_MEMBER, NULL);
			}
			continue;
		}
		if (check_progress(c, now)) {
			continue;
		}
		tr->st.stalled++;
		if (gw_raft__tr_may_log(tr, LOG_STALL, &skipped)) {
			gw_warnf("raft",
				 "raft connection to %s (id %016" PRIx64
				 ") made no progress for %u ms: "
				 "dropped, libraft reconnects (%" PRIu64 " dropped so far, %" PRIu64
				 " similar lines suppressed)",
				 c->peer, c->id, c->stall_ms, tr->st.stalled, skipped);
		}
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
	}
}

static void tick_closed(uv_handle_t *h)
{
	struct transport *tr = h->data;

	tr->tick_open = false;
	maybe_closed(tr);
}

static void listener_closed(uv_handle_t *h)
{
	struct transport *tr = h->data;

	tr->listener_open = false;
	maybe_closed(tr);
}

static void start_tick(struct transport *tr)
{
	if (tr->tick_open) {
		return;
	}
	uv_timer_init(tr->loop, &tr->tick);
	tr->tick.data = tr;
	tr->tick_open = true;
	uv_timer_start(&tr->tick, tick_cb, TICK_MS, TICK_MS);
}

/* ---- the raft_uv_transport methods ------------------------------------ */

static int tr_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	struct transport *tr = t->impl;

	if (strlen(address) + 1 > sizeof tr->address - 8) {
		snprintf(t->errmsg, sizeof t->errmsg, "address too long");
		return RAFT_NAMETOOLONG;
	}
	tr->id = id;
	snprintf(tr->address, sizeof tr->address, "%s", address);
	return 0;
}

static void listen_cb(uv_stream_t *server, int status)
{
	struct transport *tr = server->data;
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	struct conn *c;

	if (status != 0 || tr->closing) {
		return;
	}
	c = conn_new(tr, true);
	if (c == NULL) {
		return;
	}
	tr->n_unready++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (tr->n_unready > MAX_UNREADY) {
		/* Pre-handshake connections cost a read buffer each and live
		 * up to 5 election timeouts: bound them. Peers retry. */
		tr->st.overflow++;
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		gw_addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
	}
	set_sockopts(c);
	if (c->ops->start(c) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
	}
}

/* gw_addr_parse, also taking port 0 (an ephemeral port: unit tests). */
static int parse_listen_addr(const char *s, struct gw_addr *a, const char **why)
{
	char tmp[GW_RAFT__HS_MAX_ADDRESS + 1];
	size_t n = strlen(s);
	int rv;

	if (n < 2 || n >= sizeof tmp || strcmp(s + n - 2, ":0") != 0) {
		return gw_addr_parse(s, a, why);
	}
	memcpy(tmp, s, n + 1);
	tmp[n - 1] = '1';
	rv = gw_addr_parse(tmp, a, why);
	if (rv == 0) {
		((struct sockaddr_in *)&a->ss)->sin_port = 0; /* same offset for IPv6 */
	}
	return rv;
}

static int tr_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct transport *tr = t->impl;
	struct gw_addr a;
	const char *why = "";
	int rv;

	if (parse_listen_addr(tr->address, &a, &why) != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "raft address %.64s: %s", tr->address, why);
		return RAFT_IOERR;
	}
	tr->accept_cb = cb;
	start_tick(tr);
	uv_tcp_init(tr->loop, &tr->listener);
	tr->listener.data = tr;
	tr->listener_open = true;
	rv = uv_tcp_bind(&tr->listener, (struct sockaddr *)&a.ss, 0);
	if (rv == 0) {
		rv = uv_listen((uv_stream_t *)&tr->listener, 128, listen_cb);
	}
	if (rv != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "listen on %.64s: %s", tr->address,
			 uv_strerror(rv));
		return RAFT_IOERR;
	}
	return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->closing) {
		return;
	}
	if (status != 0 || c->tr->closing) {
		gw_raft__conn_close(c, c->tr->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
		return;
	}
	set_sockopts(c);
	if (c->ops->start(c) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
	}
}

static int tr_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	struct transport *tr = t->impl;
	struct gw_addr a;
	const char *why = "";
	struct conn *c;
	int rv;

	if (tr->closing) {
		return RAFT_CANCELED;
	}
	if (gw_addr_parse(address, &a, &why) != 0) {
		snprintf(t->errmsg, sizeof t->errmsg, "peer address %.64s: %s", address, why);
		return RAFT_NOCONNECTION;
	}
	start_tick(tr);
	c = conn_new(tr, false);
	if (c == NULL) {
		return RAFT_NOMEM;
	}
	c->req = req;
	c->id = id;
	snprintf(c->peer, sizeof c->peer, "%s", a.text);
	c->connect.data = c;
	rv = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&a.ss, connect_cb);
	if (rv != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION); /* no callback: we fail synchronously */
		snprintf(t->errmsg, sizeof t->errmsg, "connect to %.64s: %s", address,
			 uv_strerror(rv));
		return RAFT_NOCONNECTION;
	}
	c->cb = cb;
	return 0;
}

static void tr_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	struct transport *tr = t->impl;
	struct gw_list *it, *tmp;

	tr->closing = true;
	tr->close_cb = cb;
	if (tr->listener_open) {
		uv_close((uv_handle_t *)&tr->listener, listener_closed);
	}
	if (tr->tick_open) {
		uv_close((uv_handle_t *)&tr->tick, tick_closed);
	}
	gw_list_foreach_safe(it, tmp, &tr->conns)
	{
		gw_raft__conn_close(gw_container_of(it, struct conn, link), RAFT_CANCELED);
	}
	maybe_closed(tr);
}

int gw_raft__transport_init(struct raft_uv_transport *t, uv_loop_t *loop,
			    const struct gw_raft__transport_opts *o)
{
	struct transport *tr = calloc(1, sizeof *tr);

	if (tr == NULL) {
		return GW_ENOMEM;
	}
	tr->t = t;
	tr->loop = loop;
	tr->o = *o;
	if (tr->o.stall_ms == 0) {
		tr->o.stall_ms = 1000;
	}
	gw_list_init(&tr->conns);
	t->version = 1;
	t->impl = tr;
	t->init = tr_init;
	t->listen = tr_listen;
	t->connect = tr_connect;
	t->close = tr_close;
	return 0;
}

void gw_raft__transport_close(struct raft_uv_transport *t)
{
	struct transport *tr = t->impl;

	if (tr == NULL) {
		return;
	}
	/* Every handle must be closed by now (tr_close ran, or nothing was
	 * ever opened). */
	GW_ASSERT(!tr->listener_open && !tr->tick_open && gw_list_empty(&tr->conns));
	free(tr);
	t->impl = NULL;
}

void gw_raft__transport_stats(const struct raft_uv_transport *t,
			      struct gw_raft__transport_stats *out)
{
	const struct transport *tr = t->impl;

	memset(out, 0, sizeof *out);
	if (tr != NULL) {
		*out = tr->st;
	}
}

static const char *const reason_keys[] = {"ok",
#define REASON_KEY(name, text) #name,
					  GW_RAFT__FRAME_ERRORS(REASON_KEY)
					      GW_RAFT__PEER_REFUSALS(REASON_KEY)
#undef REASON_KEY
};

void gw_raft__transport_json(const struct raft_uv_transport *t, struct cJSON *o)
{
	struct gw_raft__transport_stats st;
	cJSON *by;
	char key[32];
	int i, j;

	if (o == NULL) {
		return;
	}
	gw_raft__transport_stats(t, &st);
	cJSON_AddBoolToObject(
	    o, "tls", t->impl != NULL && ((const struct transport *)t->impl)->o.tls != NULL);
	cJSON_AddNumberToObject(o, "accepted", (double)st.accepted);
	cJSON_AddNumberToObject(o, "connected", (double)st.connected);
	cJSON_AddNumberToObject(o, "connect_failed", (double)st.connect_failed);
	cJSON_AddNumberToObject(o, "refused", (double)st.refused);
	cJSON_AddNumberToObject(o, "term_jumps", (double)st.term_jumps);
	cJSON_AddNumberToObject(o, "stalled", (double)st.stalled);
	cJSON_AddNumberToObject(o, "timed_out", (double)st.timed_out);
	cJSON_AddNumberToObject(o, "overflow", (double)st.overflow);
	cJSON_AddNumberToObject(o, "out_tls_failed", (double)st.out_tls_failed);
	cJSON_AddNumberToObject(o, "out_wrong_peer", (double)st.out_wrong_peer);
	by = cJSON_AddObjectToObject(o, "refused_by");
	for (i = 1; by != NULL && i < GW_RAFT__REF_N; i++) {
		if (st.refused_by[i] == 0) {
			continue;
		}
		for (j = 0; reason_keys[i][j] != '\0' && j < (int)sizeof key - 1; j++) {
			char ch = reason_keys[i][j];
			key[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
		}
		key[j] = '\0';
		cJSON_AddNumberToObject(by, key, (double)st.refused_by[i]);
	}
}
