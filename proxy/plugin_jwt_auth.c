/* plugin_jwt_auth.c: jwt-auth (priority 2510), as APISIX 3.x's.
 *
 * Happy path: the token is read from the request header "header" (default
 * Authorization, with or without "Bearer "), else the query argument
 * "query" (default jwt), else the cookie "cookie" (default jwt); its
 * header and payload are decoded (base64url JSON), the payload's
 * key_claim_name claim (default "key") finds the consumer's jwt-auth
 * credential in O(1) (plugin_consumer.c), the signature is verified with
 * the credential's algorithm (HS256/384/512 with the secret, compared in
 * constant time; RS*, PS*, ES* and EdDSA with the public key, by OpenSSL),
 * then the claims of claims_to_verify (default exp and nbf, each when
 * present, with the credential's lifetime_grace_period), and the consumer
 * is attached. hide_credentials removes the token from where it was found.
 * Credentials: the secret is sealed at rest like basic-auth's password
 * (admin/apisix_consumer.c) and opened into the index; the public key is
 * parsed once per snapshot (EVP_PKEY, freed with the index).
 * Failure modes (APISIX's bodies, 401 with WWW-Authenticate: Bearer
 * realm="<realm>"): no token "Missing JWT token in request"; not three
 * base64url parts of JSON "JWT token invalid"; no key claim "missing user
 * key in JWT token"; a key of no consumer "Invalid user key in JWT token";
 * a bad signature, an algorithm other than the credential's (alg
 * confusion), an expired or not yet valid token "failed to verify jwt". With anonymous_consumer,
 * that consumer is attached instead. Threads: compile on the config thread, rewrite on the
 * request's worker (EVP_PKEY is only read there). */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX 8192 /* longer tokens are refused as invalid */
#define SIG_MAX   1024 /* RSA 8192 */

enum kind { HS, RS, PS, ES, ED };

static const struct alg {
	const char *name;
	enum kind kind;
	const EVP_MD *(*md)(void);
	size_t es_len; /* ES: r | s, raw */
} algs[] = {
    {"HS256", HS, EVP_sha256, 0},  {"HS384", HS, EVP_sha384, 0},  {"HS512", HS, EVP_sha512, 0},
    {"RS256", RS, EVP_sha256, 0},  {"RS384", RS, EVP_sha384, 0},  {"RS512", RS, EVP_sha512, 0},
    {"PS256", PS, EVP_sha256, 0},  {"PS384", PS, EVP_sha384, 0},  {"PS512", PS, EVP_sha512, 0},
    {"ES256", ES, EVP_sha256, 64}, {"ES384", ES, EVP_sha384, 96}, {"ES512", ES, EVP_sha512, 132},
    {"EdDSA", ED, NULL, 0},
};

static const struct alg *alg_find(const char *name)
{
	for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
		if (strcmp(algs[i].name, name) == 0) {
			return &algs[i];
		}
	}
	return NULL;
}

/* ---- credentials */

struct jcred {
	const struct alg *alg;
	unsigned char *secret; /* HS: the key (base64_secret decoded), owned */
	size_t secret_len;
	EVP_PKEY *pkey; /* others, owned */
	int64_t grace;  /* lifetime_grace_period, s */
};

static void cred_free(void *data)
{
	struct jcred *j = data;

	if (j->secret != NULL) {
		OPENSSL_cleanse(j->secret, j->secret_len);
		free(j->secret);
	}
	EVP_PKEY_free(j->pkey);
	free(j);
}

static bool key_fits(const struct alg *a, const EVP_PKEY *k)
{
	int id = EVP_PKEY_get_base_id(k);

	switch (a->kind) {
	case RS:
		return id == EVP_PKEY_RSA;
	case PS:
		return id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS;
	case ES:
		return id == EVP_PKEY_EC &&
		       EVP_PKEY_get_bits(k) == (a->es_len == 132 ? 521 : (int)a->es_len * 4);
	case ED:
		return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
	default:
		return false;
	}
}

