/* consistency.c: the leader's periodic check that every member holds the
 * same data (etcd's corruption check), and the CORRUPT alarm.
 *
 * Happy path: every check interval the leader hashes its keyspace at its
 * current revision R (gw_store_hash_kv) and asks each other member for its
 * hash at R (POST /apigw/internal/hashkv); equal hashes are counted.
 * Failure modes: a member that has not applied R yet, or has compacted
 * past it, or does not answer, is skipped this round (counted); a
 * different hash at the same revision means that member's store diverged:
 * it is logged as an error and the CORRUPT alarm is raised for it through
 * raft (meta "alarm/corrupt/<id>"), so every member's Alarm RPC and status
 * show it until an operator disarms it (`etcdctl alarm disarm`). Writes
 * keep working (losing writes to a false alarm would break the promise
 * that only quorum loss freezes them). Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORRUPT_PREFIX GW_RAFT_CORRUPT_ALARM_PREFIX

struct check_ctx {
	struct gw_raft *r;
	uint64_t id;
	int64_t revision;
	uint32_t hash; /* ours at revision */
};

static void alarm_done(void *data, int err, struct gw_store_result *res)
{
	(void)data;
	if (err != 0) {
		gw_warnf("raft", "raising the CORRUPT alarm: %s (the next check retries)",
			 gw_strerror(err));
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
}

int gw_raft_alarm_corrupt(struct gw_raft *r, uint64_t id, bool on)
{
	struct gw_store_op op;
	char key[64];

	snprintf(key, sizeof key, CORRUPT_PREFIX "%016" PRIx64, id);
	memset(&op, 0, sizeof op);
	op.type = on ? GW_OP_META_PUT : GW_OP_META_DELETE;
	op.u.meta.key = key;
	op.u.meta.key_len = strlen(key);
	op.u.meta.value = on ? "1" : NULL;
	op.u.meta.value_len = on ? 1 : 0;
	return gw_raft_propose(r, &op, 0, alarm_done, NULL);
}

int gw_raft_corrupt_alarms(struct gw_raft *r, uint64_t **ids, size_t *n)
{
	char **keys = NULL, **values = NULL;
	size_t i, k = 0, count = 0;
	int rv;

	*ids = NULL;
	*n = 0;
	rv = gw_store_meta_list(r->store, CORRUPT_PREFIX, &keys, &values, &count);
	if (rv != 0) {
		return rv;
	}
	if (count > 0) {
		*ids = calloc(count, sizeof **ids);
		if (*ids == NULL) {
			rv = GW_ENOMEM;
		}
	}
	for (i = 0; i < count; i++) {
		if (*ids != NULL) {
			(*ids)[k++] = strtoull(keys[i] + strlen(CORRUPT_PREFIX), NULL, 16);
		}
		free(keys[i]);
		free(values[i]);
	}
	free(keys);
	free(values);
	*n = k;
	return rv;
}

static void check_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct check_ctx *x = data;
	struct gw_raft *r = x->r;
	unsigned long hash = 0;
	long long rev = 0;

	if (gw_raft__stopping(r)) {
		free(x);
		return;
	}
	if (err != 0 || resp->status != 200 || resp->body.data == NULL ||
	    sscanf(resp->body.data, "{\"hash\":%lu,\"revision\":%lld", &hash, &rev) != 2 ||
	    rev != x->revision) {
		r->check_skipped++; /* behind, compacted past it, or away */
		free(x);
		return;
	}
	if ((uint32_t)hash == x->hash) {
		r->check_equal++;
		free(x);
		return;
	}
	r->check_mismatch++;
	gw_errorf("raft",
		  "consistency check: member %016" PRIx64 " hashes revision %" PRId64
		  " to %08lx, this leader to %08" PRIx32
		  ": its store diverged (raising the CORRUPT alarm; rebuild that member from "
		  "the others: remove it and join it again with an empty data dir)",
		  x->id, x->revision, hash, x->hash);
	gw_raft_alarm_corrupt(r, x->id, true);
	free(x);
}

void gw_raft__consistency_tick(struct gw_raft *r)
{
	uint64_t now = gw_raft__now(r);
	uint32_t hash;
	int64_t rev;
	unsigned i;

	if (r->check_ms == 0 || now < r->next_check) {
		return;
	}
	r->next_check = now + r->check_ms;
	if (!gw_raft__is_leader(r) || r->raft.configuration.n < 2 ||
	    gw_store_hash_kv(r->store, 0, &hash, &rev) != 0) {
		return;
	}
	r->check_rounds++;
	for (i = 0; i < r->raft.configuration.n; i++) {
		const struct raft_server *s = &r->raft.configuration.servers[i];
		struct gw_raft_member m;
		struct check_ctx *x;
		char hp[128], body[64];

		if (s->id == r->ident.node_id || gw_raft__member_load(r, s->id, &m) != 0 ||
		    gw_httpc_url_hostport(m.etcd_url, hp, sizeof hp) != 0) {
			continue;
		}
		x = calloc(1, sizeof *x);
		if (x == NULL) {
			return;
		}
		x->r = r;
		x->id = s->id;
		x->revision = rev;
		x->hash = hash;
		snprintf(body, sizeof body, "{\"revision\":%" PRId64 "}", rev);
		if (gw_raft__call(r, hp, "POST", "/apigw/internal/hashkv", body, strlen(body),
				  r->write_timeout_ms, false, check_done, x) != 0) {
			free(x);
		}
	}
}

int gw_raft__hashkv_local(struct gw_raft *r, int64_t revision, uint32_t *hash)
{
	int64_t at;
	int rv;

	if (revision <= 0 || gw_store_revision(r->store) < revision) {
		return GW_EFUTUREREV; /* not applied yet: the leader skips us */
	}
	rv = gw_store_hash_kv(r->store, revision, hash, &at);
	if (rv == 0 && r->test_corrupt_hash) {
		*hash ^= 1; /* test hook: play a diverged store */
	}
	return rv;
}
