/* enroll.c: a new node gets its member certificate (POST
 * /apigw/internal/enroll), both sides.
 *
 * Joining side: the node makes its key pair (the private key never leaves
 * it), connects with TLS to the peer's etcd port and accepts the server
 * only if the chain it sent holds a CA whose SHA-256 equals the token's
 * pin, and the leaf verifies against that CA (legacy --join-secret: the CA
 * the server sent is taken on first use and logged). It then posts the
 * token id and secret (or the legacy join secret), its raft id and public
 * key; the answer carries the certificate, the CA and its key, which are
 * checked and written to <data-dir>/pki.
 *
 * Member side: any member takes the request (over TLS, no client
 * certificate needed) and relays it to the leader, which serializes
 * enrollments (one at a time; another gets GW_EBUSY and is retried): a read
 * barrier (so every committed consumption is applied), the token checked
 * (exists, secret in constant time, not revoked or expired, uses left),
 * one use consumed by a replicated META_PUT, the record "enroll/<id>"
 * written (it lets the new node make the join calls before it is a member,
 * and makes a retry of the same node and key idempotent: no second use),
 * then the certificate issued. Raft guarantees that after the barrier of a
 * new leader no earlier consumption is missing, so uses are exact across
 * leader changes. Failure modes: refusals are 403 with the reason in the
 * body ("reason"), logged rate limited. Control loop. */
#include "config.h"

#include "lib/ct.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "lib/pki.h"
#include "raft/endpoints.h"
#include "raft/raft_int.h"
#include "lib/json.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An enrolled node may make its join calls this long (a join takes
 * seconds; its retries give up after 30 s). */
#define ENROLL_RECORD_S 300

static void enroll_key(uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "enroll/%016" PRIx64, id);
}

/* The SHA-256 (hex) of a PEM text. */
static void pem_hash(const char *pem, char out[65])
{
	gw_raft__token_hash(pem, out);
}

/* The record "enroll/<id>": {"token", "key" (hash of the public key PEM),
 * "expires"}. 0 or GW_ENOTFOUND. */
static int record_load(struct gw_raft *r, uint64_t id, char token[32], char key[65],
		       int64_t *expires)
{
	char k[64], *val = NULL;
	size_t len = 0;
	cJSON *o;
	const cJSON *t, *h, *e;
	int rv = GW_ENOTFOUND;

	enroll_key(id, k, sizeof k);
	if (gw_store_meta_get(r->store, k, &val, &len) != 0) {
		return GW_ENOTFOUND;
	}
	o = cJSON_ParseWithLength(val, len);
	free(val);
	t = cJSON_GetObjectItemCaseSensitive(o, "token");
	h = cJSON_GetObjectItemCaseSensitive(o, "key");
	e = cJSON_GetObjectItemCaseSensitive(o, "expires");
	if (cJSON_IsString(t) && cJSON_IsString(h) && cJSON_IsNumber(e)) {
		snprintf(token, 32, "%s", t->valuestring);
		snprintf(key, 65, "%s", h->valuestring);
		*expires = gw_json_int(e, INT64_MIN, INT64_MAX, 0);
		rv = 0;
	}
	cJSON_Delete(o);
	return rv;
}

bool gw_raft__enrolled(struct gw_raft *r, uint64_t id)
{
	char token[32], key[65];
	int64_t expires = 0;

	return record_load(r, id, token, key, &expires) == 0 && (int64_t)time(NULL) < expires;
}

/* ---- member side -------------------------------------------------------- */

struct enroll {
	struct gw_raft *r;
	struct gw_http_req *req;
	uint64_t id;
	EVP_PKEY *pub;
	char pub_hash[65];
	char name[64];
	char token_id[32]; /* "" = legacy join secret */
	char secret[160];
	bool again; /* a retry of an enrollment already recorded */
};

static void enroll_free(struct enroll *x)
{
	x->r->enroll_busy = false;
	EVP_PKEY_free(x->pub);
	OPENSSL_cleanse(x->secret, sizeof x->secret);
	free(x);
}

