/* etcd.c: the etcd API listener, the call plumbing shared by both
 * transports, and the v3 JSON gateway.
 *
 * Happy path: accept, read until the first bytes tell (the 24-byte HTTP/2
 * preface -> etcd_h2.c; any other byte -> HTTP/1.1, handed to a lib/httpd
 * server with gw_httpd_adopt). HTTP/1.1 requests: /v3/... and /v3beta/...
 * gateway paths are decoded from JSON into the same protobuf requests the
 * gRPC side gets and answered by the same services; /apigw/internal/... goes
 * to raft; GET /version and /health answer like etcd 3.4.
 * Limits: each stage (sniffing, HTTP/1.x, HTTP/2) has a connection cap whose
 * last slots only loopback and the cluster's members get (peer_reserved),
 * so outsiders cannot lock out etcdctl on the node or a peer's internal
 * call. Failure modes: a connection that sends nothing is closed after 10 s; bad
 * JSON gets 400 with etcd's error body; errors map through
 * gw_etcd__status_of (etcd_codec.c), the one place that chooses codes. */
#include "config.h"

#include "admin/etcd_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/json.h"
#include "lib/log.h"
#include "raft/endpoints.h"
#include "lib/reason.h"
#include "raft/raft.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H2_PREFACE           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN       24
#define SNIFF_TIMEOUT_MS     10000
#define ETCD_VERSION         "3.4.23"
#define ETCD_CLUSTER_VERSION "3.4.0"

/* ---- calls ---- */

struct gw_etcd__call *gw_etcd__call_new(struct gw_etcd *srv, const struct gw_etcd__method *m,
					const struct gw_etcd__tp_ops *ops, void *tp)
{
	struct gw_etcd__call *c = calloc(1, sizeof *c);
	if (c == NULL) {
		return NULL;
	}
	c->srv = srv;
	c->m = m;
	c->ops = ops;
	c->tp = tp;
	c->conn_watchers = &c->own_watchers;
	gw_etcd__arena_init(&c->arena);
	srv->n_calls++;
	return c;
}

bool gw_etcd__resume(struct gw_etcd__call *c, int err)
{
	c->pending--;
	if (c->gone || err != 0) {
		gw_etcd__finish(c, c->gone ? GW_ECANCELED : err);
		return false;
	}
	return true;
}

static void linearized(void *data, int err)
{
	struct gw_etcd__call *c = data;

	if (gw_etcd__resume(c, err)) {
		c->m->unary(c, c->held);
	}
}

bool gw_etcd__call_msg(struct gw_etcd__call *c, const ProtobufCMessage *req)
{
	int rv = gw_etcd__authorize(c, req);
	if (rv != 0) {
		struct gw_etcd__status st = gw_etcd__status_of(rv);
		if (!c->m->streaming) {
			c->delivered = true;
			gw_etcd__finish(c, rv);
		} else if (c->m->on_msg == gw_etcd__watch_msg) {
			gw_etcd__auth_watch_denied(c, req, rv); /* the stream stays */
			return true;
		} else {
			gw_etcd__call_fail(c, st.code, st.msg); /* ends (frees) it */
		}
		return false;
	}
	if (c->m->streaming) {
		c->m->on_msg(c, req);
	} else if (c->m->linearize && c->srv->opts.raft != NULL) {
		c->delivered = true;
		c->held = req; /* in the call's arena */
		c->pending++;
		rv = gw_raft_read_barrier(c->srv->opts.raft, gw_etcd__read_timeout(c), linearized,
					  c);
		if (rv != 0) {
			c->pending--;
			gw_etcd__finish(c, rv);
		}
	} else {
		c->delivered = true;
		c->m->unary(c, req);
	}
	return true;
}

void gw_etcd__call_half_close(struct gw_etcd__call *c)
{
	if (c->m->streaming && !c->ended) {
		c->ended = true;
		c->m->on_end(c, false);
	}
}

void gw_etcd__call_gone(struct gw_etcd__call *c)
{
	if (c->gone) {
		return;
	}
	c->gone = true;
	if (c->conn_watchers != &c->own_watchers) {
		c->own_watchers = *c->conn_watchers;
		c->conn_watchers = &c->own_watchers;
	}
	if (!c->m->streaming) {
		if (!c->delivered) {
			gw_etcd__finish(c, GW_ECANCELED); /* no service holds it yet */
		}
		return;
	}
	/* Also after a half-close: the end callback sees the disconnect. */
	c->ended = true;
	c->m->on_end(c, true);
}

