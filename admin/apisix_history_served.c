/* apisix_history_served.c: which revision every node serves, seen from the
 * Admin API: the revision of a write (X-Apigw-Revision, "modifiedIndex"),
 * ?wait=served[&timeout=5s] on writes, and GET /apisix/admin/cluster.
 *
 * Happy path of ?wait=served: the write commits at revision R; instead of
 * answering at once, the op asks every member of the raft configuration
 * for its served revision (gw_raft_served_query: GET
 * /apigw/internal/served on the mTLS peer channel), again every
 * ROUND_PAUSE_MS, until all of them serve R; the answer then carries
 * "served": {"revision": R, "all": true, "members": [...]}.
 * Failure modes: at the deadline (?timeout=, default 5 s, at most 60 s)
 * the write is answered with its own status (it did commit) and "all":
 * false, the members not serving R listed with their served revision or
 * why they did not answer (a stopped member is a timeout or a refused
 * connection); each round's calls are bounded by the time left, so the
 * answer never comes later than the deadline plus one loop turn. A
 * stopping Admin API answers a waiting write at once with what it knows.
 * Loop thread. */
#include "config.h"

#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_DEFAULT_MS 5000
#define WAIT_MAX_MS     60000
#define ROUND_PAUSE_MS  5    /* between two rounds of questions */
#define ROUND_MAX_MS    1000 /* one round's calls at most (a dead member costs this) */

int gw_admin__wait_parse(struct gw_admin__op *op, char *msg, size_t n)
{
	char arg[32], *end;
	double v;

	op->dry_run = gw_http_query_arg(op->req, "dry_run", arg, sizeof arg) != NULL &&
		      strcmp(arg, "true") == 0;
	if (gw_http_query_arg(op->req, "wait", arg, sizeof arg) == NULL) {
		return 0;
	}
	if (strcmp(arg, "served") != 0) {
		snprintf(msg, n, "invalid wait: only wait=served is known");
		return GW_EINVAL;
	}
	op->wait_served = true;
	op->wait_ms = WAIT_DEFAULT_MS;
	if (gw_http_query_arg(op->req, "timeout", arg, sizeof arg) == NULL) {
		return 0;
	}
	v = strtod(arg, &end);
	if (end == arg || !(v >= 0)) { /* NaN too: its cast is undefined */
		goto bad;
	}
	if (strcmp(end, "ms") == 0) {
		v /= 1000;
	} else if (strcmp(end, "m") == 0) {
		v *= 60;
	} else if (*end != '\0' && strcmp(end, "s") != 0) {
		goto bad;
	}
	if (v * 1000 > WAIT_MAX_MS) {
		goto bad;
	}
	op->wait_ms = (unsigned)(v * 1000);
	return 0;
bad:
	snprintf(msg, n, "invalid timeout: a duration up to 60s (\"5s\", \"500ms\")");
	return GW_EINVAL;
}

/* Answer the op now with its body, the revision header and, when it
 * waited, the "served" report. */
static void reply_now(struct gw_admin__op *op)
{
	char hdrs[160];
	cJSON *body = op->reply;

	op->reply = NULL;
	if (op->served_report != NULL && body != NULL) {
		cJSON_AddItemToObject(body, "served", op->served_report);
	} else {
		cJSON_Delete(op->served_report);
	}
	op->served_report = NULL;
	snprintf(hdrs, sizeof hdrs, "X-Apigw-Revision: %" PRId64 "\r\n%s", op->revision,
		 op->wait_served
		     ? (op->served_all ? "X-Apigw-Served: all\r\n" : "X-Apigw-Served: partial\r\n")
		     : "");
	gw_admin__op_answer_hdrs(op, op->reply_status, body, hdrs);
}

/* One row of a served report. */
static cJSON *member_item(const struct gw_raft_served *m)
{
	cJSON *o = cJSON_CreateObject();
	char hex[17];

	if (o == NULL) {
		return NULL;
	}
	snprintf(hex, sizeof hex, "%016" PRIx64, m->id);
	cJSON_AddStringToObject(o, "id", hex);
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddBoolToObject(o, "reachable", m->answered);
	if (m->answered) {
		cJSON_AddNumberToObject(o, "served_revision", (double)m->served);
		cJSON_AddNumberToObject(o, "applied_index", (double)m->applied);
		cJSON_AddNumberToObject(o, "revision", (double)m->revision);
		cJSON_AddNumberToObject(o, "revision_lag",
					(double)(m->served >= 0 && m->revision > m->served
						     ? m->revision - m->served
						     : 0));
	} else {
		cJSON_AddStringToObject(o, "error", gw_strerror(m->err));
	}
	return o;
}

/* The report of a round: every member, or only those not serving @rev
 * (@only_behind). *all says whether every member serves it. */
static cJSON *report(const struct gw_raft_served *rows, size_t n, int64_t rev, bool only_behind,
		     bool *all)
{
	cJSON *o = cJSON_CreateObject(), *list;
	size_t i;

	*all = true;
	for (i = 0; i < n; i++) {
		*all = *all && rows[i].answered && rows[i].served >= rev;
	}
	if (o == NULL) {
		return NULL;
	}
	cJSON_AddNumberToObject(o, "revision", (double)rev);
	cJSON_AddBoolToObject(o, "all", *all);
	list = cJSON_AddArrayToObject(o, only_behind ? "not_serving" : "members");
	for (i = 0; i < n && list != NULL; i++) {
		if (!only_behind || !rows[i].answered || rows[i].served < rev) {
			cJSON_AddItemToArray(list, member_item(&rows[i]));
		}
	}
	return o;
}

