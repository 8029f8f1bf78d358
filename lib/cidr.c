/* cidr.c: CIDR lists (see cidr.h). Parsing refuses anything inet_pton does
 * not take or a prefix past the family's width; matching compares whole
 * bytes, then the masked last one. */
#include "config.h"

#include "lib/cidr.h"
#include "lib/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_cidr_parse(const char *list, struct gw_cidr *out, int max, int *n)
{
	char buf[1024], *tok, *save = NULL, *slash, *end;
	long bits;

	if (strlen(list) >= sizeof buf) {
		return GW_EINVAL;
	}
	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		struct gw_cidr *c;
		if (*n >= max) {
			return GW_EINVAL;
		}
		c = &out[*n];
		memset(c, 0, sizeof *c);
		slash = strchr(tok, '/');
		if (slash) {
			*slash = '\0';
		}
		c->family = strchr(tok, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(c->family, tok, c->addr) != 1) {
			return GW_EINVAL;
		}
		bits = c->family == AF_INET ? 32 : 128;
		if (slash) {
			bits = strtol(slash + 1, &end, 10);
			if (*end != '\0' || slash[1] == '\0' || bits < 0 ||
			    bits > (c->family == AF_INET ? 32 : 128)) {
				return GW_EINVAL;
			}
		}
		c->bits = (int)bits;
		(*n)++;
	}
	return 0;
}

static bool match_one(const struct gw_cidr *c, const struct sockaddr *sa)
{
	const unsigned char *p;
	int family = sa->sa_family, bits = c->bits, i;

	if (family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		p = (const unsigned char *)a6;
		if (c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(a6)) {
			p += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	if (family != c->family) {
		return false;
	}
	for (i = 0; bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((p[i] & mask) != (c->addr[i] & mask)) {
			return false;
		}
	}
	return true;
}

bool gw_cidr_match(const struct gw_cidr *cidrs, int n, const struct sockaddr *sa)
{
	for (int i = 0; i < n; i++) {
		if (match_one(&cidrs[i], sa)) {
			return true;
		}
	}
	return false;
}