void gw_etcd__call_fail(struct gw_etcd__call *c, int code, const char *msg)
{
	if (!c->m->streaming) {
		gw_etcd__finish_status(c, code, msg);
		return;
	}
	/* The service still owns the call: make it end (as if the client went
	 * away, so nothing more is sent), and answer with this status. */
	c->fail_code = code;
	snprintf(c->fail_msg, sizeof c->fail_msg, "%s", msg);
	c->gone = true;
	c->ended = true;
	c->m->on_end(c, true);
}

int gw_etcd__send(struct gw_etcd__call *c, const ProtobufCMessage *m)
{
	if (c->gone) {
		return GW_ECANCELED;
	}
	return c->ops->send(c, m);
}

static void call_free(struct gw_etcd__call *c)
{
	struct gw_etcd *srv = c->srv;
	gw_etcd__arena_free(&c->arena);
	free(c);
	srv->n_calls--;
	gw_etcd__maybe_free(srv);
}

void gw_etcd__finish(struct gw_etcd__call *c, int err)
{
	struct gw_etcd__status st = gw_etcd__status_of(err);
	if (c->fail_code != 0) {
		st.code = c->fail_code;
		st.http = gw_etcd__http_of_code(c->fail_code);
		st.msg = c->fail_msg;
	}
	c->ops->finish(c, &st);
	call_free(c);
}

void gw_etcd__finish_status(struct gw_etcd__call *c, int code, const char *msg)
{
	struct gw_etcd__status st = {code, gw_etcd__http_of_code(code), msg};
	c->ops->finish(c, &st);
	call_free(c);
}

void gw_etcd__header(struct gw_etcd *srv, Etcdserverpb__ResponseHeader *h, int64_t rev)
{
	if (rev == 0) {
		rev = gw_store_revision(srv->opts.store);
	}
	h->revision = rev;
	if (srv->opts.raft != NULL) {
		/* gw_raft_status reads every member's metadata: refresh it at
		 * most once per loop iteration (uv_now's millisecond), not once
		 * per response; the term is then at most that stale. */
		if (!srv->status_valid || srv->status_at != uv_now(srv->loop)) {
			gw_raft_status(srv->opts.raft, srv->status);
			srv->status_at = uv_now(srv->loop);
			srv->status_valid = true;
		}
		h->cluster_id = srv->status->cluster_id;
		h->member_id = srv->status->id;
		h->raft_term = srv->status->term;
	} else {
		h->cluster_id = srv->standalone_id;
		h->member_id = srv->standalone_id;
		h->raft_term = 1;
	}
}

unsigned gw_etcd__write_timeout(const struct gw_etcd__call *c)
{
	unsigned t = c->srv->opts.write_timeout_ms;
	if (c->timeout_ms != 0 && (t == 0 || c->timeout_ms < t)) {
		t = c->timeout_ms;
	}
	return t;
}

unsigned gw_etcd__read_timeout(const struct gw_etcd__call *c)
{
	unsigned t = c->srv->opts.read_timeout_ms;
	if (c->timeout_ms != 0 && c->timeout_ms < t) {
		t = c->timeout_ms;
	}
	return t;
}

/* ---- JSON gateway ---- */

struct jtp {
	struct gw_http_req *req; /* owned until answered */
	bool started;            /* streaming response started */
	bool answered;           /* unary response sent */
};

static int json_error_body(struct gw_buf *b, const char *msg, int code)
{
	cJSON *o = cJSON_CreateObject();
	char *s;
	int rv = GW_ENOMEM;
	if (o == NULL) {
		return GW_ENOMEM;
	}
	if (cJSON_AddStringToObject(o, "error", msg) &&
	    cJSON_AddStringToObject(o, "message", msg) &&
	    cJSON_AddNumberToObject(o, "code", code)) {
		s = cJSON_PrintUnformatted(o);
		if (s != NULL) {
			rv = gw_buf_appends(b, s);
			free(s);
		}
	}
	cJSON_Delete(o);
	return rv;
}

static void json_respond_error(struct gw_http_req *req, int http, int code, const char *msg)
{
	struct gw_buf b;
	gw_buf_init(&b);
	if (json_error_body(&b, msg, code) != 0) {
		gw_http_respond(req, 500, "text/plain", "", "out of memory\n", 14);
	} else {
		gw_http_respond(req, http, "application/json", "", b.data, b.len);
	}
	gw_buf_close(&b);
}