static void enroll_refuse(struct enroll *x, int err, const char *why)
{
	struct gw_raft *r = x->r;
	unsigned suppressed = 0;

	if (gw_ratelimit_allow(&r->refusal_log, gw_raft__now(r), &suppressed)) {
		gw_warnf("raft",
			 "refused the enrollment of %016" PRIx64
			 " (%s, token %s): %s (%u more refused before)",
			 x->id, x->name, x->token_id[0] ? x->token_id : "legacy join secret", why,
			 suppressed);
	}
	gw_raft__respond_refused(x->req, err, why);
	enroll_free(x);
}

/* The answer: our CA, its key, the new certificate, cluster id and secret. */
static void enroll_answer(struct enroll *x)
{
	struct gw_raft *r = x->r;
	char uri[GW_PEERTLS_URI_LEN], cn[96], hex[17];
	char *cert_pem = NULL, *ca_pem = NULL, *key_pem = NULL, *text = NULL, *ring = NULL;
	size_t ring_len = 0;
	X509 *cert = NULL;
	cJSON *o = NULL;
	int rv;

	gw_peertls_uri(uri, r->ident.cluster_id, x->id);
	snprintf(cn, sizeof cn, "apigw member %016" PRIx64, x->id);
	rv = gw_pki_cert_issue_secs(r->tls->ca_key, r->tls->ca, x->pub, cn, uri, NULL,
				    gw_peertls_node_lifetime(), &cert);
	if (rv == 0) {
		cert_pem = gw_pki_cert_pem(cert);
		ca_pem = gw_pki_cert_pem(r->tls->ca);
		key_pem = gw_pki_key_pem(r->tls->ca_key);
		o = cJSON_CreateObject();
		snprintf(hex, sizeof hex, "%016" PRIx64, r->ident.cluster_id);
		if (cert_pem == NULL || ca_pem == NULL || key_pem == NULL || o == NULL ||
		    cJSON_AddStringToObject(o, "cluster_id", hex) == NULL ||
		    cJSON_AddStringToObject(o, "cert", cert_pem) == NULL ||
		    cJSON_AddStringToObject(o, "ca_cert", ca_pem) == NULL ||
		    cJSON_AddStringToObject(o, "ca_key", key_pem) == NULL ||
		    cJSON_AddStringToObject(o, "secret", r->ident.secret) == NULL) {
			rv = GW_ENOMEM;
		}
	}
	/* the data-encryption keyring (lib/keyring.h): sealed secrets in the
	 * store open on every member */
	if (rv == 0 && gw_keyring_default() != NULL) {
		ring = gw_keyring_text(gw_keyring_default(), &ring_len);
		if (ring == NULL || cJSON_AddStringToObject(o, "keyring", ring) == NULL) {
			rv = GW_ENOMEM;
		}
	}
	if (rv == 0) {
		if ((text = cJSON_PrintUnformatted(o)) == NULL) {
			rv = GW_ENOMEM;
		}
	}
	if (rv != 0) {
		gw_raft__respond_err(x->req, rv);
	} else {
		gw_infof("raft", "enrolled %016" PRIx64 " (%s) with %s%s", x->id, x->name,
			 x->token_id[0] ? "join token " : "the legacy join secret", x->token_id);
		gw_http_respond(x->req, 200, "application/json", "", text, strlen(text));
	}
	if (key_pem != NULL) {
		OPENSSL_cleanse(key_pem, strlen(key_pem));
	}
	if (ring != NULL) {
		char *copy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "keyring"));
		if (copy != NULL) {
			OPENSSL_cleanse(copy, strlen(copy));
		}
		gw_keyring_wipe_free(ring, ring_len + 1);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
	}
	cJSON_Delete(o);
	free(cert_pem);
	free(ca_pem);
	free(key_pem);
	free(text);
	X509_free(cert);
	enroll_free(x);
}

