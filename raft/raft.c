/* raft.c: the node's raft life cycle (see raft.h).
 *
 * Happy path: gw_raft_start loads the identity (or creates one and
 * bootstraps a one-node cluster, or fetches the cluster's identity from a
 * peer to join), sets up raft_uv + TCP in <data-dir>/raft and starts raft;
 * the store already serves its committed data. A 100 ms tick watches the
 * raft state: a new leader reloads lease deadlines at full TTL, pings the
 * members and promotes standbys while voters are missing; every node keeps
 * its own member metadata ("member/<id>" JSON) current in the store.
 *
 * Proposals: on the leader raft_apply with a deadline timer; on a follower
 * an HTTP call to the leader's etcd listener (/apigw/internal/propose, the
 * join secret as a header), retried on connection errors while the deadline
 * allows. No known leader: GW_ENOLEADER at once. Failure modes are mapped
 * to etcd's errors (GW_ETIMEOUT, GW_ELEADERCHANGED, GW_ENOLEADER).
 *
 * Ownership: every pending operation is a heap struct with a uv timer; it
 * is freed only in the timer's close callback, after raft (or the HTTP
 * client) has released it. gw_raft_stop waits for all of them. Threads: the
 * control loop only. */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TICK_MS              100
#define LEADER_DUTY_MS       1000
#define META_CHECK_MS        2000
#define PING_TIMEOUT_MS      800
#define REACHABLE_MS         3000
#define JOIN_TIMEOUT_MS      60000
#define JOIN_INFO_GIVE_UP_MS 30000
#define RETRY_MS             100
#define CONTROL_TIMEOUT_MS   10000
#define SECRET_HEADER        "x-apigw-secret"

/* ---- intrusive list ---------------------------------------------------- */

struct list {
	struct list *prev, *next;
};

static void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static bool list_empty(const struct list *l)
{
	return l->next == l;
}

static void list_add(struct list *head, struct list *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

static void list_del(struct list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	list_init(e);
}

#define CONTAINER(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* ---- state ------------------------------------------------------------- */

struct lease {
	int64_t id;
	int64_t ttl;       /* seconds */
	uint64_t deadline; /* uv_now() ms */
	bool revoking;     /* a revoke proposal is in flight */
};

struct health {
	uint64_t id;
	uint64_t last_ok; /* uv_now() of the last answered ping */
	bool pinging;
};

enum join_state { JOIN_NONE = 0, JOIN_INFO, JOIN_REQUEST, JOIN_DONE };

struct call;
struct mtask;
struct rm_ctx;

struct gw_raft {
	uv_loop_t *loop;
	struct gw_store *store;
	char data_dir[PATH_MAX];
	char raft_dir[PATH_MAX + 8];
	char name[64];
	char raft_address[64];
	char etcd_url[128];
	char admin_url[128];
	char proxy_url[128];
	char status_url[128];
	char join_peer[128];   /* "" = not joining */
	char join_secret[128]; /* --join-secret: used to ask the peer (may differ
				  from a data dir's own secret, which then errs) */
	unsigned write_timeout_ms;
	unsigned election_timeout_ms;
	unsigned heartbeat_ms;
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned replace_voter_ms;
	int voters;
	void (*on_terminate)(void *data, int err);
	void *terminate_data;

	struct gw_raft__identity ident; /* cluster_id 0 until known (joining) */

	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm fsm;
	bool raft_running; /* raft_init done: raft_close needed */

	uv_timer_t tick;
	int n_handles; /* open uv handles owned by this module */
	uint64_t next_leader_duty;
	uint64_t next_meta_check;
	int last_state;
	bool was_member;
	bool meta_inflight;
	bool terminated; /* on_terminate called */

	enum join_state join;
	uint64_t join_started;
	uint64_t join_next_try;
	bool join_inflight;
	bool join_member; /* rerun of `apigw join` by a member: only verify the cluster */
	unsigned join_failures;

	struct list proposals; /* struct proposal, leader side, in raft */
	struct list barriers;  /* struct barrier_wait: readers for the next barrier */
	struct barrier_group *barrier_inflight; /* the barrier raft is working on */
	struct list calls;                      /* struct call: HTTP requests */
	struct list waiters;                    /* struct waiter: follower read index */
	struct list defers;                     /* struct defer */
	struct list mtasks;                     /* struct mtask queue (leader) */
	struct mtask *mtask_cur;
	bool mtask_retry;

	struct lease *leases;
	size_t n_leases, cap_leases;
	bool leases_loaded;

	struct health health[GW_RAFT_MAX_MEMBERS];
	int n_health;
	struct health view[GW_RAFT_MAX_MEMBERS]; /* follower: the leader's pings say
						    who it hears from (last_ok 1/0) */
	int n_view;
	uint64_t view_at; /* uv_now() of the last such ping, 0 = never */

	struct raft_transfer transfer;
	bool transferring;
	void (*transfer_done)(struct gw_raft *r);
	uint64_t transfer_target;       /* gw_raft_transfer: who should lead */
	gw_raft_barrier_cb transfer_cb; /* gw_raft_transfer's caller */
	void *transfer_data;
	struct rm_ctx *rm_self; /* a leader removing itself waits for the transfer */

	bool stopping;
	bool stop_continued;
	bool raft_closed;
	bool finished;
	bool halt_pending;   /* the store failed: halt on the next tick */
	bool halted;         /* raft closed for good; the struct lives until gw_raft_stop */
	bool stop_requested; /* gw_raft_stop was called */
	uv_timer_t stop_timer;
	void (*stop_cb)(void *data);
	void *stop_data;
};

static void maybe_finish(struct gw_raft *r);
static void halt_now(struct gw_raft *r);
static void mtask_kick(struct gw_raft *r);
static void terminate(struct gw_raft *r, int err);

struct gw_store *gw_raft__store(struct gw_raft *r)
{
	return r->store;
}

struct raft *gw_raft__raft(struct gw_raft *r)
{
	return &r->raft;
}

int gw_raft__err(int rv)
{
	switch (rv) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return GW_ENOMEM;
	case RAFT_NOTLEADER:
		return GW_ENOTLEADER;
	case RAFT_LEADERSHIPLOST:
		return GW_ELEADERCHANGED;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return GW_ESHUTDOWN;
	case RAFT_CANTCHANGE:
		return GW_EBUSY;
	case RAFT_BADID:
	case RAFT_NOTFOUND:
		return GW_EMEMBERNOTFOUND;
	case RAFT_DUPLICATEID:
	case RAFT_DUPLICATEADDRESS:
		return GW_EEXIST;
	case RAFT_NOCONNECTION:
		return GW_ETIMEOUT;
	case RAFT_TOOBIG:
		return GW_EVALUETOOLARGE;
	case RAFT_INVALID:
	case RAFT_BADROLE:
		return GW_EINVAL;
	default:
		return GW_EIO;
	}
}

static uint64_t now_ms(struct gw_raft *r)
{
	return uv_now(r->loop);
}

static bool is_leader(struct gw_raft *r)
{
	return r->raft_running && !r->stopping && raft_state(&r->raft) == RAFT_LEADER;
}

static void handle_closed(uv_handle_t *h)
{
	struct gw_raft *r = h->data;
	r->n_handles--;
	maybe_finish(r);
}

static void timer_init(struct gw_raft *r, uv_timer_t *t, void *data)
{
	uv_timer_init(r->loop, t);
	t->data = data;
	r->n_handles++;
}

/* ---- member metadata --------------------------------------------------- */

static void member_key(uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "member/%016" PRIx64, id);
}

static void copy_str(char *dst, size_t len, const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (cJSON_IsString(v) && v->valuestring != NULL) {
		snprintf(dst, len, "%s", v->valuestring);
	}
}

static int member_parse(const char *json, struct gw_raft_member *m)
{
	cJSON *o = cJSON_Parse(json);

	if (o == NULL) {
		return GW_EPROTO;
	}
	copy_str(m->name, sizeof m->name, o, "name");
	copy_str(m->raft_address, sizeof m->raft_address, o, "raft_address");
	copy_str(m->etcd_url, sizeof m->etcd_url, o, "etcd_url");
	copy_str(m->admin_url, sizeof m->admin_url, o, "admin_url");
	copy_str(m->proxy_url, sizeof m->proxy_url, o, "proxy_url");
	copy_str(m->status_url, sizeof m->status_url, o, "status_url");
	cJSON_Delete(o);
	return 0;
}

/* Metadata of member @id from the store; GW_ENOTFOUND if none. */
static int member_load(struct gw_raft *r, uint64_t id, struct gw_raft_member *m)
{
	char key[64], *val = NULL;
	size_t len = 0;
	int rv;

	memset(m, 0, sizeof *m);
	m->id = id;
	member_key(id, key, sizeof key);
	rv = gw_store_meta_get(r->store, key, &val, &len);
	if (rv != 0) {
		return rv;
	}
	rv = member_parse(val, m);
	free(val);
	return rv;
}

static char *member_json(uint64_t id, const char *name, const char *raft_address,
			 const char *etcd_url, const char *admin_url, const char *proxy_url,
			 const char *status_url)
{
	cJSON *o = cJSON_CreateObject();
	char idhex[32], *s;

	if (o == NULL) {
		return NULL;
	}
	snprintf(idhex, sizeof idhex, "%016" PRIx64, id);
	cJSON_AddStringToObject(o, "id", idhex);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "raft_address", raft_address);
	cJSON_AddStringToObject(o, "etcd_url", etcd_url);
	cJSON_AddStringToObject(o, "admin_url", admin_url);
	cJSON_AddStringToObject(o, "proxy_url", proxy_url);
	cJSON_AddStringToObject(o, "status_url", status_url);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static char *self_json(struct gw_raft *r)
{
	return member_json(r->ident.node_id, r->name, r->raft_address, r->etcd_url, r->admin_url,
			   r->proxy_url, r->status_url);
}

/* "host:port" of the leader's etcd listener, or GW_ENOLEADER. */
static int leader_hostport(struct gw_raft *r, char *out, size_t len)
{
	struct gw_raft_member m;
	raft_id id = 0;
	const char *addr = NULL;

	if (!r->raft_running || r->stopping) {
		return GW_ENOLEADER;
	}
	raft_leader(&r->raft, &id, &addr);
	if (id == 0 || member_load(r, id, &m) != 0 || m.etcd_url[0] == '\0') {
		return GW_ENOLEADER;
	}
	if (gw_raft__url_hostport(m.etcd_url, out, len) != 0) {
		return GW_ENOLEADER;
	}
	return 0;
}

static const struct raft_server *conf_get(struct gw_raft *r, uint64_t id)
{
	unsigned i;
	for (i = 0; i < r->raft.configuration.n; i++) {
		if (r->raft.configuration.servers[i].id == id) {
			return &r->raft.configuration.servers[i];
		}
	}
	return NULL;
}

static int conf_voters(struct gw_raft *r)
{
	unsigned i;
	int n = 0;
	for (i = 0; i < r->raft.configuration.n; i++) {
		n += r->raft.configuration.servers[i].role == RAFT_VOTER;
	}
	return n;
}

static struct health *health_get(struct gw_raft *r, uint64_t id, bool create)
{
	int i;
	for (i = 0; i < r->n_health; i++) {
		if (r->health[i].id == id) {
			return &r->health[i];
		}
	}
	if (!create || r->n_health == GW_RAFT_MAX_MEMBERS) {
		return NULL;
	}
	r->health[r->n_health].id = id;
	r->health[r->n_health].last_ok = now_ms(r);
	r->health[r->n_health].pinging = false;
	return &r->health[r->n_health++];
}

static bool reachable(struct gw_raft *r, uint64_t id)
{
	struct health *h;
	if (id == r->ident.node_id) {
		return true;
	}
	h = health_get(r, id, false);
	return h != NULL && now_ms(r) - h->last_ok < REACHABLE_MS;
}

/* ---- deferred callbacks ------------------------------------------------ */

/* Callbacks that must not run from inside the public call that failed. */
struct defer {
	uv_timer_t timer;
	struct gw_raft *r;
	struct list link;
	gw_raft_propose_cb pcb;
	gw_raft_barrier_cb bcb;
	gw_raft_keepalive_cb kcb;
	void *data;
	int err;
	int64_t ttl;
};

static void defer_closed(uv_handle_t *h)
{
	struct defer *d = h->data;
	struct gw_raft *r = d->r;
	free(d);
	r->n_handles--;
	maybe_finish(r);
}

static void defer_fire(struct defer *d)
{
	gw_raft_propose_cb pcb = d->pcb;
	gw_raft_barrier_cb bcb = d->bcb;
	gw_raft_keepalive_cb kcb = d->kcb;

	list_del(&d->link);
	d->pcb = NULL;
	d->bcb = NULL;
	d->kcb = NULL;
	if (pcb != NULL) {
		pcb(d->data, d->err, NULL);
	} else if (bcb != NULL) {
		bcb(d->data, d->err);
	} else if (kcb != NULL) {
		kcb(d->data, d->err, d->ttl);
	}
	uv_close((uv_handle_t *)&d->timer, defer_closed);
}

