/* forward.c: HTTP calls from this node to the leader or to a given member
 * (forwarded proposals, read index, keep-alive, join, ping, remove). With
 * peer TLS every call is mTLS with this member's certificate (SNI
 * GW_RAFT_PEER_SNI), and the server must show a certificate of our cluster
 * (of the leader we meant, for calls to the leader); the enrollment call of
 * a joining node pins the token's CA instead (enroll.c). Without peer TLS,
 * cleartext with the join secret header, as before. A call
 * to "the leader" looks the leader's etcd URL up in the member metadata at
 * each attempt; connection errors are retried every RETRY_MS while the
 * deadline allows, a "not leader" answer makes it ask again. Failure modes:
 * no leader -> GW_ENOLEADER at once (waited for, for joins and after a
 * recent leader loss with a majority still heard: leader_recent); a proposal
 * whose connection broke after sending -> GW_ELEADERCHANGED (never sent
 * twice); deadline -> GW_ETIMEOUT; stop -> GW_ESHUTDOWN. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/endpoints.h"
#include "raft/raft_int.h"
#include "raft/transport.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS     100 /* between attempts of a call */
#define NOLEADER_MS  20  /* between looks for a new leader */
#define LEADER_GRACE 2   /* election timeouts a lost leader is waited for */
#define LOOK_MS      100 /* how long a call looks for signs of an election */

void gw_raft__leader_seen(struct gw_raft *r, uint64_t now)
{
	raft_id id = 0;
	const char *addr = NULL;

	if (r->raft_running && !gw_raft__stopping(r)) {
		raft_leader(&r->raft, &id, &addr);
		if (id != 0) {
			r->leader_seen_ms = now;
		}
	}
}

static int leader_hostport(struct gw_raft *r, char *out, size_t len, uint64_t *lid)
{
	struct gw_raft_member m;
	raft_id id = 0;
	const char *addr = NULL;

	if (!r->raft_running || gw_raft__stopping(r)) {
		return GW_ENOLEADER;
	}
	raft_leader(&r->raft, &id, &addr);
	if (id == 0 || gw_raft__member_load(r, id, &m) != 0 || m.etcd_url[0] == '\0') {
		return GW_ENOLEADER;
	}
	if (gw_httpc_url_hostport(m.etcd_url, out, len) != 0) {
		return GW_ENOLEADER;
	}
	*lid = id;
	return 0;
}

/* ---- HTTP calls (to the leader or to a given member) -------------------- */

typedef void (*gw_raft__call_cb)(void *data, int err, const struct gw_httpc_resp *resp);

struct call {
	uv_timer_t timer; /* retry delay */
	struct gw_raft *r;
	struct gw_list link;
	struct gw_httpc *http;
	char method[8];
	char path[128];
	char target[128]; /* "" = the current leader */
	struct gw_buf body;
	uint64_t deadline;
	uint64_t started;      /* uv_now when the call was made */
	uint64_t expect_id;    /* the member the server must be (0 = any of ours) */
	bool retry_noleader;   /* wait for a leader instead of failing at once */
	gw_raft__call_cb done; /* NULL once called */
	void *data;
	char why[256]; /* why the last attempt failed (TLS), for the caller's log */
};

/* True while this node lost its leader in what looks like a brief election
 * (or a pre-vote blip under packet loss): a leader was known within
 * LEADER_GRACE election timeouts AND a majority of the voters (this node
 * included) sent us raft messages within one election timeout (or, for
 * the first LOOK_MS of call @c, before a candidate's first answers came
 * back). A write then waits for the next leader (within its deadline)
 * instead of failing; a node cut off from a majority still answers "no
 * leader" within LOOK_MS, and at once after LEADER_GRACE. */
static bool leader_recent(struct gw_raft *r, const struct call *c)
{
	const struct raft_configuration *conf = &r->raft.configuration;
	uint64_t now = gw_raft__now(r);
	unsigned voters = 0, heard = 0;

	gw_raft__leader_seen(r, now);
	if (r->leader_seen_ms == 0 ||
	    now - r->leader_seen_ms >= (uint64_t)LEADER_GRACE * r->election_timeout_ms) {
		return false;
	}
	for (unsigned i = 0; i < conf->n; i++) {
		const struct raft_server *s = &conf->servers[i];
		uint64_t at;
		if (s->role != RAFT_VOTER) {
			continue;
		}
		voters++;
		if (s->id == r->ident.node_id) {
			heard++;
			continue;
		}
		at = gw_raft__transport_heard(&r->transport, s->id);
		if (at != 0 && now - at < r->election_timeout_ms) {
			heard++;
		}
	}
	return voters > 0 && (heard > voters / 2 || now - c->started < LOOK_MS);
}

