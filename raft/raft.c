/* raft.c: the node's raft life cycle (see raft.h): start, tick, status,
 * stop and halt.
 *
 * Happy path: gw_raft_start loads the identity (or creates one and
 * bootstraps a one-node cluster, or fetches the cluster's identity from a
 * peer to join: join.c), sets up raft_uv + TCP in <data-dir>/raft and starts
 * raft; the store already serves its committed data. A 100 ms tick watches
 * the raft state: a new leader reloads lease deadlines at full TTL (lease.c),
 * pings the members and promotes standbys while voters are missing
 * (member.c, membership.c); every node keeps its own member metadata
 * ("member/<id>" JSON) current in the store.
 *
 * The rest of raft/ is split by concern: forward.c (calls to the leader or
 * a given member), propose.c, barrier.c (read index), lease.c, member.c
 * (metadata, health, leader duty), membership.c (changes one at a time,
 * remove, leadership transfer), join.c (the joining node's side) and
 * endpoints.c (the only file that knows HTTP: the internal endpoints).
 *
 * Ownership: every pending operation is a heap struct with a uv timer; it
 * is freed only in the timer's close callback, after raft (or the HTTP
 * client) has released it. gw_raft_stop waits for all of them. Threads: the
 * control loop only. */
#include "config.h"

#include "lib/err.h"
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

#define TICK_MS        100
#define LEADER_DUTY_MS 1000 /* pings, promotions */
#define META_CHECK_MS  2000 /* own member metadata */

static void defers_stop(struct gw_raft *r);

/* The life cycle (raft_int.h): which moves are legal. */
static const char *const life_names[GW_RAFT__LIFE_N] = {
    [GW_RAFT__LIFE_RUNNING] = "running",           [GW_RAFT__LIFE_HALT_PENDING] = "halt-pending",
    [GW_RAFT__LIFE_HANDING_OVER] = "handing-over", [GW_RAFT__LIFE_HALTED] = "halted",
    [GW_RAFT__LIFE_CLOSING] = "closing",           [GW_RAFT__LIFE_FINISHED] = "finished",
};
static const uint32_t life_allowed[GW_RAFT__LIFE_N] = {
    [GW_RAFT__LIFE_RUNNING] = GW_SM_BIT(GW_RAFT__LIFE_HALT_PENDING) |
			      GW_SM_BIT(GW_RAFT__LIFE_HANDING_OVER) |
			      GW_SM_BIT(GW_RAFT__LIFE_CLOSING),
    [GW_RAFT__LIFE_HALT_PENDING] = GW_SM_BIT(GW_RAFT__LIFE_HALTED) |
				   GW_SM_BIT(GW_RAFT__LIFE_HANDING_OVER) |
				   GW_SM_BIT(GW_RAFT__LIFE_CLOSING),
    [GW_RAFT__LIFE_HANDING_OVER] = GW_SM_BIT(GW_RAFT__LIFE_CLOSING),
    [GW_RAFT__LIFE_HALTED] = GW_SM_BIT(GW_RAFT__LIFE_CLOSING),
    [GW_RAFT__LIFE_CLOSING] = GW_SM_BIT(GW_RAFT__LIFE_FINISHED),
    [GW_RAFT__LIFE_FINISHED] = 0,
};
static const struct gw_sm_conf life_conf = {"raft", life_names, life_allowed, GW_RAFT__LIFE_N};
static void halt_now(struct gw_raft *r);

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

void gw_raft__handle_closed(uv_handle_t *h)
{
	struct gw_raft *r = h->data;
	r->n_handles--;
	gw_raft__maybe_finish(r);
}

void gw_raft__timer_init(struct gw_raft *r, uv_timer_t *t, void *data)
{
	uv_timer_init(r->loop, t);
	t->data = data;
	r->n_handles++;
}

/* ---- deferred callbacks ------------------------------------------------ */