static void recorded_done(void *data, int err, struct gw_store_result *res)
{
	struct enroll *x = data;

	if (res != NULL) {
		gw_store_result_free(res);
	}
	if (err != 0) {
		gw_raft__respond_err(x->req, err);
		enroll_free(x);
		return;
	}
	enroll_answer(x);
}

/* Propose the encoded op in @b (closed here) for @x, then @next; on a
 * failure answer the error now. */
static void propose_step(struct enroll *x, struct gw_buf *b, int err, gw_raft_propose_cb next)
{
	struct gw_raft *r = x->r;

	if (err == 0) {
		err = gw_raft__propose_local(r, b->data, b->len, r->write_timeout_ms, next, x);
	}
	gw_buf_close(b);
	if (err != 0) {
		gw_raft__respond_err(x->req, err);
		enroll_free(x);
	}
}

/* The use is consumed: write the record "enroll/<id>". */
static void consumed_done(void *data, int err, struct gw_store_result *res)
{
	struct enroll *x = data;
	struct gw_buf b;
	char key[64], val[192];

	if (res != NULL) {
		gw_store_result_free(res);
	}
	if (err != 0) {
		gw_raft__respond_err(x->req, err);
		enroll_free(x);
		return;
	}
	enroll_key(x->id, key, sizeof key);
	snprintf(val, sizeof val, "{\"token\":\"%s\",\"key\":\"%s\",\"expires\":%" PRId64 "}",
		 x->token_id[0] ? x->token_id : "-", x->pub_hash,
		 (int64_t)time(NULL) + ENROLL_RECORD_S);
	gw_buf_init(&b);
	propose_step(x, &b, gw_raft__encode_meta_put(key, val, &b), recorded_done);
}

/* Every enrollment committed before is applied here: judge the credential
 * and consume a use. */
static void barrier_done(void *data, int err, uint64_t index)
{
	struct enroll *x = data;
	struct gw_raft *r = x->r;
	struct gw_raft__token t;
	char rec_token[32], rec_key[65];
	int64_t rec_expires = 0;
	const char *why = NULL;
	struct gw_buf b;

	(void)index;
	if (err != 0) {
		gw_raft__respond_err(x->req, err);
		enroll_free(x);
		return;
	}
	if (x->token_id[0] == '\0') {
		if (!gw_ct_streq(x->secret, r->ident.secret)) {
			enroll_refuse(x, GW_EPERM, "wrong join secret");
			return;
		}
		consumed_done(x, 0, NULL);
		return;
	}
	err = gw_raft__token_load(r, x->token_id, &t);
	if (err == GW_ENOTFOUND) {
		enroll_refuse(x, GW_EPERM, "unknown token");
		return;
	}
	if (err != 0) {
		gw_raft__respond_err(x->req, err);
		enroll_free(x);
		return;
	}
	/* A retry of the same node with the same key and token (its answer
	 * was lost): answer again without a second use. */
	if (record_load(r, x->id, rec_token, rec_key, &rec_expires) == 0 &&
	    strcmp(rec_token, x->token_id) == 0 && strcmp(rec_key, x->pub_hash) == 0 &&
	    (int64_t)time(NULL) < rec_expires && t.uses == 0) {
		t.uses = 1; /* judged as if the use were still there, then not consumed */
		x->again = true;
	}
	if (gw_raft__token_check(&t, x->secret, (int64_t)time(NULL), &why) != 0) {
		enroll_refuse(x, GW_EPERM, why);
		return;
	}
	if (x->again || t.uses < 0) {
		consumed_done(x, 0, NULL); /* nothing to count */
		return;
	}
	t.uses--;
	gw_buf_init(&b);
	propose_step(x, &b, gw_raft__token_op(&t, &b), consumed_done);
}

