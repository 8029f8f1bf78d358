/* peerauth.c: the raft transport's allow-list (gw_raft__peer_allowed,
 * called with a member id read from a certificate of our cluster CA).
 *
 * Happy path: a member of the current raft configuration (the latest one,
 * committed or not, so a node the leader is adding is admitted before it
 * first connects) or of the last committed one is allowed. A member that
 * was in a configuration this process saw and is in neither any more was
 * removed: refused from then on (the transport also cuts its open
 * connections at its next tick). An id we never saw in a configuration is
 * allowed only while we cannot know better: our configuration is empty (a
 * joining node, until the leader's first entries), we have no leader (we
 * may be behind: a member added while we were away must be able to reach
 * us), or it is the leader we follow. Failure modes: none; the set of
 * removed ids is bounded (the oldest are forgotten) and held in memory, so
 * after a restart a removed member is refused again once we follow a
 * leader. Control loop only. */
#include "config.h"

#include "raft/raft_int.h"

#include <string.h>

static bool in_conf(const struct raft_configuration *conf, uint64_t id)
{
	unsigned i;

	for (i = 0; i < conf->n; i++) {
		if (conf->servers[i].id == id) {
			return true;
		}
	}
	return false;
}

static bool in_either(const struct gw_raft *r, uint64_t id)
{
	return in_conf(&r->raft.configuration, id) || in_conf(&r->raft.configuration_committed, id);
}

static int removed_index(const struct gw_raft *r, uint64_t id)
{
	int i;

	for (i = 0; i < r->n_removed; i++) {
		if (r->removed[i] == id) {
			return i;
		}
	}
	return -1;
}

static void removed_add(struct gw_raft *r, uint64_t id)
{
	if (removed_index(r, id) >= 0) {
		return;
	}
	if (r->n_removed < GW_RAFT__REMOVED_MAX) {
		r->removed[r->n_removed++] = id;
		return;
	}
	memmove(r->removed, r->removed + 1, sizeof r->removed[0] * (GW_RAFT__REMOVED_MAX - 1));
	r->removed[GW_RAFT__REMOVED_MAX - 1] = id;
}

static bool seen_has(const struct gw_raft *r, uint64_t id)
{
	int j;

	for (j = 0; j < r->n_conf_seen; j++) {
		if (r->conf_seen[j] == id) {
			return true;
		}
	}
	return false;
}

static void seen_add(struct gw_raft *r, const struct raft_configuration *conf)
{
	unsigned i;

	for (i = 0; i < conf->n; i++) {
		uint64_t id = conf->servers[i].id;
		if (!seen_has(r, id) && r->n_conf_seen < GW_RAFT__SEEN_MAX) {
			r->conf_seen[r->n_conf_seen++] = id;
		}
	}
}

void gw_raft__peers_observe(struct gw_raft *r)
{
	int i, k;

	if (!r->raft_running) {
		return;
	}
	/* Seen before, in neither configuration now: removed. Back in one:
	 * not removed any more. */
	for (i = 0; i < r->n_conf_seen; i++) {
		if (!in_either(r, r->conf_seen[i])) {
			removed_add(r, r->conf_seen[i]);
		}
	}
	for (i = 0; i < r->n_removed;) {
		if (in_either(r, r->removed[i])) {
			for (k = i; k + 1 < r->n_removed; k++) {
				r->removed[k] = r->removed[k + 1];
			}
			r->n_removed--;
			continue;
		}
		i++;
	}
	r->n_conf_seen = 0;
	seen_add(r, &r->raft.configuration);
	seen_add(r, &r->raft.configuration_committed);
}

bool gw_raft__peer_allowed(void *data, uint64_t id)
{
	struct gw_raft *r = data;
	raft_id leader = 0;
	const char *addr = NULL;

	if (!r->raft_running) {
		return false;
	}
	gw_raft__peers_observe(r);
	if (in_either(r, id)) {
		return true;
	}
	if (removed_index(r, id) >= 0) {
		return false;
	}
	if (r->raft.configuration.n == 0) {
		return true; /* joining: any member of our cluster CA */
	}
	raft_leader(&r->raft, &leader, &addr);
	return leader == 0 || leader == id;
}