static int json_send(struct gw_etcd__call *c, const ProtobufCMessage *m)
{
	struct jtp *t = c->tp;
	cJSON *j = gw_etcd__pb_to_json(m);
	char *s;
	int rv;

	if (j == NULL) {
		return GW_ENOMEM;
	}
	if (c->m->streaming) {
		cJSON *w = cJSON_CreateObject();
		if (w == NULL) {
			cJSON_Delete(j);
			return GW_ENOMEM;
		}
		cJSON_AddItemToObject(w, "result", j);
		j = w;
	}
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (s == NULL) {
		return GW_ENOMEM;
	}
	if (!c->m->streaming) {
		if (t->answered) {
			free(s);
			return GW_EINVAL;
		}
		t->answered = true;
		rv = gw_http_respond(t->req, 200, "application/json", "", s, strlen(s));
		t->req = NULL;
		free(s);
		return rv;
	}
	if (!t->started) {
		rv = gw_http_stream_start(t->req, 200, "application/json", "");
		if (rv != 0) {
			free(s);
			return rv;
		}
		t->started = true;
	}
	{
		size_t n = strlen(s);
		s[n] = '\n'; /* replaces the NUL: the chunk is the line with its \n */
		rv = gw_http_stream_write(t->req, s, n + 1);
	}
	free(s);
	if (rv == 0 && gw_http_pending_bytes(t->req) > c->srv->opts.max_stream_buffer) {
		rv = GW_ELIMIT;
	}
	return rv;
}

static void json_finish(struct gw_etcd__call *c, const struct gw_etcd__status *st)
{
	struct jtp *t = c->tp;

	if (t->started) {
		if (st->code != 0 && !c->gone) {
			cJSON *o = cJSON_CreateObject();
			cJSON *e = cJSON_AddObjectToObject(o, "error");
			char *s;
			cJSON_AddNumberToObject(e, "grpc_code", st->code);
			cJSON_AddNumberToObject(e, "http_code", st->http);
			cJSON_AddStringToObject(e, "message", st->msg);
			cJSON_AddStringToObject(e, "http_status", gw_reason_rfc(st->http));
			s = cJSON_PrintUnformatted(o);
			if (s != NULL) {
				size_t n = strlen(s);
				s[n] = '\n';
				gw_http_stream_write(t->req, s, n + 1);
				free(s);
			}
			cJSON_Delete(o);
		}
		gw_http_stream_end(t->req);
	} else if (t->req != NULL) {
		if (st->code == 0) {
			gw_http_respond(t->req, 200, "application/json", "", "{}", 2);
		} else {
			json_respond_error(t->req, st->http, st->code, st->msg);
		}
	}
	free(t);
	c->tp = NULL;
}

static const struct gw_etcd__tp_ops json_ops = {json_send, json_finish};

static void json_abort(struct gw_http_req *req, void *data)
{
	(void)req;
	gw_etcd__call_gone(data);
}

static void text_404(struct gw_http_req *req)
{
	gw_http_respond(req, 404, "text/plain; charset=utf-8", "", "404 page not found\n", 19);
}

static void health_cb(void *data, int err)
{
	struct gw_http_req *req = data;
	if (err == 0) {
		gw_http_respond(req, 200, "application/json", "", "{\"health\":\"true\"}", 17);
	} else {
		gw_http_respond(req, 503, "application/json", "", "{\"health\":\"false\"}", 18);
	}
}