void gw_raft__enroll_handle(struct gw_raft *r, struct gw_http_req *req)
{
	cJSON *o;
	const cJSON *id, *pub, *name, *tid, *tsec, *js;
	struct enroll *x;
	BIO *bio;
	int rv;

	if (r->tls == NULL || r->tls->ca_key == NULL) {
		gw_raft__respond_refused(req, GW_ENOTFOUND,
					 "this member has no cluster CA to enroll with");
		return;
	}
	if (!gw_raft__is_leader(r)) {
		gw_raft__relay(r, req, GW_RAFT__JOIN_TIMEOUT_MS);
		return;
	}
	o = cJSON_Parse(req->body.data != NULL ? req->body.data : "");
	id = cJSON_GetObjectItemCaseSensitive(o, "id");
	pub = cJSON_GetObjectItemCaseSensitive(o, "public_key");
	name = cJSON_GetObjectItemCaseSensitive(o, "name");
	tid = cJSON_GetObjectItemCaseSensitive(o, "token_id");
	tsec = cJSON_GetObjectItemCaseSensitive(o, "token_secret");
	js = cJSON_GetObjectItemCaseSensitive(o, "join_secret");
	x = calloc(1, sizeof *x);
	if (x == NULL) {
		cJSON_Delete(o);
		gw_raft__respond_err(req, GW_ENOMEM);
		return;
	}
	x->r = r;
	x->req = req;
	rv = GW_EINVAL;
	if (cJSON_IsString(id) && strlen(id->valuestring) == 16 &&
	    strspn(id->valuestring, "0123456789abcdef") == 16 && cJSON_IsString(pub) &&
	    ((cJSON_IsString(tid) && cJSON_IsString(tsec)) || cJSON_IsString(js))) {
		x->id = strtoull(id->valuestring, NULL, 16);
		snprintf(x->name, sizeof x->name, "%s",
			 cJSON_IsString(name) ? name->valuestring : "?");
		if (cJSON_IsString(tid)) {
			snprintf(x->token_id, sizeof x->token_id, "%s", tid->valuestring);
			snprintf(x->secret, sizeof x->secret, "%s", tsec->valuestring);
		} else {
			snprintf(x->secret, sizeof x->secret, "%s", js->valuestring);
		}
		pem_hash(pub->valuestring, x->pub_hash);
		bio = BIO_new_mem_buf(pub->valuestring, -1);
		x->pub = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		ERR_clear_error();
		if (x->id != 0 && x->pub != NULL) {
			rv = 0;
		}
	}
	cJSON_Delete(o);
	if (rv != 0) {
		EVP_PKEY_free(x->pub);
		OPENSSL_cleanse(x->secret, sizeof x->secret);
		free(x);
		gw_raft__respond_refused(req, GW_EINVAL, "malformed enrollment request");
		return;
	}
	if (r->enroll_busy) {
		EVP_PKEY_free(x->pub);
		OPENSSL_cleanse(x->secret, sizeof x->secret);
		free(x);
		gw_raft__respond_err(req, GW_EBUSY);
		return;
	}
	r->enroll_busy = true;
	rv = gw_raft__barrier_local(r, r->write_timeout_ms, barrier_done, x);
	if (rv != 0) {
		gw_raft__respond_err(req, rv);
		enroll_free(x);
	}
}

/* ---- joining side --------------------------------------------------------- */

