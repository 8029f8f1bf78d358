/* plugin_redirect.c: redirect (priority 900), as APISIX's.
 *
 * Happy path (rewrite phase): the new location is built from one of
 *  - http_to_https: when the request's scheme (X-Forwarded-Proto first) is
 *    not https, "https://$host$request_uri" with 301 for GET and HEAD and
 *    308 for other methods (the method and body must be kept); the port of
 *    the node's first TLS listener follows $host unless it is 443;
 *  - uri: a template where $name and ${name} are variables (as
 *    proxy-rewrite's), "\$name" stays as it is written;
 *  - regex_uri [pattern, template]: the first match in the path replaced
 *    ($1..$9); no match, no redirect;
 * then encode_uri percent-encodes the part before '?' as nginx's
 * ngx_escape_uri does, append_query_string appends the request's query,
 * and the request is answered with ret_code (302) and Location.
 * Failure modes: none at request time; the Admin API refuses
 * http_to_https with append_query_string (APISIX's words) and bad regexes.
 * Threads: compile on the config thread, rewrite on the worker. */
#include "config.h"

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/regex.h"
#include "proxy/plugin_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct redirect {
	int code; /* ret_code */
	const char *uri;
	struct gw_regex *re;
	const char *repl;
	bool to_https, encode, append_query;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct redirect *k = gw_proxy__c_alloc(c, sizeof *k);
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "ret_code");
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(j, "uri");
	const cJSON *ru = cJSON_GetObjectItemCaseSensitive(j, "regex_uri");
	int rv;

	if (k == NULL) {
		return GW_ENOMEM;
	}
	k->code = (int)gw_json_int(code, 200, 599, 302);
	if (cJSON_IsString(uri) && (k->uri = gw_proxy__c_strdup(c, uri->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	if (cJSON_IsArray(ru)) {
		const cJSON *pat = cJSON_GetArrayItem(ru, 0), *rep = cJSON_GetArrayItem(ru, 1);
		if (!cJSON_IsString(pat) || !cJSON_IsString(rep)) {
			return gw_proxy__c_fail(c, "%s",
						"redirect: regex_uri is [pattern, replacement]");
		}
		if ((rv = gw_proxy__c_regex(c, pat->valuestring, 0, &k->re)) != 0) {
			return rv;
		}
		if ((k->repl = gw_proxy__c_strdup(c, rep->valuestring)) == NULL) {
			return GW_ENOMEM;
		}
	}
	k->to_https = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "http_to_https"));
	k->encode = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "encode_uri"));
	k->append_query = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "append_query_string"));
	*out = k;
	return 0;
}

static bool name_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_';
}

/* Append variable @name (@n bytes) of @r, if it has a value. */
static void append_var(struct gw_proxy__req *r, struct gw_buf *b, const char *name, size_t n)
{
	char nm[128], vb[8192];
	const char *v;
	size_t vl;

	if (n == 0 || n >= sizeof nm) {
		return;
	}
	memcpy(nm, name, n);
	nm[n] = '\0';
	if (gw_proxy__plugin_var(r, nm, vb, sizeof vb, &v, &vl)) {
		gw_buf_append(b, v, vl);
	}
}

/* APISIX's concat_new_uri: @t with $name and ${name} resolved. */
static void expand(struct gw_proxy__req *r, struct gw_buf *b, const char *t)
{
	while (*t != '\0') {
		size_t k = 0;
		if (t[0] == '\\' && t[1] == '$' && name_char(t[2])) {
			for (k = 2; name_char(t[k]); k++) {
			}
			gw_buf_append(b, t, k); /* kept as written, backslash included */
		} else if (t[0] == '$' && t[1] == '{') {
			const char *end = t + 2;
			while (name_char(*end)) {
				end++;
			}
			if (*end == '}' && end > t + 2) {
				append_var(r, b, t + 2, (size_t)(end - t - 2));
				k = (size_t)(end - t) + 1;
			} else {
				gw_buf_append(b, "$", 1);
				k = 1;
			}
		} else if (t[0] == '$') {
			for (k = 1; name_char(t[k]); k++) {
			}
			if (k > 1) {
				append_var(r, b, t + 1, k - 1);
			} else {
				gw_buf_append(b, "$", 1);
			}
		} else {
			if (t[0] != '\\') { /* a lone backslash matches none of APISIX's forms */
				gw_buf_append(b, t, 1);
			}
			k = 1;
		}
		t += k;
	}
}

/* nginx's ngx_escape_uri (NGX_ESCAPE_URI): controls, space, '#', '%',
 * '?', DEL and bytes over 0x7f become %XX. */
static void escape_uri(struct gw_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '#' || ch == '%' || ch == '?') {
			char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			gw_buf_append(b, e, 3);
		} else {
			gw_buf_append(b, s + i, 1);
		}
	}
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct redirect *k = conf;
	const char *uri = k->uri, *loc = NULL, *q;
	int code = k->code;
	struct gw_buf b, o;
	char sb[64], pbuf[64];
	size_t sl;

	if (k->to_https) {
		const char *scheme = gw_proxy__plugin_req_header(r, "X-Forwarded-Proto");
		if (scheme == NULL &&
		    gw_proxy__plugin_var(r, "scheme", sb, sizeof sb, &scheme, &sl)) {
			scheme = sl == 5 && memcmp(scheme, "https", 5) == 0 ? "https" : "http";
		}
		if (scheme == NULL || strcmp(scheme, "https") != 0) {
			/* the node's TLS listener port, as APISIX takes one of
			 * its ssl listen ports; none or 443: no port */
			int port = gw_proxy__tls_port(r->dc->w->p);
			uri = "https://$host$request_uri";
			if (port > 0 && port != 443) {
				snprintf(pbuf, sizeof pbuf, "https://$host:%d$request_uri", port);
				uri = pbuf;
			}
			code = r->method == HTTP_GET || r->method == HTTP_HEAD ? 301 : 308;
		}
	}
	gw_buf_init(&b);
	if (uri != NULL) {
		expand(r, &b, uri);
		loc = gw_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
	} else if (k->re != NULL) {
		char *path = gw_arena_strndup(&r->arena, r->path, r->path_len);
		loc = path ? gw_proxy__plugin_regex_sub(r, k->re, path, k->repl) : NULL;
	}
	gw_buf_close(&b);
	if (loc == NULL) {
		return 0; /* nothing to redirect to: the request goes on */
	}
	gw_buf_init(&o);
	q = strchr(loc, '?');
	if (k->encode) {
		size_t n = q ? (size_t)(q - loc) : strlen(loc);
		escape_uri(&o, loc, n);
		gw_buf_appends(&o, loc + n);
	} else {
		gw_buf_appends(&o, loc);
	}
	if (k->append_query && r->query_len > 0) {
		gw_buf_append(&o, q ? "&" : "?", 1);
		gw_buf_append(&o, r->query, r->query_len);
	}
	loc = gw_arena_strndup(&r->arena, o.data ? o.data : "", o.len);
	gw_buf_close(&o);
	if (loc == NULL) {
		return gw_proxy__plugin_respond(r, 500, NULL);
	}
	gw_proxy__plugin_resp_header(r, "Location", loc);
	return gw_proxy__plugin_respond(r, code, NULL);
}

const struct gw_proxy__plugin gw_proxy__plugin_redirect = {
    .name = "redirect",
    .priority = 900,
    .compile = compile,
    .rewrite = rewrite,
};
