/* served.c: which store revision every member's proxy serves.
 *
 * The node registers a source of its own served revision (the revision of
 * the config its proxy has compiled and published, node/confsync.c) with
 * gw_raft_set_served. A member answers GET /apigw/internal/served on the
 * peer channel (authenticated like every /apigw/internal/ route: mTLS with
 * a member certificate whose id is in the raft configuration) with it, its
 * applied index and its store revision. gw_raft_served_query asks every
 * member of the configuration at once (this node without a network call)
 * and calls back once with one row per member.
 *
 * Failure modes: a member that does not answer within the deadline (down,
 * cut off, behind a partition) gets a row with its error (GW_ETIMEOUT,
 * GW_EAGAIN...), never a wait past the deadline; a stop answers pending
 * calls with GW_ESHUTDOWN (forward.c). Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/httpd.h"
#include "raft/raft_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVED_MAX_BODY 4096 /* bytes of an answer parsed at most */

struct served_query {
	struct gw_raft *r;
	gw_raft_served_cb cb;
	void *data;
	size_t pending; /* rows without an answer */
	size_t n;
	struct gw_raft_served rows[GW_RAFT_MAX_MEMBERS];
};

struct served_slot {
	struct served_query *q;
	size_t i;
};

void gw_raft_set_served(struct gw_raft *r, gw_raft_served_fn fn, void *data)
{
	r->served_fn = fn;
	r->served_data = data;
}

int64_t gw_raft_served_local(struct gw_raft *r)
{
	return r->served_fn != NULL ? r->served_fn(r->served_data) : -1;
}

/* Free the query after its one callback once every row has its answer. */
static void row_done(struct served_query *q)
{
	GW_ASSERT(q->pending > 0);
	if (--q->pending == 0) {
		q->cb(q->data, q->rows, q->n);
		free(q);
	}
}

static void self_done(void *data, int err)
{
	(void)err; /* filled in already; a stop changes nothing of it */
	row_done(data);
}

static int64_t jint(const cJSON *o, const char *name, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

static void peer_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct served_slot *s = data;
	struct gw_raft_served *row = &s->q->rows[s->i];
	cJSON *o = NULL;

	if (err == 0 && resp->status != 200) {
		err = resp->gw_err != 0 ? resp->gw_err : GW_EIO;
	}
	if (err == 0 && resp->body.len <= SERVED_MAX_BODY) {
		o = cJSON_ParseWithLength(resp->body.data, resp->body.len);
	}
	if (err == 0 && o == NULL) {
		err = GW_EIO;
	}
	row->err = err;
	if (o != NULL) {
		row->served = jint(o, "served", -1);
		row->applied = (uint64_t)jint(o, "applied", 0);
		row->revision = jint(o, "revision", 0);
		row->answered = true;
		cJSON_Delete(o);
	}
	row_done(s->q);
	free(s);
}

int gw_raft_served_query(struct gw_raft *r, unsigned timeout_ms, gw_raft_served_cb cb, void *data)
{
	struct served_query *q;
	unsigned i;

	if (gw_raft__stopping(r) || !r->raft_running) {
		return GW_ESHUTDOWN;
	}
	q = calloc(1, sizeof *q);
	if (q == NULL) {
		return GW_ENOMEM;
	}
	q->r = r;
	q->cb = cb;
	q->data = data;
	q->pending = 1; /* this node's row, answered on the next loop turn */
	for (i = 0; i < r->raft.configuration.n && q->n < GW_RAFT_MAX_MEMBERS; i++) {
		const struct raft_server *srv = &r->raft.configuration.servers[i];
		struct gw_raft_served *row = &q->rows[q->n++];
		struct gw_raft_member m;
		struct served_slot *s;
		char hp[128];

		row->id = srv->id;
		row->served = -1;
		if (gw_raft__member_load(r, srv->id, &m) == 0) {
			snprintf(row->name, sizeof row->name, "%s", m.name);
		}
		if (srv->id == r->ident.node_id) {
			row->answered = true;
			row->served = gw_raft_served_local(r);
			row->applied = raft_last_applied(&r->raft);
			row->revision = gw_store_revision(r->store);
			continue;
		}
		row->err = GW_EAGAIN;
		if (gw_httpc_url_hostport(m.etcd_url, hp, sizeof hp) != 0 ||
		    (s = calloc(1, sizeof *s)) == NULL) {
			continue; /* no address known (yet): unreachable */
		}
		s->q = q;
		s->i = q->n - 1;
		q->pending++;
		if (gw_raft__call(r, hp, "GET", "/apigw/internal/served", NULL, 0, timeout_ms,
				  false, peer_done, s) != 0) {
			q->pending--;
			free(s);
		}
	}
	if (gw_raft__defer(r, NULL, self_done, NULL, q, 0, 0) != 0) {
		/* nothing is deferred: no callback may come from inside */
		if (q->pending == 1) {
			free(q);
			return GW_ENOMEM;
		}
		q->pending--; /* the peers' answers end it */
	}
	return 0;
}

void gw_raft__served_answer(struct gw_raft *r, struct gw_http_req *req)
{
	char body[160];

	snprintf(body, sizeof body,
		 "{\"id\":\"%016" PRIx64 "\",\"served\":%" PRId64 ",\"applied\":%llu,"
		 "\"revision\":%" PRId64 "}",
		 r->ident.node_id, gw_raft_served_local(r),
		 r->raft_running ? (unsigned long long)raft_last_applied(&r->raft) : 0ULL,
		 gw_store_revision(r->store));
	gw_http_respond(req, 200, "application/json", "", body, strlen(body));
}
