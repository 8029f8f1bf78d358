/* reason.h: HTTP reason phrases, one table with two wordings.
 *
 * The control plane (lib/httpd, the etcd and Admin APIs) speaks the RFC 9110
 * wording ("Payload Too Large"); the data plane answers as nginx (and so
 * APISIX) does ("Request Entity Too Large", "Not Allowed"), which clients of
 * an APISIX replacement may match on. A status a column has no phrase for
 * is "Unknown" in that column. Constant data: any thread. */
#ifndef GW_REASON_H
#define GW_REASON_H

/* RFC wording of @status; never NULL, static. */
const char *gw_reason_rfc(int status);
/* nginx's wording of @status; never NULL, static. */
const char *gw_reason_nginx(int status);

#endif