static void defer_timer_cb(uv_timer_t *t)
{
	defer_fire(t->data);
}

static int defer(struct gw_raft *r, gw_raft_propose_cb pcb, gw_raft_barrier_cb bcb,
		 gw_raft_keepalive_cb kcb, void *data, int err, int64_t ttl)
{
	struct defer *d = calloc(1, sizeof *d);

	if (d == NULL) {
		return GW_ENOMEM;
	}
	d->r = r;
	d->pcb = pcb;
	d->bcb = bcb;
	d->kcb = kcb;
	d->data = data;
	d->err = err;
	d->ttl = ttl;
	uv_timer_init(r->loop, &d->timer);
	d->timer.data = d;
	r->n_handles++;
	list_add(&r->defers, &d->link);
	uv_timer_start(&d->timer, defer_timer_cb, 0, 0);
	return 0;
}

/* ---- HTTP calls (to the leader or to a given member) -------------------- */

typedef void (*call_done_cb)(void *data, int err, const struct gw_raft__http_resp *resp);

struct call {
	uv_timer_t timer; /* retry delay */
	struct gw_raft *r;
	struct list link;
	struct gw_raft__http *http;
	char method[8];
	char path[128];
	char target[128]; /* "" = the current leader */
	struct gw_buf body;
	uint64_t deadline;
	bool retry_noleader; /* wait for a leader instead of failing at once */
	call_done_cb done;   /* NULL once called */
	void *data;
};

static void call_closed(uv_handle_t *h)
{
	struct call *c = h->data;
	struct gw_raft *r = c->r;
	gw_buf_close(&c->body);
	free(c);
	r->n_handles--;
	maybe_finish(r);
}

static void call_finish(struct call *c, int err, const struct gw_raft__http_resp *resp)
{
	call_done_cb done = c->done;

	c->done = NULL;
	if (c->http != NULL) {
		gw_raft__http_cancel(c->http);
		c->http = NULL;
	}
	list_del(&c->link);
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
	uint64_t now = now_ms(c->r);

	if (now + delay >= c->deadline || c->r->stopping) {
		call_finish(c, c->r->stopping ? GW_ESHUTDOWN : err, NULL);
		return;
	}
	uv_timer_start(&c->timer, call_retry_cb, delay, 0);
}

static void call_http_cb(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct call *c = data;

	c->http = NULL;
	if (err == GW_EAGAIN) {
		/* Not delivered (the leader is gone or not listening yet). */
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
	if (c->target[0] == '\0' && (resp->gw_err == GW_ENOTLEADER ||
				     (resp->gw_err == GW_ENOLEADER && c->retry_noleader))) {
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
	char hostport[128], headers[512];
	uint64_t now = now_ms(r);
	bool join_call;
	int rv;

	if (r->stopping) {
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
		rv = leader_hostport(r, hostport, sizeof hostport);
		if (rv != 0) {
			if (c->retry_noleader) {
				call_retry(c, RETRY_MS, GW_ENOLEADER);
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
	snprintf(headers, sizeof headers,
		 "X-Apigw-Secret: %s\r\n%sX-Apigw-Timeout-Ms: %" PRIu64 "\r\n",
		 join_call ? r->join_secret : r->ident.secret,
		 c->target[0] == '\0' ? "X-Apigw-Hops: 1\r\n" : "", c->deadline - now);
	rv = gw_raft__http_request(r->loop, hostport, c->method, c->path, headers, c->body.data,
				   c->body.len, (unsigned)(c->deadline - now), call_http_cb, c,
				   &c->http);
	if (rv != 0) {
		call_finish(c, rv == GW_EADDR ? GW_ENOLEADER : rv, NULL);
	}
}

/* Start an HTTP call; @target NULL = the leader. Always completes through
 * @done (asynchronously). 0 or GW_ENOMEM. */
static int call_start(struct gw_raft *r, const char *target, const char *method, const char *path,
		      const void *body, size_t len, unsigned timeout_ms, bool retry_noleader,
		      call_done_cb done, void *data)
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
	c->deadline = now_ms(r) + timeout_ms;
	c->retry_noleader = retry_noleader;
	c->done = done;
	c->data = data;
	timer_init(r, &c->timer, c);
	list_add(&r->calls, &c->link);
	uv_timer_start(&c->timer, call_retry_cb, 0, 0);
	return 0;
}

/* ---- proposals on the leader ------------------------------------------- */

struct proposal {
	struct raft_apply req;
	uv_timer_t timer;
	struct gw_raft *r;
	struct list link;
	gw_raft_propose_cb cb; /* NULL once called */
	void *data;
	struct gw_store_result res; /* filled by the FSM */
	bool in_raft;
	bool has_res;
};

static void proposal_closed(uv_handle_t *h)
{
	struct proposal *p = h->data;
	struct gw_raft *r = p->r;
	free(p);
	r->n_handles--;
	maybe_finish(r);
}

static void proposal_user(struct proposal *p, int err)
{
	gw_raft_propose_cb cb = p->cb;

	p->cb = NULL;
	if (cb == NULL) {
		return;
	}
	if (err == 0 && p->has_res) {
		p->has_res = false;
		cb(p->data, 0, &p->res);
	} else {
		cb(p->data, err != 0 ? err : GW_EIO, NULL);
	}
}

static void proposal_apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	(void)result;

	p->in_raft = false;
	list_del(&p->link);
	proposal_user(p, status == 0 ? 0 : gw_raft__err(status));
	if (p->has_res) {
		gw_store_result_free(&p->res);
		p->has_res = false;
	}
	uv_close((uv_handle_t *)&p->timer, proposal_closed);
}

static void proposal_timer_cb(uv_timer_t *t)
{
	struct proposal *p = t->data;
	proposal_user(p, GW_ETIMEOUT);
}

struct gw_store_result *gw_raft__result_slot(struct gw_raft *r, uint64_t index)
{
	struct list *e;

	for (e = r->proposals.next; e != &r->proposals; e = e->next) {
		struct proposal *p = CONTAINER(e, struct proposal, link);
		if (p->in_raft && p->req.index == index) {
			memset(&p->res, 0, sizeof p->res);
			p->has_res = true;
			return &p->res;
		}
	}
	return NULL;
}

/* Propose encoded bytes on this node, which should lead. The callback runs
 * once, never from inside this function. 0 or GW_ENOMEM. */
static int propose_local(struct gw_raft *r, const void *bytes, size_t len, unsigned timeout_ms,
			 gw_raft_propose_cb cb, void *data)
{
	struct proposal *p;
	struct raft_buffer buf;
	int rv;

	if (!is_leader(r)) {
		return defer(r, cb, NULL, NULL, data, r->stopping ? GW_ESHUTDOWN : GW_ENOTLEADER,
			     0);
	}
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->r = r;
	p->cb = cb;
	p->data = data;
	p->req.data = p;
	list_init(&p->link);
	timer_init(r, &p->timer, p);
	/* raft wants entry sizes in multiples of 8: pad with zeros, which the
	 * decoder accepts after a command. */
	buf.len = (len + 7) & ~(size_t)7;
	buf.base = raft_malloc(buf.len > 0 ? buf.len : 8);
	if (buf.base == NULL) {
		uv_close((uv_handle_t *)&p->timer, proposal_closed);
		return GW_ENOMEM;
	}
	memset(buf.base, 0, buf.len);
	memcpy(buf.base, bytes, len);
	list_add(&r->proposals, &p->link);
	p->in_raft = true;
	rv = raft_apply(&r->raft, &p->req, &buf, 1, proposal_apply_cb);
	if (rv != 0) {
		/* raft owns @buf even when the submission fails (0.22 frees it). */
		gw_warnf("raft", "raft_apply: %s (%s)", raft_strerror(rv), raft_errmsg(&r->raft));
		p->in_raft = false;
		list_del(&p->link);
		p->cb = NULL;
		uv_close((uv_handle_t *)&p->timer, proposal_closed);
		return defer(r, cb, NULL, NULL, data, gw_raft__err(rv), 0);
	}
	uv_timer_start(&p->timer, proposal_timer_cb, timeout_ms, 0);
	return 0;
}

/* ---- public proposals -------------------------------------------------- */

struct fwd {
	gw_raft_propose_cb cb;
	void *data;
};

static void fwd_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct fwd *f = data;
	struct gw_store_result res;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	} else if (err == 0 && resp->status != 200) {
		err = GW_EIO;
	}
	if (err == 0) {
		err = gw_raft__decode_result(resp->body.data, resp->body.len, &res);
		if (err != 0) {
			gw_errorf("raft", "leader answered a proposal with a malformed result");
		}
	}
	if (err == 0) {
		f->cb(f->data, 0, &res);
	} else {
		f->cb(f->data, err, NULL);
	}
	free(f);
}

static int propose_bytes(struct gw_raft *r, const void *bytes, size_t len, unsigned timeout_ms,
			 gw_raft_propose_cb cb, void *data)
{
	struct fwd *f;
	int rv;

	if (timeout_ms == 0) {
		timeout_ms = r->write_timeout_ms;
	}
	if (is_leader(r)) {
		return propose_local(r, bytes, len, timeout_ms, cb, data);
	}
	f = calloc(1, sizeof *f);
	if (f == NULL) {
		return GW_ENOMEM;
	}
	f->cb = cb;
	f->data = data;
	rv = call_start(r, NULL, "POST", "/apigw/internal/propose", bytes, len, timeout_ms, false,
			fwd_done, f);
	if (rv != 0) {
		free(f);
	}
	return rv;
}

int gw_raft_propose(struct gw_raft *r, const struct gw_store_op *op, unsigned timeout_ms,
		    gw_raft_propose_cb cb, void *data)
{
	struct gw_buf b;
	int rv;

	if (r->stopping) {
		return GW_ESHUTDOWN;
	}
	if (op == NULL || op->type == GW_OP_RANGE || cb == NULL) {
		return GW_EINVAL;
	}
	gw_buf_init(&b);
	rv = gw_raft__encode_op(op, &b);
	if (rv == 0) {
		rv = propose_bytes(r, b.data, b.len, timeout_ms, cb, data);
	}
	gw_buf_close(&b);
	return rv;
}

/* ---- read barrier ------------------------------------------------------ */

typedef void (*index_done_cb)(void *data, int err, uint64_t index);

/* Linearizable reads on the leader share raft barriers: one barrier is in
 * flight at a time; readers arriving meanwhile wait for the next one, which
 * is proposed when the current one completes (a barrier proposed before a
 * read arrived could not vouch for it). Under load that is one log entry per
 * round trip instead of one per read. */
struct barrier_wait {
	uv_timer_t timer; /* the reader's deadline */
	struct gw_raft *r;
	struct list link; /* in r->barriers (next group) or in a group */
	index_done_cb cb; /* NULL once called */
	void *data;
	int err; /* reported by the timer when set (failed at once) */
};

struct barrier_group {
	struct raft_barrier req;
	struct gw_raft *r;
	struct list waits;
};

static void barrier_wait_closed(uv_handle_t *h)
{
	struct barrier_wait *w = h->data;
	struct gw_raft *r = w->r;
	free(w);
	r->n_handles--;
	maybe_finish(r);
}

static void barrier_wait_finish(struct barrier_wait *w, int err, uint64_t index)
{
	index_done_cb cb = w->cb;

	if (cb == NULL) {
		return;
	}
	w->cb = NULL;
	list_del(&w->link);
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, barrier_wait_closed);
	cb(w->data, err, index);
}

static void barrier_wait_timer_cb(uv_timer_t *t)
{
	struct barrier_wait *w = t->data;
	barrier_wait_finish(w, w->err != 0 ? w->err : GW_ETIMEOUT, 0);
}

static void barrier_kick(struct gw_raft *r);

static void barrier_group_cb(struct raft_barrier *req, int status)
{
	struct barrier_group *g = req->data;
	struct gw_raft *r = g->r;
	int err = gw_raft__err(status);

	while (!list_empty(&g->waits)) {
		barrier_wait_finish(CONTAINER(g->waits.next, struct barrier_wait, link), err,
				    req->index);
	}
	if (r->barrier_inflight == g) {
		r->barrier_inflight = NULL;
	}
	free(g);
	if (!r->stopping) {
		barrier_kick(r);
	}
}

/* Fail every reader of @list asynchronously (through its timer), so no
 * callback runs from inside barrier_local. */
static void barrier_fail_all(struct list *list, int err)
{
	while (!list_empty(list)) {
		struct barrier_wait *w = CONTAINER(list->next, struct barrier_wait, link);
		list_del(&w->link);
		w->err = err;
		uv_timer_stop(&w->timer);
		uv_timer_start(&w->timer, barrier_wait_timer_cb, 0, 0);
	}
}

