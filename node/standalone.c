/* standalone.c: the config file of standalone mode (see standalone.h).
 *
 * Happy path: on libuv's thread pool, read the file, check "#END" (YAML),
 * parse and check every object (schema/decl.h); then on the loop, read
 * /apisix/ from the local store, diff with
 * prune, and propose the diff as one TXN guarded by "no /apisix/ key
 * modified since the read"; confsync then compiles and publishes it like
 * any committed change. uv_fs_poll notices changes (mtime, size, inode:
 * an editor's rename too); SIGHUP loads at once.
 * Failure modes: unreadable file, no #END, bad YAML or a schema error: an
 * error log line naming FILE:LINE, the store unchanged (the last good load
 * stays served) and the error kept for gw_node_standalone_state; no leader
 * yet or a raft error: retried after 200 ms; the guard failing (an etcd API
 * writer): read again and retried. Loop thread. */
#include "config.h"

#include "node/standalone.h"
#include "lib/err.h"
#include "lib/log.h"
#include "schema/decl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE (64u << 20)
#define RETRY_MS 200

struct gw_node_standalone {
	uv_loop_t *loop;
	struct gw_store *store;
	struct gw_raft *raft;
	char file[PATH_MAX];
	uv_fs_poll_t poll;
	uv_timer_t retry;
	int open_handles;
	bool inflight; /* a proposal is in raft */
	bool working;  /* a read of the file is on the thread pool */
	bool again;    /* load again once it answers */
	bool stopping;
	uint64_t loads;
	int64_t revision; /* of the last load that changed the store */
	bool loaded;      /* a load succeeded (or found nothing to change) */
	char err[600];    /* the last load's error, or "" */
};

static void load(struct gw_node_standalone *s);

static void retry_cb(uv_timer_t *t)
{
	load(t->data);
}

static void maybe_free(struct gw_node_standalone *s)
{
	if (s->stopping && s->open_handles == 0 && !s->inflight && !s->working) {
		free(s);
	}
}

static void set_err(struct gw_node_standalone *s, const char *msg)
{
	if (strcmp(s->err, msg) != 0) { /* once per distinct error, not per poll */
		gw_errorf("node", "standalone: %s; still serving the last good load of %s", msg,
			  s->file);
	}
	snprintf(s->err, sizeof s->err, "%s", msg);
}