static void json_call(struct gw_etcd *srv, struct gw_http_req *req, const struct gw_etcd__method *m)
{
	struct gw_etcd__call *c;
	struct jtp *t;
	ProtobufCMessage *msg = NULL;
	cJSON *j = NULL;
	char why[160], jerr[128];
	int rv;

	if (strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0) {
		gw_http_respond(req, 405, "text/plain; charset=utf-8", "", "Method Not Allowed\n",
				19);
		return;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		goto err_nomem;
	}
	t->req = req;
	c = gw_etcd__call_new(srv, m, &json_ops, t);
	if (c == NULL) {
		free(t);
		goto err_nomem;
	}
	/* strict (lib/json.h): a key given twice ({"key":A,"key":B}) or bytes
	 * after the object are refused, not resolved one way or the other */
	if (req->body.len == 0) {
		j = cJSON_CreateObject();
		rv = j != NULL ? 0 : GW_ENOMEM;
	} else {
		rv = gw_json_parse_strict(req->body.data, req->body.len, 0, &j, jerr, sizeof jerr);
	}
	if (rv == GW_EINVAL) {
		snprintf(why, sizeof why, "invalid JSON request body: %s", jerr);
	} else if (rv == 0) {
		rv = gw_etcd__json_to_pb(j, m->in, &c->arena, &msg, why, sizeof why);
		cJSON_Delete(j);
		/* The limit is on the request as etcd sees it (protobuf), not
		 * on its base64-inflated JSON text. */
		if (rv == 0 &&
		    protobuf_c_message_get_packed_size(msg) > srv->opts.max_request_bytes) {
			struct gw_etcd__status st = gw_etcd__status_of(GW_EVALUETOOLARGE);
			snprintf(why, sizeof why, "%s", st.msg);
			rv = GW_EVALUETOOLARGE;
		}
	}
	if (rv != 0) {
		gw_etcd__finish_status(
		    c, rv == GW_ENOMEM ? GW_GRPC_RESOURCE_EXHAUSTED : GW_GRPC_INVALID_ARGUMENT,
		    rv == GW_ENOMEM ? "out of memory" : why);
		return;
	}
	{
		struct gw_etcd__peer direct;
		const struct gw_etcd__peer *peer = req->conn_data;
		const char *tok = gw_http_header(req, "authorization");
		if (peer == NULL) {
			memset(&direct, 0, sizeof direct);
			direct.addr = req->peer;
			peer = &direct;
		}
		gw_etcd__call_peer(c, peer, tok, tok != NULL ? strlen(tok) : 0);
	}
	req->on_abort = json_abort;
	req->abort_data = c;
	/* The gateway's request stream ends with its body. A unary call may
	 * have finished (and been freed) already; a streaming call never
	 * finishes inside on_msg (only when the gate refuses it: false), and
	 * its end callback decides what the half-close means (Watch stays
	 * open, KeepAlive ends). */
	if (gw_etcd__call_msg(c, msg) && m->streaming) {
		gw_etcd__call_half_close(c);
	}
	return;
err_nomem:
	json_respond_error(req, 500, GW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

static void http_internal_handler(struct gw_http_req *req, void *data);

static void http_handler(struct gw_http_req *req, void *data)
{
	struct gw_etcd *srv = data;
	const char *p = req->path;
	const struct gw_etcd__method *m;
	const char *rest = NULL;

	/* With TLS on, this server only gets connections through the TLS
	 * terminator (tagged: raft/endpoints.h). Anything else is cleartext:
	 * cleartext rules apply. */
	if (srv->ssl_ctx != NULL && !(req->tag & GW_RAFT_PEER_TLS)) {
		http_internal_handler(req, data);
		return;
	}

	if (strncmp(p, "/apigw/internal/", 16) == 0) {
		if (srv->opts.raft != NULL && gw_raft_handle_internal(srv->opts.raft, req)) {
			return;
		}
		text_404(req);
		return;
	}
	if (strcmp(p, "/version") == 0) {
		static const char v[] = "{\"etcdserver\":\"" ETCD_VERSION
					"\",\"etcdcluster\":\"" ETCD_CLUSTER_VERSION "\"}";
		gw_http_respond(req, 200, "application/json", "", v, sizeof v - 1);
		return;
	}
	if (strcmp(p, "/health") == 0) {
		if (srv->opts.raft == NULL ||
		    gw_raft_read_barrier(srv->opts.raft, srv->opts.read_timeout_ms, health_cb,
					 req) != 0) {
			health_cb(req, srv->opts.raft == NULL ? 0 : GW_ENOLEADER);
		}
		return;
	}
	if (strncmp(p, "/v3/", 4) == 0) {
		rest = p + 3;
	} else if (strncmp(p, "/v3beta/", 8) == 0) {
		rest = p + 7;
	}
	if (rest == NULL) {
		text_404(req);
		return;
	}
	m = gw_etcd__method_json(rest);
	if (m == NULL) {
		gw_http_respond(req, 404, "text/plain; charset=utf-8", "", "Not Found\n", 10);
		return;
	}
	json_call(srv, req, m);
}

/* Cleartext requests while TLS is on: only the node-to-node channel (raft
 * authenticates it with the cluster's join secret). */
static void http_internal_handler(struct gw_http_req *req, void *data)
{
	struct gw_etcd *srv = data;
	static const char msg[] = "Client sent an HTTP request to an HTTPS server.\n";

	if (strncmp(req->path, "/apigw/internal/", 16) == 0 && srv->opts.raft != NULL &&
	    gw_raft_handle_internal(srv->opts.raft, req)) {
		return;
	}
	gw_http_respond(req, 400, "text/plain; charset=utf-8", "", msg, sizeof msg - 1);
}

/* ---- listener and sniffing ---- */

/* Connection caps: besides loopback, the hosts of the cluster's members
 * (as their raft addresses name them) may use the reserved slots. Member
 * addresses are read at most once a second. */
static bool peer_reserved(const struct sockaddr *peer, void *data)
{
	struct gw_etcd *srv = data;
	if (srv->opts.raft == NULL) {
		return false;
	}
	if (!srv->status_valid || uv_now(srv->loop) - srv->status_at >= 1000) {
		gw_raft_status(srv->opts.raft, srv->status);
		srv->status_at = uv_now(srv->loop);
		srv->status_valid = true;
	}
	for (int i = 0; i < srv->status->n_members; i++) {
		if (gw_connlimit_same_host(peer, srv->status->members[i].raft_address)) {
			return true;
		}
	}
	return false;
}

/* Admit @tcp under @lim by its peer address (false: refused and logged). */
bool gw_etcd__admit(struct gw_etcd *srv, struct gw_connlimit *lim, uv_tcp_t *tcp)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0) {
		ss.ss_family = AF_UNSPEC;
	}
	return gw_connlimit_admit(lim, (struct sockaddr *)&ss, uv_now(srv->loop));
}