/* Propose a barrier for every reader waiting, unless one is in flight. */
static void barrier_kick(struct gw_raft *r)
{
	struct barrier_group *g;
	int rv;

	if (r->barrier_inflight != NULL || list_empty(&r->barriers)) {
		return;
	}
	if (!is_leader(r)) {
		barrier_fail_all(&r->barriers, r->stopping ? GW_ESHUTDOWN : GW_ENOTLEADER);
		return;
	}
	g = calloc(1, sizeof *g);
	if (g == NULL) {
		barrier_fail_all(&r->barriers, GW_ENOMEM);
		return;
	}
	g->r = r;
	g->req.data = g;
	/* Move every waiting reader into the group. */
	g->waits.next = r->barriers.next;
	g->waits.prev = r->barriers.prev;
	g->waits.next->prev = &g->waits;
	g->waits.prev->next = &g->waits;
	list_init(&r->barriers);
	rv = raft_barrier(&r->raft, &g->req, barrier_group_cb);
	if (rv != 0) {
		barrier_fail_all(&g->waits, gw_raft__err(rv));
		free(g);
		return;
	}
	r->barrier_inflight = g;
}

/* Leader: @cb gets the index of a barrier proposed after this call, once
 * applied; never called from inside this function. 0 or GW_ENOMEM. */
static int barrier_local(struct gw_raft *r, unsigned timeout_ms, index_done_cb cb, void *data)
{
	struct barrier_wait *w = calloc(1, sizeof *w);

	if (w == NULL) {
		return GW_ENOMEM;
	}
	w->r = r;
	w->cb = cb;
	w->data = data;
	list_init(&w->link);
	timer_init(r, &w->timer, w);
	if (!is_leader(r)) {
		w->err = r->stopping ? GW_ESHUTDOWN : GW_ENOTLEADER;
		uv_timer_start(&w->timer, barrier_wait_timer_cb, 0, 0);
		return 0;
	}
	list_add(&r->barriers, &w->link);
	uv_timer_start(&w->timer, barrier_wait_timer_cb, timeout_ms, 0);
	barrier_kick(r); /* a no-op while a barrier is in flight: its completion kicks */
	return 0;
}

struct waiter {
	uv_timer_t timer;
	struct gw_raft *r;
	struct list link;
	uint64_t index;
	uint64_t deadline;
	gw_raft_barrier_cb cb;
	void *data;
};

static void waiter_closed(uv_handle_t *h)
{
	struct waiter *w = h->data;
	struct gw_raft *r = w->r;
	free(w);
	r->n_handles--;
	maybe_finish(r);
}

static void waiter_finish(struct waiter *w, int err)
{
	gw_raft_barrier_cb cb = w->cb;
	w->cb = NULL;
	list_del(&w->link);
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
	if (cb != NULL) {
		cb(w->data, err);
	}
}

static void waiter_timer_cb(uv_timer_t *t)
{
	struct waiter *w = t->data;
	struct gw_raft *r = w->r;

	if (r->stopping) {
		waiter_finish(w, GW_ESHUTDOWN);
	} else if (r->raft_running && raft_last_applied(&r->raft) >= w->index) {
		waiter_finish(w, 0);
	} else if (now_ms(r) >= w->deadline) {
		waiter_finish(w, GW_ETIMEOUT);
	}
}

struct rb_ctx {
	struct gw_raft *r;
	gw_raft_barrier_cb cb;
	void *data;
	uint64_t deadline;
};

static void rb_local_done(void *data, int err, uint64_t index)
{
	struct rb_ctx *x = data;
	(void)index;
	x->cb(x->data, err == GW_ENOTLEADER ? GW_ELEADERCHANGED : err);
	free(x);
}

static void rb_call_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct rb_ctx *x = data;
	struct gw_raft *r = x->r;
	struct waiter *w;
	unsigned long long index = 0;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	}
	if (err == 0 && (resp->status != 200 || resp->body.data == NULL ||
			 sscanf(resp->body.data, "{\"index\":%llu", &index) != 1)) {
		err = GW_EIO;
	}
	if (err != 0) {
		x->cb(x->data, err);
		free(x);
		return;
	}
	w = calloc(1, sizeof *w);
	if (w == NULL) {
		x->cb(x->data, GW_ENOMEM);
		free(x);
		return;
	}
	w->r = r;
	w->index = index;
	w->deadline = x->deadline;
	w->cb = x->cb;
	w->data = x->data;
	free(x);
	timer_init(r, &w->timer, w);
	list_add(&r->waiters, &w->link);
	uv_timer_start(&w->timer, waiter_timer_cb, 0, 5);
}

int gw_raft_read_barrier(struct gw_raft *r, unsigned timeout_ms, gw_raft_barrier_cb cb, void *data)
{
	struct rb_ctx *x;
	int rv;

	if (r->stopping) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL) {
		return GW_EINVAL;
	}
	if (timeout_ms == 0) {
		timeout_ms = r->write_timeout_ms;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->cb = cb;
	x->data = data;
	x->deadline = now_ms(r) + timeout_ms;
	if (is_leader(r)) {
		rv = barrier_local(r, timeout_ms, rb_local_done, x);
	} else {
		rv = call_start(r, NULL, "GET", "/apigw/internal/read-index", NULL, 0, timeout_ms,
				false, rb_call_done, x);
	}
	if (rv != 0) {
		free(x);
	}
	return rv;
}

/* ---- leases ------------------------------------------------------------ */

static struct lease *lease_find(struct gw_raft *r, int64_t id)
{
	size_t i;
	for (i = 0; i < r->n_leases; i++) {
		if (r->leases[i].id == id) {
			return &r->leases[i];
		}
	}
	return NULL;
}

static struct lease *lease_put(struct gw_raft *r, int64_t id, int64_t ttl)
{
	struct lease *l = lease_find(r, id);

	if (l == NULL) {
		if (r->n_leases == r->cap_leases) {
			size_t cap = r->cap_leases ? 2 * r->cap_leases : 16;
			struct lease *n = realloc(r->leases, cap * sizeof *n);
			if (n == NULL) {
				return NULL;
			}
			r->leases = n;
			r->cap_leases = cap;
		}
		l = &r->leases[r->n_leases++];
		l->id = id;
		l->revoking = false;
	}
	l->ttl = ttl;
	l->deadline = now_ms(r) + (uint64_t)(ttl > 0 ? ttl : 1) * 1000;
	return l;
}

static void lease_drop(struct gw_raft *r, int64_t id)
{
	struct lease *l = lease_find(r, id);
	if (l != NULL) {
		*l = r->leases[--r->n_leases];
	}
}

/* A new leader restarts every deadline at full TTL (etcd's rule). */
static void leases_load(struct gw_raft *r)
{
	int64_t *ids = NULL, *ttls = NULL;
	size_t n = 0, i;

	r->n_leases = 0;
	if (gw_store_lease_list(r->store, &ids, &ttls, &n) != 0) {
		return;
	}
	for (i = 0; i < n; i++) {
		lease_put(r, ids[i], ttls[i]);
	}
	free(ids);
	free(ttls);
	r->leases_loaded = true;
	if (n > 0) {
		gw_infof("raft", "leader tracks %zu lease(s), deadlines restarted at full TTL", n);
	}
}

struct revoke_ctx {
	struct gw_raft *r;
	int64_t id;
};

static void revoke_done(void *data, int err, struct gw_store_result *res)
{
	struct revoke_ctx *x = data;
	struct lease *l = lease_find(x->r, x->id);

	if (err == 0 && (res->err == 0 || res->err == GW_ELEASENOTFOUND)) {
		lease_drop(x->r, x->id);
	} else if (l != NULL) {
		l->revoking = false; /* try again on a later tick */
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(x);
}

static void leases_tick(struct gw_raft *r)
{
	uint64_t now = now_ms(r);
	size_t i;

	for (i = 0; i < r->n_leases; i++) {
		struct lease *l = &r->leases[i];
		struct gw_store_op op;
		struct gw_buf b;
		struct revoke_ctx *x;

		if (l->revoking || now < l->deadline) {
			continue;
		}
		memset(&op, 0, sizeof op);
		op.type = GW_OP_LEASE_REVOKE;
		op.u.lease_revoke.id = l->id;
		x = calloc(1, sizeof *x);
		if (x == NULL) {
			return;
		}
		x->r = r;
		x->id = l->id;
		gw_buf_init(&b);
		if (gw_raft__encode_op(&op, &b) != 0 ||
		    propose_local(r, b.data, b.len, r->write_timeout_ms, revoke_done, x) != 0) {
			free(x);
			gw_buf_close(&b);
			return;
		}
		gw_buf_close(&b);
		l->revoking = true;
		gw_debugf("raft", "lease %" PRId64 " expired: revoking", l->id);
	}
}

void gw_raft__applied(struct gw_raft *r, const struct gw_store_op *op,
		      const struct gw_store_result *res)
{
	if (!r->leases_loaded || !is_leader(r)) {
		return;
	}
	if (op->type == GW_OP_LEASE_GRANT && res->err == 0) {
		lease_put(r, res->lease_id, res->lease_ttl);
	} else if (op->type == GW_OP_LEASE_REVOKE) {
		lease_drop(r, op->u.lease_revoke.id);
	}
}

int64_t gw_raft_lease_remaining(struct gw_raft *r, int64_t lease_id)
{
	struct lease *l;
	uint64_t now;

	if (!is_leader(r) || (l = lease_find(r, lease_id)) == NULL) {
		return -1;
	}
	now = now_ms(r);
	if (now >= l->deadline) {
		return 0;
	}
	return (int64_t)((l->deadline - now + 999) / 1000);
}

/* Leader: restart a lease's deadline. 0 with *ttl, or GW_ELEASENOTFOUND. */
static int keepalive_local(struct gw_raft *r, int64_t id, int64_t *ttl)
{
	struct gw_lease_info info;
	int rv;

	rv = gw_store_lease_get(r->store, id, false, &info);
	if (rv != 0) {
		return rv == GW_ENOTFOUND ? GW_ELEASENOTFOUND : rv;
	}
	*ttl = info.ttl;
	gw_lease_info_free(&info);
	if (lease_put(r, id, *ttl) == NULL) {
		return GW_ENOMEM;
	}
	return 0;
}

struct ka_ctx {
	gw_raft_keepalive_cb cb;
	void *data;
};

static void ka_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct ka_ctx *x = data;
	long long ttl = 0;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	}
	if (err == 0 && (resp->status != 200 || resp->body.data == NULL ||
			 sscanf(resp->body.data, "{\"ttl\":%lld", &ttl) != 1)) {
		err = GW_EIO;
	}
	x->cb(x->data, err, err == 0 ? (int64_t)ttl : 0);
	free(x);
}

int gw_raft_lease_keepalive(struct gw_raft *r, int64_t lease_id, gw_raft_keepalive_cb cb,
			    void *data)
{
	struct ka_ctx *x;
	char body[64];
	int64_t ttl = 0;
	int rv;

	if (r->stopping) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL) {
		return GW_EINVAL;
	}
	if (is_leader(r)) {
		rv = keepalive_local(r, lease_id, &ttl);
		return defer(r, NULL, NULL, cb, data, rv, ttl);
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->cb = cb;
	x->data = data;
	snprintf(body, sizeof body, "{\"id\":%" PRId64 "}", lease_id);
	rv = call_start(r, NULL, "POST", "/apigw/internal/keepalive", body, strlen(body),
			r->write_timeout_ms, false, ka_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}

/* ---- membership changes (leader, one at a time) ------------------------- */

enum mtask_kind { MT_JOIN, MT_PROMOTE, MT_DEMOTE, MT_REMOVE };

struct mtask {
	struct list link;
	struct gw_raft *r;
	enum mtask_kind kind;
	uint64_t id;
	char address[64];
	struct raft_change change;
	struct gw_http_req *req; /* answered when done (JOIN, REMOVE over HTTP) */
	gw_raft_barrier_cb cb;   /* or called when done (local REMOVE) */
	void *data;
	int step;
	int role; /* JOIN: the role given */
};

static const char *role_name(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return "voter";
	case RAFT_STANDBY:
		return "standby";
	default:
		return "spare";
	}
}

static void respond_err(struct gw_http_req *req, int err);
static void respond_json(struct gw_http_req *req, int status, const char *json);

static void mtask_done(struct mtask *t, int err)
{
	struct gw_raft *r = t->r;
	char body[128];

	if (r->mtask_cur == t) {
		r->mtask_cur = NULL;
	}
	if (err != 0 && t->kind != MT_PROMOTE && t->kind != MT_DEMOTE) {
		gw_warnf("raft", "membership change for %016" PRIx64 " failed: %s", t->id,
			 gw_strerror(err));
	}
	if (t->req != NULL) {
		if (err != 0) {
			respond_err(t->req, err);
		} else {
			snprintf(body, sizeof body, "{\"role\":\"%s\",\"id\":\"%016" PRIx64 "\"}",
				 role_name(t->role), t->id);
			respond_json(t->req, 200, body);
		}
	} else if (t->cb != NULL) {
		t->cb(t->data, err);
	}
	free(t);
	if (!r->stopping) {
		mtask_kick(r);
	}
}

