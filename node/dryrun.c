/* dryrun.c: see dryrun.h. */
#include "config.h"

#include "node/dryrun.h"

#include "lib/err.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX     "/apisix/"
#define PREFIX_END "/apisix0"

struct job {
	uv_work_t req;
	struct gw_node_dryrun *d;
	struct gw_range_resp resp; /* the config as stored */
	struct gw_proxy_kv *kvs;   /* into resp */
	struct gw_proxy_kv *changes;
	size_t n_changes;
	void (*done)(void *arg, const struct gw_admin_check *r);
	void *arg;
	int rv;
	struct gw_proxy_dry_run out;
	uint64_t took_ns;
};

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->n_changes; i++) {
		free((char *)j->changes[i].key);
		free((char *)j->changes[i].value);
	}
	free(j->changes);
	free(j->kvs);
	gw_store_range_resp_free(&j->resp);
	gw_proxy_dry_run_free(&j->out);
	free(j);
}

static void work(uv_work_t *req)
{
	struct job *j = req->data;
	uint64_t t0 = uv_hrtime();

	j->rv = gw_proxy_config_dry_run(j->kvs, j->resp.n_kvs, j->changes, j->n_changes,
					j->resp.revision, &j->out);
	j->took_ns = uv_hrtime() - t0;
}

static void after(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct gw_admin_check r;

	memset(&r, 0, sizeof r);
	r.err = status != 0 ? GW_ESHUTDOWN : j->rv;
	if (r.err == 0 && j->out.error != NULL) {
		r.err = GW_EINVAL;
		r.error = j->out.error;
	}
	r.routes = (const char *const *)j->out.routes;
	r.n_routes = j->out.n_routes;
	r.revision = j->resp.revision;
	gw_debugf("dryrun", "compiled %zu keys and %zu change(s) in %.1f ms", j->resp.n_kvs,
		  j->n_changes, (double)j->took_ns / 1e6);
	j->d->running--;
	j->done(j->arg, &r);
	job_free(j);
}

/* The config as stored into j->resp / j->kvs. */
static int read_config(struct job *j)
{
	struct gw_range_req q;
	int rv;

	memset(&q, 0, sizeof q);
	q.key = PREFIX;
	q.key_len = strlen(PREFIX);
	q.range_end = PREFIX_END;
	q.range_end_len = strlen(PREFIX_END);
	q.sort_order = GW_SORT_ASCEND;
	q.sort_target = GW_SORT_CREATE; /* route insertion order */
	rv = gw_store_range(j->d->store, &q, &j->resp);
	if (rv != 0) {
		return rv;
	}
	j->kvs = calloc(j->resp.n_kvs ? j->resp.n_kvs : 1, sizeof *j->kvs);
	if (j->kvs == NULL) {
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < j->resp.n_kvs; i++) {
		const struct gw_kv *kv = &j->resp.kvs[i];
		j->kvs[i].key = kv->key;
		j->kvs[i].key_len = kv->key_len;
		j->kvs[i].value = kv->value != NULL ? kv->value : "";
		j->kvs[i].value_len = kv->value_len;
		j->kvs[i].create_revision = kv->create_revision;
		j->kvs[i].mod_revision = kv->mod_revision;
	}
	return 0;
}

int gw_node_dryrun_check(void *data, const struct gw_admin_change *changes, size_t n,
			 void (*done)(void *arg, const struct gw_admin_check *r), void *arg)
{
	struct gw_node_dryrun *d = data;
	struct job *j;
	int rv;

	if (d->running >= GW_NODE_DRYRUN_MAX) {
		return GW_EBUSY;
	}
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		return GW_ENOMEM;
	}
	j->d = d;
	j->done = done;
	j->arg = arg;
	j->req.data = j;
	j->changes = calloc(n ? n : 1, sizeof *j->changes);
	rv = j->changes != NULL ? read_config(j) : GW_ENOMEM;
	for (size_t i = 0; rv == 0 && i < n; i++) {
		struct gw_proxy_kv *c = &j->changes[j->n_changes++];
		c->key = strdup(changes[i].key);
		c->key_len = strlen(changes[i].key);
		c->value = changes[i].value != NULL ? strdup(changes[i].value) : NULL;
		c->value_len = changes[i].value != NULL ? strlen(changes[i].value) : 0;
		if (c->key == NULL || (changes[i].value != NULL && c->value == NULL)) {
			rv = GW_ENOMEM;
		}
		for (size_t k = 0; rv == 0 && n <= 16 && k < j->resp.n_kvs; k++) {
			if (j->kvs[k].key_len == c->key_len &&
			    memcmp(j->kvs[k].key, c->key, c->key_len) == 0) {
				/* keep its order (a few changes: a linear search each) */
				c->create_revision = j->kvs[k].create_revision;
			}
		}
	}
	if (rv == 0) {
		rv = uv_queue_work(d->loop, &j->req, work, after) == 0 ? 0 : GW_ENOMEM;
	}
	if (rv != 0) {
		job_free(j);
		return rv;
	}
	d->running++;
	return 0;
}
