/* apisix_audit_sink.c: --audit-log FILE, the audit log as JSON lines.
 *
 * Happy path: a store watcher on the reserved prefix /apigw/audit/ sees
 * every audit record as it commits (Admin API writes, rollbacks and applies
 * of the whole cluster: every member holds the replicated records), and
 * appends each one to FILE as one line, the record with its "revision"
 * (the line GET /apisix/admin/audit answers), in commit order. The file is
 * opened with O_APPEND (mode 0600) and reopened by gw_admin_reopen_logs
 * (SIGHUP, for logrotate). Records hold no request body and no value, so
 * no secret reaches the file.
 * Failure modes: the file cannot be opened: gw_admin_start fails (logged);
 * a write fails: logged once per failure streak, the record is skipped
 * (the replicated log still has it); the watch ends (slow, compacted): it
 * resubscribes from the next write and says how many revisions it missed.
 * Loop thread. */
#include "config.h"

#include "admin/apisix.h"
#include "admin/apisix_int.h"
#include "lib/err.h"
#include "lib/log.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int open_log(struct gw_admin *a)
{
	int fd = open(a->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		gw_errorf("admin", "cannot open --audit-log %s: %s", a->audit_log, strerror(errno));
		return GW_EIO;
	}
	if (a->audit_fd >= 0) {
		close(a->audit_fd);
	}
	a->audit_fd = fd;
	return 0;
}

/* Append @kv (a record) with its revision as one line. */
static void write_record(struct gw_admin *a, const struct gw_kv *kv)
{
	cJSON *o = cJSON_ParseWithLength(kv->value, kv->value_len);
	char *line;
	size_t len;
	ssize_t w;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, "revision");
	cJSON_AddNumberToObject(o, "revision", (double)kv->mod_revision);
	line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (line == NULL) {
		return;
	}
	len = strlen(line);
	line[len] = '\n'; /* one write: O_APPEND keeps lines whole */
	do {
		w = write(a->audit_fd, line, len + 1);
	} while (w < 0 && errno == EINTR);
	line[len] = '\0';
	if (w != (ssize_t)(len + 1)) {
		if (!a->audit_failing) {
			gw_errorf("admin",
				  "--audit-log %s: write failed: %s (records skipped "
				  "until it works again; GET /apisix/admin/audit has them)",
				  a->audit_log, w < 0 ? strerror(errno) : "short write");
		}
		a->audit_failing = true;
	} else {
		a->audit_failing = false;
	}
	free(line);
}

static int on_events(struct gw_watcher *w, const struct gw_event *evs, size_t n, void *data)
{
	struct gw_admin *a = data;

	(void)w;
	for (size_t i = 0; i < n; i++) {
		if (evs[i].type == GW_EVENT_PUT) {
			write_record(a, &evs[i].kv);
		}
		a->audit_seen = evs[i].kv.mod_revision;
	}
	return 0;
}

static int subscribe(struct gw_admin *a);

static void on_cancel(struct gw_watcher *w, int reason, int64_t compact_revision, void *data)
{
	struct gw_admin *a = data;

	(void)w;
	(void)compact_revision;
	a->audit_watcher = NULL;
	if (reason == GW_ESHUTDOWN || a->stopping) {
		return;
	}
	gw_warnf("admin",
		 "--audit-log: the store watch ended (%s) after revision %" PRId64
		 ": records from the next write on",
		 gw_strerror(reason), a->audit_seen);
	subscribe(a);
}

static int subscribe(struct gw_admin *a)
{
	struct gw_watch_opts o;
	static const char end[] = "/apigw/audit0"; /* the prefix's end */

	memset(&o, 0, sizeof o);
	o.key = GW_ADMIN__AUDIT_PREFIX;
	o.key_len = strlen(GW_ADMIN__AUDIT_PREFIX);
	o.range_end = end;
	o.range_end_len = strlen(end);
	o.flags = GW_WATCH_NODELETE;
	o.on_events = on_events;
	o.on_cancel = on_cancel;
	o.data = a;
	return gw_store_watch(a->store, &o, &a->audit_watcher);
}

int gw_admin__audit_sink_start(struct gw_admin *a, const char *path)
{
	int rv;

	a->audit_fd = -1;
	if (path == NULL || path[0] == '\0') {
		return 0;
	}
	snprintf(a->audit_log, sizeof a->audit_log, "%s", path);
	rv = open_log(a);
	if (rv == 0) {
		rv = subscribe(a);
	}
	if (rv != 0) {
		gw_admin__audit_sink_stop(a);
		return rv;
	}
	gw_infof("admin", "audit records appended to %s (JSON lines)", a->audit_log);
	return 0;
}

void gw_admin__audit_sink_stop(struct gw_admin *a)
{
	if (a->audit_watcher != NULL) {
		gw_store_unwatch(a->audit_watcher);
		a->audit_watcher = NULL;
	}
	if (a->audit_fd >= 0) {
		close(a->audit_fd);
		a->audit_fd = -1;
	}
}

void gw_admin_reopen_logs(struct gw_admin *a)
{
	if (a->audit_fd >= 0 && open_log(a) == 0) {
		gw_infof("admin", "--audit-log %s reopened", a->audit_log);
	}
}