static void mtask_step(struct mtask *t);

static void mtask_change_cb(struct raft_change *req, int status)
{
	struct mtask *t = req->data;

	if (status != 0) {
		mtask_done(t, gw_raft__err(status));
		return;
	}
	t->step++;
	mtask_step(t);
}

static void removed_notified(void *data, int err, const struct gw_raft__http_resp *resp)
{
	(void)data;
	(void)err;
	(void)resp;
}

static void meta_deleted(void *data, int err, struct gw_store_result *res)
{
	(void)data;
	(void)err;
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

/* Run the next step of @t; steps continue in mtask_change_cb. */
static void mtask_step(struct mtask *t)
{
	struct gw_raft *r = t->r;
	const struct raft_server *s;
	int rv = 0, want;
	unsigned i;

	if (!is_leader(r)) {
		mtask_done(t, r->stopping ? GW_ESHUTDOWN : GW_ENOTLEADER);
		return;
	}
	t->change.data = t;
	s = conf_get(r, t->id);
	switch (t->kind) {
	case MT_JOIN:
		if (t->step == 0) {
			if (s != NULL) {
				if (strcmp(s->address, t->address) != 0) {
					gw_warnf("raft",
						 "join of %016" PRIx64 " at %s refused: the member "
						 "is known at %s",
						 t->id, t->address, s->address);
					mtask_done(t, GW_EEXIST);
					return;
				}
				t->step = 1;
				mtask_step(t);
				return;
			}
			for (i = 0; i < r->raft.configuration.n; i++) {
				if (strcmp(r->raft.configuration.servers[i].address, t->address) ==
				    0) {
					gw_warnf("raft",
						 "join of %016" PRIx64
						 " refused: %s is the address "
						 "of member %016" PRIx64 " (remove it first)",
						 t->id, t->address,
						 (uint64_t)r->raft.configuration.servers[i].id);
					mtask_done(t, GW_EEXIST);
					return;
				}
			}
			gw_infof("raft", "adding member %016" PRIx64 " at %s", t->id, t->address);
			rv = raft_add(&r->raft, &t->change, t->id, t->address, mtask_change_cb);
			break;
		}
		if (s == NULL) {
			mtask_done(t, GW_EMEMBERNOTFOUND);
			return;
		}
		if (t->step >= 2 || s->role == RAFT_VOTER) {
			t->role = s->role;
			if (t->step >= 2) {
				gw_infof("raft", "member %016" PRIx64 " is now a %s", t->id,
					 role_name(s->role));
			}
			mtask_done(t, 0);
			return;
		}
		want = conf_voters(r) < r->voters ? RAFT_VOTER : RAFT_STANDBY;
		if (s->role == want) {
			t->role = want;
			mtask_done(t, 0);
			return;
		}
		t->step = 1;
		gw_infof("raft", "assigning member %016" PRIx64 " the %s role (catching up first)",
			 t->id, role_name(want));
		rv = raft_assign(&r->raft, &t->change, t->id, want, mtask_change_cb);
		break;
	case MT_PROMOTE:
		if (t->step > 0 || s == NULL || s->role == RAFT_VOTER ||
		    conf_voters(r) >= r->voters) {
			if (t->step > 0) {
				gw_infof("raft", "promoted standby %016" PRIx64 " to voter", t->id);
			}
			mtask_done(t, 0);
			return;
		}
		gw_infof("raft", "promoting %016" PRIx64 " to voter (voters: %d of %d)", t->id,
			 conf_voters(r), r->voters);
		rv = raft_assign(&r->raft, &t->change, t->id, RAFT_VOTER, mtask_change_cb);
		break;
	case MT_DEMOTE:
		if (t->step > 0 || s == NULL || s->role != RAFT_VOTER || reachable(r, t->id)) {
			if (t->step > 0) {
				gw_warnf("raft",
					 "demoted voter %016" PRIx64 " to standby: unreachable for "
					 "%u ms; a standby takes its place",
					 t->id, r->replace_voter_ms);
			}
			mtask_done(t, 0);
			return;
		}
		rv = raft_assign(&r->raft, &t->change, t->id, RAFT_STANDBY, mtask_change_cb);
		break;
	case MT_REMOVE:
		if (t->step > 0) {
			struct gw_raft_member m;
			struct gw_store_op op;
			struct gw_buf b;
			char key[64], hp[128];

			gw_infof("raft", "removed member %016" PRIx64, t->id);
			if (member_load(r, t->id, &m) == 0 &&
			    gw_raft__url_hostport(m.etcd_url, hp, sizeof hp) == 0) {
				char body[64];
				snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\"}", t->id);
				call_start(r, hp, "POST", "/apigw/internal/removed", body,
					   strlen(body), PING_TIMEOUT_MS, false, removed_notified,
					   NULL);
			}
			memset(&op, 0, sizeof op);
			op.type = GW_OP_META_DELETE;
			member_key(t->id, key, sizeof key);
			op.u.meta.key = key;
			op.u.meta.key_len = strlen(key);
			gw_buf_init(&b);
			if (gw_raft__encode_op(&op, &b) == 0) {
				propose_local(r, b.data, b.len, r->write_timeout_ms, meta_deleted,
					      NULL);
			}
			gw_buf_close(&b);
			mtask_done(t, 0);
			return;
		}
		if (s == NULL) {
			mtask_done(t, GW_EMEMBERNOTFOUND);
			return;
		}
		if (s->role == RAFT_VOTER && conf_voters(r) <= 1) {
			gw_warnf("raft", "refusing to remove %016" PRIx64 ": it is the last voter",
				 t->id);
			mtask_done(t, GW_EINVAL);
			return;
		}
		gw_infof("raft", "removing member %016" PRIx64 " (%s)", t->id, role_name(s->role));
		rv = raft_remove(&r->raft, &t->change, t->id, mtask_change_cb);
		break;
	}
	if (rv == RAFT_CANTCHANGE) {
		/* A configuration change is still uncommitted: retry on a tick,
		 * keeping the task at the head of the queue. */
		r->mtask_retry = true;
		r->mtask_cur = NULL;
		t->link.next = r->mtasks.next;
		t->link.prev = &r->mtasks;
		r->mtasks.next->prev = &t->link;
		r->mtasks.next = &t->link;
		return;
	}
	if (rv != 0) {
		mtask_done(t, gw_raft__err(rv));
	}
}

static void mtask_kick(struct gw_raft *r)
{
	struct mtask *t;

	while (r->mtask_cur == NULL && !list_empty(&r->mtasks)) {
		t = CONTAINER(r->mtasks.next, struct mtask, link);
		list_del(&t->link);
		if (!is_leader(r)) {
			mtask_done(t, r->stopping ? GW_ESHUTDOWN : GW_ENOTLEADER);
			continue;
		}
		r->mtask_cur = t;
		mtask_step(t);
		if (r->mtask_retry) {
			return;
		}
	}
}

static int mtask_enqueue(struct gw_raft *r, enum mtask_kind kind, uint64_t id, const char *address,
			 struct gw_http_req *req, gw_raft_barrier_cb cb, void *data)
{
	struct mtask *t = calloc(1, sizeof *t);

	if (t == NULL) {
		return GW_ENOMEM;
	}
	t->r = r;
	t->kind = kind;
	t->id = id;
	snprintf(t->address, sizeof t->address, "%s", address != NULL ? address : "");
	t->req = req;
	t->cb = cb;
	t->data = data;
	list_add(&r->mtasks, &t->link);
	mtask_kick(r);
	return 0;
}

static bool mtask_pending(struct gw_raft *r, uint64_t id)
{
	struct list *e;
	if (r->mtask_cur != NULL && r->mtask_cur->id == id) {
		return true;
	}
	for (e = r->mtasks.next; e != &r->mtasks; e = e->next) {
		if (CONTAINER(e, struct mtask, link)->id == id) {
			return true;
		}
	}
	return false;
}

/* ---- remove / leave ---------------------------------------------------- */

struct rm_ctx {
	struct gw_raft *r;
	uint64_t id;
	gw_raft_barrier_cb cb;
	void *data;
	struct gw_http_req *req; /* HTTP caller to answer with ENOTLEADER */
};

static void rm_call_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct rm_ctx *x = data;

	if (err == 0 && resp->gw_err != 0) {
		err = resp->gw_err;
	} else if (err == 0 && resp->status != 200) {
		err = GW_EIO;
	}
	x->cb(x->data, err);
	free(x);
}

static int remove_via_leader(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	struct rm_ctx *x = calloc(1, sizeof *x);
	char body[64];
	int rv;

	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->id = id;
	x->cb = cb;
	x->data = data;
	snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\"}", id);
	rv = call_start(r, NULL, "POST", "/apigw/internal/remove", body, strlen(body),
			CONTROL_TIMEOUT_MS, true, rm_call_done, x);
	if (rv != 0) {
		free(x);
	}
	return rv;
}

static void transfer_cb(struct raft_transfer *req)
{
	struct gw_raft *r = req->data;
	void (*done)(struct gw_raft *) = r->transfer_done;

	r->transferring = false;
	r->transfer_done = NULL;
	if (done != NULL) {
		done(r);
	}
}

/* Hand leadership to another voter; @done runs when raft reports back
 * (success or not: the caller checks raft_leader). */
static int transfer_start(struct gw_raft *r, void (*done)(struct gw_raft *r))
{
	int rv;

	if (r->transferring) {
		return GW_EBUSY;
	}
	memset(&r->transfer, 0, sizeof r->transfer);
	r->transfer.data = r;
	rv = raft_transfer(&r->raft, &r->transfer, 0, transfer_cb);
	if (rv != 0) {
		return gw_raft__err(rv);
	}
	r->transferring = true;
	r->transfer_done = done;
	gw_infof("raft", "transferring leadership to %016" PRIx64,
		 (uint64_t)raft_transferee(&r->raft));
	return 0;
}

static void user_transfer_done(struct gw_raft *r)
{
	gw_raft_barrier_cb cb = r->transfer_cb;
	raft_id lid = 0;
	const char *laddr = NULL;

	r->transfer_cb = NULL;
	if (cb == NULL) {
		return;
	}
	if (!r->stopping) {
		raft_leader(&r->raft, &lid, &laddr);
	}
	cb(r->transfer_data, lid == r->transfer_target ? 0 : GW_ETIMEOUT);
}

int gw_raft_transfer(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	const struct raft_server *s;
	int rv;

	if (r->stopping || !r->raft_running) {
		return GW_ESHUTDOWN;
	}
	if (raft_state(&r->raft) != RAFT_LEADER) {
		return GW_ENOTLEADER;
	}
	s = conf_get(r, id);
	if (s == NULL || s->role != RAFT_VOTER || id == r->ident.node_id) {
		return GW_EBADTRANSFEREE;
	}
	if (r->transferring) {
		return GW_EBUSY;
	}
	memset(&r->transfer, 0, sizeof r->transfer);
	r->transfer.data = r;
	rv = raft_transfer(&r->raft, &r->transfer, id, transfer_cb);
	if (rv != 0) {
		return gw_raft__err(rv);
	}
	r->transferring = true;
	r->transfer_done = user_transfer_done;
	r->transfer_target = id;
	r->transfer_cb = cb;
	r->transfer_data = data;
	gw_infof("raft", "transferring leadership to %016" PRIx64 " (asked)", id);
	return 0;
}

static void self_remove_after_transfer(struct gw_raft *r)
{
	struct rm_ctx *x = r->rm_self;
	int rv;

	r->rm_self = NULL;
	if (x == NULL) {
		return;
	}
	if (x->req != NULL) {
		/* An HTTP caller asked: tell it to ask the new leader. */
		respond_err(x->req, GW_ENOTLEADER);
		free(x);
		return;
	}
	rv = r->stopping ? GW_ESHUTDOWN : remove_via_leader(r, x->id, x->cb, x->data);
	if (rv != 0) {
		x->cb(x->data, rv);
	}
	free(x);
}

/* Leader removing itself: transfer first, then ask the new leader. */
static int remove_self_leader(struct gw_raft *r, gw_raft_barrier_cb cb, void *data,
			      struct gw_http_req *req)
{
	struct rm_ctx *x;
	int rv;