static void limit_init(struct gw_etcd *srv, struct gw_connlimit *lim, const char *name)
{
	gw_connlimit_init(lim, name, srv->opts.max_conns, srv->opts.reserve_conns);
	lim->reserved = peer_reserved;
	lim->reserved_data = srv;
}

struct gw_etcd__sniff {
	struct gw_etcd *srv;
	uv_tcp_t *tcp;    /* owned until handed over */
	uv_timer_t timer; /* the struct is freed in the timer's close callback */
	char buf[H2_PREFACE_LEN];
	size_t n;
	bool trusted;                    /* plaintext that came through our TLS terminator */
	bool need_tag;                   /* trusted: the TLS terminator's preamble comes first */
	bool counted;                    /* admitted under srv->sniff_lim (released when done) */
	char pre[GW_ETCD__TLS_PREAMBLE]; /* the preamble: tag, then the client's address */
	size_t pre_n;
	uint64_t tag;                 /* for the HTTP/1.x requests (raft/endpoints.h) */
	struct sockaddr_storage peer; /* trusted: the TLS client's address */
	struct gw_etcd__peer *tls;    /* trusted: who the TLS client is (owned) */
	struct gw_list link;          /* in srv->sniffs */
};

static void sniff_timer_closed(uv_handle_t *h)
{
	struct gw_etcd__sniff *s = h->data;
	struct gw_etcd *srv = s->srv;
	free(s->tls);
	free(s);
	srv->n_sniff--;
	gw_etcd__maybe_free(srv);
}

static void sniff_done(struct gw_etcd__sniff *s)
{
	if (s->counted) {
		gw_connlimit_release(&s->srv->sniff_lim);
	}
	gw_list_del(&s->link);
	s->tcp = NULL;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, sniff_timer_closed);
}

static void sniff_drop(struct gw_etcd__sniff *s)
{
	uv_close((uv_handle_t *)s->tcp, (uv_close_cb)free);
	sniff_done(s);
}

static void sniff_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct gw_etcd__sniff *s = h->data;
	(void)suggested;
	if (s->need_tag) {
		buf->base = s->pre + s->pre_n;
		buf->len = sizeof s->pre - s->pre_n;
		return;
	}
	buf->base = s->buf + s->n;
	buf->len = sizeof s->buf - s->n;
}