/* gw_httpc_tls_check_cb of member calls: the server's certificate (verified
 * against our CA by the context) must name our cluster, and the member we
 * meant when we meant one. */
static int member_check(void *data, SSL *ssl, char *why, size_t len)
{
	struct call *c = data;
	uint64_t id = 0;

	if (c->r->tls == NULL ||
	    gw_peertls_peer_id(c->r->tls, SSL_get0_peer_certificate(ssl), &id, why, len) != 0) {
		return GW_EPERM;
	}
	if (c->expect_id != 0 && id != c->expect_id) {
		snprintf(why, len, "the server is member %016" PRIx64 ", not %016" PRIx64, id,
			 c->expect_id);
		return GW_EPERM;
	}
	return 0;
}

static void call_closed(uv_handle_t *h)
{
	struct call *c = h->data;
	struct gw_raft *r = c->r;
	gw_buf_close(&c->body);
	free(c);
	r->n_handles--;
	gw_raft__maybe_finish(r);
}

static void call_finish(struct call *c, int err, const struct gw_httpc_resp *resp)
{
	gw_raft__call_cb done = c->done;

	GW_ASSERT(!uv_is_closing((uv_handle_t *)&c->timer)); /* finished once */
	c->done = NULL;
	if (c->http != NULL) {
		gw_httpc_cancel(c->http);
		c->http = NULL;
	}
	gw_list_del(&c->link);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, call_closed);
	if (done != NULL) {
		done(c->data, err, resp);
	}
}

static void call_attempt(struct call *c);

static void call_retry_cb(uv_timer_t *t)
{
	call_attempt(t->data);
}

/* Retry after @delay if the deadline allows, else finish with @err. */
static void call_retry(struct call *c, unsigned delay, int err)
{
	uint64_t now = gw_raft__now(c->r);

	if (now + delay >= c->deadline || gw_raft__stopping(c->r)) {
		call_finish(c, gw_raft__stopping(c->r) ? GW_ESHUTDOWN : err, NULL);
		return;
	}
	uv_timer_start(&c->timer, call_retry_cb, delay, 0);
}

static void call_http_cb(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct call *c = data;

	c->http = NULL;
	if (err != 0 && c->why[0] != '\0') {
		snprintf(c->r->call_why, sizeof c->r->call_why, "%s", c->why);
	}
	if (err == GW_EAGAIN || (err == GW_EPROTO && c->target[0] == '\0')) {
		/* Not delivered (the leader is gone or not listening yet, or
		 * the TLS handshake with the leader failed: nothing was sent
		 * either). A given member that refuses our TLS is the caller's
		 * to judge (joins: another cluster, a bad pin). */
		call_retry(c, RETRY_MS, GW_ETIMEOUT);
		return;
	}
	if (err == GW_EIO) {
		/* Delivered, then the connection broke: a proposal may have been
		 * committed, so it is not sent twice; the caller hears etcd's
		 * ambiguous "leader changed". Other calls are idempotent. */
		if (strcmp(c->path, "/apigw/internal/propose") == 0) {
			call_finish(c, GW_ELEADERCHANGED, NULL);
		} else {
			call_retry(c, RETRY_MS, GW_ETIMEOUT);
		}
		return;
	}
	if (err != 0) {
		call_finish(c, err, NULL);
		return;
	}
	if (c->target[0] == '\0' &&
	    (resp->gw_err == GW_ENOTLEADER ||
	     (resp->gw_err == GW_ENOLEADER && (c->retry_noleader || leader_recent(c->r, c))))) {
		/* The leader we knew is not leading any more: ask again. */
		call_retry(c, RETRY_MS / 2,
			   resp->gw_err == GW_ENOTLEADER ? GW_ELEADERCHANGED : GW_ENOLEADER);
		return;
	}
	call_finish(c, 0, resp);
}