int gw_raft__enroll_prepare(struct gw_raft *r)
{
	SSL_CTX *ctx;

	if (r->enroll_ctx != NULL) {
		return 0;
	}
	if (r->enroll_key == NULL && gw_pki_key_new(&r->enroll_key) != 0) {
		return GW_ENOMEM;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return GW_ENOMEM;
	}
	/* No trust anchor yet: the server is judged by enroll_check (the pin). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	r->enroll_ctx = ctx;
	return 0;
}

void gw_raft__enroll_release(struct gw_raft *r)
{
	SSL_CTX_free(r->enroll_ctx);
	r->enroll_ctx = NULL;
	EVP_PKEY_free(r->enroll_key);
	r->enroll_key = NULL;
	X509_free(r->enroll_ca);
	r->enroll_ca = NULL;
	OPENSSL_cleanse(r->join_token_secret, sizeof r->join_token_secret);
}

int gw_raft__enroll_check(void *data, SSL *ssl, char *why, size_t len)
{
	struct gw_raft *r = data;
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl), *ca = NULL;
	char fp[GW_PKI_FINGERPRINT_LEN], inner[128];
	int i;

	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		if (c == leaf || X509_check_ca(c) == 0 || X509_check_issued(c, c) != X509_V_OK ||
		    gw_pki_fingerprint(c, fp) != 0) {
			continue;
		}
		if (r->join_token_fp[0] == '\0' || strcmp(fp, r->join_token_fp) == 0) {
			ca = c;
			break;
		}
	}
	if (ca == NULL) {
		snprintf(why, len,
			 r->join_token_fp[0] != '\0'
			     ? "its certificate chain holds no CA with the token's fingerprint %s "
			       "(another cluster, or not the peer you meant)"
			     : "it sent no cluster CA%s",
			 r->join_token_fp);
		return GW_EPERM;
	}
	if (leaf == NULL || gw_pki_verify(ca, leaf, time(NULL), inner, sizeof inner) != 0) {
		snprintf(why, len, "its certificate does not verify against the pinned CA: %s",
			 leaf == NULL ? "no certificate" : inner);
		return GW_EPERM;
	}
	if (r->join_token_fp[0] == '\0') {
		gw_warnf("raft",
			 "join (legacy --join-secret): trusting the CA the peer sent, SHA-256 %s, "
			 "on first use; a join token pins it",
			 fp);
	}
	X509_free(r->enroll_ca);
	X509_up_ref(ca);
	r->enroll_ca = ca;
	return 0;
}

char *gw_raft__enroll_body(struct gw_raft *r)
{
	char hex[17], *pem = NULL, *text = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem = NULL;
	cJSON *o = cJSON_CreateObject();

	snprintf(hex, sizeof hex, "%016" PRIx64, r->ident.node_id);
	if (bio != NULL && PEM_write_bio_PUBKEY(bio, r->enroll_key) == 1 &&
	    BIO_get_mem_ptr(bio, &mem) == 1 && mem != NULL) {
		pem = strndup(mem->data, mem->length);
	}
	BIO_free(bio);
	ERR_clear_error();
	if (pem != NULL && o != NULL && cJSON_AddStringToObject(o, "id", hex) != NULL &&
	    cJSON_AddStringToObject(o, "name", r->self.name) != NULL &&
	    cJSON_AddStringToObject(o, "public_key", pem) != NULL) {
		if (r->join_token_id[0] != '\0') {
			if (cJSON_AddStringToObject(o, "token_id", r->join_token_id) != NULL &&
			    cJSON_AddStringToObject(o, "token_secret", r->join_token_secret) !=
				NULL) {
				text = cJSON_PrintUnformatted(o);
			}
		} else if (cJSON_AddStringToObject(o, "join_secret", r->join_secret) != NULL) {
			text = cJSON_PrintUnformatted(o);
		}
	}
	cJSON_Delete(o); /* the secret in its text is freed with it */
	free(pem);
	return text;
}

/* A PEM string member of @o parsed as a certificate / key, or NULL. */
static X509 *json_cert(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	char why[128];
	X509 *x = NULL;

	if (cJSON_IsString(v)) {
		gw_pki_cert_parse(v->valuestring, strlen(v->valuestring), &x, why, sizeof why);
	}
	return x;
}

/* The cluster's keyring from an enrollment answer: saved to
 * <data-dir>/keyring and made the process's ring when it has none (a
 * joining node without a keyring file). A node that has its own keeps it
 * and says so: its sealed secrets would not open elsewhere. */
