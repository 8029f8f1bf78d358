/* plugin_hmac_auth.c: hmac-auth (priority 2530), as APISIX 3.x's.
 *
 * Happy path: "Authorization: Signature keyId="..",algorithm="..",
 * headers="@request-target date ..",signature="<base64>""; the consumer
 * whose hmac-auth credential has that key_id is found in O(1)
 * (plugin_consumer.c); the algorithm must be one of allowed_algorithms
 * (hmac-sha1/256/512); the Date header within clock_skew seconds (default
 * 300) of now; every header of signed_headers (default ["date"]) among the
 * signed ones. The signing string is the keyId then, per signed header,
 * "name: value" (or "@request-target" as "METHOD request_uri"), each line
 * ending with "\n"; its HMAC with the credential's secret_key must equal
 * the signature (constant time). hide_credentials removes Authorization.
 * The secret is sealed at rest (admin/apisix_consumer.c).
 * Failure modes (APISIX's bodies, 401 with WWW-Authenticate: hmac
 * realm="hmac"): no header "client request can't be validated: missing
 * Authorization header"; not Signature "client request can't be validated:
 * Authorization header does not start with 'Signature'"; anything else
 * (unknown key, algorithm, clock skew, unsigned header, bad signature)
 * "client request can't be validated", the reason in the log at info.
 * With anonymous_consumer, that consumer is attached instead.
 * validate_request_body: the Digest header must be "SHA-256=<base64>" of
 * the body; request.c waits for the whole body (r->body_hook), hashing it
 * as it comes, before the request goes upstream: a mismatch is the 401
 * above, a body over max_req_body_size (at most BODY_MAX here) 413
 * {"message": "request size N is greater than the maximum size M
 * allowed"}, as APISIX's.
 * Threads: compile on the config thread, rewrite on the request's worker. */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ALG_SHA1   1u
#define ALG_SHA256 2u
#define ALG_SHA512 4u
#define BODY_MAX   (8u << 20) /* max_req_body_size is capped here (memory per request) */
/* A signing string longer than this is refused: each signed header appears
 * once in an honest one (at most the head, 16 KiB, and the target), while
 * "headers" naming one big header thousands of times would otherwise make
 * a 16 KiB request cost tens of MiB and an HMAC over them. */
#define SIGNING_MAX (64u << 10)

static const struct {
	const char *name;
	unsigned bit;
	const EVP_MD *(*md)(void);
} algs[] = {
    {"hmac-sha1", ALG_SHA1, EVP_sha1},
    {"hmac-sha256", ALG_SHA256, EVP_sha256},
    {"hmac-sha512", ALG_SHA512, EVP_sha512},
};

struct hconf {
	unsigned allowed; /* ALG_* */
	int64_t skew;     /* clock_skew, s */
	const char **signed_headers;
	size_t n_signed;
	const char *www, *anon;
	bool hide, body;
	uint64_t body_max; /* max_req_body_size, at most BODY_MAX */
};

/* The body being hashed (r->body_hook_state). */
struct body {
	EVP_MD_CTX *md;
	uint64_t n;
	const char *digest; /* the Digest header */
	/* the hook of a plugin that ran before (request-validation), called
	 * first with its own state in r->body_hook_state, or NULL */
	int (*prev)(struct gw_proxy__req *r, const void *conf, const char *p, size_t n, bool eof);
	const void *prev_conf;
	void *prev_state;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct hconf *h = gw_proxy__c_alloc(c, sizeof *h);
	const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(j, "allowed_algorithms");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "signed_headers");
	const cJSON *skew = cJSON_GetObjectItemCaseSensitive(j, "clock_skew");
	const cJSON *realm = cJSON_GetObjectItemCaseSensitive(j, "realm");
	const cJSON *anon = cJSON_GetObjectItemCaseSensitive(j, "anonymous_consumer"), *it;
	char www[300];
	size_t n = 0;

	if (h == NULL) {
		return GW_ENOMEM;
	}
	h->allowed = allowed == NULL ? ALG_SHA1 | ALG_SHA256 | ALG_SHA512 : 0;
	cJSON_ArrayForEach(it, allowed)
	{
		for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
			if (cJSON_IsString(it) && strcmp(it->valuestring, algs[i].name) == 0) {
				h->allowed |= algs[i].bit;
			}
		}
	}
	h->skew = gw_json_int(skew, 1, INT32_MAX, 300);
	h->n_signed = sh == NULL ? 1 : (size_t)cJSON_GetArraySize(sh);
	h->signed_headers = gw_proxy__c_alloc(c, (h->n_signed + 1) * sizeof *h->signed_headers);
	if (h->signed_headers == NULL) {
		return GW_ENOMEM;
	}
	if (sh == NULL) {
		h->signed_headers[n++] = "date";
	}
	cJSON_ArrayForEach(it, sh)
	{
		if (cJSON_IsString(it) &&
		    (h->signed_headers[n++] = gw_proxy__c_strdup(c, it->valuestring)) == NULL) {
			return GW_ENOMEM;
		}
	}
	h->n_signed = n;
	snprintf(www, sizeof www, "hmac realm=\"%.256s\"",
		 cJSON_IsString(realm) ? realm->valuestring : "hmac");
	h->hide = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "hide_credentials"));
	h->body = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "validate_request_body"));
	h->body_max = (uint64_t)gw_json_int(
	    cJSON_GetObjectItemCaseSensitive(j, "max_req_body_size"), 1, BODY_MAX, BODY_MAX);
	if ((h->www = gw_proxy__c_strdup(c, www)) == NULL ||
	    (cJSON_IsString(anon) &&
	     (h->anon = gw_proxy__c_strdup(c, anon->valuestring)) == NULL)) {
		return GW_ENOMEM;
	}
	*out = h;
	return 0;
}