static void sniff_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct gw_etcd__sniff *s = stream->data;
	struct gw_etcd *srv = s->srv;
	uv_tcp_t *tcp = s->tcp;
	/* With TLS on, cleartext gets only the node-to-node routes. */
	bool full = s->tls != NULL || srv->ssl_ctx == NULL;

	(void)buf;
	if (nread < 0) {
		sniff_drop(s);
		return;
	}
	if (s->need_tag) {
		/* The TLS terminator's preamble (etcd_tls.c), before any
		 * plaintext: the tag and the client's address, which the caps
		 * judge (loopback and members keep their reserve). */
		s->pre_n += (size_t)nread;
		if (s->pre_n < sizeof s->pre) {
			return;
		}
		memcpy(&s->tag, s->pre, sizeof s->tag);
		memcpy(&s->peer, s->pre + sizeof s->tag, sizeof s->peer);
		s->need_tag = false;
		/* who the client is, for the access gate (etcd_auth.c) */
		s->tls = calloc(1, sizeof *s->tls);
		if (s->tls == NULL) {
			sniff_drop(s);
			return;
		}
		s->tls->addr = s->peer;
		s->tls->cert = s->pre[sizeof s->tag + sizeof s->peer] == 1;
		memcpy(s->tls->cn, s->pre + sizeof s->tag + sizeof s->peer + 1, sizeof s->tls->cn);
		s->tls->cn[sizeof s->tls->cn - 1] = '\0';
		if (!gw_connlimit_admit(&srv->sniff_lim, (struct sockaddr *)&s->peer,
					uv_now(srv->loop))) {
			sniff_drop(s);
			return;
		}
		s->counted = true;
		return;
	}
	s->n += (size_t)nread;
	if (!s->trusted && s->n > 0 && (unsigned char)s->buf[0] == 0x16 && gw_etcd__tls_has(srv)) {
		uv_read_stop(stream);
		tcp->data = NULL;
		gw_etcd__tls_adopt(srv, tcp, s->buf, s->n); /* a TLS handshake record */
		sniff_done(s);
	} else if (memcmp(s->buf, H2_PREFACE, s->n) != 0) {
		uv_read_stop(stream);
		tcp->data = NULL;
		gw_httpd_adopt_tagged(full ? srv->httpd : srv->httpd_internal, tcp, s->buf, s->n,
				      s->tag, s->trusted ? &s->peer : NULL, s->tls);
		s->tls = NULL; /* the HTTP connection has it now */
		sniff_done(s);
	} else if (s->n == H2_PREFACE_LEN) {
		uv_read_stop(stream);
		tcp->data = NULL;
		if (full) {
			gw_etcd__h2_adopt(srv, tcp, s->buf, s->n, s->tls);
		} else {
			uv_close((uv_handle_t *)tcp, (uv_close_cb)free); /* cleartext gRPC */
		}
		sniff_done(s);
	}
}

static void sniff_timeout(uv_timer_t *t)
{
	sniff_drop(t->data);
}