static void adopt_keyring(struct gw_raft *r, const cJSON *ring)
{
	struct gw_keyring *kr = NULL;

	if (!cJSON_IsString(ring)) {
		return; /* an older member: no keyring in its answer */
	}
	if (gw_keyring_default() != NULL) {
		gw_warnf("raft", "this node has its own keyring: keeping it (copy the cluster's "
				 "<data-dir>/keyring here for sealed secrets to open)");
		return;
	}
	if (gw_keyring_parse(ring->valuestring, strlen(ring->valuestring), &kr) != 0) {
		gw_warnf("raft", "the enrollment answer's keyring is malformed: ignored");
		return;
	}
	if (gw_keyring_save(r->data_dir, kr) != 0) {
		gw_keyring_free(kr);
		return;
	}
	gw_infof("raft", "adopted the cluster's keyring (%d keys, current %s)",
		 gw_keyring_count(kr), gw_keyring_current(kr));
	gw_keyring_set_default(kr);
}

int gw_raft__enroll_adopt(struct gw_raft *r, const char *body, size_t len, char *why, size_t whylen)
{
	cJSON *o = cJSON_ParseWithLength(body, len);
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(o, "cluster_id");
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(o, "ca_key");
	const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "secret");
	const cJSON *ring = cJSON_GetObjectItemCaseSensitive(o, "keyring");
	X509 *ca = json_cert(o, "ca_cert"), *cert = json_cert(o, "cert");
	EVP_PKEY *ca_key = NULL;
	char fp_have[GW_PKI_FINGERPRINT_LEN], fp_want[GW_PKI_FINGERPRINT_LEN], inner[128];
	char dir[PATH_MAX + 8], uri[GW_PEERTLS_URI_LEN + 8];
	uint64_t cluster = 0, c2 = 0, id2 = 0;
	int rv = GW_EPROTO;

	if (cJSON_IsString(jk)) {
		gw_pki_key_parse(jk->valuestring, strlen(jk->valuestring), &ca_key, inner,
				 sizeof inner);
	}
	if (cJSON_IsString(cid) && strlen(cid->valuestring) == 16) {
		cluster = strtoull(cid->valuestring, NULL, 16);
	}
	if (o == NULL || ca == NULL || cert == NULL || ca_key == NULL || cluster == 0 ||
	    !cJSON_IsString(sec)) {
		snprintf(why, whylen, "the peer's answer is incomplete");
	} else if (r->enroll_ca == NULL || gw_pki_fingerprint(ca, fp_have) != 0 ||
		   gw_pki_fingerprint(r->enroll_ca, fp_want) != 0 ||
		   strcmp(fp_have, fp_want) != 0) {
		snprintf(why, whylen, "the CA in the answer is not the one the peer's TLS showed");
	} else if (!gw_pki_key_matches(ca_key, ca)) {
		snprintf(why, whylen, "the CA key does not match the CA certificate");
	} else if (!gw_pki_key_matches(r->enroll_key, cert)) {
		snprintf(why, whylen, "the certificate is not for this node's key");
	} else if (gw_pki_verify(ca, cert, time(NULL), inner, sizeof inner) != 0) {
		snprintf(why, whylen, "the certificate does not verify: %s", inner);
	} else if (gw_pki_cert_uri(cert, uri, sizeof uri) != 0 ||
		   gw_peertls_uri_parse(uri, &c2, &id2) != 0 || c2 != cluster ||
		   id2 != r->ident.node_id) {
		snprintf(why, whylen, "the certificate names another member");
	} else {
		snprintf(dir, sizeof dir, "%s/pki", r->data_dir);
		rv = gw_peertls_save(dir, ca, ca_key, cert, r->enroll_key);
		if (rv != 0) {
			snprintf(why, whylen, "cannot write %s: %s", dir, gw_strerror(rv));
		} else {
			r->ident.cluster_id = cluster;
			snprintf(r->ident.secret, sizeof r->ident.secret, "%s", sec->valuestring);
			adopt_keyring(r, ring);
		}
	}
	if (cJSON_IsString(ring)) {
		OPENSSL_cleanse(ring->valuestring, strlen(ring->valuestring));
	}
	if (o != NULL && cJSON_IsString(jk)) {
		OPENSSL_cleanse(jk->valuestring, strlen(jk->valuestring));
	}
	cJSON_Delete(o);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	return rv;
}