static void call_attempt(struct call *c)
{
	struct gw_raft *r = c->r;
	struct gw_httpc_opts opts = {0};
	char hostport[128], headers[512];
	uint64_t now = gw_raft__now(r);
	bool join_call, enroll_call;
	int rv;

	if (gw_raft__stopping(r)) {
		call_finish(c, GW_ESHUTDOWN, NULL);
		return;
	}
	if (now >= c->deadline) {
		call_finish(c, GW_ETIMEOUT, NULL);
		return;
	}
	if (c->target[0] != '\0') {
		snprintf(hostport, sizeof hostport, "%s", c->target);
	} else {
		rv = leader_hostport(r, hostport, sizeof hostport, &c->expect_id);
		if (rv != 0) {
			if (c->retry_noleader) {
				call_retry(c, RETRY_MS, GW_ENOLEADER);
			} else if (leader_recent(r, c)) {
				call_retry(c, NOLEADER_MS, GW_ENOLEADER);
			} else {
				call_finish(c, GW_ENOLEADER, NULL);
			}
			return;
		}
	}
	/* A call to the leader must not be relayed again; a call to a given
	 * member (join through any peer) may be. */
	/* Join calls authenticate with --join-secret: with the data dir of
	 * another cluster, the peer's answer then says so. */
	join_call = c->target[0] != '\0' && r->join_secret[0] != '\0' &&
		    (strcmp(c->path, "/apigw/internal/cluster") == 0 ||
		     strcmp(c->path, "/apigw/internal/join") == 0);
	enroll_call = c->target[0] != '\0' && strcmp(c->path, "/apigw/internal/enroll") == 0;
	if (enroll_call) {
		/* A joining node: no certificate yet; the server is judged by
		 * the token's CA pin. The credential is in the body. */
		opts.tls_ctx = r->enroll_ctx;
		opts.tls_check = gw_raft__enroll_check;
		opts.tls_check_data = r;
	} else if (r->tls != NULL) {
		opts.tls_ctx = r->tls->client;
		opts.tls_check = member_check;
		opts.tls_check_data = c;
	}
	if (opts.tls_ctx != NULL) {
		opts.tls_sni = GW_RAFT_PEER_SNI;
		snprintf(headers, sizeof headers, "%sX-Apigw-Timeout-Ms: %" PRIu64 "\r\n",
			 c->target[0] == '\0' ? "X-Apigw-Hops: 1\r\n" : "", c->deadline - now);
	} else {
		snprintf(headers, sizeof headers,
			 "X-Apigw-Secret: %s\r\n%sX-Apigw-Timeout-Ms: %" PRIu64 "\r\n",
			 join_call ? r->join_secret : r->ident.secret,
			 c->target[0] == '\0' ? "X-Apigw-Hops: 1\r\n" : "", c->deadline - now);
	}
	opts.timeout_ms = (unsigned)(c->deadline - now); /* > 0: checked above */
	opts.pool = r->peer_pool;
	opts.why = c->why;
	opts.why_len = sizeof c->why;
	rv = gw_httpc_request(r->loop, hostport, c->method, c->path, headers, c->body.data,
			      c->body.len, &opts, call_http_cb, c, &c->http);
	if (rv != 0) {
		call_finish(c, rv == GW_EADDR ? GW_ENOLEADER : rv, NULL);
	}
}

/* Start an HTTP call; @target NULL = the leader. Always completes through
 * @done (asynchronously). 0 or GW_ENOMEM. */
int gw_raft__call(struct gw_raft *r, const char *target, const char *method, const char *path,
		  const void *body, size_t len, unsigned timeout_ms, bool retry_noleader,
		  gw_raft__call_cb done, void *data)
{
	struct call *c = calloc(1, sizeof *c);

	if (c == NULL) {
		return GW_ENOMEM;
	}
	gw_buf_init(&c->body);
	if (len > 0 && gw_buf_append(&c->body, body, len) != 0) {
		free(c);
		return GW_ENOMEM;
	}
	c->r = r;
	snprintf(c->method, sizeof c->method, "%s", method);
	snprintf(c->path, sizeof c->path, "%s", path);
	snprintf(c->target, sizeof c->target, "%s", target != NULL ? target : "");
	c->started = gw_raft__now(r);
	c->deadline = c->started + timeout_ms;
	c->retry_noleader = retry_noleader;
	c->done = done;
	c->data = data;
	gw_raft__timer_init(r, &c->timer, c);
	gw_list_add_tail(&r->calls, &c->link);
	uv_timer_start(&c->timer, call_retry_cb, 0, 0);
	return 0;
}

void gw_raft__calls_stop(struct gw_raft *r)
{
	while (!gw_list_empty(&r->calls)) {
		call_finish(gw_container_of(r->calls.next, struct call, link), GW_ESHUTDOWN, NULL);
	}
}

void gw_raft__calls_json(const struct gw_raft *r, struct cJSON *o)
{
	struct gw_httpc_pool_stats st;

	if (o == NULL) {
		return;
	}
	gw_httpc_pool_stats(r->peer_pool, &st);
	cJSON_AddNumberToObject(o, "connections_opened", (double)st.opened);
	cJSON_AddNumberToObject(o, "connections_reused", (double)st.reused);
	cJSON_AddNumberToObject(o, "connections_idle", (double)st.idle);
}
