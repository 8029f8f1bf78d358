/* systemd.c: sd_notify for the node (see systemd.h).
 *
 * Happy path: gw_node_sd_start() finds NOTIFY_SOCKET, starts a 250 ms poll
 * timer and, with WATCHDOG_USEC, a watchdog timer at half the period. The
 * poll sends READY=1 with the first STATUS= once the node serves, then a new
 * STATUS= whenever its text changed and a second has passed since the last
 * one (a flapping role never floods the manager). The watchdog timer sends
 * WATCHDOG=1; it runs on the control loop, so its pings stop when the loop
 * is stuck, which is the point.
 *
 * Failure modes: sd_notify() failing (socket gone, manager restarting) is
 * logged once per kind of message and ignored. WATCHDOG_USEC that is not a
 * positive number (or meant for another PID) leaves the watchdog off, as
 * sd_watchdog_enabled() decides.
 *
 * Test hook: APIGW_TEST_LOOP_STALL_MS=N makes the watchdog timer, after its
 * first ping, block the control loop once for N ms, as a stuck handler
 * would (tests/integration/test_systemd.py checks the pings stop meanwhile).
 * Threads: the control loop. */
#include "config.h"

#include "node/systemd.h"
#include "lib/err.h"
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS         250  /* readiness and status checks */
#define STATUS_EVERY_MS 1000 /* at most one STATUS= change a second */
#define STATUS_LEN      256
#define NOTIFY_KINDS    5 /* ready, status, watchdog, stopping, reloading */

enum kind { K_READY, K_STATUS, K_WATCHDOG, K_STOPPING, K_RELOADING };

struct gw_node_sd {
	struct gw_node_sd_sources src;
	uv_loop_t *loop;
	uv_timer_t poll;           /* readiness, STATUS= */
	uv_timer_t watchdog;       /* WATCHDOG=1 (started only with WATCHDOG_USEC) */
	bool watchdog_on;          /* the watchdog timer was started */
	bool ready;                /* READY=1 was sent */
	bool stopping;             /* STOPPING=1 was sent: no more READY/STATUS */
	uint64_t status_at;        /* loop time of the last STATUS= (ms) */
	char status[STATUS_LEN];   /* the last STATUS= text sent */
	bool warned[NOTIFY_KINDS]; /* a failed send of this kind was logged */
	unsigned stall_ms;         /* APIGW_TEST_LOOP_STALL_MS, 0 = none */
	int closing;               /* handles still closing */
	void (*stopped_cb)(void *data);
	void *stopped_data;
};

/* Send @msg; a failure is logged once per @k. */
static void notify(struct gw_node_sd *sd, enum kind k, const char *msg)
{
	int rv = sd_notify(0, msg);
	if (rv <= 0 && !sd->warned[k]) {
		sd->warned[k] = true;
		gw_warnf("systemd", "sd_notify(\"%.*s\") failed: %s", (int)strcspn(msg, "\n"), msg,
			 rv < 0 ? strerror(-rv) : "NOTIFY_SOCKET unset");
	}
}

/* The current STATUS= text into @buf (never contains a newline). */
static void describe(struct gw_node_sd *sd, char *buf, size_t len)
{
	buf[0] = '\0';
	sd->src.describe(sd->src.data, buf, len);
	for (char *p = buf; *p; p++) {
		if (*p == '\n' || *p == '\r') {
			*p = ' ';
		}
	}
}

/* READY=1 (with STATUS=) after start-up or a reload. */
static void send_ready(struct gw_node_sd *sd)
{
	char msg[STATUS_LEN + 32];

	describe(sd, sd->status, sizeof sd->status);
	snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", sd->status);
	notify(sd, K_READY, msg);
	sd->status_at = uv_now(sd->loop);
	if (!sd->ready) {
		gw_infof("systemd", "READY=1 sent (%s)", sd->status);
	}
	sd->ready = true;
}

