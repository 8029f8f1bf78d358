/* reason.c: see reason.h. The table is indexed by status (100..599), so a
 * lookup is one load on the data plane's answer path. A NULL cell keeps a
 * column's old answer ("Unknown") for a status its caller never used. */
#include "config.h"

#include "lib/reason.h"

#include <stddef.h>

struct reason {
	const char *rfc;   /* RFC 9110 wording (control plane) */
	const char *nginx; /* nginx's wording (data plane) */
};

#define R(code, rfc, nginx) [(code)-100] = {rfc, nginx}

static const struct reason table[500] = {
    R(100, "Continue", "Continue"),
    R(101, "Switching Protocols", "Switching Protocols"),
    R(200, "OK", "OK"),
    R(201, "Created", "Created"),
    R(202, "Accepted", "Accepted"),
    R(204, "No Content", "No Content"),
    R(206, NULL, "Partial Content"),
    R(301, "Moved Permanently", "Moved Permanently"),
    R(302, "Found", "Found"),
    R(304, "Not Modified", "Not Modified"),
    R(307, NULL, "Temporary Redirect"),
    R(308, NULL, "Permanent Redirect"),
    R(400, "Bad Request", "Bad Request"),
    R(401, "Unauthorized", "Unauthorized"),
    R(403, "Forbidden", "Forbidden"),
    R(404, "Not Found", "Not Found"),
    R(405, "Method Not Allowed", "Not Allowed"),
    R(408, "Request Timeout", "Request Time-out"),
    R(409, "Conflict", NULL),
    R(411, "Length Required", NULL),
    R(412, "Precondition Failed", NULL),
    R(413, "Payload Too Large", "Request Entity Too Large"),
    R(414, "URI Too Long", "Request-URI Too Large"),
    R(415, "Unsupported Media Type", NULL),
    R(417, NULL, "Expectation Failed"),
    R(429, "Too Many Requests", "Too Many Requests"),
    R(431, "Request Header Fields Too Large", "Request Header Fields Too Large"),
    R(500, "Internal Server Error", "Internal Server Error"),
    R(501, "Not Implemented", "Not Implemented"),
    R(502, "Bad Gateway", "Bad Gateway"),
    R(503, "Service Unavailable", "Service Temporarily Unavailable"),
    R(504, "Gateway Timeout", "Gateway Time-out"),
    R(505, NULL, "HTTP Version Not Supported"),
};

#undef R

static const struct reason *row(int status)
{
	if (status < 100 || status > 599) {
		return NULL;
	}
	return &table[status - 100];
}

const char *gw_reason_rfc(int status)
{
	const struct reason *r = row(status);
	return r != NULL && r->rfc != NULL ? r->rfc : "Unknown";
}

const char *gw_reason_nginx(int status)
{
	const struct reason *r = row(status);
	return r != NULL && r->nginx != NULL ? r->nginx : "Unknown";
}