static void round_start(struct gw_admin__op *op);

static void round_timer_cb(uv_timer_t *t)
{
	struct gw_admin__op *op = t->data;

	op->waiting = false;
	round_start(op);
}

static void round_done(void *data, const struct gw_raft_served *rows, size_t n)
{
	struct gw_admin__op *op = data;
	uint64_t now = uv_now(op->a->loop);
	bool all;
	cJSON *rep = report(rows, n, op->revision, false, &all);

	op->querying = false;
	if (!all) {
		/* what the answer says if the wait ends before the next round */
		cJSON_Delete(rep);
		cJSON_Delete(op->served_report);
		op->served_report = report(rows, n, op->revision, true, &all);
		if (now < op->wait_deadline && !op->a->stopping) {
			op->waiting = true;
			uv_timer_start(&op->timer, round_timer_cb, ROUND_PAUSE_MS, 0);
			return;
		}
	} else {
		cJSON_Delete(op->served_report);
		op->served_report = rep;
	}
	op->served_all = all;
	reply_now(op);
}

static void round_start(struct gw_admin__op *op)
{
	uint64_t now = uv_now(op->a->loop);
	uint64_t left = op->wait_deadline > now ? op->wait_deadline - now : 0;
	int rv;

	if (op->a->stopping || left == 0) {
		op->served_all = false;
		reply_now(op); /* with the last round's report, if any */
		return;
	}
	rv = gw_raft_served_query(
	    op->a->raft, (unsigned)(left < ROUND_MAX_MS ? left : ROUND_MAX_MS), round_done, op);
	if (rv != 0) {
		op->served_all = false;
		reply_now(op);
		return;
	}
	op->querying = true;
}

void gw_admin__op_reply(struct gw_admin__op *op, int status, cJSON *body, int64_t revision)
{
	op->revision = revision;
	if (body != NULL && op->method != GW_ADMIN__M_DELETE) {
		/* APISIX's delete answer is exactly {deleted, key}: the header only */
		cJSON_AddNumberToObject(body, "modifiedIndex", (double)revision);
	}
	op->reply = body;
	op->reply_status = status;
	if (!op->wait_served) {
		reply_now(op);
		return;
	}
	if (!op->timer_init) {
		uv_timer_init(op->a->loop, &op->timer);
		op->timer.data = op;
		op->timer_init = true;
	}
	op->wait_deadline = uv_now(op->a->loop) + op->wait_ms;
	round_start(op);
}

void gw_admin__served_stop(struct gw_admin__op *op)
{
	/* between rounds: answer with what is known; a round in flight ends
	 * when raft stops (its calls fail) and answers then */
	op->served_all = false;
	reply_now(op);
}

/* ---- GET /apisix/admin/cluster ------------------------------------------ */

struct cluster_ctx {
	struct gw_admin *a;
	struct gw_http_req *req;
};

/* This node's raft view for the dashboard: "raft" (gw_raft_status_json:
 * role, term, leader, commit and applied index, quorum, members with their
 * roles) and "alarms" ([{"alarm":"CORRUPT","member":id}]). Parts that
 * cannot be made are left out. */
static void add_raft_view(struct gw_admin *a, cJSON *o)
{
	char *st = gw_raft_status_json(a->raft), hex[17];
	cJSON *j = st ? cJSON_Parse(st) : NULL, *al = cJSON_AddArrayToObject(o, "alarms"), *e;
	uint64_t *ids = NULL;
	size_t n = 0;

	free(st);
	if (j != NULL) {
		cJSON_AddItemToObject(o, "raft", j);
	}
	if (al != NULL && gw_raft_corrupt_alarms(a->raft, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			e = cJSON_CreateObject();
			snprintf(hex, sizeof hex, "%016llx", (unsigned long long)ids[i]);
			cJSON_AddStringToObject(e, "alarm", "CORRUPT");
			cJSON_AddStringToObject(e, "member", hex);
			cJSON_AddItemToArray(al, e);
		}
		free(ids);
	}
}

static void cluster_done(void *data, const struct gw_raft_served *rows, size_t n)
{
	struct cluster_ctx *x = data;
	struct gw_admin *a = x->a;
	bool all;
	cJSON *o = report(rows, n, gw_store_revision(a->store), false, &all);

	if (o != NULL) {
		add_raft_view(a, o);
	}
	gw_admin__send_json(x->req, 200, o);
	free(x);
	a->n_ops--;
	gw_admin__maybe_free(a);
}

void gw_admin__h_cluster(struct gw_admin *a, struct gw_http_req *req,
			 const struct gw_admin__match *m)
{
	struct cluster_ctx *x = calloc(1, sizeof *x);
	int rv;

	(void)m;
	if (x == NULL) {
		gw_admin__send_err(req, GW_ENOMEM, NULL);
		return;
	}
	x->a = a;
	x->req = req;
	rv = gw_raft_served_query(a->raft, ROUND_MAX_MS, cluster_done, x);
	if (rv != 0) {
		free(x);
		gw_admin__send_err(req, rv, NULL);
		return;
	}
	a->n_ops++; /* the admin outlives the query */
}
