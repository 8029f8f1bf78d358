/* connlimit.h: a connection cap with a reserve, for the control-plane
 * listeners (lib/httpd's servers, the etcd port's sniffing and HTTP/2
 * connections). Outsiders may fill the cap minus the reserve; the last
 * @reserve slots are only for "reserved" peers: loopback (127.0.0.1, ::1,
 * ::ffff:127.0.0.1; other 127/8 addresses count as off-host, so tests can
 * play an outsider) and whatever the owner's callback accepts (the etcd
 * listener: the addresses of the cluster's members). So 1,024 idle
 * outsiders cannot lock out etcdctl on the node or a peer's internal call.
 *
 * A refusal is counted and logged, rate limited (lib/ratelimit.h). Pure
 * bookkeeping, no I/O: the caller closes what is refused. Not thread-safe:
 * a limit belongs to its loop's thread. */
#ifndef GW_CONNLIMIT_H
#define GW_CONNLIMIT_H

#include "lib/ratelimit.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* True when @peer may use the reserved slots. */
typedef bool (*gw_connlimit_reserved_cb)(const struct sockaddr *peer, void *data);

struct gw_connlimit {
	const char *name;                  /* for the log line (static string) */
	unsigned max;                      /* hard cap, for everyone */
	unsigned reserve;                  /* of max, only for reserved peers */
	unsigned n;                        /* admitted and not yet released */
	uint64_t refused;                  /* connections refused so far */
	gw_connlimit_reserved_cb reserved; /* extra reserved peers, or NULL */
	void *reserved_data;
	struct gw_ratelimit rl; /* refusal log lines */
};

#define GW_CONNLIMIT_DEFAULT_MAX     1024u
#define GW_CONNLIMIT_DEFAULT_RESERVE 64u

/* Set up @l (caller-allocated, nothing to free). @max 0 = the default;
 * @reserve is clamped below @max. */
void gw_connlimit_init(struct gw_connlimit *l, const char *name, unsigned max, unsigned reserve);

/* Admit a connection from @peer (NULL or a non-IP address: not reserved)
 * at @now_ms: true and counted, or false (counted as refused, logged at
 * most a few times a minute). Release every admitted one exactly once. */
bool gw_connlimit_admit(struct gw_connlimit *l, const struct sockaddr *peer, uint64_t now_ms);
void gw_connlimit_release(struct gw_connlimit *l);

/* True for 127.0.0.1, ::1 and ::ffff:127.0.0.1. */
bool gw_connlimit_loopback(const struct sockaddr *peer);

/* True when the IP of @peer equals the host of @hostport ("1.2.3.4:5",
 * "[::1]:5"; names are not resolved). */
bool gw_connlimit_same_host(const struct sockaddr *peer, const char *hostport);

#endif