/* ---- requests */

struct params {
	const char *key_id, *algorithm, *signature, *headers; /* arena, NULL when absent */
};

/* The fields of "Signature k="v",k="v"" (@a after "Signature"). */
static void parse_fields(struct gw_proxy__req *r, const char *a, struct params *p)
{
	while (*a != '\0') {
		const char *comma = strchr(a, ','), *eq, *q;
		size_t kl;

		comma = comma ? comma : a + strlen(a);
		while (a < comma && (*a == ' ' || *a == '\t')) {
			a++;
		}
		eq = memchr(a, '=', (size_t)(comma - a));
		/* key="value" with the value up to its closing quote */
		if (eq != NULL && eq + 1 < comma && eq[1] == '"' &&
		    (q = memchr(eq + 2, '"', (size_t)(comma - eq - 2))) != NULL) {
			const char *v = gw_arena_strndup(&r->arena, eq + 2, (size_t)(q - eq - 2));
			kl = (size_t)(eq - a);
			if (kl == 5 && memcmp(a, "keyId", 5) == 0) {
				p->key_id = v;
			} else if (kl == 9 && memcmp(a, "algorithm", 9) == 0) {
				p->algorithm = v;
			} else if (kl == 9 && memcmp(a, "signature", 9) == 0) {
				p->signature = v;
			} else if (kl == 7 && memcmp(a, "headers", 7) == 0) {
				p->headers = v;
			}
		}
		a = *comma ? comma + 1 : comma;
	}
}

/* Is the space-separated list @list holding @name? */
static bool listed(const char *list, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *sp = strchr(p, ' ');
		size_t l = sp ? (size_t)(sp - p) : strlen(p);
		if (l == nl && memcmp(p, name, nl) == 0) {
			return true;
		}
		p = sp ? sp + 1 : NULL;
	}
	return false;
}

/* An HTTP date (RFC 7231 IMF-fixdate) in seconds, or -1. */
static int64_t http_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0') {
		return -1;
	}
	return (int64_t)timegm(&tm);
}

/* The signing string of @p for @r (arena), or NULL (also when longer than
 * SIGNING_MAX). */
static const char *signing_string(struct gw_proxy__req *r, const struct params *p)
{
	struct gw_buf b;
	const char *out;
	char name[128], uri[8192];

	gw_buf_init(&b);
	gw_buf_appends(&b, p->key_id);
	gw_buf_append(&b, "\n", 1);
	for (const char *h = p->headers; h != NULL && *h != '\0' && b.len <= SIGNING_MAX;) {
		const char *sp = strchr(h, ' '), *v;
		size_t l = sp ? (size_t)(sp - h) : strlen(h), vl;

		if (l > 0 && l < sizeof name) {
			memcpy(name, h, l);
			name[l] = '\0';
			if ((v = gw_proxy__plugin_req_header(r, name)) != NULL) {
				gw_buf_appends(&b, name);
				gw_buf_append(&b, ": ", 2);
				gw_buf_appends(&b, v);
				gw_buf_append(&b, "\n", 1);
			} else if (strcmp(name, "@request-target") == 0 &&
				   gw_proxy__plugin_var(r, "request_uri", uri, sizeof uri, &v,
							&vl)) {
				gw_buf_appends(&b, http_method_str((enum http_method)r->method));
				gw_buf_append(&b, " ", 1);
				gw_buf_append(&b, vl ? v : "/", vl ? vl : 1);
				gw_buf_append(&b, "\n", 1);
			}
		}
		h = sp ? sp + 1 : NULL;
	}
	out = b.len > SIGNING_MAX ? NULL : gw_arena_strndup(&r->arena, b.data ? b.data : "", b.len);
	gw_buf_close(&b);
	return out;
}

