/* transport_tls.c: the TLS 1.3 peer stream of the raft transport (struct
 * peer_ops of transport_int.h), used when the member has credentials
 * (opts.tls, lib/peertls.h). A TLS session on memory BIOs (lib/tlsbio.h)
 * sits between the TCP socket and the relay of transport.c, so the frame
 * checker and libraft see plaintext and stall detection sees the
 * ciphertext the kernel holds.
 *
 * Happy path, inbound: the server context (client certificate required,
 * the cluster CA the only trust anchor) runs the handshake; the member id
 * in the client's certificate (SAN URI, our cluster) becomes auth_id and
 * must pass the allow-list (opts.allowed); transport.c then requires raft's
 * handshake to claim that same id. Outbound: the client context checks the
 * server's certificate the same way, and its member id must be the id
 * libraft dialled before raft's handshake is sent.
 *
 * Failure modes: a client that does not speak TLS (canonical/raft's
 * handshake in clear), a failed handshake (no certificate, another CA, an
 * expired certificate), a certificate naming no member of our cluster or a
 * member the allow-list refuses: the connection is closed before any byte
 * reaches libraft, counted by reason and logged (rate-limited). Outbound,
 * a failed handshake or a server certificate of another member closes the
 * connection (libraft retries) and is counted. Control loop only. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/peertls.h"
#include "raft/transport_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STOP       1    /* a callback closed the connection: stop the feed */
#define TLS_RECORD 0x16 /* first byte of a TLS handshake record */
#define PEER_SNI   "apigw-peer"

static void tls_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* An outbound connection failed TLS or named the wrong member: count, log
 * (rate-limited) and close; libraft dials again. */
static void out_failed(struct conn *c, uint64_t *counter, const char *what)
{
	struct transport *tr = c->tr;
	uint64_t skipped;

	(*counter)++;
	if (gw_raft__tr_may_log(tr, LOG_OUT, &skipped)) {
		gw_warnf("raft",
			 "raft connection to %s (id %016" PRIx64 ") closed: %s (%" PRIu64
			 " TLS failures, %" PRIu64 " wrong peers so far, %" PRIu64
			 " similar lines suppressed)",
			 c->peer, c->id, what, tr->st.out_tls_failed, tr->st.out_wrong_peer,
			 skipped);
	}
	gw_raft__conn_close(c, RAFT_NOCONNECTION);
}

/* gw_tlsbio_feed or _start failed with @rv. */
static void tls_failed(struct conn *c, int rv)
{
	char what[200];

	if (c->closing) {
		return;
	}
	if (rv == GW_ESHUTDOWN) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION); /* the peer closed the session */
		return;
	}
	if (!c->inbound) {
		snprintf(what, sizeof what, "TLS failed: %s", c->tls.why);
		out_failed(c, &c->tr->st.out_tls_failed, what);
		return;
	}
	gw_raft__conn_refuse(c,
			     !c->tls.done && c->first_byte != TLS_RECORD
				 ? GW_RAFT__REF_TLS_PLAINTEXT
				 : GW_RAFT__REF_TLS_HANDSHAKE,
			     c->tls.why);
}

static int on_cipher(void *data, const char *p, size_t len)
{
	struct conn *c = data;

	if (c->closing) {
		return STOP;
	}
	if (gw_raft__conn_write_peer(c, p, len) != 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return STOP;
	}
	return 0;
}

static int on_plain(void *data, const char *p, size_t len)
{
	struct conn *c = data;

	if (c->closing) {
		return STOP;
	}
	gw_raft__conn_from_peer(c, p, len);
	return c->closing ? STOP : 0;
}

/* The handshake completed and the chain verified: who is the peer? */
static int on_ready(void *data)
{
	struct conn *c = data;
	struct transport *tr = c->tr;
	char why[160] = "", what[240];
	uint64_t id = 0;
	int rv;

	if (c->closing) {
		return STOP;
	}
	rv = gw_peertls_peer_id(tr->o.tls, gw_tlsbio_peer_cert(&c->tls), &id, why, sizeof why);
	if (c->inbound) {
		if (rv != 0) {
			gw_raft__conn_refuse(c, GW_RAFT__REF_CERT, why);
			return STOP;
		}
		c->auth = id;
		if (tr->o.allowed != NULL && !tr->o.allowed(tr->o.allowed_data, id)) {
			gw_raft__conn_refuse(c, GW_RAFT__REF_NOT_MEMBER, NULL);
			return STOP;
		}
	} else {
		if (rv != 0 || id != c->id) {
			if (rv == 0) {
				snprintf(why, sizeof why,
					 "the certificate is of member %016" PRIx64, id);
			}
			snprintf(what, sizeof what, "not the member dialled: %s", why);
			out_failed(c, &tr->st.out_wrong_peer, what);
			return STOP;
		}
		c->auth = id;
	}
	gw_raft__conn_peer_ready(c);
	return c->closing ? STOP : 0;
}

static const struct gw_tlsbio_ops bio_ops = {
    .plain = on_plain,
    .cipher = on_cipher,
    .ready = on_ready,
};

static void tls_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	int rv;

	if (nread < 0) {
		gw_raft__conn_close(c, RAFT_NOCONNECTION);
		return;
	}
	if (nread == 0 || c->closing) {
		return;
	}
	gw_raft__conn_quickack(c);
	if (!c->tls.done) {
		if (c->peer_bytes == 0) {
			c->first_byte = (uint8_t)buf->base[0];
		}
		c->peer_bytes += (uint64_t)nread;
	}
	rv = gw_tlsbio_feed(&c->tls, buf->base, (size_t)nread);
	if (rv != 0) {
		tls_failed(c, rv);
	}
}

static int tls_start(struct conn *c)
{
	SSL_CTX *ctx = c->inbound ? c->tr->o.tls->server : c->tr->o.tls->client;
	int rv;

	if (gw_tlsbio_init(&c->tls, ctx, c->inbound, c->inbound ? NULL : PEER_SNI, &bio_ops, c) !=
	    0) {
		return UV_ENOMEM;
	}
	rv = uv_read_start((uv_stream_t *)&c->tcp, gw_raft__conn_alloc_peer, tls_read_cb);
	if (rv != 0 || c->inbound) {
		return rv;
	}
	rv = gw_tlsbio_start(&c->tls); /* the ClientHello */
	if (rv != 0) {
		tls_failed(c, rv);
	}
	return 0;
}

static int tls_send(struct conn *c, const char *data, size_t len)
{
	return gw_tlsbio_write(&c->tls, data, len) == 0 ? 0 : UV_EPROTO;
}

static size_t tls_pending(struct conn *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void tls_pause(struct conn *c, bool paused)
{
	if (paused) {
		uv_read_stop((uv_stream_t *)&c->tcp);
	} else {
		uv_read_start((uv_stream_t *)&c->tcp, gw_raft__conn_alloc_peer, tls_read_cb);
	}
}

static uint64_t tls_auth_id(struct conn *c)
{
	return c->auth;
}

static void tls_release(struct conn *c)
{
	if (c->tls.ssl != NULL) {
		gw_tlsbio_free(&c->tls);
	}
}

const struct peer_ops gw_raft__tls_ops = {
    .name = "tls",
    .start = tls_start,
    .send = tls_send,
    .pending = tls_pending,
    .pause = tls_pause,
    .auth_id = tls_auth_id,
    .release = tls_release,
};
