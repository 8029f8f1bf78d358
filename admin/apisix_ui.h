/* apisix_ui.h: the dashboard's assets (admin/ui/), embedded into the binary
 * at build time by admin/ui/embed.sh, and their server.
 *
 * Every node serves the dashboard on its Admin listener at /ui/ (see
 * docs/dashboard.md): static files only; the page itself calls the Admin
 * API with the key the user logs in with, so loading it needs no key.
 * Threads: the table is constant (any thread); gw_admin__ui_serve runs on
 * the Admin API's loop. */
#ifndef GW_ADMIN_APISIX_UI_H
#define GW_ADMIN_APISIX_UI_H

#include <stddef.h>

struct gw_http_req;

struct gw_admin_ui_asset {
	const char *name;         /* path below /ui/, e.g. "js/app.js" */
	const unsigned char *raw; /* the file's bytes */
	size_t raw_len;
	const unsigned char *gz; /* the same, gzip'ed at build time */
	size_t gz_len;
	const char *etag; /* "\"<crc>-<size>\"" of the raw bytes */
};

extern const struct gw_admin_ui_asset gw_admin_ui_assets[];
extern const size_t gw_admin_ui_n_assets;

/* The asset at @name (below /ui/; "" = index.html), or NULL. */
const struct gw_admin_ui_asset *gw_admin_ui_find(const char *name);

/* Answer a request whose path is /ui or starts with /ui/: GET and HEAD
 * only (405 otherwise), /ui redirects to /ui/, an unknown file is 404.
 * Headers: ETag (304 on a matching If-None-Match), Content-Encoding: gzip
 * when the client accepts it, a strict Content-Security-Policy (only this
 * origin, no inline script or style), X-Content-Type-Options: nosniff,
 * X-Frame-Options: DENY, Referrer-Policy: no-referrer, Cache-Control:
 * no-cache (revalidated every load: a new build is picked up at once). */
void gw_admin__ui_serve(struct gw_http_req *req);

#endif
