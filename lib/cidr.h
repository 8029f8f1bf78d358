/* cidr.h: IPv4/IPv6 CIDR lists matched against peer addresses.
 *
 * Parsed once from text ("127.0.0.0/8,::1/128"; a bare address is a /32 or
 * /128) into a caller-owned array, then matched against socket addresses
 * (an IPv4-mapped IPv6 peer matches IPv4 entries). Used by the listeners
 * that give some clients more trust: the Admin API's allow-list and the etcd
 * API's trusted (on-host) clients. Pure functions; any thread. */
#ifndef GW_CIDR_H
#define GW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct gw_cidr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address (4 bytes used for IPv4) */
	int bits;               /* prefix length */
};

/* Append the CIDRs of @list (separated by commas or spaces) to @out, which
 * holds *n entries of @max. 0, or GW_EINVAL for a malformed entry or more
 * than @max in all (then *n is unspecified). Nothing is kept. */
int gw_cidr_parse(const char *list, struct gw_cidr *out, int max, int *n);

/* True when @sa (AF_INET or AF_INET6; any other family never matches) lies
 * in one of the @n entries of @cidrs. */
bool gw_cidr_match(const struct gw_cidr *cidrs, int n, const struct sockaddr *sa);

#endif