static int cred_compile(struct gw_proxy__compiler *c, const cJSON *conf, const char *secret,
			void **out)
{
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(conf, "algorithm");
	const cJSON *pub = cJSON_GetObjectItemCaseSensitive(conf, "public_key");
	const cJSON *grace = cJSON_GetObjectItemCaseSensitive(conf, "lifetime_grace_period");
	struct jcred *j = calloc(1, sizeof *j);
	const char *why = NULL;

	(void)c;
	if (j == NULL) {
		return GW_ENOMEM;
	}
	j->alg = alg_find(cJSON_IsString(alg) ? alg->valuestring : "HS256");
	j->grace = gw_json_int(grace, 0, INT32_MAX, 0);
	if (j->alg == NULL) {
		why = "unknown algorithm";
	} else if (j->alg->kind == HS) {
		size_t n = strlen(secret);
		j->secret = malloc(n + 1);
		if (j->secret == NULL) {
			cred_free(j);
			return GW_ENOMEM;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(conf, "base64_secret"))) {
			ssize_t len = gw_proxy__plugin_b64dec(secret, n, false, j->secret, n + 1);
			why = len < 0 ? "the secret is not in base64 format" : NULL;
			j->secret_len = len < 0 ? 0 : (size_t)len;
		} else {
			memcpy(j->secret, secret, n);
			j->secret_len = n;
		}
		if (why == NULL && j->secret_len == 0) {
			why = "empty secret";
		}
	} else if (!cJSON_IsString(pub)) {
		why = "missing valid public key";
	} else {
		BIO *b = BIO_new_mem_buf(pub->valuestring, -1);
		j->pkey = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (j->pkey == NULL || !key_fits(j->alg, j->pkey)) {
			why = "the public key does not parse or fit the algorithm";
		}
	}
	if (why != NULL) {
		gw_warnf("proxy", "jwt-auth credential: %s", why);
		cred_free(j);
		return GW_EINVAL;
	}
	*out = j;
	return 0;
}

const struct gw_proxy__cred_ops gw_proxy__jwt_cred_ops = {cred_compile, cred_free};

/* ---- the route's configuration */

struct jconf {
	const char *header, *query, *cookie, *claim;
	const char *www; /* WWW-Authenticate value */
	const char *anon;
	bool hide, exp, nbf;
};

static int compile(struct gw_proxy__compiler *c, const cJSON *j, const void **out)
{
	struct jconf *k = gw_proxy__c_alloc(c, sizeof *k);
	const cJSON *claims = cJSON_GetObjectItemCaseSensitive(j, "claims_to_verify"), *it;
	const cJSON *anon = cJSON_GetObjectItemCaseSensitive(j, "anonymous_consumer");
	char www[300];

	if (k == NULL) {
		return GW_ENOMEM;
	}
	snprintf(www, sizeof www, "Bearer realm=\"%.256s\"",
		 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "realm"))
		     ? cJSON_GetObjectItemCaseSensitive(j, "realm")->valuestring
		     : "jwt");
	k->header = gw_proxy__c_str(c, j, "header", "authorization");
	k->query = gw_proxy__c_str(c, j, "query", "jwt");
	k->cookie = gw_proxy__c_str(c, j, "cookie", "jwt");
	k->claim = gw_proxy__c_str(c, j, "key_claim_name", "key");
	k->www = gw_proxy__c_strdup(c, www);
	if (k->header == NULL || k->query == NULL || k->cookie == NULL || k->claim == NULL ||
	    k->www == NULL) {
		return GW_ENOMEM;
	}
	k->hide = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "hide_credentials"));
	if (cJSON_IsString(anon) && (k->anon = gw_proxy__c_strdup(c, anon->valuestring)) == NULL) {
		return GW_ENOMEM;
	}
	k->exp = k->nbf = claims == NULL;
	cJSON_ArrayForEach(it, claims)
	{
		if (cJSON_IsString(it)) {
			k->exp = k->exp || strcmp(it->valuestring, "exp") == 0;
			k->nbf = k->nbf || strcmp(it->valuestring, "nbf") == 0;
		}
	}
	*out = k;
	return 0;
}

/* ---- requests */