/* Callbacks that must not run from inside the public call that failed. */
struct defer {
	uv_timer_t timer;
	struct gw_raft *r;
	struct gw_list link;
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
	gw_raft__maybe_finish(r);
}

static void defer_fire(struct defer *d)
{
	gw_raft_propose_cb pcb = d->pcb;
	gw_raft_barrier_cb bcb = d->bcb;
	gw_raft_keepalive_cb kcb = d->kcb;

	gw_list_del(&d->link);
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

int gw_raft__defer(struct gw_raft *r, gw_raft_propose_cb pcb, gw_raft_barrier_cb bcb,
		   gw_raft_keepalive_cb kcb, void *data, int err, int64_t ttl)
{
	struct defer *d;

	GW_ASSERT((pcb != NULL) + (bcb != NULL) + (kcb != NULL) == 1);
	d = calloc(1, sizeof *d);
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
	gw_list_add_tail(&r->defers, &d->link);
	uv_timer_start(&d->timer, defer_timer_cb, 0, 0);
	return 0;
}

/* Run every deferred callback now (stop): each hears its error at once. */
static void defers_stop(struct gw_raft *r)
{
	while (!gw_list_empty(&r->defers)) {
		struct defer *d = gw_container_of(r->defers.next, struct defer, link);
		uv_timer_stop(&d->timer);
		defer_fire(d);
	}
}
/* ---- status ------------------------------------------------------------ */

bool gw_raft_joining(struct gw_raft *r)
{
	return gw_sm_in(&r->join, GW_SM_BIT(GW_RAFT__JOIN_ENROLL) | GW_SM_BIT(GW_RAFT__JOIN_INFO) |
				      GW_SM_BIT(GW_RAFT__JOIN_REQUEST)) &&
	       !r->join_member;
}

enum gw_raft_role gw_raft__map_role(int role)
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
	snprintf(out->name, sizeof out->name, "%s", r->self.name);
	out->revision = gw_store_revision(r->store);
	out->applied_index = gw_store_applied_index(r->store);
	out->role = GW_ROLE_SPARE;
	out->halted = gw_raft__halted(r);
	out->commit_nudges = r->nudges;
	out->check_rounds = r->check_rounds;
	out->check_mismatches = r->check_mismatch;
	if (!r->raft_running || gw_raft__stopping(r)) {
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
	self = gw_raft__conf_get(r, r->ident.node_id);
	if (self != NULL) {
		out->role = gw_raft__map_role(self->role);
	}
	for (i = 0; i < r->raft.configuration.n && out->n_members < GW_RAFT_MAX_MEMBERS; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct gw_raft_member *m = &out->members[out->n_members++];
		gw_raft__member_load(r, s->id, m);
		m->id = s->id;
		snprintf(m->raft_address, sizeof m->raft_address, "%s", s->address);
		m->role = gw_raft__map_role(s->role);
		if (out->state == GW_STATE_LEADER) {
			m->reachable = gw_raft__reachable(r, s->id);
			m->reachable_known = true;
		} else if (r->view_at != 0 &&
			   gw_raft__now(r) - r->view_at < 2 * GW_RAFT__REACHABLE_MS) {
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
	{
		/* served.c: what this node's proxy serves, and how far behind */
		int64_t served = gw_raft_served_local(r);
		cJSON_AddNumberToObject(o, "served_revision", (double)served);
		cJSON_AddNumberToObject(
		    o, "revision_lag",
		    (double)(served >= 0 && st->revision > served ? st->revision - served : 0));
	}
	cJSON_AddBoolToObject(o, "has_quorum", st->has_quorum);
	cJSON_AddNumberToObject(o, "voters_wanted", r->voters);
	cJSON_AddNumberToObject(o, "commit_nudges", (double)r->nudges);
	cJSON_AddNumberToObject(o, "commit_nudges_skipped", (double)r->nudges_skipped);
	{
		cJSON *cc = cJSON_AddObjectToObject(o, "consistency");
		uint64_t *ids = NULL;
		size_t n = 0, k;
		if (cc != NULL) {
			cJSON *al;
			cJSON_AddNumberToObject(cc, "interval_ms", r->check_ms);
			cJSON_AddNumberToObject(cc, "rounds", (double)r->check_rounds);
			cJSON_AddNumberToObject(cc, "equal", (double)r->check_equal);
			cJSON_AddNumberToObject(cc, "skipped", (double)r->check_skipped);
			cJSON_AddNumberToObject(cc, "mismatches", (double)r->check_mismatch);
			al = cJSON_AddArrayToObject(cc, "corrupt_alarms");
			if (al != NULL && gw_raft_corrupt_alarms(r, &ids, &n) == 0) {
				for (k = 0; k < n; k++) {
					snprintf(hex, sizeof hex, "%016" PRIx64, ids[k]);
					cJSON_AddItemToArray(al, cJSON_CreateString(hex));
				}
			}
			free(ids);
		}
	}
	gw_raft__transport_json(&r->transport, cJSON_AddObjectToObject(o, "transport"));
	gw_raft__calls_json(r, cJSON_AddObjectToObject(o, "peer_calls"));
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

/* ---- periodic work ----------------------------------------------------- */

void gw_raft__terminate(struct gw_raft *r, int err)
{
	void (*cb)(void *data, int err) = r->on_terminate;

	if (cb == NULL || gw_raft__stopping(r)) {
		return;
	}
	r->on_terminate = NULL; /* at most once */
	cb(r->terminate_data, err);
}

static void tick_cb(uv_timer_t *t)
{
	struct gw_raft *r = t->data;
	uint64_t now = gw_raft__now(r);
	int state;

	switch (gw_sm_state(&r->life)) {
	case GW_RAFT__LIFE_RUNNING:
		break;
	case GW_RAFT__LIFE_HALT_PENDING:
		halt_now(r);
		return;
	default:
		return;
	}
	gw_raft__join_tick(r);
	gw_raft__pki_tick(r);
	if (!r->raft_running) {
		return;
	}
	gw_raft__peers_observe(r);
	gw_raft__leader_seen(r, now);
	state = raft_state(&r->raft);
	if (state != r->last_state) {
		if (state == RAFT_LEADER) {
			gw_infof("raft", "became leader for term %llu",
				 (unsigned long long)raft_current_term(&r->raft));
			r->n_health = 0;
			gw_raft__leases_load(r);
			r->next_meta_check = 0;
			r->next_leader_duty = 0;
		} else if (r->last_state == RAFT_LEADER) {
			gw_warnf("raft", "lost leadership (now %s)", raft_state_name(state));
			r->leases_loaded = false;
			r->leases.n = 0;
			gw_raft__mtask_kick(r);
		}
		r->last_state = state;
	}
	if (gw_raft__conf_get(r, r->ident.node_id) != NULL) {
		r->was_member = true;
	}
	if (state == RAFT_LEADER) {
		if (!r->leases_loaded) {
			gw_raft__leases_load(r);
		}
		gw_raft__leases_tick(r);
		if (r->mtask_retry && r->mtask_cur == NULL) {
			r->mtask_retry = false;
			gw_raft__mtask_kick(r);
		}
		if (now >= r->next_leader_duty) {
			r->next_leader_duty = now + LEADER_DUTY_MS;
			gw_raft__leader_duty(r);
		}
		gw_raft__consistency_tick(r);
		if (now >= r->next_token_sweep) {
			r->next_token_sweep = now + r->token_sweep_ms;
			gw_raft__token_sweep(r);
		}
	}
	if (now >= r->next_meta_check) {
		r->next_meta_check = now + META_CHECK_MS;
		gw_raft__meta_check(r);
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
	gw_raft__transport_close(&r->transport);
	r->raft_running = false; /* closed */
	gw_raft__maybe_finish(r);
}

static uint64_t current_term(void *data)
{
	struct gw_raft *r = data;

	return r->raft_running ? raft_current_term(&r->raft) : 0;
}

/* Set up raft_uv, our transport (transport.c) and raft; bootstrap if asked;
 * start. */
int gw_raft__setup(struct gw_raft *r, bool bootstrap)
{
	struct gw_raft__transport_opts topts = {0};
	struct raft_configuration conf;
	int rv;

	if (mkdir(r->raft_dir, 0700) != 0 && errno != EEXIST) {
		gw_errorf("raft", "cannot create %s: %s", r->raft_dir, strerror(errno));
		return GW_EIO;
	}
	memset(&r->transport, 0, sizeof r->transport);
	topts.stall_ms = r->election_timeout_ms;
	topts.term = current_term;
	topts.term_data = r;
	topts.tls = r->tls;
	topts.allowed = gw_raft__peer_allowed;
	topts.allowed_data = r;
	rv = gw_raft__transport_init(&r->transport, r->loop, &topts);
	if (rv != 0) {
		gw_errorf("raft", "raft transport: %s", gw_strerror(rv));
		return rv;
	}
	memset(&r->io, 0, sizeof r->io);
	rv = raft_uv_init(&r->io, r->loop, r->raft_dir, &r->transport);
	if (rv != 0) {
		gw_errorf("raft",
			  "cannot use %s for the raft log: %s (raft probes the filesystem for "
			  "direct and async I/O; FUSE, 9p and NFS mounts fail that probe: put the "
			  "data dir on a local filesystem such as ext4, xfs or tmpfs)",
			  r->raft_dir, r->io.errmsg[0] ? r->io.errmsg : raft_strerror(rv));
		gw_raft__transport_close(&r->transport);
		return GW_EIO;
	}
	raft_uv_set_connect_retry_delay(&r->io, 250);
	gw_raft__fsm_init(&r->fsm, r);
	rv = raft_init(&r->raft, &r->io, &r->fsm, r->ident.node_id, r->self.raft_address);
	if (rv != 0) {
		gw_errorf("raft",
			  "cannot start raft in %s: %s (FUSE, 9p and NFS mounts fail "
			  "raft's filesystem probe: use a local filesystem)",
			  r->raft_dir, raft_errmsg(&r->raft));
		raft_uv_close(&r->io);
		gw_raft__transport_close(&r->transport);
		return GW_EIO;
	}
	r->raft.data = r;
	r->raft_running = true;
	gw_raft__io_guard(r);
	raft_set_election_timeout(&r->raft, r->election_timeout_ms);
	raft_set_heartbeat_timeout(&r->raft, r->heartbeat_ms);
	raft_set_snapshot_threshold(&r->raft, r->snapshot_threshold);
	r->snap_threshold = r->snapshot_threshold;
	raft_set_snapshot_trailing(&r->raft, r->snapshot_trailing);
	raft_set_pre_vote(&r->raft, true);
	if (bootstrap) {
		raft_configuration_init(&conf);
		rv = raft_configuration_add(&conf, r->ident.node_id, r->self.raft_address,
					    RAFT_VOTER);
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
			  r->self.raft_address, raft_strerror(rv),
			  raft_errmsg(&r->raft)[0] ? ": " : "", raft_errmsg(&r->raft));
		return rv == RAFT_CORRUPT ? GW_ECORRUPT : GW_EIO;
	}
	gw_infof("raft",
		 "member %016" PRIx64 " of cluster %016" PRIx64
		 " started on %s (store applied index %llu, revision %lld)",
		 r->ident.node_id, r->ident.cluster_id, r->self.raft_address,
		 (unsigned long long)gw_store_applied_index(r->store),
		 (long long)gw_store_revision(r->store));
	return 0;
}

/* Copy the options into @r, with defaults, and set up the empty state. */
static void opts_apply(struct gw_raft *r, const struct gw_raft_opts *o)
{
	r->loop = o->loop;
	r->store = o->store;
	snprintf(r->data_dir, sizeof r->data_dir, "%s", o->data_dir);
	snprintf(r->raft_dir, sizeof r->raft_dir, "%s/raft", o->data_dir);
	snprintf(r->self.name, sizeof r->self.name, "%s", o->name ? o->name : "");
	snprintf(r->self.raft_address, sizeof r->self.raft_address, "%s", o->raft_address);
	snprintf(r->self.etcd_url, sizeof r->self.etcd_url, "%s", o->etcd_url ? o->etcd_url : "");
	snprintf(r->self.admin_url, sizeof r->self.admin_url, "%s",
		 o->admin_url ? o->admin_url : "");
	snprintf(r->self.proxy_url, sizeof r->self.proxy_url, "%s",
		 o->proxy_url ? o->proxy_url : "");
	snprintf(r->self.status_url, sizeof r->self.status_url, "%s",
		 o->status_url ? o->status_url : "");
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
	r->check_ms = o->consistency_check_ms == 0          ? GW_RAFT_DEFAULT_CHECK_MS
		      : o->consistency_check_ms == UINT_MAX ? 0
							    : o->consistency_check_ms;
	r->next_check = r->check_ms; /* not in the first moments after start */
	r->test_corrupt_hash = o->test_corrupt_hash;
	r->test_snapshot_load_delay_ms = o->test_snapshot_load_delay_ms;
	r->token_sweep_ms = o->token_sweep_ms ? o->token_sweep_ms : 600000;
	r->token_grace_s = o->token_grace_s;
	r->peer_tls_off = o->peer_tls_off;
	r->on_terminate = o->on_terminate;
	r->terminate_data = o->terminate_data;
	r->last_state = RAFT_UNAVAILABLE;
	gw_sm_init(&r->life, &life_conf, GW_RAFT__LIFE_RUNNING);
	gw_raft__join_init(r);
	r->refusal_log = (struct gw_ratelimit)GW_RATELIMIT_INIT(10000, 5);
	gw_list_init(&r->proposals);
	gw_list_init(&r->barriers);
	gw_list_init(&r->calls);
	gw_list_init(&r->waiters);
	gw_list_init(&r->defers);
	gw_list_init(&r->mtasks);
	if (r->heartbeat_ms >= r->election_timeout_ms) {
		r->heartbeat_ms = r->election_timeout_ms / 10 ? r->election_timeout_ms / 10 : 1;
	}
}

/* An empty data dir: join (raft starts once the peer told the cluster id)
 * or bootstrap a one-node cluster with a new identity. */
static int start_fresh(struct gw_raft *r, const struct gw_raft_opts *o)
{
	char secret_path[PATH_MAX + 16];
	int rv;

	if (dir_has_files(r->raft_dir) || gw_store_applied_index(r->store) > 0) {
		gw_errorf("raft",
			  "data dir %s holds raft or store data but no identity file: refusing to "
			  "start (restore %s/identity or use an empty data dir)",
			  r->data_dir, r->data_dir);
		return GW_ECORRUPT;
	}
	rv = gw_raft__random_id(&r->ident.node_id, "node id");
	if (rv != 0) {
		return rv;
	}
	if (r->join_peer[0] != '\0') {
		if (o->join_token != NULL && o->join_token[0] != '\0') {
			if (gw_raft__token_parse(o->join_token, r->join_token_id,
						 r->join_token_secret, r->join_token_fp) != 0) {
				gw_errorf("raft", "the join token is malformed (want "
						  "apigw1.<id>.<secret>.<CA sha256>)");
				return GW_EINVAL;
			}
		} else if (o->join_secret == NULL || o->join_secret[0] == '\0') {
			return GW_EINVAL;
		} else {
			snprintf(r->ident.secret, sizeof r->ident.secret, "%s", o->join_secret);
		}
		/* Enrollment first: this node gets its certificate. */
		gw_sm_move(&r->join, GW_RAFT__JOIN_ENROLL);
		gw_infof("raft", "joining the cluster through %s as %016" PRIx64, r->join_peer,
			 r->ident.node_id);
		return 0;
	}
	r->ident.origin = GW_ORIGIN_BOOTSTRAP;
	rv = gw_raft__random_id(&r->ident.cluster_id, "cluster id");
	if (rv == 0) {
		rv = gw_raft__random_secret(r->ident.secret, sizeof r->ident.secret);
	}
	if (rv == 0) {
		rv = gw_raft__identity_save(r->data_dir, &r->ident);
	}
	if (rv == 0) {
		rv = gw_raft__pki_bootstrap(r);
	}
	if (rv != 0) {
		return rv;
	}
	snprintf(secret_path, sizeof secret_path, "%s/join-secret", r->data_dir);
	gw_infof("raft",
		 "bootstrapping a new cluster %016" PRIx64 "; join secret in %s (mode 0600)",
		 r->ident.cluster_id, secret_path);
	return gw_raft__setup(r, true);
}

/* A data dir with an identity: restart as that member (never
 * re-bootstrapped), or finish / check a join when `apigw join` is rerun. */
static int start_known(struct gw_raft *r, const struct gw_raft_opts *o)
{
	int rv;

	if (!dir_has_files(r->raft_dir) && gw_store_applied_index(r->store) > 0) {
		gw_errorf("raft",
			  "data dir %s: the raft log is missing (%s is empty) while the store "
			  "holds data: refusing to %s",
			  r->data_dir, r->raft_dir,
			  r->ident.origin == GW_ORIGIN_BOOTSTRAP ? "re-bootstrap" : "start");
		return GW_ECORRUPT;
	}
	if (o->join_secret != NULL && o->join_secret[0] != '\0' &&
	    strcmp(o->join_secret, r->ident.secret) != 0) {
		gw_warnf("raft", "--join-secret differs from %s/join-secret: using the file",
			 r->data_dir);
	}
	rv = gw_raft__pki_load(r);
	if (rv == 0) {
		rv = gw_raft__setup(r, r->ident.origin == GW_ORIGIN_BOOTSTRAP);
	}
	if (rv != 0) {
		return rv;
	}
	if (r->join_peer[0] != '\0') {
		/* Rerunning `apigw join`: check the peer is in our cluster; after a
		 * crash mid-join, finish the join. A member already in the
		 * configuration restarts at once and does not depend on the peer
		 * (it may be long gone). A spare (added, crashed before its role
		 * was assigned) is not a member yet: it asks again. */
		const struct raft_server *me = gw_raft__conf_get(r, r->ident.node_id);
		gw_sm_move(&r->join, GW_RAFT__JOIN_INFO);
		r->join_member = me != NULL && me->role != RAFT_SPARE;
	}
	return 0;
}

/* Before the loop blocks: commit the entries applied in this iteration in one
 * LMDB transaction (see gw_store_set_batching). A failing commit halts the
 * control plane like a failing apply. */
static void flush_cb(uv_prepare_t *p)
{
	struct gw_raft *r = p->data;
	int rv;

	if (!gw_store_dirty(r->store)) {
		return;
	}
	rv = gw_store_flush(r->store);
	if (rv != 0) {
		gw_raft__halt(r, rv);
	}
}

int gw_raft_start(const struct gw_raft_opts *o, struct gw_raft **out)
{
	struct gw_raft *r;
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
	opts_apply(r, o);
	if (r->peer_tls_off) {
		gw_warnf("raft",
			 "*** --peer-tls=off: raft and node-to-node traffic is NEITHER "
			 "ENCRYPTED NOR AUTHENTICATED; anyone who reaches the raft port can "
			 "write the configuration. For debugging only; every member must use "
			 "the same setting ***");
	}
	rv = gw_raft__identity_load(r->data_dir, &r->ident);
	if (rv == GW_ENOTFOUND) {
		rv = start_fresh(r, o);
	} else if (rv == 0) {
		rv = start_known(r, o);
	}
	if (rv != 0) {
		goto err;
	}
	if (o->name_add_id) {
		/* Three nodes on one host must not all be called after it. */
		char base[sizeof r->self.name - 7];
		memcpy(base, r->self.name, sizeof base - 1);
		base[sizeof base - 1] = '\0';
		snprintf(r->self.name, sizeof r->self.name, "%s-%06" PRIx64, base,
			 r->ident.node_id >> 40);
	}
	r->join_started = gw_raft__now(r);
	/* NULL (out of memory) only costs a connection per call. */
	r->peer_pool = gw_httpc_pool_new(r->loop, GW_RAFT__PEER_POOL_IDLE,
					 GW_RAFT__PEER_POOL_IDLE_PER, GW_RAFT__PEER_POOL_IDLE_MS);
	gw_raft__timer_init(r, &r->tick, r);
	uv_timer_start(&r->tick, tick_cb, 0, TICK_MS);
	gw_raft__timer_init(r, &r->nudge_timer, r);
	r->nudge_timer_open = true;
	uv_prepare_init(r->loop, &r->flush_prep);
	r->flush_prep.data = r;
	r->n_handles++;
	r->flush_open = true;
	uv_prepare_start(&r->flush_prep, flush_cb);
	gw_raft__timer_init(r, &r->mtask_timer, r);
	r->mtask_timer_open = true;
	gw_store_set_batching(r->store, true);
	*out = r;
	return 0;

err:
	if (r->raft_running) {
		/* raft must be closed on the loop: free it from its close callback
		 * (CLOSING: nobody else will call gw_raft_stop). */
		gw_sm_move(&r->life, GW_RAFT__LIFE_CLOSING);
		raft_close(&r->raft, raft_closed_cb);
		return rv;
	}
	gw_raft__enroll_release(r);
	gw_peertls_free(r->tls);
	free(r);
	return rv;
}

const char *gw_raft_name(const struct gw_raft *r)
{
	return r->self.name;
}

/* ---- stop -------------------------------------------------------------- */

void gw_raft__maybe_finish(struct gw_raft *r)
{
	void (*cb)(void *) = r->stop_cb;

	GW_ASSERT(r->n_handles >= 0);
	if (gw_sm_state(&r->life) != GW_RAFT__LIFE_CLOSING || r->raft_running || r->n_handles > 0) {
		return;
	}
	gw_sm_move(&r->life, GW_RAFT__LIFE_FINISHED);
	GW_ASSERT(gw_list_empty(&r->calls) && gw_list_empty(&r->waiters) &&
		  gw_list_empty(&r->defers) && gw_list_empty(&r->mtasks) &&
		  gw_list_empty(&r->proposals) && gw_list_empty(&r->barriers));
	gw_raft__lease_table_free(&r->leases);
	if (cb != NULL) {
		cb(r->stop_data);
	}
	gw_raft__enroll_release(r);
	gw_peertls_free(r->tls);
	free(r);
}

/* Fail everything that waits and close raft: @to is CLOSING (gw_raft_stop)
 * or HALTED (the store failed; the struct stays for its callers). Called
 * again once the transfer or its timer ends: a no-op then. */
static void stop_continue(struct gw_raft *r, enum gw_raft__life to)
{
	if (!gw_sm_in(&r->life, GW_SM_BIT(GW_RAFT__LIFE_HANDING_OVER) |
				    GW_SM_BIT(GW_RAFT__LIFE_HALT_PENDING) |
				    GW_SM_BIT(GW_RAFT__LIFE_RUNNING))) {
		return;
	}
	gw_sm_move(&r->life, to);
	uv_timer_stop(&r->stop_timer);
	uv_close((uv_handle_t *)&r->stop_timer, gw_raft__handle_closed);
	uv_timer_stop(&r->tick);
	uv_close((uv_handle_t *)&r->tick, gw_raft__handle_closed);
	gw_raft__nudge_stop(r);
	if (r->flush_open) {
		r->flush_open = false;
		gw_store_set_batching(r->store, false); /* flushes what is pending */
		uv_close((uv_handle_t *)&r->flush_prep, gw_raft__handle_closed);
	}
	if (r->mtask_timer_open) {
		r->mtask_timer_open = false;
		uv_timer_stop(&r->mtask_timer);
		uv_close((uv_handle_t *)&r->mtask_timer, gw_raft__handle_closed);
	}
	gw_raft__calls_stop(r);
	gw_httpc_pool_close(r->peer_pool); /* its connections close on their own */
	r->peer_pool = NULL;
	gw_raft__barriers_stop(r);
	defers_stop(r);
	/* r->mtask_cur: its raft change completes (with an error) when raft
	 * closes, which answers it. */
	gw_raft__mtasks_stop(r);
	gw_raft__proposals_stop(r);
	gw_raft__io_guard_stop(r);
	if (r->raft_running) {
		raft_close(&r->raft, raft_closed_cb);
	} else {
		gw_raft__maybe_finish(r);
	}
}

static void stop_transfer_done(struct gw_raft *r)
{
	stop_continue(r, GW_RAFT__LIFE_CLOSING);
}

static void stop_timer_cb(uv_timer_t *t)
{
	stop_continue(t->data, GW_RAFT__LIFE_CLOSING);
}

void gw_raft__halt(struct gw_raft *r, int err)
{
	if (r->halt_err != 0) {
		return;
	}
	r->halt_err = err; /* from now on the FSM refuses every entry */
	if (gw_sm_state(&r->life) == GW_RAFT__LIFE_RUNNING) {
		gw_sm_move(&r->life, GW_RAFT__LIFE_HALT_PENDING); /* closed on the next tick */
	}
	gw_errorf("raft",
		  "the store cannot apply committed entries (%s): this node's control plane "
		  "halts (writes fail, raft closed); the proxy keeps serving its last config. "
		  "Fix the data dir's disk and restart the node: the raft log replays what is "
		  "missing",
		  gw_strerror(err));
}

bool gw_raft__halted(const struct gw_raft *r)
{
	return r->halt_err != 0;
}

/* The tick after a store failure: close raft for good, fail everything that
 * waits, but keep the struct for the callers that still hold it. */
static void halt_now(struct gw_raft *r)
{
	gw_raft__timer_init(r, &r->stop_timer, r); /* stop_continue closes it */
	stop_continue(r, GW_RAFT__LIFE_HALTED);
}

void gw_raft_stop(struct gw_raft *r, void (*cb)(void *data), void *data)
{
	/* Once per raft: a second call would set up stop_timer again (a bug). */
	GW_ASSERT(gw_sm_in(&r->life, GW_SM_BIT(GW_RAFT__LIFE_RUNNING) |
					 GW_SM_BIT(GW_RAFT__LIFE_HALT_PENDING) |
					 GW_SM_BIT(GW_RAFT__LIFE_HALTED)));
	r->stop_cb = cb;
	r->stop_data = data;
	if (gw_sm_state(&r->life) == GW_RAFT__LIFE_HALTED) {
		/* raft is closed or closing already; free once it is. */
		gw_sm_move(&r->life, GW_RAFT__LIFE_CLOSING);
		gw_raft__maybe_finish(r);
		return;
	}
	gw_raft__timer_init(r, &r->stop_timer, r);
	if (r->raft_running && raft_state(&r->raft) == RAFT_LEADER && gw_raft__conf_voters(r) > 1 &&
	    !r->transferring && gw_raft__transfer_start(r, stop_transfer_done) == 0) {
		gw_sm_move(&r->life, GW_RAFT__LIFE_HANDING_OVER);
		uv_timer_start(&r->stop_timer, stop_timer_cb, 2 * r->election_timeout_ms, 0);
		return;
	}
	stop_continue(r, GW_RAFT__LIFE_CLOSING);
}