/* The file's text (malloc'ed, NUL-terminated) or NULL with @msg. */
static char *read_file(const char *path, size_t *len, char *msg, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	if (fd < 0) {
		snprintf(msg, n, "cannot open %.300s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_FILE) {
		snprintf(msg, n, "%.300s is not a regular file of at most 64 MiB", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(msg, n, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			snprintf(msg, n, "cannot read %.300s: %s", path,
				 r < 0 ? strerror(errno) : "EOF");
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
out:
	close(fd);
	return buf;
}

/* A YAML file is complete when it ends with "#END" (and blanks). */
static bool has_end(const char *path, const char *text, size_t len)
{
	size_t pl = strlen(path);

	if (!(pl > 5 && strcmp(path + pl - 5, ".yaml") == 0) &&
	    !(pl > 4 && strcmp(path + pl - 4, ".yml") == 0)) {
		return true; /* JSON: complete when it parses */
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
			   text[len - 1] == '\t')) {
		len--;
	}
	return len >= 4 && memcmp(text + len - 4, "#END", 4) == 0;
}

static const struct gw_kv *find_kv(const struct gw_range_resp *rs, const char *key)
{
	size_t lo = 0, hi = rs->n_kvs, kl = strlen(key);

	while (lo < hi) { /* the store answers in key order */
		size_t mid = (lo + hi) / 2, ml = rs->kvs[mid].key_len;
		int c = memcmp(rs->kvs[mid].key, key, ml < kl ? ml : kl);
		if (c == 0) {
			c = ml < kl ? -1 : ml > kl;
		}
		if (c == 0) {
			return &rs->kvs[mid];
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return NULL;
}

struct counts {
	size_t add, mod, del;
};

struct pending {
	struct gw_node_standalone *s;
	struct counts c;
};

static void proposed(void *data, int err, struct gw_store_result *res)
{
	struct pending *p = data;
	struct gw_node_standalone *s = p->s;

	s->inflight = false;
	if (err == 0 && res->err != 0) {
		err = res->err;
	}
	if (err == 0 && res->succeeded) {
		s->loads++;
		s->revision = res->revision;
		s->loaded = true;
		s->err[0] = '\0';
		gw_infof("node",
			 "standalone: loaded %s: %zu created, %zu updated, %zu deleted (revision "
			 "%lld)",
			 s->file, p->c.add, p->c.mod, p->c.del, (long long)res->revision);
	} else if (err == 0) {
		s->again = true; /* a write slipped in: read again */
	} else if (!s->stopping) {
		gw_warnf("node", "standalone: loading %s: %s (retrying)", s->file,
			 gw_strerror(err));
		s->again = true;
	}
	if (res != NULL) {
		gw_store_result_free(res);
	}
	free(p);
	if (s->again && !s->stopping) {
		s->again = false;
		uv_timer_start(&s->retry, retry_cb, err != 0 ? RETRY_MS : 0, 0);
	}
	maybe_free(s);
}

/* Propose the diff @d (ops point into lists whose values the caller owns). */
static int propose(struct gw_node_standalone *s, const struct gw_schema_decl_diff *d,
		   const struct gw_range_resp *cur)
{
	struct gw_store_op txn, *ops = calloc(d->n + 1, sizeof *ops);
	char **vals = calloc(d->n + 1, sizeof *vals);
	struct pending *p = calloc(1, sizeof *p);
	int64_t now = (int64_t)time(NULL);
	struct gw_compare cmp;
	size_t i;
	int rv = GW_ENOMEM;

	if (ops == NULL || vals == NULL || p == NULL) {
		goto out;
	}
	for (i = 0; i < d->n; i++) {
		const struct gw_schema_decl_obj *o = &d->ops[i];
		if (o->op == '-') {
			ops[i].type = GW_OP_DELETE;
			ops[i].u.del.key = o->key;
			ops[i].u.del.key_len = strlen(o->key);
			continue;
		}
		const struct gw_kv *old = find_kv(cur, o->key);
		vals[i] = gw_schema_decl_stamped(o->value, old ? old->value : NULL,
						 old ? old->value_len : 0, now);
		if (vals[i] == NULL) {
			goto out;
		}
		ops[i].type = GW_OP_PUT;
		ops[i].u.put.key = o->key;
		ops[i].u.put.key_len = strlen(o->key);
		ops[i].u.put.value = vals[i];
		ops[i].u.put.value_len = strlen(vals[i]);
	}
	memset(&cmp, 0, sizeof cmp);
	cmp.key = "/apisix/";
	cmp.key_len = 8;
	cmp.range_end = "/apisix0";
	cmp.range_end_len = 8;
	cmp.result = GW_CMP_LESS;
	cmp.target = GW_CMP_MOD;
	cmp.number = cur->revision + 1;
	memset(&txn, 0, sizeof txn);
	txn.type = GW_OP_TXN;
	txn.u.txn.compares = &cmp;
	txn.u.txn.n_compares = 1;
	txn.u.txn.success = ops;
	txn.u.txn.n_success = d->n;
	p->s = s;
	p->c.add = d->n_add;
	p->c.mod = d->n_mod;
	p->c.del = d->n_del;
	rv = gw_raft_propose(s->raft, &txn, 0, proposed, p);
	if (rv == 0) {
		s->inflight = true;
		p = NULL;
	}
out:
	for (i = 0; vals != NULL && i < d->n; i++) {
		free(vals[i]);
	}
	free(vals);
	free(ops);
	free(p);
	return rv;
}

/* A read of the file on libuv's thread pool: parsing and checking a large
 * file must not stall the control loop. */
struct job {
	uv_work_t req;
	struct gw_node_standalone *s;
	char file[PATH_MAX];
	struct gw_schema_decl want; /* the file's objects, checked */
	char msg[600];              /* why not, when rv != 0 */
	int rv;
};

/* Thread pool: read, check "#END", parse and check the file. */
static void work_cb(uv_work_t *req)
{
	struct job *j = req->data;
	cJSON *root = NULL;
	size_t len = 0;
	char *text = read_file(j->file, &len, j->msg, sizeof j->msg);

	j->rv = GW_EINVAL;
	if (text == NULL) {
		return;
	}
	if (!has_end(j->file, text, len)) {
		snprintf(j->msg, sizeof j->msg,
			 "%.300s does not end with a \"#END\" line: not loaded (the mark "
			 "of a complete file, as in APISIX)",
			 j->file);
	} else {
		root = gw_schema_decl_parse(j->file, text, len, j->msg, sizeof j->msg);
		if (root != NULL) {
			j->rv =
			    gw_schema_decl_collect(j->file, root, &j->want, j->msg, sizeof j->msg);
		}
	}
	cJSON_Delete(root);
	free(text);
}

/* Loop: the file's objects @want against the store, proposed. */
static void apply(struct gw_node_standalone *s, const struct gw_schema_decl *want)
{
	struct gw_schema_decl have = {0};
	struct gw_schema_decl_diff d = {0};
	struct gw_range_req rq;
	struct gw_range_resp cur;
	char msg[128];
	int rv;

	memset(&rq, 0, sizeof rq);
	rq.key = "/apisix/";
	rq.key_len = 8;
	rq.range_end = "/apisix0";
	rq.range_end_len = 8;
	rv = gw_store_range(s->store, &rq, &cur);
	if (rv != 0) {
		snprintf(msg, sizeof msg, "reading the store: %s", gw_strerror(rv));
		set_err(s, msg);
		return;
	}
	for (size_t i = 0; i < cur.n_kvs; i++) {
		rv = gw_schema_decl_add_stored(&have, cur.kvs[i].key, cur.kvs[i].key_len,
					       cur.kvs[i].value, cur.kvs[i].value_len);
		if (rv == GW_ENOMEM) {
			set_err(s, "out of memory");
			goto out;
		}
	}
	gw_schema_decl_sort_keys(&have);
	if (gw_schema_decl_diff(want, &have, true, &d) != 0) {
		set_err(s, "out of memory");
		goto out;
	}
	if (d.n == 0) {
		if (s->err[0] != '\0') {
			gw_infof("node", "standalone: %s is valid again and already served",
				 s->file);
		}
		s->loaded = true;
		s->err[0] = '\0';
		goto out;
	}
	if (d.n + 2 > GW_STORE_MAX_APPLY_OPS) {
		/* one load is one TXN: a bigger change would be proposed, time
		 * out and be retried forever */
		snprintf(msg, sizeof msg,
			 "the file changes %zu objects: more than one transaction holds (%d)", d.n,
			 GW_STORE_MAX_APPLY_OPS - 2);
		set_err(s, msg);
		goto out;
	}
	rv = propose(s, &d, &cur);
	if (rv != 0) {
		gw_warnf("node", "standalone: loading %s: %s (retrying)", s->file, gw_strerror(rv));
		uv_timer_start(&s->retry, retry_cb, RETRY_MS, 0);
	}
out:
	gw_store_range_resp_free(&cur);
	free(d.ops);
	gw_schema_decl_free(&have);
}

static void after_cb(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct gw_node_standalone *s = j->s;

	s->working = false;
	if (!s->stopping && status == 0) {
		if (j->rv != 0) {
			set_err(s, j->msg);
		} else {
			apply(s, &j->want);
		}
		if (s->again && !s->inflight) { /* changed again meanwhile */
			s->again = false;
			uv_timer_start(&s->retry, retry_cb, 0, 0);
		}
	}
	gw_schema_decl_free(&j->want);
	free(j);
	maybe_free(s);
}

static void load(struct gw_node_standalone *s)
{
	struct job *j;

	if (s->stopping) {
		return;
	}
	if (s->inflight || s->working) {
		s->again = true;
		return;
	}
	j = calloc(1, sizeof *j);
	if (j == NULL) {
		set_err(s, "out of memory");
		return;
	}
	j->s = s;
	j->req.data = j;
	snprintf(j->file, sizeof j->file, "%s", s->file);
	if (uv_queue_work(s->loop, &j->req, work_cb, after_cb) != 0) {
		free(j);
		set_err(s, "cannot queue the read of the file");
		return;
	}
	s->working = true;
}

static void poll_cb(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
	struct gw_node_standalone *s = h->data;

	(void)prev;
	(void)curr;
	if (status == 0) {
		gw_infof("node", "standalone: %s changed", s->file);
	}
	load(s); /* a missing file is reported by load */
}

int gw_node_standalone_start(uv_loop_t *loop, const char *file, unsigned poll_ms,
			     struct gw_store *store, struct gw_raft *raft,
			     struct gw_node_standalone **out)
{
	struct gw_node_standalone *s = calloc(1, sizeof *s);

	*out = NULL;
	if (s == NULL) {
		return GW_ENOMEM;
	}
	s->loop = loop;
	s->store = store;
	s->raft = raft;
	snprintf(s->file, sizeof s->file, "%s", file);
	uv_timer_init(loop, &s->retry);
	s->retry.data = s;
	uv_fs_poll_init(loop, &s->poll);
	s->poll.data = s;
	s->open_handles = 2;
	if (uv_fs_poll_start(&s->poll, poll_cb, s->file, poll_ms ? poll_ms : 1000) != 0) {
		gw_errorf("node", "standalone: cannot watch %s", s->file);
		gw_node_standalone_stop(s);
		return GW_EIO;
	}
	gw_infof("node", "standalone: serving %s (Admin API writes refused)", s->file);
	uv_timer_start(&s->retry, retry_cb, 0, 0);
	*out = s;
	return 0;
}

void gw_node_standalone_reload(struct gw_node_standalone *s)
{
	gw_infof("node", "standalone: reloading %s", s->file);
	load(s);
}

void gw_node_standalone_info(const struct gw_node_standalone *s,
			     struct gw_node_standalone_info *out)
{
	out->file = s->file;
	out->loaded = s->loaded;
	out->loads = s->loads;
	out->revision = s->revision;
	out->error = s->err;
}

static void closed(uv_handle_t *h)
{
	struct gw_node_standalone *s = h->data;

	s->open_handles--;
	maybe_free(s);
}

void gw_node_standalone_stop(struct gw_node_standalone *s)
{
	s->stopping = true;
	uv_close((uv_handle_t *)&s->poll, closed);
	uv_close((uv_handle_t *)&s->retry, closed);
}