/* The Cookie header @src without the cookie @name ("; "-joined). */
static const char *drop_cookie(struct gw_proxy__req *r, const char *src, const char *name)
{
	size_t nl = strlen(name), n = 0, sl = strlen(src);
	/* "a;b" becomes "a; b": each ';' may gain a byte */
	char *out = gw_arena_alloc(&r->arena, 2 * sl + 1);
	const char *p = src, *end = src + sl;

	if (out == NULL) {
		return src;
	}
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *eq;
		semi = semi ? semi : end;
		while (p < semi && *p == ' ') {
			p++;
		}
		eq = memchr(p, '=', (size_t)(semi - p));
		if (p < semi &&
		    !(eq != NULL && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0)) {
			if (n > 0) {
				out[n++] = ';';
				out[n++] = ' ';
			}
			memcpy(out + n, p, (size_t)(semi - p));
			n += (size_t)(semi - p);
		}
		p = semi + 1;
	}
	out[n] = '\0';
	return out;
}

/* The token of @r (arena), hidden from upstream with hide_credentials, or
 * NULL. */
static const char *fetch_token(struct gw_proxy__req *r, const struct jconf *k)
{
	const char *t = gw_proxy__plugin_req_header(r, k->header), *v;
	char name[300], buf[TOKEN_MAX];
	size_t len;

	if (t != NULL) {
		t = gw_arena_strndup(&r->arena, t, strlen(t));
		if (k->hide) {
			gw_proxy__plugin_req_header_del(r, k->header);
		}
		if (t != NULL && (strncmp(t, "Bearer ", 7) == 0 || strncmp(t, "bearer ", 7) == 0)) {
			t += 7;
		}
		return t;
	}
	snprintf(name, sizeof name, "arg_%s", k->query);
	if (gw_proxy__plugin_var(r, name, buf, sizeof buf, &v, &len)) {
		t = gw_arena_strndup(&r->arena, v, len);
		if (k->hide) {
			gw_proxy__plugin_drop_arg(r, k->query);
		}
		return t;
	}
	snprintf(name, sizeof name, "cookie_%s", k->cookie);
	if (gw_proxy__plugin_var(r, name, buf, sizeof buf, &v, &len)) {
		t = gw_arena_strndup(&r->arena, v, len);
		if (k->hide) {
			const char *src = gw_proxy__plugin_req_header(r, "Cookie");
			if (src != NULL) {
				gw_proxy__plugin_req_header_set(r, "Cookie",
								drop_cookie(r, src, k->cookie));
			}
		}
		return t;
	}
	return NULL;
}

/* The base64url JSON object of @s (@n bytes), or NULL. Owned by the
 * caller. */
static cJSON *part_json(const char *s, size_t n)
{
	unsigned char buf[TOKEN_MAX];
	ssize_t len = gw_proxy__plugin_b64dec(s, n, true, buf, sizeof buf);
	cJSON *j;

	if (len <= 0) {
		return NULL;
	}
	j = cJSON_ParseWithLength((const char *)buf, (size_t)len);
	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

/* ES: the raw r | s signature @sig as DER into @der. Its length, or 0. */
static size_t es_der(const unsigned char *sig, size_t n, unsigned char *der, size_t cap)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig, (int)(n / 2), NULL),
	       *bs = BN_bin2bn(sig + n / 2, (int)(n / 2), NULL);
	unsigned char *p = der;
	int len = 0;

	if (es != NULL && br != NULL && bs != NULL && ECDSA_SIG_set0(es, br, bs) == 1) {
		br = bs = NULL; /* owned by es */
		if (i2d_ECDSA_SIG(es, NULL) <= (int)cap) {
			len = i2d_ECDSA_SIG(es, &p);
		}
	}
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return len > 0 ? (size_t)len : 0;
}