	if (conf_voters(r) <= 1) {
		gw_warnf("raft", "refusing to remove %016" PRIx64 ": it is the last voter",
			 r->ident.node_id);
		return GW_EINVAL;
	}
	if (r->rm_self != NULL) {
		return GW_EBUSY;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		return GW_ENOMEM;
	}
	x->r = r;
	x->id = r->ident.node_id;
	x->cb = cb;
	x->data = data;
	x->req = req;
	r->rm_self = x;
	rv = transfer_start(r, self_remove_after_transfer);
	if (rv != 0) {
		r->rm_self = NULL;
		free(x);
	}
	return rv;
}

int gw_raft_remove(struct gw_raft *r, uint64_t id, gw_raft_barrier_cb cb, void *data)
{
	if (r->stopping) {
		return GW_ESHUTDOWN;
	}
	if (cb == NULL || id == 0) {
		return GW_EINVAL;
	}
	if (!r->raft_running) {
		return defer(r, NULL, cb, NULL, data, GW_ENOLEADER, 0);
	}
	if (is_leader(r)) {
		if (conf_get(r, id) == NULL) {
			return defer(r, NULL, cb, NULL, data, GW_EMEMBERNOTFOUND, 0);
		}
		if (id == r->ident.node_id) {
			int rv = remove_self_leader(r, cb, data, NULL);
			return rv == 0 ? 0 : defer(r, NULL, cb, NULL, data, rv, 0);
		}
		return mtask_enqueue(r, MT_REMOVE, id, NULL, NULL, cb, data);
	}
	return remove_via_leader(r, id, cb, data);
}

/* ---- status ------------------------------------------------------------ */

bool gw_raft_joining(struct gw_raft *r)
{
	return (r->join == JOIN_INFO || r->join == JOIN_REQUEST) && !r->join_member;
}

static enum gw_raft_role map_role(int role)
{
	switch (role) {
	case RAFT_VOTER:
		return GW_ROLE_VOTER;
	case RAFT_STANDBY:
		return GW_ROLE_STANDBY;
	default:
		return GW_ROLE_SPARE;
	}
}

void gw_raft_status(struct gw_raft *r, struct gw_raft_status *out)
{
	raft_id lid = 0;
	const char *laddr = NULL;
	const struct raft_server *self;
	unsigned i;

	memset(out, 0, sizeof *out);
	out->cluster_id = r->ident.cluster_id;
	out->id = r->ident.node_id;
	snprintf(out->name, sizeof out->name, "%s", r->name);
	out->revision = gw_store_revision(r->store);
	out->applied_index = gw_store_applied_index(r->store);
	out->role = GW_ROLE_SPARE;
	out->halted = r->halt_pending || r->halted;
	if (!r->raft_running || r->stopping) {
		out->state = GW_STATE_UNAVAILABLE;
		return;
	}
	switch (raft_state(&r->raft)) {
	case RAFT_FOLLOWER:
		out->state = GW_STATE_FOLLOWER;
		break;
	case RAFT_CANDIDATE:
		out->state = GW_STATE_CANDIDATE;
		break;
	case RAFT_LEADER:
		out->state = GW_STATE_LEADER;
		break;
	default:
		out->state = GW_STATE_UNAVAILABLE;
		break;
	}
	out->term = raft_current_term(&r->raft);
	raft_leader(&r->raft, &lid, &laddr);
	out->leader_id = lid;
	out->commit_index = raft_commit_index(&r->raft);
	out->applied_index = raft_last_applied(&r->raft);
	out->has_quorum = lid != 0;
	self = conf_get(r, r->ident.node_id);
	if (self != NULL) {
		out->role = map_role(self->role);
	}
	for (i = 0; i < r->raft.configuration.n && out->n_members < GW_RAFT_MAX_MEMBERS; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct gw_raft_member *m = &out->members[out->n_members++];
		member_load(r, s->id, m);
		m->id = s->id;
		snprintf(m->raft_address, sizeof m->raft_address, "%s", s->address);
		m->role = map_role(s->role);
		if (out->state == GW_STATE_LEADER) {
			m->reachable = reachable(r, s->id);
			m->reachable_known = true;
		} else if (r->view_at != 0 && now_ms(r) - r->view_at < 2 * REACHABLE_MS) {
			int k;
			for (k = 0; k < r->n_view; k++) {
				if (r->view[k].id == s->id) {
					m->reachable = r->view[k].last_ok != 0;
					m->reachable_known = true;
				}
			}
		}
	}
}

const char *gw_raft_state_name(enum gw_raft_state s)
{
	switch (s) {
	case GW_STATE_FOLLOWER:
		return "follower";
	case GW_STATE_CANDIDATE:
		return "candidate";
	case GW_STATE_LEADER:
		return "leader";
	default:
		return "unavailable";
	}
}

const char *gw_raft_role_name(enum gw_raft_role role)
{
	switch (role) {
	case GW_ROLE_VOTER:
		return "voter";
	case GW_ROLE_STANDBY:
		return "standby";
	default:
		return "spare";
	}
}

char *gw_raft_status_json(struct gw_raft *r)
{
	struct gw_raft_status *st = malloc(sizeof *st);
	cJSON *o, *arr;
	char hex[32], *s;
	int i;

	if (st == NULL) {
		return NULL;
	}
	gw_raft_status(r, st);
	o = cJSON_CreateObject();
	if (o == NULL) {
		free(st);
		return NULL;
	}
	snprintf(hex, sizeof hex, "%016" PRIx64, st->cluster_id);
	cJSON_AddStringToObject(o, "cluster_id", hex);
	snprintf(hex, sizeof hex, "%016" PRIx64, st->id);
	cJSON_AddStringToObject(o, "id", hex);
	cJSON_AddStringToObject(o, "name", st->name);
	cJSON_AddStringToObject(o, "role", gw_raft_role_name(st->role));
	cJSON_AddStringToObject(o, "state",
				gw_raft_joining(r) ? "joining" : gw_raft_state_name(st->state));
	cJSON_AddNumberToObject(o, "term", (double)st->term);
	snprintf(hex, sizeof hex, "%016" PRIx64, st->leader_id);
	cJSON_AddStringToObject(o, "leader_id", st->leader_id != 0 ? hex : "");
	cJSON_AddNumberToObject(o, "commit_index", (double)st->commit_index);
	cJSON_AddNumberToObject(o, "applied_index", (double)st->applied_index);
	cJSON_AddNumberToObject(o, "revision", (double)st->revision);
	cJSON_AddBoolToObject(o, "has_quorum", st->has_quorum);
	cJSON_AddNumberToObject(o, "voters_wanted", r->voters);
	arr = cJSON_AddArrayToObject(o, "members");
	for (i = 0; arr != NULL && i < st->n_members; i++) {
		const struct gw_raft_member *m = &st->members[i];
		cJSON *mo = cJSON_CreateObject();
		if (mo == NULL) {
			break;
		}
		snprintf(hex, sizeof hex, "%016" PRIx64, m->id);
		cJSON_AddStringToObject(mo, "id", hex);
		cJSON_AddStringToObject(mo, "name", m->name);
		cJSON_AddStringToObject(mo, "role", gw_raft_role_name(m->role));
		cJSON_AddBoolToObject(mo, "leader", m->id == st->leader_id);
		cJSON_AddStringToObject(mo, "raft_address", m->raft_address);
		cJSON_AddStringToObject(mo, "etcd_url", m->etcd_url);
		cJSON_AddStringToObject(mo, "admin_url", m->admin_url);
		cJSON_AddStringToObject(mo, "proxy_url", m->proxy_url);
		cJSON_AddStringToObject(mo, "status_url", m->status_url);
		if (m->reachable_known) {
			cJSON_AddBoolToObject(mo, "reachable", m->reachable);
		} else {
			cJSON_AddNullToObject(mo, "reachable");
		}
		cJSON_AddItemToArray(arr, mo);
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	free(st);
	return s;
}

/* ---- internal HTTP endpoints ------------------------------------------ */

static int err_status(int err)
{
	switch (err) {
	case GW_EPERM:
		return 403;
	case GW_EINVAL:
	case GW_EPROTO:
		return 400;
	case GW_ENOTFOUND:
	case GW_EMEMBERNOTFOUND:
	case GW_ELEASENOTFOUND:
		return 404;
	case GW_EBUSY:
	case GW_EEXIST:
		return 409;
	case GW_ENOLEADER:
	case GW_ENOTLEADER:
	case GW_ETIMEOUT:
	case GW_ELEADERCHANGED:
	case GW_ESHUTDOWN:
	case GW_EUNHEALTHY:
		return 503;
	default:
		return 500;
	}
}

static void respond_json(struct gw_http_req *req, int status, const char *json)
{
	gw_http_respond(req, status, "application/json", "", json, strlen(json));
}

static void respond_err(struct gw_http_req *req, int err)
{
	char hdr[64], body[256];

	snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", err);
	snprintf(body, sizeof body, "{\"error\":\"%s\",\"code\":\"%s\"}\n", gw_strerror(err),
		 gw_errname(err));
	gw_http_respond(req, err_status(err), "application/json", hdr, body, strlen(body));
}

static bool secret_ok(struct gw_raft *r, const struct gw_http_req *req)
{
	const char *got = gw_http_header(req, SECRET_HEADER);
	size_t i, n = strlen(r->ident.secret);
	unsigned char diff = 0;

	if (got == NULL || n == 0 || strlen(got) != n) {
		return false;
	}
	for (i = 0; i < n; i++) {
		diff |= (unsigned char)(got[i] ^ r->ident.secret[i]);
	}
	return diff == 0;
}

static unsigned req_timeout(struct gw_raft *r, const struct gw_http_req *req, unsigned dflt)
{
	const char *v = gw_http_header(req, "x-apigw-timeout-ms");
	unsigned long t;

	if (v == NULL) {
		return dflt;
	}
	t = strtoul(v, NULL, 10);
	if (t == 0 || t > 600000) {
		return dflt;
	}
	(void)r;
	return (unsigned)t;
}

static void relay_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct gw_http_req *req = data;
	char hdr[64] = "";

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	if (resp->gw_err != 0) {
		snprintf(hdr, sizeof hdr, "X-Apigw-Error: %d\r\n", resp->gw_err);
	}
	gw_http_respond(req, resp->status, "application/octet-stream", hdr, resp->body.data,
			resp->body.len);
}

/* A request that needs the leader reached a follower: relay it once. A
 * join waits (within its deadline) for a leader this node does not know yet
 * (it may have just restarted); other requests fail at once without one. */
