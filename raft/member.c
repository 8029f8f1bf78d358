/* member.c: member metadata and health. Every node publishes its URLs as
 * "member/<id>" JSON in the store's meta space (meta_check keeps it current);
 * the leader pings every member each second (leader_duty), tells everyone
 * whom it hears from, promotes a healthy standby while voters are missing and
 * demotes a voter unreachable for replace_voter_ms when a standby can take
 * its place. The choice (gw_raft__choice_*) and the parser of the view a
 * ping carries are pure functions, unit-tested on their own. Failure modes:
 * an unanswered ping only ages the member's last_ok; metadata that does not
 * parse reads as GW_EPROTO; a malformed view is ignored. Control loop.
 */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- member metadata --------------------------------------------------- */

void gw_raft__member_key(uint64_t id, char *out, size_t len)
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
int gw_raft__member_load(struct gw_raft *r, uint64_t id, struct gw_raft_member *m)
{
	char key[64], *val = NULL;
	size_t len = 0;
	int rv;

	memset(m, 0, sizeof *m);
	m->id = id;
	gw_raft__member_key(id, key, sizeof key);
	rv = gw_store_meta_get(r->store, key, &val, &len);
	if (rv != 0) {
		return rv;
	}
	rv = member_parse(val, m);
	free(val);
	return rv;
}

/* @m's metadata as the JSON every member stores under "member/<id>". */
static char *member_json(uint64_t id, const struct gw_raft_member *m)
{
	cJSON *o = cJSON_CreateObject();
	char idhex[32], *s;

	if (o == NULL) {
		return NULL;
	}
	snprintf(idhex, sizeof idhex, "%016" PRIx64, id);
	cJSON_AddStringToObject(o, "id", idhex);
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "raft_address", m->raft_address);
	cJSON_AddStringToObject(o, "etcd_url", m->etcd_url);
	cJSON_AddStringToObject(o, "admin_url", m->admin_url);
	cJSON_AddStringToObject(o, "proxy_url", m->proxy_url);
	cJSON_AddStringToObject(o, "status_url", m->status_url);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

char *gw_raft__self_json(struct gw_raft *r)
{
	return member_json(r->ident.node_id, &r->self);
}

/* "host:port" of the leader's etcd listener, or GW_ENOLEADER. */
const struct raft_server *gw_raft__conf_get(struct gw_raft *r, uint64_t id)
{
	unsigned i;
	for (i = 0; i < r->raft.configuration.n; i++) {
		if (r->raft.configuration.servers[i].id == id) {
			return &r->raft.configuration.servers[i];
		}
	}
	return NULL;
}

int gw_raft__conf_voters(struct gw_raft *r)
{
	unsigned i;
	int n = 0;
	for (i = 0; i < r->raft.configuration.n; i++) {
		n += r->raft.configuration.servers[i].role == RAFT_VOTER;
	}
	return n;
}

struct gw_raft__health *gw_raft__health_get(struct gw_raft *r, uint64_t id, bool create)
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
	r->health[r->n_health].last_ok = gw_raft__now(r);
	r->health[r->n_health].pinging = false;
	return &r->health[r->n_health++];
}

bool gw_raft__reachable(struct gw_raft *r, uint64_t id)
{
	struct gw_raft__health *h;
	if (id == r->ident.node_id) {
		return true;
	}
	h = gw_raft__health_get(r, id, false);
	return h != NULL && gw_raft__now(r) - h->last_ok < GW_RAFT__REACHABLE_MS;
}

int gw_raft__view_parse(const char *s, struct gw_raft__health *out, int max)
{
	struct gw_raft__health v[GW_RAFT_MAX_MEMBERS];
	int n = 0;

	if (max > GW_RAFT_MAX_MEMBERS) {
		max = GW_RAFT_MAX_MEMBERS;
	}
	while (*s != '\0' && n < max) {
		char *end;
		uint64_t id = strtoull(s, &end, 16);
		if (end == s || *end != '=' || (end[1] != '0' && end[1] != '1')) {
			return GW_EPROTO;
		}
		v[n].id = id;
		v[n].last_ok = end[1] == '1';
		v[n].pinging = false;
		n++;
		s = end + 2;
		if (*s == ',') {
			s++;
		}
	}
	if (n > 0) {
		memcpy(out, v, (size_t)n * sizeof *v);
	}
	return n;
}

