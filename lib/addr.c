/* addr.c: see addr.h. */
#include "config.h"

#include "lib/addr.h"
#include "lib/err.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port)
{
	char *end;
	long v;
	if (*s == '\0' || strlen(s) > 5) {
		return -1;
	}
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9') {
			return -1;
		}
	}
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535) {
		return -1;
	}
	*port = (int)v;
	return 0;
}

int gw_addr_parse(const char *s, struct gw_addr *out, const char **why)
{
	char tmp[128];
	char *host, *port_s, *comma;
	int port;

	memset(out, 0, sizeof *out);
	if (s == NULL || *s == '\0') {
		*why = "empty address";
		return GW_EADDR;
	}
	if (strlen(s) >= sizeof tmp) {
		*why = "address too long";
		return GW_EADDR;
	}
	strcpy(tmp, s);
	comma = strchr(tmp, ',');
	if (comma != NULL) {
		*comma = '\0';
		snprintf(out->opts, sizeof out->opts, "%s", comma + 1);
	}
	if (tmp[0] == '[') {
		char *close = strchr(tmp, ']');
		if (close == NULL || close[1] != ':') {
			*why = "expected [ipv6]:port";
			return GW_EADDR;
		}
		*close = '\0';
		host = tmp + 1;
		port_s = close + 2;
	} else {
		char *colon = strrchr(tmp, ':');
		if (colon == NULL) {
			*why = "expected host:port";
			return GW_EADDR;
		}
		if (strchr(tmp, ':') != colon) {
			*why = "IPv6 addresses need brackets: [ipv6]:port";
			return GW_EADDR;
		}
		*colon = '\0';
		host = tmp;
		port_s = colon + 1;
	}
	if (parse_port(port_s, &port) != 0) {
		*why = "port must be a number from 1 to 65535";
		return GW_EADDR;
	}
	if (*host == '\0') {
		host = "0.0.0.0";
	} else if (strcmp(host, "localhost") == 0) {
		host = "127.0.0.1";
	}
	if (tmp[0] == '[') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address";
			return GW_EADDR;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
			*why = "not a numeric IPv4 address";
			return GW_EADDR;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	}
	gw_addr_format((const struct sockaddr *)&out->ss, out->text, sizeof out->text);
	return 0;
}

int gw_addr_port(const struct gw_addr *a)
{
	if (a->ss.ss_family == AF_INET6) {
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	}
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void gw_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%d", ip, ntohs(a6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%d", ip, ntohs(a4->sin_port));
	} else {
		snprintf(buf, len, "?");
	}
}

#ifndef TCP_RTO_MAX_MS
#define TCP_RTO_MAX_MS 44 /* Linux 6.15 (include/uapi/linux/tcp.h) */
#endif
#ifndef TCP_RTO_MIN_US
#define TCP_RTO_MIN_US 45 /* Linux 6.16 */
#endif
#define PEER_RTO_MIN_US 30000 /* Linux's default floor is 200 ms */

bool gw_addr_peer_sockopts(int fd, unsigned rto_max_ms)
{
	int v = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &v, sizeof v);
	/* A lost segment of a thin peer stream waits one RTO; Linux keeps
	 * RTO >= srtt + rto_min, so a 30 ms floor still leaves wide-area
	 * links their own margin. Older kernels refuse it: harmless. */
	v = PEER_RTO_MIN_US;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_RTO_MIN_US, &v, sizeof v);
	v = rto_max_ms < 1000 ? 1000 : (int)rto_max_ms;
	return setsockopt(fd, IPPROTO_TCP, TCP_RTO_MAX_MS, &v, sizeof v) == 0;
}

void gw_addr_quickack(int fd)
{
	int v = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &v, sizeof v);
}