void gw_etcd__plain_adopt(struct gw_etcd *srv, uv_tcp_t *tcp, bool trusted)
{
	struct gw_etcd__sniff *s;
	/* Behind our TLS terminator the socket's peer is a socketpair: the
	 * caps judge the client's address, from the preamble. */
	if (!trusted && !gw_etcd__admit(srv, &srv->sniff_lim, tcp)) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL) {
		if (!trusted) {
			gw_connlimit_release(&srv->sniff_lim);
		}
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	s->srv = srv;
	s->tcp = tcp;
	s->trusted = trusted;
	s->need_tag = trusted;
	s->counted = !trusted;
	tcp->data = s;
	uv_timer_init(srv->loop, &s->timer);
	s->timer.data = s;
	uv_timer_start(&s->timer, sniff_timeout, SNIFF_TIMEOUT_MS, 0);
	gw_list_add_head(&srv->sniffs, &s->link);
	srv->n_sniff++;
	if (uv_read_start((uv_stream_t *)tcp, sniff_alloc, sniff_read) != 0) {
		sniff_drop(s);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	struct gw_etcd *srv = server->data;
	uv_tcp_t *tcp;

	if (status < 0 || srv->stopping) {
		return;
	}
	tcp = malloc(sizeof *tcp);
	if (tcp == NULL) {
		return;
	}
	uv_tcp_init(srv->loop, tcp);
	if (uv_accept(server, (uv_stream_t *)tcp) != 0) {
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return;
	}
	uv_tcp_nodelay(tcp, 1);
	gw_etcd__plain_adopt(srv, tcp, NULL);
}

int gw_etcd_start(uv_loop_t *loop, const struct gw_addr *listen, const struct gw_etcd_opts *opts,
		  struct gw_etcd **out)
{
	struct gw_etcd *srv;
	struct gw_httpd_opts hopts = {0};
	struct sockaddr_storage ss;
	int namelen = sizeof ss;
	int rv;

	if (opts == NULL || opts->store == NULL) {
		return GW_EINVAL;
	}
	srv = calloc(1, sizeof *srv);
	if (srv == NULL) {
		return GW_ENOMEM;
	}
	srv->loop = loop;
	gw_list_init(&srv->conns);
	gw_list_init(&srv->sniffs);
	gw_list_init(&srv->kdf_wait);
	srv->opts = *opts;
	if (srv->opts.max_request_bytes == 0) {
		srv->opts.max_request_bytes = GW_ETCD_DEFAULT_MAX_REQUEST;
	}
	if (srv->opts.max_streams == 0) {
		srv->opts.max_streams = GW_ETCD_DEFAULT_MAX_STREAMS;
	}
	if (srv->opts.max_watchers == 0) {
		srv->opts.max_watchers = GW_ETCD_DEFAULT_MAX_WATCHERS;
	}
	if (srv->opts.max_stream_buffer == 0) {
		srv->opts.max_stream_buffer = GW_ETCD_DEFAULT_STREAM_BUFFER;
	}
	if (srv->opts.read_timeout_ms == 0) {
		srv->opts.read_timeout_ms = GW_ETCD_DEFAULT_READ_TIMEOUT;
	}
	if (srv->opts.progress_notify_ms == 0) {
		srv->opts.progress_notify_ms = GW_ETCD_DEFAULT_PROGRESS;
	}
	if (srv->opts.max_conns == 0) {
		srv->opts.max_conns = GW_ETCD_DEFAULT_MAX_CONNS;
	}
	if (srv->opts.reserve_conns == 0) {
		srv->opts.reserve_conns = GW_ETCD_DEFAULT_RESERVE_CONNS;
	}
	if (srv->opts.idle_timeout_ms == 0) {
		srv->opts.idle_timeout_ms = GW_ETCD_DEFAULT_IDLE_TIMEOUT;
	}
	if (gw_cidr_parse(srv->opts.trusted_cidrs != NULL ? srv->opts.trusted_cidrs
							  : GW_ETCD_DEFAULT_TRUSTED,
			  srv->trusted, (int)(sizeof srv->trusted / sizeof srv->trusted[0]),
			  &srv->n_trusted) != 0) {
		gw_errorf("etcd", "bad trusted client list %s: expected comma-separated CIDRs",
			  srv->opts.trusted_cidrs);
		free(srv);
		return GW_EINVAL;
	}
	if (srv->opts.auth_token_ttl_ms == 0) {
		srv->opts.auth_token_ttl_ms = GW_ETCD_DEFAULT_TOKEN_TTL;
	}
	srv->opts.trusted_cidrs = NULL; /* not kept: parsed above */
	limit_init(srv, &srv->sniff_lim, "etcd (first bytes)");
	limit_init(srv, &srv->h2_lim, "etcd HTTP/2");
	srv->standalone_id = 0x1d0c5a1eULL;
	srv->status = calloc(1, sizeof *srv->status);
	if (srv->status == NULL) {
		rv = GW_ENOMEM;
		goto err_after_alloc;
	}

	/* The JSON gateway's server listens nowhere: it only adopts the
	 * HTTP/1.1 connections sniffed on the etcd listener. */
	/* JSON carries bytes in base64 (4/3) plus field names: room for a
	 * request at the protobuf limit, checked after decoding. */
	hopts.max_body_bytes = srv->opts.max_request_bytes / 3 * 4 + 65536;
	hopts.idle_timeout_ms = srv->opts.idle_timeout_ms; /* a watch stream is not idle */
	hopts.max_conns = srv->opts.max_conns;
	hopts.reserve_conns = srv->opts.reserve_conns;
	hopts.reserved = peer_reserved;
	hopts.reserved_data = srv;
	hopts.name = "etcd HTTP/1.x";
	rv = gw_httpd_start(loop, NULL, &hopts, http_handler, srv, &srv->httpd);
	if (rv != 0) {
		goto err_after_status;
	}
	rv = gw_etcd__tls_init(srv);
	if (rv != 0) {
		goto err_after_httpd;
	}
	if (srv->ssl_ctx != NULL) {
		rv = gw_httpd_start(loop, NULL, &hopts, http_internal_handler, srv,
				    &srv->httpd_internal);
		if (rv != 0) {
			goto err_after_tls;
		}
	}

	srv->flush_idle = malloc(sizeof *srv->flush_idle);
	if (srv->flush_idle == NULL) {
		rv = GW_ENOMEM;
		goto err_after_internal;
	}
	uv_idle_init(loop, srv->flush_idle);
	srv->flush_idle->data = srv;
	srv->listener = malloc(sizeof *srv->listener);
	if (srv->listener == NULL) {
		rv = GW_ENOMEM;
		goto err_after_idle;
	}
	uv_tcp_init(loop, srv->listener);
	srv->listener->data = srv;
	rv = uv_tcp_bind(srv->listener, (const struct sockaddr *)&listen->ss, 0);
	if (rv == 0) {
		rv = uv_listen((uv_stream_t *)srv->listener, 511, on_connection);
	}
	if (rv != 0) {
		gw_errorf("etcd", "cannot listen on %s: %s", listen->text, uv_strerror(rv));
		uv_close((uv_handle_t *)srv->listener, (uv_close_cb)free);
		srv->listener = NULL;
		rv = GW_EADDR;
		goto err_after_idle;
	}
	uv_tcp_getsockname(srv->listener, (struct sockaddr *)&ss, &namelen);
	srv->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	gw_infof("etcd", "etcd v3 API (gRPC + JSON gateway%s) listening on %s (port %d)",
		 srv->ssl_ctx != NULL
		     ? (srv->opts.tls_client_ca != NULL && srv->opts.tls_client_ca[0] != '\0'
			    ? ", TLS with client certificates"
			    : ", TLS")
		     : ", cleartext",
		 listen->text, srv->port);
	snprintf(srv->url, sizeof srv->url, "http://%s", listen->text);
	*out = srv;
	return 0;

err_after_idle:
	uv_close((uv_handle_t *)srv->flush_idle, (uv_close_cb)free);
err_after_internal:
	if (srv->httpd_internal != NULL) {
		gw_httpd_stop(srv->httpd_internal, NULL, NULL);
	}
err_after_tls:
	gw_etcd__tls_free(srv);
err_after_httpd:
	gw_httpd_stop(srv->httpd, free, srv->status);
	free(srv);
	return rv;
err_after_status:
	free(srv->status);
err_after_alloc:
	free(srv);
	return rv;
}

int gw_etcd_port(const struct gw_etcd *e)
{
	return e->port;
}

uint64_t gw_etcd_refused(const struct gw_etcd *e)
{
	return e->sniff_lim.refused + e->h2_lim.refused + gw_httpd_refused(e->httpd) +
	       (e->httpd_internal != NULL ? gw_httpd_refused(e->httpd_internal) : 0);
}

void gw_etcd__maybe_free(struct gw_etcd *srv)
{
	if (!srv->stopping || srv->closing > 0 || srv->n_sniff > 0 || !gw_list_empty(&srv->conns)) {
		return;
	}
	if (srv->stop_cb != NULL) {
		void (*cb)(void *) = srv->stop_cb;
		srv->stop_cb = NULL;
		/* The callback may stop raft, which ends the calls waiting on it:
		 * their call_free comes back here and must not free @srv under
		 * this frame. */
		srv->in_stop_cb = true;
		cb(srv->stop_data);
		srv->in_stop_cb = false;
	}
	if (srv->n_calls > 0 || srv->in_stop_cb) {
		return; /* calls waiting on raft: freed by the last one */
	}
	gw_etcd__tls_free(srv);
	free(srv->status);
	free(srv);
}

static void stop_step_done(struct gw_etcd *srv)
{
	srv->closing--;
	gw_etcd__maybe_free(srv);
}

static void listener_closed(uv_handle_t *h)
{
	struct gw_etcd *srv = h->data;
	free(h);
	stop_step_done(srv);
}

static void idle_closed(uv_handle_t *h)
{
	struct gw_etcd *srv = h->data;
	free(h);
	stop_step_done(srv);
}

static void httpd_stopped(void *data)
{
	stop_step_done(data);
}

void gw_etcd_stop(struct gw_etcd *e, void (*cb)(void *data), void *data)
{
	struct gw_list *it, *tmp;

	e->stopping = true;
	e->stop_cb = cb;
	e->stop_data = data;
	e->closing = e->httpd_internal != NULL ? 4 : 3;
	uv_close((uv_handle_t *)e->listener, listener_closed);
	gw_list_foreach_safe(it, tmp, &e->sniffs)
	{
		sniff_drop(gw_container_of(it, struct gw_etcd__sniff, link));
	}
	gw_etcd__h2_close_all(e);
	uv_close((uv_handle_t *)e->flush_idle, idle_closed);
	gw_httpd_stop(e->httpd, httpd_stopped, e);
	if (e->httpd_internal != NULL) {
		gw_httpd_stop(e->httpd_internal, httpd_stopped, e);
	}
}