struct ping_ctx {
	struct gw_raft *r;
	uint64_t id;
};

static void ping_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct ping_ctx *x = data;
	struct gw_raft__health *h = gw_raft__health_get(x->r, x->id, false);

	if (h != NULL) {
		h->pinging = false;
		if (err == 0 && resp->status == 200) {
			h->last_ok = gw_raft__now(x->r);
		}
	}
	free(x);
}

void gw_raft__choice_consider(struct gw_raft__choice *c, uint64_t id, int role,
			      const struct gw_raft__health *h, uint64_t now,
			      unsigned replace_voter_ms)
{
	if (role != RAFT_VOTER && c->promote == 0 && now - h->last_ok < GW_RAFT__REACHABLE_MS &&
	    now - h->last_ok < GW_RAFT__REACHABLE_MS / 2) {
		c->promote = id;
	}
	if (role == RAFT_VOTER && c->demote == 0 && now - h->last_ok > replace_voter_ms) {
		c->demote = id;
	}
}

int gw_raft__choice_task(const struct gw_raft__choice *c, int voters, int wanted, bool busy,
			 uint64_t *id)
{
	/* Keep the wanted number of voters: promote a healthy standby. */
	if (c->promote != 0 && voters < wanted && !busy) {
		*id = c->promote;
		return GW_RAFT__MT_PROMOTE;
	}
	if (c->promote != 0 && c->demote != 0 && !busy) {
		/* Losing a voter: make room for the healthy standby. */
		*id = c->demote;
		return GW_RAFT__MT_DEMOTE;
	}
	return -1;
}

void gw_raft__leader_duty(struct gw_raft *r)
{
	unsigned i;
	struct gw_raft__choice choice = {0, 0};
	struct gw_buf view;
	uint64_t id = 0;
	int task;

	/* What this leader hears, told to everyone with the pings. */
	gw_buf_init(&view);
	for (i = 0; i < r->raft.configuration.n; i++) {
		uint64_t sid = r->raft.configuration.servers[i].id;
		gw_buf_printf(&view, "%s%016" PRIx64 "=%d", i ? "," : "", sid,
			      gw_raft__reachable(r, sid));
	}

	for (i = 0; i < r->raft.configuration.n; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct gw_raft_member m;
		struct gw_raft__health *h;
		struct ping_ctx *x;
		char hp[128];

		if (s->id == r->ident.node_id) {
			continue;
		}
		h = gw_raft__health_get(r, s->id, true);
		if (h == NULL || h->pinging || gw_raft__member_load(r, s->id, &m) != 0 ||
		    gw_httpc_url_hostport(m.etcd_url, hp, sizeof hp) != 0) {
			continue;
		}
		gw_raft__choice_consider(&choice, s->id, s->role, h, gw_raft__now(r),
					 r->replace_voter_ms);
		x = calloc(1, sizeof *x);
		if (x == NULL) {
			continue;
		}
		x->r = r;
		x->id = s->id;
		if (gw_raft__call(r, hp, "POST", "/apigw/internal/ping", view.data, view.len,
				  GW_RAFT__PING_TIMEOUT_MS, false, ping_done, x) == 0) {
			h->pinging = true;
		} else {
			free(x);
		}
	}
	gw_buf_close(&view);
	task = gw_raft__choice_task(&choice, gw_raft__conf_voters(r), r->voters,
				    r->mtask_cur != NULL || !gw_list_empty(&r->mtasks), &id);
	if (task >= 0) {
		gw_raft__mtask_enqueue(r, (enum gw_raft__mtask_kind)task, id, NULL, NULL, NULL,
				       NULL);
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
void gw_raft__meta_check(struct gw_raft *r)
{
	struct gw_store_op op;
	char key[64], *want, *have = NULL;
	size_t len = 0;
	raft_id lid = 0;
	const char *la;

	raft_leader(&r->raft, &lid, &la);
	if (r->meta_inflight || lid == 0 || gw_raft__conf_get(r, r->ident.node_id) == NULL) {
		return;
	}
	want = gw_raft__self_json(r);
	if (want == NULL) {
		return;
	}
	gw_raft__member_key(r->ident.node_id, key, sizeof key);
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