/* The consumer of @p, or NULL with the reason (for the log) in *@why. */
static const struct gw_proxy__consumer *validate(struct gw_proxy__req *r, const struct hconf *h,
						 const struct params *p, const char **why)
{
	const struct gw_proxy__consumer *co;
	const char *secret = NULL, *date, *ss;
	const EVP_MD *md = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE + 3];
	unsigned int ml = 0;
	ssize_t sl;
	int64_t t;

	if (p->key_id == NULL || p->signature == NULL) {
		*why = "keyId or signature missing";
		return NULL;
	}
	if (p->algorithm == NULL) {
		*why = "algorithm missing";
		return NULL;
	}
	co = gw_proxy__consumer_find(r->snap->cfg, GW_PROXY__CRED_HMAC, p->key_id,
				     strlen(p->key_id), &secret);
	if (co == NULL) {
		*why = "Invalid key_id";
		return NULL;
	}
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		if ((h->allowed & algs[i].bit) && strcmp(p->algorithm, algs[i].name) == 0) {
			md = algs[i].md();
		}
	}
	if (md == NULL) {
		*why = "Invalid algorithm";
		return NULL;
	}
	date = gw_proxy__plugin_req_header(r, "Date");
	if (date == NULL) {
		*why = "Date header missing. failed to validate clock skew";
		return NULL;
	}
	if ((t = http_time(date)) < 0) {
		*why = "Invalid GMT format time";
		return NULL;
	}
	if (llabs((long long)(time(NULL) - t)) > h->skew) {
		*why = "Clock skew exceeded";
		return NULL;
	}
	for (size_t i = 0; i < h->n_signed; i++) {
		if (!listed(p->headers, h->signed_headers[i])) {
			*why = "expected header missing in signing";
			return NULL;
		}
	}
	*why = "Invalid signature";
	ss = signing_string(r, p);
	sl = gw_proxy__plugin_b64dec(p->signature, strlen(p->signature), false, sig, sizeof sig);
	if (ss == NULL || sl < 0 ||
	    HMAC(md, secret, (int)strlen(secret), (const unsigned char *)ss, strlen(ss), mac,
		 &ml) == NULL ||
	    !gw_ct_equal(sig, (size_t)sl, mac, ml)) {
		return NULL;
	}
	return co;
}

/* The request is not validated: 401 (the anonymous consumer does not
 * stand in once a signature was accepted: the body belied it). */
static int refuse(struct gw_proxy__req *r, const struct hconf *h)
{
	gw_proxy__plugin_resp_header(r, "WWW-Authenticate", h->www);
	return gw_proxy__plugin_message(r, 401, "message", "client request can't be validated");
}

/* 413 with APISIX's words (core.request.get_body). */
static int too_large(struct gw_proxy__req *r, uint64_t size, uint64_t max)
{
	char msg[160];

	snprintf(msg, sizeof msg, "request size %llu is greater than the maximum size %llu allowed",
		 (unsigned long long)size, (unsigned long long)max);
	return gw_proxy__plugin_message(r, 413, "message", msg);
}

/* r->body_hook: hash the body as it comes; at its end compare with the
 * Digest header. */
