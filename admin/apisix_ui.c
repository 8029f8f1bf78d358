/* apisix_ui.c: serving the embedded dashboard (apisix_ui.h).
 *
 * Happy path: GET /ui/ -> index.html, GET /ui/js/app.js -> that asset,
 * gzip'ed when Accept-Encoding allows it, with its ETag; a revalidation with
 * a matching If-None-Match gets 304 and no body.
 * Failure modes: a method other than GET/HEAD is 405, an unknown path 404
 * (plain text; nothing is read from disk, so no path can escape the table).
 * Threads: the Admin API's loop. */
#include "config.h"

#include "admin/apisix_int.h"
#include "admin/apisix_ui.h"
#include "lib/err.h"
#include "lib/httpd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UI_CSP                                                                                     \
	"Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "       \
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "           \
	"frame-ancestors 'none'; form-action 'self'\r\n"
#define UI_HDRS                                                                                    \
	UI_CSP                                                                                     \
	"X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"                             \
	"Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"

const struct gw_admin_ui_asset *gw_admin_ui_find(const char *name)
{
	size_t i;

	if (*name == '\0') {
		name = "index.html";
	}
	for (i = 0; i < gw_admin_ui_n_assets; i++) {
		if (strcmp(gw_admin_ui_assets[i].name, name) == 0) {
			return &gw_admin_ui_assets[i];
		}
	}
	return NULL;
}

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".json", "application/json"},
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(dot, types[i].ext) == 0) {
			return types[i].type;
		}
	}
	return "application/octet-stream";
}

/* Does the comma-separated header value @list name @tok? With @etags, an
 * If-None-Match list: entity tags compared weakly (a W/ prefix ignored, RFC
 * 9110 13.1.2), "*" matches any. Otherwise an Accept-Encoding list: the
 * coding compared case-insensitively, refused by ";q=0" (or q=0.000). */
static bool list_has(const char *list, const char *tok, bool etags)
{
	size_t tl = strlen(tok);
	const char *p = list;

	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ','), *q;
		size_t n;

		while (*p == ' ' || *p == '\t') {
			p++;
		}
		n = e ? (size_t)(e - p) : strlen(p);
		if (etags) {
			if (n >= 2 && strncmp(p, "W/", 2) == 0) {
				p += 2;
				n -= 2;
			}
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
				n--;
			}
			if ((n == tl && strncmp(p, tok, n) == 0) || (n == 1 && *p == '*')) {
				return true;
			}
		} else if (n >= tl && strncasecmp(p, tok, tl) == 0 &&
			   (n == tl || p[tl] == ';' || p[tl] == ' ')) {
			q = memchr(p + tl, '=', n - tl);
			return q == NULL || q[-1] != 'q' || strtod(q + 1, NULL) > 0;
		}
		p = e ? e + 1 : NULL;
	}
	return false;
}

void gw_admin__ui_serve(struct gw_http_req *req)
{
	const char *name = req->path + 3; /* after "/ui" */
	const struct gw_admin_ui_asset *as;
	const char *inm, *ae;
	char etag[80], hdrs[1024];
	bool gz;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		gw_http_respond(req, 405, "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n",
				"method not allowed\n", 19);
		return;
	}
	if (*name == '\0') {
		gw_http_respond(req, 301, "text/plain; charset=utf-8", "Location: /ui/\r\n",
				"see /ui/\n", 9);
		return;
	}
	as = gw_admin_ui_find(name + 1);
	if (as == NULL) {
		gw_http_respond(req, 404, "text/plain; charset=utf-8", UI_HDRS, "not found\n", 10);
		return;
	}
	ae = gw_http_header(req, "accept-encoding");
	gz = ae != NULL && list_has(ae, "gzip", false);
	/* one ETag per representation: the gzip'ed bytes are another one */
	snprintf(etag, sizeof(etag), "%.*s%s\"", (int)strlen(as->etag) - 1, as->etag,
		 gz ? "-gz" : "");
	inm = gw_http_header(req, "if-none-match");
	snprintf(hdrs, sizeof(hdrs), "ETag: %s\r\n%s%s", etag,
		 gz ? "Content-Encoding: gzip\r\n" : "", UI_HDRS);
	if (inm != NULL && list_has(inm, etag, true)) {
		/* 304 carries no Content-Encoding: the headers of the 200 it stands for */
		snprintf(hdrs, sizeof(hdrs), "ETag: %s\r\n%s", etag, UI_HDRS);
		gw_http_respond(req, 304, NULL, hdrs, NULL, 0);
		return;
	}
	gw_http_respond(req, 200, content_type(as->name), hdrs, gz ? as->gz : as->raw,
			gz ? as->gz_len : as->raw_len);
}

/* ---- the node's own data for the health and traffic pages -------------- */

static void node_read(struct gw_admin *a, struct gw_http_req *req, const char *what,
		      const char *ctype)
{
	char *out = NULL;
	size_t len = 0;
	int rv =
	    a->node_read != NULL ? a->node_read(a->node_data, what, &out, &len) : GW_EUNHEALTHY;

	if (rv != 0) {
		gw_admin__send_err(req, rv,
				   rv == GW_EUNHEALTHY ? "this node's proxy is not running" : NULL);
		return;
	}
	gw_http_respond(req, 200, ctype, "X-API-VERSION: v3\r\n", out, len);
	free(out);
}

void gw_admin__h_node_health(struct gw_admin *a, struct gw_http_req *req,
			     const struct gw_admin__match *m)
{
	(void)m;
	node_read(a, req, "health", "application/json");
}

void gw_admin__h_node_metrics(struct gw_admin *a, struct gw_http_req *req,
			      const struct gw_admin__match *m)
{
	(void)m;
	node_read(a, req, "metrics", "text/plain; version=0.0.4");
}
