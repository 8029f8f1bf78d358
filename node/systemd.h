/* systemd.h: tell the service manager how the node is doing (sd_notify).
 *
 * Under systemd with Type=notify the unit is "active" only once the node
 * says READY=1; this module says it when the node serves (the same test as
 * /status/ready, without ?min_revision), keeps STATUS= up to date with the
 * raft role and the served config revision (at most one STATUS= a second),
 * says STOPPING=1 when a drain begins and RELOADING=1 / READY=1 around a
 * reload (SIGHUP). With WatchdogSec= set (WATCHDOG_USEC in the environment)
 * it sends WATCHDOG=1 every half period from a timer on the control loop,
 * so a control loop stuck for longer than the period gets the node killed
 * and restarted by systemd.
 *
 * Without NOTIFY_SOCKET (not under systemd, or Type=simple) nothing is
 * started: gw_node_sd_start() sets *out to NULL and every other call takes
 * NULL as "do nothing". A failed send is logged once and otherwise ignored:
 * the node serves whether or not systemd hears it.
 * Threads: the control loop only. */
#ifndef GW_NODE_SYSTEMD_H
#define GW_NODE_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct gw_node_sd;

/* What the notifier reads, on the control loop; @data is passed back. */
struct gw_node_sd_sources {
	bool (*serving)(void *data);                         /* the node serves (readiness 200) */
	void (*describe)(void *data, char *buf, size_t len); /* STATUS= text */
	void *data;
};

/* Start notifying systemd if NOTIFY_SOCKET is set: READY=1 follows once
 * @src->serving() is true. *@out is NULL when not under systemd. @src is
 * copied. Returns 0, or GW_ENOMEM. */
int gw_node_sd_start(uv_loop_t *loop, const struct gw_node_sd_sources *src,
		     struct gw_node_sd **out);

/* STOPPING=1: a shutdown (drain) has begun. @sd may be NULL. */
void gw_node_sd_stopping(struct gw_node_sd *sd);

/* RELOADING=1 before a reload, READY=1 (with the new STATUS=) after it.
 * @sd may be NULL. */
void gw_node_sd_reloading(struct gw_node_sd *sd);
void gw_node_sd_reloaded(struct gw_node_sd *sd);

/* Stop the timers, then call @cb(@data); @sd is freed. With @sd NULL, @cb
 * is not called (nothing was started). */
void gw_node_sd_stop(struct gw_node_sd *sd, void (*cb)(void *data), void *data);

#endif