static void relay(struct gw_raft *r, struct gw_http_req *req, unsigned timeout_ms)
{
	int rv;

	if (gw_http_header(req, "x-apigw-hops") != NULL) {
		respond_err(req, GW_ENOTLEADER);
		return;
	}
	rv = call_start(r, NULL, req->method, req->url, req->body.data, req->body.len, timeout_ms,
			strcmp(req->path, "/apigw/internal/join") == 0, relay_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

static void http_propose_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_http_req *req = data;
	struct gw_buf b;

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	gw_buf_init(&b);
	err = gw_raft__encode_result(res, &b);
	gw_store_result_free(res);
	if (err != 0) {
		respond_err(req, err);
	} else {
		gw_http_respond(req, 200, "application/octet-stream", "", b.data, b.len);
	}
	gw_buf_close(&b);
}

static void handle_propose(struct gw_raft *r, struct gw_http_req *req)
{
	struct gw_store_op op;
	unsigned timeout = req_timeout(r, req, r->write_timeout_ms);
	int rv;

	if (!is_leader(r)) {
		relay(r, req, timeout);
		return;
	}
	rv = gw_raft__decode_op(req->body.data, req->body.len, &op);
	if (rv != 0) {
		respond_err(req, rv);
		return;
	}
	gw_raft__op_free(&op);
	rv = propose_local(r, req->body.data, req->body.len, timeout, http_propose_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

static void http_index_done(void *data, int err, uint64_t index)
{
	struct gw_http_req *req = data;
	char body[64];

	if (err != 0) {
		respond_err(req, err);
		return;
	}
	snprintf(body, sizeof body, "{\"index\":%" PRIu64 "}", index);
	respond_json(req, 200, body);
}

static void handle_read_index(struct gw_raft *r, struct gw_http_req *req)
{
	unsigned timeout = req_timeout(r, req, r->write_timeout_ms);
	int rv;

	if (!is_leader(r)) {
		relay(r, req, timeout);
		return;
	}
	rv = barrier_local(r, timeout, http_index_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

struct join_ctx {
	struct gw_raft *r;
	struct gw_http_req *req;
	uint64_t id;
	char address[64];
};

static void join_meta_done(void *data, int err, struct gw_store_result *res)
{
	struct join_ctx *x = data;
	int rv;

	if (res != NULL) {
		gw_store_result_free(res);
	}
	if (err != 0) {
		respond_err(x->req, err);
		free(x);
		return;
	}
	rv = mtask_enqueue(x->r, MT_JOIN, x->id, x->address, x->req, NULL, NULL);
	if (rv != 0) {
		respond_err(x->req, rv);
	}
	free(x);
}

static void handle_join(struct gw_raft *r, struct gw_http_req *req)
{
	struct gw_store_op op;
	struct gw_buf b;
	struct join_ctx *x;
	cJSON *o;
	const cJSON *id, *addr, *name;
	char key[64], *meta;
	struct gw_addr parsed;
	const char *why;
	int rv;

	if (!is_leader(r)) {
		relay(r, req, JOIN_TIMEOUT_MS);
		return;
	}
	o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	addr = cJSON_GetObjectItemCaseSensitive(o, "raft_address");
	name = cJSON_GetObjectItemCaseSensitive(o, "name");
	if (o == NULL || !cJSON_IsString(id) || !cJSON_IsString(addr) ||
	    gw_addr_parse(addr->valuestring, &parsed, &why) != 0 ||
	    parsed.ss.ss_family != AF_INET) {
		cJSON_Delete(o);
		respond_err(req, GW_EINVAL);
		return;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		cJSON_Delete(o);
		respond_err(req, GW_ENOMEM);
		return;
	}
	x->r = r;
	x->req = req;
	x->id = strtoull(id->valuestring, NULL, 16);
	snprintf(x->address, sizeof x->address, "%s", parsed.text);
	if (x->id == 0 || mtask_pending(r, x->id)) {
		rv = x->id == 0 ? GW_EINVAL : GW_EBUSY;
		cJSON_Delete(o);
		free(x);
		respond_err(req, rv);
		return;
	}
	gw_infof("raft", "join request from %016" PRIx64 " (%s) at %s", x->id,
		 cJSON_IsString(name) ? name->valuestring : "?", x->address);
	meta = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	member_key(x->id, key, sizeof key);
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = meta;
	op.u.meta.value_len = meta != NULL ? strlen(meta) : 0;
	gw_buf_init(&b);
	rv = meta == NULL ? GW_ENOMEM : gw_raft__encode_op(&op, &b);
	if (rv == 0) {
		rv = propose_local(r, b.data, b.len, r->write_timeout_ms, join_meta_done, x);
	}
	gw_buf_close(&b);
	free(meta);
	if (rv != 0) {
		free(x);
		respond_err(req, rv);
	}
}

static void http_remove_done(void *data, int err)
{
	struct gw_http_req *req = data;
	if (err != 0) {
		respond_err(req, err);
	} else {
		respond_json(req, 200, "{}");
	}
}

static uint64_t body_id(const struct gw_http_req *req)
{
	cJSON *o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	uint64_t v = 0;

	if (cJSON_IsString(id)) {
		v = strtoull(id->valuestring, NULL, 16);
	} else if (cJSON_IsNumber(id)) {
		v = (uint64_t)id->valuedouble;
	}
	cJSON_Delete(o);
	return v;
}

static void handle_remove(struct gw_raft *r, struct gw_http_req *req)
{
	uint64_t id;
	int rv;

	if (!is_leader(r)) {
		relay(r, req, CONTROL_TIMEOUT_MS);
		return;
	}
	id = body_id(req);
	if (id == 0) {
		respond_err(req, GW_EINVAL);
		return;
	}
	if (conf_get(r, id) == NULL) {
		respond_err(req, GW_EMEMBERNOTFOUND);
		return;
	}
	if (id == r->ident.node_id) {
		rv = remove_self_leader(r, NULL, NULL, req);
		if (rv != 0) {
			respond_err(req, rv);
		}
		return;
	}
	rv = mtask_enqueue(r, MT_REMOVE, id, NULL, NULL, http_remove_done, req);
	if (rv != 0) {
		respond_err(req, rv);
	}
}

static void handle_keepalive(struct gw_raft *r, struct gw_http_req *req)
{
	cJSON *o;
	const cJSON *id;
	int64_t ttl = 0;
	char body[64];
	int rv;

	if (!is_leader(r)) {
		relay(r, req, r->write_timeout_ms);
		return;
	}
	o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (!cJSON_IsNumber(id)) {
		cJSON_Delete(o);
		respond_err(req, GW_EINVAL);
		return;
	}
	rv = keepalive_local(r, (int64_t)id->valuedouble, &ttl);
	cJSON_Delete(o);
	if (rv != 0) {
		respond_err(req, rv);
		return;
	}
	snprintf(body, sizeof body, "{\"ttl\":%" PRId64 "}", ttl);
	respond_json(req, 200, body);
}

/* /apigw/internal/kv: a small JSON front for tests and operators until the
 * etcd API exists. {"op":"put","key":k,"value":v} | {"op":"delete","key":k}
 * | {"op":"get","key":k,"linearizable":bool}. Authenticated like the rest. */
struct kv_ctx {
	struct gw_raft *r;
	struct gw_http_req *req;
	char *key;
};

static void kv_write_done(void *data, int err, struct gw_store_result *res)
{
	struct kv_ctx *x = data;
	char body[128];

	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err != 0) {
		respond_err(x->req, err);
	} else {
		snprintf(body, sizeof body, "{\"revision\":%" PRId64 ",\"deleted\":%" PRId64 "}",
			 res->revision, res->deleted);
		respond_json(x->req, 200, body);
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(x->key);
	free(x);
}

static void kv_read(void *data, int err)
{
	struct kv_ctx *x = data;
	struct gw_range_req q;
	struct gw_range_resp resp;
	cJSON *o, *arr;
	char *s;
	size_t i;

	if (err != 0) {
		respond_err(x->req, err);
		goto out;
	}
	memset(&q, 0, sizeof q);
	q.key = x->key;
	q.key_len = strlen(x->key);
	memset(&resp, 0, sizeof resp);
	err = gw_store_range(x->r->store, &q, &resp);
	if (err != 0) {
		respond_err(x->req, err);
		goto out;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "revision", (double)resp.revision);
	arr = cJSON_AddArrayToObject(o, "kvs");
	for (i = 0; i < resp.n_kvs; i++) {
		cJSON *kv = cJSON_CreateObject();
		char *v =
		    strndup(resp.kvs[i].value ? resp.kvs[i].value : "", resp.kvs[i].value_len);
		char *k = strndup(resp.kvs[i].key, resp.kvs[i].key_len);
		cJSON_AddStringToObject(kv, "key", k ? k : "");
		cJSON_AddStringToObject(kv, "value", v ? v : "");
		cJSON_AddNumberToObject(kv, "mod_revision", (double)resp.kvs[i].mod_revision);
		cJSON_AddNumberToObject(kv, "version", (double)resp.kvs[i].version);
		free(k);
		free(v);
		cJSON_AddItemToArray(arr, kv);
	}
	gw_range_resp_free(&resp);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	respond_json(x->req, 200, s != NULL ? s : "{}");
	free(s);
out:
	free(x->key);
	free(x);
}

static void handle_kv(struct gw_raft *r, struct gw_http_req *req)
{
	cJSON *o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	const cJSON *opn = cJSON_GetObjectItemCaseSensitive(o, "op");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
	const cJSON *val = cJSON_GetObjectItemCaseSensitive(o, "value");
	const cJSON *lin = cJSON_GetObjectItemCaseSensitive(o, "linearizable");
	struct kv_ctx *x;
	struct gw_store_op op;
	int rv;

	if (!cJSON_IsString(opn) || !cJSON_IsString(key) || key->valuestring[0] == '\0') {
		cJSON_Delete(o);
		respond_err(req, GW_EINVAL);
		return;
	}
	x = calloc(1, sizeof *x);
	if (x == NULL || (x->key = strdup(key->valuestring)) == NULL) {
		free(x);
		cJSON_Delete(o);
		respond_err(req, GW_ENOMEM);
		return;
	}
	x->r = r;
	x->req = req;
	memset(&op, 0, sizeof op);
	if (strcmp(opn->valuestring, "get") == 0) {
		cJSON_Delete(o);
		if (cJSON_IsTrue(lin)) {
			rv = gw_raft_read_barrier(r, 0, kv_read, x);
		} else {
			kv_read(x, 0);
			return;
		}
	} else if (strcmp(opn->valuestring, "put") == 0 && cJSON_IsString(val)) {
		op.type = GW_OP_PUT;
		op.u.put.key = x->key;
		op.u.put.key_len = strlen(x->key);
		op.u.put.value = val->valuestring;
		op.u.put.value_len = strlen(val->valuestring);
		rv = gw_raft_propose(r, &op, 0, kv_write_done, x);
		cJSON_Delete(o);
	} else if (strcmp(opn->valuestring, "delete") == 0) {
		op.type = GW_OP_DELETE;
		op.u.del.key = x->key;
		op.u.del.key_len = strlen(x->key);
		rv = gw_raft_propose(r, &op, 0, kv_write_done, x);
		cJSON_Delete(o);
	} else {
		cJSON_Delete(o);
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		free(x->key);
		free(x);
		respond_err(req, rv);
	}
}

/* The leader's ping carries "<hex id>=<0|1>,..." (whom it hears from), so
 * every member's status can show it. */
static void ping_view(struct gw_raft *r, const struct gw_http_req *req)
{
	const char *p = req->body.data;
	int n = 0;

	if (p == NULL || req->body.len == 0) {
		return;
	}
	while (*p != '\0' && n < GW_RAFT_MAX_MEMBERS) {
		char *end;
		uint64_t id = strtoull(p, &end, 16);
		if (end == p || *end != '=' || (end[1] != '0' && end[1] != '1')) {
			return; /* malformed: keep the previous view */
		}
		r->view[n].id = id;
		r->view[n].last_ok = end[1] == '1';
		n++;
		p = end + 2;
		if (*p == ',') {
			p++;
		}
	}
	r->n_view = n;
	r->view_at = now_ms(r);
}

bool gw_raft_handle_internal(struct gw_raft *r, struct gw_http_req *req)
{
	const char *sub;
	char peer[64];
	char body[96];

	if (strncmp(req->path, "/apigw/internal/", 16) != 0) {
		return false;
	}
	sub = req->path + 16;
	if (!secret_ok(r, req)) {
		gw_addr_format((const struct sockaddr *)&req->peer, peer, sizeof peer);
		gw_warnf("raft", "refused %s %s from %s: %s", req->method, req->path, peer,
			 r->ident.secret[0] == '\0' ? "this node has not joined a cluster yet"
						    : "wrong join secret");
		respond_err(req, r->ident.secret[0] == '\0' ? GW_EUNHEALTHY : GW_EPERM);
		return true;
	}
	if (r->stopping) {
		respond_err(req, GW_ESHUTDOWN);
		return true;
	}
	if (strcmp(sub, "cluster") == 0) {
		raft_id lid = 0;
		const char *la = NULL;
		if (r->raft_running) {
			raft_leader(&r->raft, &lid, &la);
		}
		snprintf(body, sizeof body,
			 "{\"cluster_id\":\"%016" PRIx64 "\",\"leader_id\":\"%016" PRIx64 "\"}",
			 r->ident.cluster_id, (uint64_t)lid);
		respond_json(req, 200, body);
	} else if (strcmp(sub, "ping") == 0) {
		ping_view(r, req);
		snprintf(body, sizeof body, "{\"id\":\"%016" PRIx64 "\",\"applied\":%llu}",
			 r->ident.node_id,
			 r->raft_running ? (unsigned long long)raft_last_applied(&r->raft) : 0ULL);
		respond_json(req, 200, body);
	} else if (strcmp(sub, "status") == 0) {
		char *s = gw_raft_status_json(r);
		if (s == NULL) {
			respond_err(req, GW_ENOMEM);
		} else {
			respond_json(req, 200, s);
			free(s);
		}
	} else if (strcmp(sub, "propose") == 0 && strcmp(req->method, "POST") == 0) {
		handle_propose(r, req);
	} else if (strcmp(sub, "read-index") == 0) {
		handle_read_index(r, req);
	} else if (strcmp(sub, "join") == 0 && strcmp(req->method, "POST") == 0) {
		handle_join(r, req);
	} else if (strcmp(sub, "remove") == 0 && strcmp(req->method, "POST") == 0) {
		handle_remove(r, req);
	} else if (strcmp(sub, "removed") == 0 && strcmp(req->method, "POST") == 0) {
		uint64_t id = body_id(req); /* before answering: that frees @req */
		respond_json(req, 200, "{}");
		if (id == r->ident.node_id) {
			gw_warnf("raft", "this node was removed from the cluster: stopping");
			terminate(r, 0);
		}
	} else if (strcmp(sub, "keepalive") == 0 && strcmp(req->method, "POST") == 0) {
		handle_keepalive(r, req);
	} else if (strcmp(sub, "kv") == 0 && strcmp(req->method, "POST") == 0) {
		handle_kv(r, req);
	} else {
		respond_err(req, GW_ENOTFOUND);
	}
	return true;
}

/* ---- periodic work ----------------------------------------------------- */

static void terminate(struct gw_raft *r, int err)
{
	if (r->terminated || r->stopping) {
		return;
	}
	r->terminated = true;
	if (r->on_terminate != NULL) {
		r->on_terminate(r->terminate_data, err);
	}
}

struct ping_ctx {
	struct gw_raft *r;
	uint64_t id;
};

static void ping_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct ping_ctx *x = data;
	struct health *h = health_get(x->r, x->id, false);

	if (h != NULL) {
		h->pinging = false;
		if (err == 0 && resp->status == 200) {
			h->last_ok = now_ms(x->r);
		}
	}
	free(x);
}

static void leader_duty(struct gw_raft *r)
{
	unsigned i;
	uint64_t promote = 0, demote = 0;
	struct gw_buf view;

	/* What this leader hears, told to everyone with the pings. */
	gw_buf_init(&view);
	for (i = 0; i < r->raft.configuration.n; i++) {
		uint64_t id = r->raft.configuration.servers[i].id;
		gw_buf_printf(&view, "%s%016" PRIx64 "=%d", i ? "," : "", id, reachable(r, id));
	}

	for (i = 0; i < r->raft.configuration.n; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct gw_raft_member m;
		struct health *h;
		struct ping_ctx *x;
		char hp[128];

		if (s->id == r->ident.node_id) {
			continue;
		}
		h = health_get(r, s->id, true);
		if (h == NULL || h->pinging || member_load(r, s->id, &m) != 0 ||
		    gw_raft__url_hostport(m.etcd_url, hp, sizeof hp) != 0) {
			continue;
		}
		if (s->role != RAFT_VOTER && promote == 0 && reachable(r, s->id) &&
		    now_ms(r) - h->last_ok < REACHABLE_MS / 2) {
			promote = s->id;
		}
		if (s->role == RAFT_VOTER && demote == 0 &&
		    now_ms(r) - h->last_ok > r->replace_voter_ms) {
			demote = s->id;
		}
		x = calloc(1, sizeof *x);
		if (x == NULL) {
			continue;
		}
		x->r = r;
		x->id = s->id;
		if (call_start(r, hp, "POST", "/apigw/internal/ping", view.data, view.len,
			       PING_TIMEOUT_MS, false, ping_done, x) == 0) {
			h->pinging = true;
		} else {
			free(x);
		}
	}
	gw_buf_close(&view);
	/* Keep the wanted number of voters: promote a healthy standby. */
	if (promote != 0 && conf_voters(r) < r->voters && r->mtask_cur == NULL &&
	    list_empty(&r->mtasks)) {
		mtask_enqueue(r, MT_PROMOTE, promote, NULL, NULL, NULL, NULL);
	} else if (promote != 0 && demote != 0 && r->mtask_cur == NULL && list_empty(&r->mtasks)) {
		/* Losing a voter: make room for the healthy standby. */
		mtask_enqueue(r, MT_DEMOTE, demote, NULL, NULL, NULL, NULL);
	}
}

static void meta_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_raft *r = data;

	r->meta_inflight = false;
	if (err != 0) {
		gw_debugf("raft", "publishing member metadata: %s (will retry)", gw_strerror(err));
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

/* Keep "member/<self>" equal to this node's current URLs. */
static void meta_check(struct gw_raft *r)
{
	struct gw_store_op op;
	char key[64], *want, *have = NULL;
	size_t len = 0;
	raft_id lid = 0;
	const char *la;

	raft_leader(&r->raft, &lid, &la);
	if (r->meta_inflight || lid == 0 || conf_get(r, r->ident.node_id) == NULL) {
		return;
	}
	want = self_json(r);
	if (want == NULL) {
		return;
	}
	member_key(r->ident.node_id, key, sizeof key);
	if (gw_store_meta_get(r->store, key, &have, &len) == 0 && len == strlen(want) &&
	    memcmp(have, want, len) == 0) {
		free(have);
		free(want);
		return;
	}
	free(have);
	memset(&op, 0, sizeof op);
	op.type = GW_OP_META_PUT;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = want;
	op.u.meta.value_len = strlen(want);
	if (gw_raft_propose(r, &op, 0, meta_done, r) == 0) {
		r->meta_inflight = true;
	}
	free(want);
}

static void join_tick(struct gw_raft *r);

static void tick_cb(uv_timer_t *t)
{
	struct gw_raft *r = t->data;
	uint64_t now = now_ms(r);
	int state;

	if (r->stopping) {
		return;
	}
	if (r->halt_pending) {
		halt_now(r);
		return;
	}
	join_tick(r);
	if (!r->raft_running) {
		return;
	}
	state = raft_state(&r->raft);
	if (state != r->last_state) {
		if (state == RAFT_LEADER) {
			gw_infof("raft", "became leader for term %llu",
				 (unsigned long long)raft_current_term(&r->raft));
			r->n_health = 0;
			leases_load(r);
			r->next_meta_check = 0;
			r->next_leader_duty = 0;
		} else if (r->last_state == RAFT_LEADER) {
			gw_warnf("raft", "lost leadership (now %s)", raft_state_name(state));
			r->leases_loaded = false;
			r->n_leases = 0;
			mtask_kick(r);
		}
		r->last_state = state;
	}
	if (conf_get(r, r->ident.node_id) != NULL) {
		r->was_member = true;
	}
	if (state == RAFT_LEADER) {
		if (!r->leases_loaded) {
			leases_load(r);
		}
		leases_tick(r);
		if (r->mtask_retry && r->mtask_cur == NULL) {
			r->mtask_retry = false;
			mtask_kick(r);
		}
		if (now >= r->next_leader_duty) {
			r->next_leader_duty = now + LEADER_DUTY_MS;
			leader_duty(r);
		}
	}
	if (now >= r->next_meta_check) {
		r->next_meta_check = now + META_CHECK_MS;
		meta_check(r);
	}
}

/* ---- start / join ------------------------------------------------------ */

static bool dir_has_files(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool any = false;

	if (d == NULL) {
		return false;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			any = true;
			break;
		}
	}
	closedir(d);
	return any;
}

static void raft_closed_cb(struct raft *raft)
{
	struct gw_raft *r = raft->data;

	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->transport);
	r->raft_closed = true;
	maybe_finish(r);
}

/* Set up raft_uv, the TCP transport and raft; bootstrap if asked; start. */
static int raft_setup(struct gw_raft *r, bool bootstrap)
{
	struct raft_configuration conf;
	int rv;

	if (mkdir(r->raft_dir, 0700) != 0 && errno != EEXIST) {
		gw_errorf("raft", "cannot create %s: %s", r->raft_dir, strerror(errno));
		return GW_EIO;
	}
	memset(&r->transport, 0, sizeof r->transport);
	r->transport.version = 1;
	rv = raft_uv_tcp_init(&r->transport, r->loop);
	if (rv != 0) {
		gw_errorf("raft", "TCP transport: %s", raft_strerror(rv));
		return gw_raft__err(rv);
	}
	memset(&r->io, 0, sizeof r->io);
	rv = raft_uv_init(&r->io, r->loop, r->raft_dir, &r->transport);
	if (rv != 0) {
		gw_errorf("raft",
			  "cannot use %s for the raft log: %s (raft probes the filesystem for "
			  "direct and async I/O; FUSE, 9p and NFS mounts fail that probe: put the "
			  "data dir on a local filesystem such as ext4, xfs or tmpfs)",
			  r->raft_dir, r->io.errmsg[0] ? r->io.errmsg : raft_strerror(rv));
		raft_uv_tcp_close(&r->transport);
		return GW_EIO;
	}
	raft_uv_set_connect_retry_delay(&r->io, 250);
	gw_raft__fsm_init(&r->fsm, r);
	rv = raft_init(&r->raft, &r->io, &r->fsm, r->ident.node_id, r->raft_address);
	if (rv != 0) {
		gw_errorf("raft",
			  "cannot start raft in %s: %s (FUSE, 9p and NFS mounts fail "
			  "raft's filesystem probe: use a local filesystem)",
			  r->raft_dir, raft_errmsg(&r->raft));
		raft_uv_close(&r->io);
		raft_uv_tcp_close(&r->transport);
		return GW_EIO;
	}
	r->raft.data = r;
	r->raft_running = true;
	raft_set_election_timeout(&r->raft, r->election_timeout_ms);
	raft_set_heartbeat_timeout(&r->raft, r->heartbeat_ms);
	raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
	raft_set_snapshot_trailing(&r->raft, r->snapshot_trailing);
	raft_set_pre_vote(&r->raft, true);
	if (bootstrap) {
		raft_configuration_init(&conf);
		rv = raft_configuration_add(&conf, r->ident.node_id, r->raft_address, RAFT_VOTER);
		if (rv == 0) {
			rv = raft_bootstrap(&r->raft, &conf);
		}
		raft_configuration_close(&conf);
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
			gw_errorf("raft", "bootstrap failed: %s", raft_errmsg(&r->raft));
			return GW_EIO;
		}
	}
	rv = raft_start(&r->raft);
	if (rv != 0) {
		gw_errorf("raft", "cannot start raft on %s: %s%s%s (is the raft address in use?)",
			  r->raft_address, raft_strerror(rv), raft_errmsg(&r->raft)[0] ? ": " : "",
			  raft_errmsg(&r->raft));
		return rv == RAFT_CORRUPT ? GW_ECORRUPT : GW_EIO;
	}
	gw_infof("raft",
		 "member %016" PRIx64 " of cluster %016" PRIx64
		 " started on %s (store applied index %llu, revision %lld)",
		 r->ident.node_id, r->ident.cluster_id, r->raft_address,
		 (unsigned long long)gw_store_applied_index(r->store),
		 (long long)gw_store_revision(r->store));
	return 0;
}

static void join_info_done(void *data, int err, const struct gw_raft__http_resp *resp);
static void join_request_done(void *data, int err, const struct gw_raft__http_resp *resp);

static void join_fatal(struct gw_raft *r, int err, const char *why)
{
	gw_errorf("raft", "cannot join the cluster through %s: %s", r->join_peer, why);
	r->join = JOIN_NONE;
	terminate(r, err);
}

static void join_tick(struct gw_raft *r)
{
	uint64_t now = now_ms(r);
	int rv;

	if (r->join_inflight || now < r->join_next_try) {
		return;
	}
	if (r->join == JOIN_INFO) {
		r->join_inflight = true;
		rv = call_start(r, r->join_peer, "GET", "/apigw/internal/cluster", NULL, 0,
				PING_TIMEOUT_MS * 2, false, join_info_done, r);
		if (rv != 0) {
			r->join_inflight = false;
		}
	} else if (r->join == JOIN_REQUEST) {
		char *meta = self_json(r);
		if (meta == NULL) {
			return;
		}
		r->join_inflight = true;
		rv = call_start(r, r->join_peer, "POST", "/apigw/internal/join", meta, strlen(meta),
				JOIN_TIMEOUT_MS, false, join_request_done, r);
		free(meta);
		if (rv != 0) {
			r->join_inflight = false;
		}
	}
}

static void join_info_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct gw_raft *r = data;
	char hex[32] = "";
	uint64_t cid;
	int rv;

	r->join_inflight = false;
	if (r->stopping) {
		return;
	}
	if (err == 0 && resp->status == 403) {
		join_fatal(r, GW_EPERM, "the peer refused the join secret");
		return;
	}
	if (err != 0 || resp->status != 200 || resp->body.data == NULL ||
	    sscanf(resp->body.data, "{\"cluster_id\":\"%16[0-9a-f]\"", hex) != 1) {
		if (r->join_member) {
			gw_warnf("raft",
				 "join: cannot check the cluster through %s (%s); "
				 "restarting as the member this data dir holds",
				 r->join_peer, err != 0 ? gw_strerror(err) : "unexpected answer");
			r->join = JOIN_NONE;
			return;
		}
		if (now_ms(r) - r->join_started > JOIN_INFO_GIVE_UP_MS) {
			join_fatal(r, GW_ETIMEOUT, "no answer from the peer");
			return;
		}
		gw_warnf("raft", "join: peer %s: %s (retrying)", r->join_peer,
			 err != 0 ? gw_strerror(err) : "unexpected answer");
		r->join_next_try = now_ms(r) + 1000;
		return;
	}
	cid = strtoull(hex, NULL, 16);
	if (r->ident.cluster_id != 0 && r->ident.cluster_id != cid) {
		gw_errorf("raft",
			  "this data dir belongs to cluster %016" PRIx64 " but %s is in cluster "
			  "%016" PRIx64 ": use an empty data dir to join it",
			  r->ident.cluster_id, r->join_peer, cid);
		r->join = JOIN_NONE;
		terminate(r, GW_ECORRUPT);
		return;
	}
	if (!r->raft_running) {
		r->ident.cluster_id = cid;
		r->ident.origin = GW_ORIGIN_JOIN;
		rv = gw_raft__identity_save(r->data_dir, &r->ident);
		if (rv == 0) {
			rv = raft_setup(r, false);
		}
		if (rv != 0) {
			r->join = JOIN_NONE;
			terminate(r, rv);
			return;
		}
	}
	if (r->join_member) {
		r->join = JOIN_DONE; /* already a member of this cluster */
		return;
	}
	r->join = JOIN_REQUEST;
	r->join_next_try = 0;
	join_tick(r);
}

static void join_request_done(void *data, int err, const struct gw_raft__http_resp *resp)
{
	struct gw_raft *r = data;
	char role[16] = "";

	r->join_inflight = false;
	if (r->stopping) {
		return;
	}
	if (err == 0 && resp->status == 403) {
		join_fatal(r, GW_EPERM, "the join secret was refused");
		return;
	}
	if (err == 0 && resp->status == 409 && resp->gw_err == GW_EEXIST) {
		join_fatal(r, GW_EEXIST,
			   "the leader refused: another member uses this raft address (remove "
			   "it first)");
		return;
	}
	if (err != 0 || resp->status != 200) {
		r->join_failures++;
		gw_warnf("raft", "join request: %s (retrying)",
			 err != 0 ? gw_strerror(err)
				  : (resp->gw_err != 0 ? gw_strerror(resp->gw_err) : "error"));
		r->join_next_try = now_ms(r) + 250;
		return;
	}
	if (resp->body.data != NULL) {
		sscanf(resp->body.data, "{\"role\":\"%15[a-z]\"", role);
	}
	gw_infof("raft", "joined cluster %016" PRIx64 " as %s", r->ident.cluster_id,
		 role[0] ? role : "member");
	r->join = JOIN_DONE;
}

int gw_raft_start(const struct gw_raft_opts *o, struct gw_raft **out)
{
	struct gw_raft *r;
	char secret_path[PATH_MAX + 16];
	int rv;

	*out = NULL;
	if (o == NULL || o->loop == NULL || o->store == NULL || o->data_dir == NULL ||
	    o->raft_address == NULL) {
		return GW_EINVAL;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		return GW_ENOMEM;
	}
	r->loop = o->loop;
	r->store = o->store;
	snprintf(r->data_dir, sizeof r->data_dir, "%s", o->data_dir);
	snprintf(r->raft_dir, sizeof r->raft_dir, "%s/raft", o->data_dir);
	snprintf(r->name, sizeof r->name, "%s", o->name ? o->name : "");
	snprintf(r->raft_address, sizeof r->raft_address, "%s", o->raft_address);
	snprintf(r->etcd_url, sizeof r->etcd_url, "%s", o->etcd_url ? o->etcd_url : "");
	snprintf(r->admin_url, sizeof r->admin_url, "%s", o->admin_url ? o->admin_url : "");
	snprintf(r->proxy_url, sizeof r->proxy_url, "%s", o->proxy_url ? o->proxy_url : "");
	snprintf(r->status_url, sizeof r->status_url, "%s", o->status_url ? o->status_url : "");
	snprintf(r->join_peer, sizeof r->join_peer, "%s", o->join_peer ? o->join_peer : "");
	snprintf(r->join_secret, sizeof r->join_secret, "%s",
		 o->join_secret != NULL && o->join_peer != NULL ? o->join_secret : "");
	r->write_timeout_ms = o->write_timeout_ms ? o->write_timeout_ms : 2000;
	r->voters = o->voters > 0 ? o->voters : 3;
	r->election_timeout_ms = o->election_timeout_ms ? o->election_timeout_ms : 1000;
	r->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : GW_RAFT_DEFAULT_HEARTBEAT_MS;
	r->snapshot_threshold = o->snapshot_threshold ? o->snapshot_threshold : 1024;
	r->snapshot_trailing = o->snapshot_trailing ? o->snapshot_trailing : 512;
	r->replace_voter_ms = o->replace_voter_ms ? o->replace_voter_ms : 30000;
	r->on_terminate = o->on_terminate;
	r->terminate_data = o->terminate_data;
	r->last_state = RAFT_UNAVAILABLE;
	list_init(&r->proposals);
	list_init(&r->barriers);
	list_init(&r->calls);
	list_init(&r->waiters);
	list_init(&r->defers);
	list_init(&r->mtasks);
	if (r->heartbeat_ms >= r->election_timeout_ms) {
		r->heartbeat_ms = r->election_timeout_ms / 10 ? r->election_timeout_ms / 10 : 1;
	}

	rv = gw_raft__identity_load(r->data_dir, &r->ident);
	if (rv == GW_ENOTFOUND) {
		if (dir_has_files(r->raft_dir) || gw_store_applied_index(r->store) > 0) {
			gw_errorf(
			    "raft",
			    "data dir %s holds raft or store data but no identity file: "
			    "refusing to start (restore %s/identity or use an empty data dir)",
			    r->data_dir, r->data_dir);
			rv = GW_ECORRUPT;
			goto err_after_alloc;
		}
		r->ident.node_id = gw_raft__random_id();
		if (r->join_peer[0] != '\0') {
			if (o->join_secret == NULL || o->join_secret[0] == '\0') {
				rv = GW_EINVAL;
				goto err_after_alloc;
			}
			snprintf(r->ident.secret, sizeof r->ident.secret, "%s", o->join_secret);
			r->join = JOIN_INFO;
			gw_infof("raft", "joining the cluster through %s as %016" PRIx64,
				 r->join_peer, r->ident.node_id);
		} else {
			r->ident.cluster_id = gw_raft__random_id();
			r->ident.origin = GW_ORIGIN_BOOTSTRAP;
			gw_raft__random_secret(r->ident.secret, sizeof r->ident.secret);
			rv = gw_raft__identity_save(r->data_dir, &r->ident);
			if (rv != 0) {
				goto err_after_alloc;
			}
			snprintf(secret_path, sizeof secret_path, "%s/join-secret", r->data_dir);
			gw_infof("raft",
				 "bootstrapping a new cluster %016" PRIx64 "; join secret in %s "
				 "(mode 0600)",
				 r->ident.cluster_id, secret_path);
			rv = raft_setup(r, true);
			if (rv != 0) {
				goto err_after_setup;
			}
		}
	} else if (rv == 0) {
		if (r->ident.origin == GW_ORIGIN_JOIN && !dir_has_files(r->raft_dir) &&
		    gw_store_applied_index(r->store) > 0) {
			gw_errorf("raft",
				  "data dir %s: the raft log is missing (%s is empty) while "
				  "the store holds data: refusing to start",
				  r->data_dir, r->raft_dir);
			rv = GW_ECORRUPT;
			goto err_after_alloc;
		}
		if (r->ident.origin == GW_ORIGIN_BOOTSTRAP && !dir_has_files(r->raft_dir) &&
		    gw_store_applied_index(r->store) > 0) {
			gw_errorf("raft",
				  "data dir %s: the raft log is missing (%s is empty) while "
				  "the store holds data: refusing to re-bootstrap",
				  r->data_dir, r->raft_dir);
			rv = GW_ECORRUPT;
			goto err_after_alloc;
		}
		if (o->join_secret != NULL && o->join_secret[0] != '\0' &&
		    strcmp(o->join_secret, r->ident.secret) != 0) {
			gw_warnf("raft",
				 "--join-secret differs from %s/join-secret: using the file",
				 r->data_dir);
		}
		rv = raft_setup(r, r->ident.origin == GW_ORIGIN_BOOTSTRAP);
		if (rv != 0) {
			goto err_after_setup;
		}
		if (r->join_peer[0] != '\0') {
			/* Rerunning `apigw join`: check the peer is in our cluster;
			 * after a crash mid-join, finish the join. A member already in
			 * the configuration restarts at once and does not depend on
			 * the peer (it may be long gone). */
			const struct raft_server *me = conf_get(r, r->ident.node_id);
			r->join = JOIN_INFO;
			/* A spare (added, crashed before its role was assigned) is
			 * not a member yet: it asks again. */
			r->join_member = me != NULL && me->role != RAFT_SPARE;
		}
	} else {
		goto err_after_alloc;
	}
	r->join_started = now_ms(r);
	timer_init(r, &r->tick, r);
	uv_timer_start(&r->tick, tick_cb, 0, TICK_MS);
	*out = r;
	return 0;

err_after_setup:
	if (r->raft_running) {
		/* raft must be closed on the loop: free it from its close callback. */
		r->stopping = true;
		r->stop_continued = true;
		r->stop_requested = true; /* nobody else will: free it when closed */
		raft_close(&r->raft, raft_closed_cb);
		return rv;
	}
err_after_alloc:
	free(r);
	return rv;
}

/* ---- stop -------------------------------------------------------------- */

static void maybe_finish(struct gw_raft *r)
{
	void (*cb)(void *) = r->stop_cb;

	if (!r->stopping || !r->stop_continued || r->finished || !r->stop_requested) {
		return;
	}
	if (r->raft_running && !r->raft_closed) {
		return;
	}
	if (r->n_handles > 0) {
		return;
	}
	r->finished = true;
	free(r->leases);
	if (cb != NULL) {
		cb(r->stop_data);
	}
	free(r);
}

static void stop_continue(struct gw_raft *r)
{
	struct list *e;

	if (r->stop_continued) {
		return;
	}
	r->stop_continued = true;
	uv_timer_stop(&r->stop_timer);
	uv_close((uv_handle_t *)&r->stop_timer, handle_closed);
	uv_timer_stop(&r->tick);
	uv_close((uv_handle_t *)&r->tick, handle_closed);
	while (!list_empty(&r->calls)) {
		call_finish(CONTAINER(r->calls.next, struct call, link), GW_ESHUTDOWN, NULL);
	}
	while (!list_empty(&r->waiters)) {
		waiter_finish(CONTAINER(r->waiters.next, struct waiter, link), GW_ESHUTDOWN);
	}
	while (!list_empty(&r->defers)) {
		struct defer *d = CONTAINER(r->defers.next, struct defer, link);
		uv_timer_stop(&d->timer);
		defer_fire(d);
	}
	/* r->mtask_cur: its raft change completes (with an error) when raft
	 * closes, which answers it. */
	while (!list_empty(&r->mtasks)) {
		struct mtask *t = CONTAINER(r->mtasks.next, struct mtask, link);
		list_del(&t->link);
		mtask_done(t, GW_ESHUTDOWN);
	}
	for (e = r->proposals.next; e != &r->proposals; e = e->next) {
		proposal_user(CONTAINER(e, struct proposal, link), GW_ESHUTDOWN);
	}
	while (!list_empty(&r->barriers)) {
		barrier_wait_finish(CONTAINER(r->barriers.next, struct barrier_wait, link),
				    GW_ESHUTDOWN, 0);
	}
	if (r->barrier_inflight != NULL) {
		/* Its readers hear now; the group is freed when raft completes it. */
		struct barrier_group *g = r->barrier_inflight;
		while (!list_empty(&g->waits)) {
			barrier_wait_finish(CONTAINER(g->waits.next, struct barrier_wait, link),
					    GW_ESHUTDOWN, 0);
		}
	}
	if (r->raft_running) {
		raft_close(&r->raft, raft_closed_cb);
	} else {
		maybe_finish(r);
	}
}

static void stop_transfer_done(struct gw_raft *r)
{
	stop_continue(r);
}

static void stop_timer_cb(uv_timer_t *t)
{
	stop_continue(t->data);
}

void gw_raft__halt(struct gw_raft *r, int err)
{
	if (r->halt_pending || r->halted) {
		return;
	}
	r->halt_pending = true;
	gw_errorf("raft",
		  "the store cannot apply committed entries (%s): this node's control plane "
		  "halts (writes fail, raft closed); the proxy keeps serving its last config. "
		  "Fix the data dir's disk and restart the node: the raft log replays what is "
		  "missing",
		  gw_strerror(err));
}

bool gw_raft__halted(const struct gw_raft *r)
{
	return r->halt_pending || r->halted;
}

/* The tick after a store failure: close raft for good, fail everything that
 * waits, but keep the struct for the callers that still hold it. */
static void halt_now(struct gw_raft *r)
{
	r->halted = true;
	r->stopping = true;
	timer_init(r, &r->stop_timer, r); /* stop_continue closes it */
	stop_continue(r);
}

void gw_raft_stop(struct gw_raft *r, void (*cb)(void *data), void *data)
{
	r->stop_cb = cb;
	r->stop_data = data;
	r->stop_requested = true;
	if (r->halted) {
		/* raft is closed or closing already; free once it is. */
		maybe_finish(r);
		return;
	}
	timer_init(r, &r->stop_timer, r);
	if (r->raft_running && raft_state(&r->raft) == RAFT_LEADER && conf_voters(r) > 1 &&
	    !r->transferring && transfer_start(r, stop_transfer_done) == 0) {
		r->stopping = true;
		uv_timer_start(&r->stop_timer, stop_timer_cb, 2 * r->election_timeout_ms, 0);
		return;
	}
	r->stopping = true;
	stop_continue(r);
}
