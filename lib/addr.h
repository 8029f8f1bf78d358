/* addr.h: listen and peer addresses given on the command line.
 *
 * Accepted forms: "host:port", "[ipv6]:port", ":port" (all IPv4 interfaces).
 * host is a numeric IPv4/IPv6 address or "localhost"; names are not resolved
 * here (that would block). Options may follow a comma, e.g.
 * "0.0.0.0:9080,proxy_protocol"; they are returned unparsed. */
#ifndef GW_ADDR_H
#define GW_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct gw_addr {
	struct sockaddr_storage ss; /* AF_INET or AF_INET6, port set */
	char text[64];              /* normalized "ip:port" or "[ip6]:port" */
	char opts[64];              /* text after the first comma, or "" */
};

/* Parse @s into @out. Returns 0, or GW_EADDR with a reason in @why (static
 * string) for a malformed address or a port outside 1..65535. */
int gw_addr_parse(const char *s, struct gw_addr *out, const char **why);

/* Port of a parsed address. */
int gw_addr_port(const struct gw_addr *a);

/* Format any socket address as "ip:port" / "[ip6]:port" into @buf. */
void gw_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Tune a connected (or connecting) node-to-node TCP socket @fd for lossy
 * networks: linear retransmission timeouts while the stream is thin (raft
 * heartbeats and single forwarded writes: the kernel keeps the RTO at its
 * base for the first 6 retransmissions instead of doubling it 200 ms, 400
 * ms, 800 ms ...), an RTO floor of 30 ms instead of 200 ms where the
 * kernel has TCP_RTO_MIN_US (Linux 6.16+), and, where it has TCP_RTO_MAX_MS (6.15+),
 * an RTO ceiling of @rto_max_ms (at least 1000). Best effort: an option the
 * kernel lacks is skipped. Returns whether the ceiling is in force (a
 * stalled connection then resumes within it once the path heals, without
 * being dropped and reconnected). */
bool gw_addr_peer_sockopts(int fd, unsigned rto_max_ms);

/* Acknowledge what arrives on node-to-node socket @fd at once (TCP_QUICKACK;
 * Linux drops back to delayed ACKs on its own, so call it after each read).
 * A delayed ACK (40 ms and more) is counted in the sender's round-trip time:
 * on a thin raft stream it lifted the smoothed RTT of a 0.01 ms loopback
 * path to ~100 ms and the RTO, srtt + 4 rttvar, to 800-1000 ms, so one lost
 * segment stalled raft for an election timeout despite the 30 ms floor.
 * Best effort. */
void gw_addr_quickack(int fd);

#endif
