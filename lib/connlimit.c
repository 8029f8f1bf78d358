/* connlimit.c: see connlimit.h. Admission is two comparisons; the only
 * side effects are the counters and a rate-limited warning. */
#include "config.h"

#include "lib/connlimit.h"
#include "lib/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void gw_connlimit_init(struct gw_connlimit *l, const char *name, unsigned max, unsigned reserve)
{
	struct gw_ratelimit rl = GW_RATELIMIT_INIT(60000, 5);
	memset(l, 0, sizeof *l);
	l->name = name;
	l->max = max != 0 ? max : GW_CONNLIMIT_DEFAULT_MAX;
	l->reserve = reserve < l->max ? reserve : l->max - 1;
	l->rl = rl;
}

bool gw_connlimit_loopback(const struct sockaddr *peer)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (peer == NULL) {
		return false;
	}
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
		return in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	}
	if (peer->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (memcmp(a->s6_addr, mapped, 12) == 0 && a->s6_addr[12] == 127 &&
			a->s6_addr[13] == 0 && a->s6_addr[14] == 0 && a->s6_addr[15] == 1);
	}
	return false;
}

bool gw_connlimit_same_host(const struct sockaddr *peer, const char *hostport)
{
	char host[64];
	const char *end;
	size_t n;
	unsigned char want[16];

	if (peer == NULL || hostport == NULL) {
		return false;
	}
	if (hostport[0] == '[') {
		end = strchr(hostport, ']');
		hostport++;
	} else {
		end = strrchr(hostport, ':');
	}
	n = end != NULL ? (size_t)(end - hostport) : strlen(hostport);
	if (n == 0 || n >= sizeof host) {
		return false;
	}
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (peer->sa_family == AF_INET && inet_pton(AF_INET, host, want) == 1) {
		return memcmp(&((const struct sockaddr_in *)peer)->sin_addr, want, 4) == 0;
	}
	if (peer->sa_family == AF_INET6 && inet_pton(AF_INET6, host, want) == 1) {
		return memcmp(&((const struct sockaddr_in6 *)peer)->sin6_addr, want, 16) == 0;
	}
	return false;
}

static void peer_text(const struct sockaddr *peer, char *out, size_t len)
{
	snprintf(out, len, "?");
	if (peer != NULL && peer->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, out,
			  (socklen_t)len);
	} else if (peer != NULL && peer->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, out,
			  (socklen_t)len);
	}
}

bool gw_connlimit_admit(struct gw_connlimit *l, const struct sockaddr *peer, uint64_t now_ms)
{
	unsigned suppressed;
	char who[64];
	bool reserved;

	if (l->n < l->max - l->reserve) {
		l->n++;
		return true;
	}
	reserved = gw_connlimit_loopback(peer) ||
		   (l->reserved != NULL && peer != NULL && l->reserved(peer, l->reserved_data));
	if (reserved && l->n < l->max) {
		l->n++;
		return true;
	}
	l->refused++;
	if (gw_ratelimit_allow(&l->rl, now_ms, &suppressed)) {
		peer_text(peer, who, sizeof who);
		gw_warnf("connlimit",
			 "%s: refused a connection from %s: %u open, cap %u (%u reserved for "
			 "loopback and peers); %llu refused in all, %u not logged",
			 l->name, who, l->n, l->max, l->reserve, (unsigned long long)l->refused,
			 suppressed);
	}
	return false;
}

void gw_connlimit_release(struct gw_connlimit *l)
{
	if (l->n > 0) {
		l->n--;
	}
}
