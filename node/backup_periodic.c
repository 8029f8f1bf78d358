/* backup_periodic.c: see backup_periodic.h. */
#include "config.h"

#include "node/backup_periodic.h"
#include "node/cluster.h"
#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "apigw-"
#define SUFFIX ".db"

struct gw_node_backups {
	uv_loop_t *loop;
	struct gw_node_cluster *cluster;
	char dir[PATH_MAX];
	int keep;
	uv_timer_t timer;
	uv_work_t work;
	bool busy;     /* a write is on the pool */
	bool stopping; /* stop asked: finish when timer closed and !busy */
	bool timer_closed;
	void (*stop_cb)(void *);
	void *stop_data;
	/* the write in flight */
	void *image;
	struct gw_store_backup_info info;
	char name[96];
	int err; /* of the write, errno */
};

static void maybe_done(struct gw_node_backups *b)
{
	if (b->stopping && b->timer_closed && !b->busy) {
		void (*cb)(void *) = b->stop_cb;
		void *data = b->stop_data;
		free(b);
		if (cb != NULL) {
			cb(data);
		}
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove the oldest PREFIX*SUFFIX files beyond b->keep (names sort by time). */
static void prune(struct gw_node_backups *b)
{
	DIR *d = opendir(b->dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len > strlen(PREFIX) + strlen(SUFFIX) &&
		    strncmp(e->d_name, PREFIX, strlen(PREFIX)) == 0 &&
		    strcmp(e->d_name + len - strlen(SUFFIX), SUFFIX) == 0) {
			if (n == cap) {
				char **p = realloc(names, (cap ? cap * 2 : 16) * sizeof *p);
				if (p == NULL) {
					break;
				}
				names = p;
				cap = cap ? cap * 2 : 16;
			}
			names[n] = strdup(e->d_name);
			if (names[n] == NULL) {
				break;
			}
			n++;
		}
	}
	closedir(d);
	if (names != NULL) {
		qsort(names, n, sizeof *names, name_cmp);
	}
	for (size_t i = 0; i < n; i++) {
		if (i + (size_t)b->keep < n) {
			char path[PATH_MAX + 100];
			snprintf(path, sizeof path, "%s/%s", b->dir, names[i]);
			unlink(path);
		}
		free(names[i]);
	}
	free(names);
}

/* On the pool: write the file atomically, then prune. */
static void write_work(uv_work_t *w)
{
	struct gw_node_backups *b = w->data;
	char tmp[PATH_MAX + 120], path[PATH_MAX + 100];
	int fd, dfd;

	snprintf(path, sizeof path, "%s/%s", b->dir, b->name);
	snprintf(tmp, sizeof tmp, "%s/.%s.part", b->dir, b->name);
	b->err = 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		b->err = errno;
		return;
	}
	if (gw_store_backup_write(fd, &b->info, b->image) != 0 || fsync(fd) != 0) {
		b->err = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		b->err = errno;
		unlink(tmp);
		return;
	}
	dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	prune(b);
}

static void write_done(uv_work_t *w, int status)
{
	struct gw_node_backups *b = w->data;
	(void)status;
	free(b->image);
	b->image = NULL;
	b->busy = false;
	if (b->err != 0) {
		gw_errorf("node", "backup %s/%s failed: %s", b->dir, b->name, strerror(b->err));
	} else {
		gw_infof("node", "backup written: %s/%s (revision %" PRId64 ")", b->dir, b->name,
			 b->info.revision);
	}
	maybe_done(b);
}

static void tick(uv_timer_t *t)
{
	struct gw_node_backups *b = t->data;
	struct gw_store *s = gw_node_cluster_store(b->cluster);
	struct gw_raft *r = gw_node_cluster_raft(b->cluster);
	struct gw_raft_status *st;
	size_t len;
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	int rv;

	if (b->busy || b->stopping || s == NULL) {
		return;
	}
	rv = gw_store_snapshot(s, &b->image, &len);
	if (rv != 0) {
		gw_errorf("node", "backup: cannot take a store image: %s", gw_strerror(rv));
		return;
	}
	memset(&b->info, 0, sizeof b->info);
	b->info.applied = gw_store_applied_index(s);
	b->info.revision = gw_store_revision(s);
	b->info.created = (int64_t)now;
	b->info.image_len = len;
	st = r != NULL ? calloc(1, sizeof *st) : NULL;
	if (st != NULL) {
		gw_raft_status(r, st);
		b->info.cluster_id = st->cluster_id;
		free(st);
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(b->name, sizeof b->name, PREFIX "%s-r%" PRId64 SUFFIX, when, b->info.revision);
	b->work.data = b;
	if (uv_queue_work(b->loop, &b->work, write_work, write_done) != 0) {
		free(b->image);
		b->image = NULL;
		return;
	}
	b->busy = true;
}

int gw_node_backups_start(uv_loop_t *loop, struct gw_node_cluster *cluster, const char *dir,
			  unsigned interval_ms, int keep, struct gw_node_backups **out)
{
	struct gw_node_backups *b;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		gw_errorf("node", "cannot create --backup-dir %s: %s", dir, strerror(errno));
		return GW_EIO;
	}
	if (access(dir, W_OK) != 0) {
		gw_errorf("node", "--backup-dir %s is not writable: %s", dir, strerror(errno));
		return GW_EIO;
	}
	b = calloc(1, sizeof *b);
	if (b == NULL) {
		return GW_ENOMEM;
	}
	b->loop = loop;
	b->cluster = cluster;
	b->keep = keep < 1 ? 1 : keep;
	snprintf(b->dir, sizeof b->dir, "%s", dir);
	uv_timer_init(loop, &b->timer);
	b->timer.data = b;
	uv_timer_start(&b->timer, tick, interval_ms, interval_ms);
	gw_infof("node", "backups: every %u ms into %s, keeping %d", interval_ms, dir, b->keep);
	*out = b;
	return 0;
}

static void timer_closed(uv_handle_t *h)
{
	struct gw_node_backups *b = h->data;
	b->timer_closed = true;
	maybe_done(b);
}

void gw_node_backups_stop(struct gw_node_backups *b, void (*cb)(void *data), void *data)
{
	b->stopping = true;
	b->stop_cb = cb;
	b->stop_data = data;
	uv_close((uv_handle_t *)&b->timer, timer_closed);
}