static int body_hook(struct gw_proxy__req *r, const void *conf, const char *p, size_t n, bool eof)
{
	const struct hconf *h = conf;
	struct body *b = r->body_hook_state;
	unsigned char md[EVP_MAX_MD_SIZE], given[EVP_MAX_MD_SIZE + 3];
	unsigned int ml = 0;
	ssize_t gl;

	if (b->prev != NULL) {
		int rv;

		/* the chained hook sees its own state; if it answers, the
		 * request may be gone: not touched, log_hook finds b in
		 * body_hook_chain */
		r->body_hook_state = b->prev_state;
		r->body_hook_conf = b->prev_conf;
		r->body_hook_chain = b;
		rv = b->prev(r, b->prev_conf, p, n, eof);
		if (rv != 0) {
			return rv;
		}
		r->body_hook_state = b;
		r->body_hook_conf = h;
		r->body_hook_chain = NULL;
	}
	if (!eof) {
		b->n += n;
		if (b->n > h->body_max) {
			return too_large(r, b->n, h->body_max);
		}
		return EVP_DigestUpdate(b->md, p, n) == 1 ? 0 : refuse(r, h);
	}
	if (EVP_DigestFinal_ex(b->md, md, &ml) != 1 || strncmp(b->digest, "SHA-256=", 8) != 0 ||
	    (gl = gw_proxy__plugin_b64dec(b->digest + 8, strlen(b->digest + 8), false, given,
					  sizeof given)) < 0 ||
	    !gw_ct_equal(given, (size_t)gl, md, ml)) {
		gw_infof("proxy", "%s",
			 "hmac-auth: client request can't be validated: Invalid digest");
		return refuse(r, h);
	}
	return 0;
}

/* Wait for the body and check its digest (validate_request_body). 0, or
 * 1 when answered. */
static int want_body(struct gw_proxy__req *r, const struct hconf *h)
{
	const char *digest = gw_proxy__plugin_req_header(r, "Digest");
	struct body *b;

	if (digest == NULL) {
		gw_infof("proxy", "%s",
			 "hmac-auth: client request can't be validated: Invalid digest");
		return refuse(r, h);
	}
	if (r->content_length > 0 && (uint64_t)r->content_length > h->body_max) {
		return too_large(r, (uint64_t)r->content_length, h->body_max);
	}
	b = gw_arena_alloc(&r->arena, sizeof *b);
	if (b == NULL || (b->md = EVP_MD_CTX_new()) == NULL) {
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	b->n = 0;
	b->digest = gw_arena_strndup(&r->arena, digest, strlen(digest));
	b->prev = r->body_hook;
	b->prev_conf = r->body_hook_conf;
	b->prev_state = r->body_hook_state;
	r->body_hook_state = b; /* freed by log_hook whatever happens next */
	r->body_hook_conf = h;
	if (b->digest == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	r->body_hook = body_hook;
	return 0;
}

static void log_hook(struct gw_proxy__req *r, const void *conf)
{
	struct body *b = r->body_hook_chain;

	if (b != NULL) { /* the hook it chains answered */
		EVP_MD_CTX_free(b->md);
		r->body_hook_chain = NULL;
		return;
	}
	b = r->body_hook_state;
	if (b != NULL && r->body_hook_conf == conf) {
		EVP_MD_CTX_free(b->md);
		r->body_hook_state = NULL;
	}
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct hconf *h = conf;
	const char *a = gw_proxy__plugin_req_header(r, "Authorization");
	const struct gw_proxy__consumer *co = NULL;
	const char *why = NULL, *msg = "client request can't be validated";
	struct params p = {0};

	if (a == NULL) {
		msg = "client request can't be validated: missing Authorization header";
	} else if (strncmp(a, "Signature", 9) != 0) {
		msg = "client request can't be validated: Authorization header does not start "
		      "with 'Signature'";
	} else {
		parse_fields(r, a + 9, &p);
		co = validate(r, h, &p, &why);
		if (co == NULL) {
			gw_infof("proxy", "hmac-auth: client request can't be validated: %s", why);
		}
	}
	if (co == NULL) {
		if (h->anon == NULL || gw_proxy__consumer_by_name(r->snap->cfg, h->anon) == NULL) {
			gw_proxy__plugin_resp_header(r, "WWW-Authenticate", h->www);
		}
		if (gw_proxy__consumer_fallback(r, h->anon, msg) != 0) {
			return 1;
		}
	} else {
		gw_proxy__consumer_attach(r, co);
		if (h->body && want_body(r, h) != 0) {
			return 1;
		}
	}
	if (h->hide) {
		gw_proxy__plugin_req_header_del(r, "Authorization");
	}
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_hmac_auth = {
    .name = "hmac-auth",
    .priority = 2530,
    .compile = compile,
    .rewrite = rewrite,
    .log = log_hook,
};