/* Is @sig (@n bytes) the signature of @data by credential @j? */
static bool verify(const struct jcred *j, const char *data, size_t dlen, const unsigned char *sig,
		   size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE], der[SIG_MAX];
	unsigned int ml = 0;
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	bool ok = false;

	if (j->alg->kind == HS) {
		if (HMAC(j->alg->md(), j->secret, (int)j->secret_len, (const unsigned char *)data,
			 dlen, mac, &ml) == NULL) {
			return false;
		}
		return gw_ct_equal(sig, n, mac, ml);
	}
	if (j->pkey == NULL) {
		return false;
	}
	if (j->alg->kind == ES) {
		if (n != j->alg->es_len || (n = es_der(sig, n, der, sizeof der)) == 0) {
			return false;
		}
		sig = der;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, &pctx, j->alg->md ? j->alg->md() : NULL, NULL, j->pkey) ==
		1 &&
	    (j->alg->kind != PS ||
	     (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1))) {
		ok = EVP_DigestVerify(ctx, sig, n, (const unsigned char *)data, dlen) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Do the claims of @payload hold now? */
static bool claims_ok(const struct jconf *k, const struct jcred *j, const cJSON *payload)
{
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(payload, "exp");
	const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(payload, "nbf");
	double now = (double)time(NULL);

	if (k->exp && exp != NULL && !cJSON_IsNull(exp) &&
	    !(cJSON_IsNumber(exp) && exp->valuedouble > now - (double)j->grace)) {
		return false;
	}
	if (k->nbf && nbf != NULL && !cJSON_IsNull(nbf) &&
	    !(cJSON_IsNumber(nbf) && nbf->valuedouble < now + (double)j->grace)) {
		return false;
	}
	return true;
}

/* The consumer of token @t, or NULL with APISIX's reason in *@why. */
static const struct gw_proxy__consumer *authenticate(struct gw_proxy__req *r, const struct jconf *k,
						     const char *t, const char **why)
{
	const char *d1, *d2, *secret, *alg_name;
	const struct gw_proxy__consumer *co = NULL;
	const struct jcred *j = NULL;
	const void *data = NULL;
	cJSON *head = NULL, *payload = NULL;
	const cJSON *key, *alg;
	unsigned char sig[SIG_MAX];
	size_t tl = strlen(t);
	ssize_t sl = -1;

	*why = "JWT token invalid";
	d1 = tl < TOKEN_MAX ? strchr(t, '.') : NULL;
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (d2 == NULL || strchr(d2 + 1, '.') != NULL ||
	    (head = part_json(t, (size_t)(d1 - t))) == NULL ||
	    (payload = part_json(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL ||
	    !cJSON_IsString(alg = cJSON_GetObjectItemCaseSensitive(head, "alg")) ||
	    (sl = gw_proxy__plugin_b64dec(d2 + 1, strlen(d2 + 1), true, sig, sizeof sig)) < 0) {
		goto out;
	}
	alg_name = alg->valuestring;
	key = cJSON_GetObjectItemCaseSensitive(payload, k->claim);
	if (key == NULL || cJSON_IsNull(key)) {
		*why = "missing user key in JWT token";
		goto out;
	}
	*why = "Invalid user key in JWT token";
	if (!cJSON_IsString(key) ||
	    (co = gw_proxy__consumer_cred(r->snap->cfg, GW_PROXY__CRED_JWT, key->valuestring,
					  strlen(key->valuestring), &secret, &data)) == NULL ||
	    data == NULL) {
		co = NULL;
		goto out;
	}
	j = data;
	*why = "failed to verify jwt";
	if (strcmp(alg_name, j->alg->name) != 0 ||
	    !verify(j, t, (size_t)(d2 - t), sig, (size_t)sl) || !claims_ok(k, j, payload)) {
		co = NULL;
	}
out:
	cJSON_Delete(head);
	cJSON_Delete(payload);
	return co;
}

static int rewrite(struct gw_proxy__req *r, const void *conf)
{
	const struct jconf *k = conf;
	const struct gw_proxy__consumer *co = NULL;
	const char *t = fetch_token(r, k);
	const char *why = "Missing JWT token in request";

	if (t != NULL) {
		co = authenticate(r, k, t, &why);
	}
	if (co == NULL) {
		if (k->anon == NULL || gw_proxy__consumer_by_name(r->snap->cfg, k->anon) == NULL) {
			gw_proxy__plugin_resp_header(r, "WWW-Authenticate", k->www);
		}
		return gw_proxy__consumer_fallback(r, k->anon, why);
	}
	gw_proxy__consumer_attach(r, co);
	return 0;
}

const struct gw_proxy__plugin gw_proxy__plugin_jwt_auth = {
    .name = "jwt-auth",
    .priority = 2510,
    .compile = compile,
    .rewrite = rewrite,
};
