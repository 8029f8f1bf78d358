/* history_retention.c: the age limit of the config history
 * (--history-hours, default 168 = 7 days) beside the store's revision
 * limit (--history-revisions, applied by every member's store at apply).
 *
 * The store keeps no time per revision, and a member's clock cannot
 * decide what every member compacts. So each node samples (its store
 * revision, its wall clock) once per sweep into a ring, and the leader,
 * once per sweep, proposes a COMPACT (through raft: every member compacts
 * the same) to the newest sampled revision older than the limit, if the
 * store has not compacted that far yet. A node keeps only what it sampled
 * itself: after a restart it compacts by age once it has run longer than
 * the limit, so history is kept longer, never shorter.
 * Failure modes: a failed proposal (no quorum, not leader any more) is
 * logged at debug level and retried at the next sweep. Test knobs:
 * APIGW_HISTORY_SWEEP_MS (default 60 s), APIGW_HISTORY_AGE_MS (overrides
 * the flag). Control loop; the struct is freed in its timer's close
 * callback. */
#include "config.h"

#include "node/history.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWEEP_MS_DEFAULT 60000u
#define RING             16384 /* samples: 11 days at one a minute */

struct sample {
	int64_t revision;
	uint64_t at_ms; /* wall clock */
};

struct gw_node_history {
	uv_timer_t timer;
	struct gw_store *store;
	struct gw_raft *raft;
	uint64_t age_ms;
	bool inflight; /* a COMPACT is in raft */
	bool stopping;
	struct sample ring[RING];
	size_t head, n; /* oldest at head */
	void (*stop_cb)(void *data);
	void *stop_data;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void closed(uv_handle_t *handle);

static void compact_done(void *data, int err, struct gw_store_result *res)
{
	struct gw_node_history *h = data;

	h->inflight = false;
	if (err == 0 && res->err == 0) {
		gw_infof("history",
			 "compacted the history older than %" PRIu64 " h up to revision %lld",
			 h->age_ms / 3600000, (long long)gw_store_compact_revision(h->store));
	} else {
		gw_debugf("history", "age compaction: %s (next sweep retries)",
			  gw_strerror(err ? err : res->err));
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	if (h->stopping) {
		uv_close((uv_handle_t *)&h->timer, closed);
	}
}

/* The newest sampled revision older than the age limit, or 0. */
static int64_t cut_revision(const struct gw_node_history *h, uint64_t now)
{
	int64_t rev = 0;
	size_t i;

	for (i = 0; i < h->n; i++) {
		const struct sample *s = &h->ring[(h->head + i) % RING];

		if (s->at_ms + h->age_ms > now) {
			break;
		}
		rev = s->revision;
	}
	return rev;
}

static void sweep(uv_timer_t *t)
{
	struct gw_node_history *h = t->data;
	struct gw_raft_status *st;
	struct gw_store_op op;
	uint64_t now = wall_ms();
	int64_t rev;
	bool leader = false;

	if (h->n == RING) {
		h->head = (h->head + 1) % RING;
		h->n--;
	}
	h->ring[(h->head + h->n) % RING] = (struct sample){gw_store_revision(h->store), now};
	h->n++;
	rev = cut_revision(h, now);
	if (h->inflight || rev <= gw_store_compact_revision(h->store)) {
		return;
	}
	st = malloc(sizeof *st);
	if (st != NULL) {
		gw_raft_status(h->raft, st);
		leader = st->state == GW_STATE_LEADER;
		free(st);
	}
	if (!leader) {
		return;
	}
	memset(&op, 0, sizeof op);
	op.type = GW_OP_COMPACT;
	op.u.compact.revision = rev;
	if (gw_raft_propose(h->raft, &op, 0, compact_done, h) == 0) {
		h->inflight = true;
	}
}

int gw_node_history_start(uv_loop_t *loop, struct gw_store *store, struct gw_raft *raft,
			  uint64_t age_ms, struct gw_node_history **out)
{
	struct gw_node_history *h = calloc(1, sizeof *h);
	const char *env = getenv("APIGW_HISTORY_SWEEP_MS");
	unsigned long every = env && *env ? strtoul(env, NULL, 10) : SWEEP_MS_DEFAULT;

	if (h == NULL) {
		return GW_ENOMEM;
	}
	env = getenv("APIGW_HISTORY_AGE_MS");
	h->store = store;
	h->raft = raft;
	h->age_ms = env && *env ? strtoull(env, NULL, 10) : age_ms;
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	uv_timer_start(&h->timer, sweep, 0, every ? every : SWEEP_MS_DEFAULT);
	*out = h;
	return 0;
}

static void closed(uv_handle_t *handle)
{
	struct gw_node_history *h = handle->data;
	void (*cb)(void *) = h->stop_cb;
	void *data = h->stop_data;

	free(h);
	cb(data);
}

void gw_node_history_stop(struct gw_node_history *h, void (*cb)(void *data), void *data)
{
	h->stopping = true;
	h->stop_cb = cb;
	h->stop_data = data;
	uv_timer_stop(&h->timer);
	if (!h->inflight) {
		uv_close((uv_handle_t *)&h->timer, closed);
	}
}