static void poll_cb(uv_timer_t *t)
{
	struct gw_node_sd *sd = t->data;
	char now[STATUS_LEN], msg[STATUS_LEN + 16];

	if (sd->stopping) {
		return;
	}
	if (!sd->ready) {
		if (sd->src.serving(sd->src.data)) {
			send_ready(sd);
		}
		return;
	}
	if (uv_now(sd->loop) - sd->status_at < STATUS_EVERY_MS) {
		return;
	}
	describe(sd, now, sizeof now);
	if (strcmp(now, sd->status) == 0) {
		return;
	}
	memcpy(sd->status, now, sizeof now);
	snprintf(msg, sizeof msg, "STATUS=%s", now);
	notify(sd, K_STATUS, msg);
	sd->status_at = uv_now(sd->loop);
}

static void watchdog_cb(uv_timer_t *t)
{
	struct gw_node_sd *sd = t->data;

	notify(sd, K_WATCHDOG, "WATCHDOG=1");
	if (sd->stall_ms > 0) {
		unsigned ms = sd->stall_ms;
		struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

		sd->stall_ms = 0;
		gw_warnf("systemd", "test hook: blocking the control loop for %u ms", ms);
		while (nanosleep(&ts, &ts) != 0) {
		}
	}
}

int gw_node_sd_start(uv_loop_t *loop, const struct gw_node_sd_sources *src, struct gw_node_sd **out)
{
	struct gw_node_sd *sd;
	uint64_t usec = 0;
	const char *env = getenv("NOTIFY_SOCKET");

	*out = NULL;
	if (env == NULL || env[0] == '\0') {
		return 0;
	}
	sd = calloc(1, sizeof *sd);
	if (sd == NULL) {
		return GW_ENOMEM;
	}
	sd->src = *src;
	sd->loop = loop;
	uv_timer_init(loop, &sd->poll);
	sd->poll.data = sd;
	uv_timer_start(&sd->poll, poll_cb, 0, POLL_MS);
	uv_timer_init(loop, &sd->watchdog);
	sd->watchdog.data = sd;
	/* 0 = off; it also checks WATCHDOG_PID against ours */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		uint64_t every = usec / 2000; /* half the period, in ms */
		const char *stall = getenv("APIGW_TEST_LOOP_STALL_MS");

		if (every == 0) {
			every = 1;
		}
		if (stall != NULL && stall[0] != '\0') {
			sd->stall_ms = (unsigned)strtoul(stall, NULL, 10);
		}
		uv_timer_start(&sd->watchdog, watchdog_cb, every, every);
		sd->watchdog_on = true;
		gw_infof("systemd", "watchdog: WATCHDOG=1 every %llu ms (WatchdogSec=%llu ms)",
			 (unsigned long long)every, (unsigned long long)(usec / 1000));
	}
	gw_infof("systemd", "notifying the service manager (NOTIFY_SOCKET set)");
	*out = sd;
	return 0;
}

void gw_node_sd_stopping(struct gw_node_sd *sd)
{
	if (sd == NULL || sd->stopping) {
		return;
	}
	sd->stopping = true;
	notify(sd, K_STOPPING, "STOPPING=1\nSTATUS=draining");
}

void gw_node_sd_reloading(struct gw_node_sd *sd)
{
	char msg[64];
	struct timespec ts;

	if (sd == NULL || sd->stopping) {
		return;
	}
	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253+) expects */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
		     (unsigned long long)ts.tv_nsec / 1000);
	notify(sd, K_RELOADING, msg);
}

void gw_node_sd_reloaded(struct gw_node_sd *sd)
{
	if (sd == NULL || sd->stopping) {
		return;
	}
	send_ready(sd);
}

static void closed(uv_handle_t *h)
{
	struct gw_node_sd *sd = h->data;

	if (--sd->closing == 0) {
		void (*cb)(void *) = sd->stopped_cb;
		void *data = sd->stopped_data;

		free(sd);
		if (cb != NULL) {
			cb(data);
		}
	}
}

void gw_node_sd_stop(struct gw_node_sd *sd, void (*cb)(void *data), void *data)
{
	if (sd == NULL) {
		return;
	}
	sd->stopped_cb = cb;
	sd->stopped_data = data;
	sd->closing = 2;
	uv_close((uv_handle_t *)&sd->poll, closed);
	uv_close((uv_handle_t *)&sd->watchdog, closed);
}
