/* peertls.c: a member's TLS credentials on disk and the peer contexts (see
 * peertls.h).
 *
 * Happy path: bootstrap writes a CA and a member certificate into the pki
 * dir; load reads the four files back, checks that they belong together
 * and to this member, and builds three SSL_CTX: server (client certificate
 * required), server_opt (optional: the etcd port, where etcdctl may come
 * without one) and client. Chain and validity checks are OpenSSL's, against
 * a store holding only the cluster CA; the member id is read from the SAN
 * URI by gw_peertls_peer_id. Failure modes: a missing or damaged file is
 * GW_ECORRUPT naming it; a certificate of another member or cluster too.
 * Threads: any; file functions block. */
#include "config.h"

#include "lib/peertls.h"

#include "lib/err.h"
#include "lib/pki.h"

#include <errno.h>
#include <openssl/asn1.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define URI_PREFIX "apigw://"

void gw_peertls_uri(char out[GW_PEERTLS_URI_LEN], uint64_t cluster_id, uint64_t id)
{
	snprintf(out, GW_PEERTLS_URI_LEN, URI_PREFIX "%016" PRIx64 "/member/%016" PRIx64,
		 cluster_id, id);
}

/* 16 lowercase hex digits at @p into *@v. */
static int hex16(const char *p, uint64_t *v)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			x = x << 4 | (uint64_t)(c - '0');
		} else if (c >= 'a' && c <= 'f') {
			x = x << 4 | (uint64_t)(c - 'a' + 10);
		} else {
			return GW_EINVAL;
		}
	}
	*v = x;
	return 0;
}

int gw_peertls_uri_parse(const char *uri, uint64_t *cluster_id, uint64_t *id)
{
	const size_t plen = sizeof URI_PREFIX - 1;

	if (strlen(uri) != plen + 16 + 8 + 16 || strncmp(uri, URI_PREFIX, plen) != 0 ||
	    strncmp(uri + plen + 16, "/member/", 8) != 0) {
		return GW_EINVAL;
	}
	if (hex16(uri + plen, cluster_id) != 0 || hex16(uri + plen + 24, id) != 0 || *id == 0) {
		return GW_EINVAL;
	}
	return 0;
}

/* <@dir>/<@name> into @out. GW_EINVAL when it does not fit. */
static int path_of(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? GW_EINVAL : 0;
}

long gw_peertls_node_lifetime(void)
{
	const char *v = getenv("APIGW_NODE_CERT_SECONDS");
	long secs;

	if (v != NULL && *v != '\0') {
		secs = strtol(v, NULL, 10);
		if (secs >= 10 && secs <= (long)GW_PEERTLS_NODE_DAYS * 86400) {
			return secs; /* tests of renewal */
		}
	}
	return (long)GW_PEERTLS_NODE_DAYS * 86400;
}

int gw_peertls_save(const char *dir, X509 *ca, EVP_PKEY *ca_key, X509 *cert, EVP_PKEY *key)
{
	char path[PATH_MAX];
	int rv;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		return GW_EIO;
	}
	rv = path_of(path, sizeof path, dir, "ca.crt");
	if (rv == 0) {
		rv = gw_pki_cert_save(path, ca);
	}
	if (rv == 0 && ca_key != NULL) {
		rv = path_of(path, sizeof path, dir, "ca.key");
		if (rv == 0) {
			rv = gw_pki_key_save(path, ca_key);
		}
	}
	/* The key before the certificate: a certificate on disk always has
	 * its key (load checks they match). */
	if (rv == 0) {
		rv = path_of(path, sizeof path, dir, "node.key");
	}
	if (rv == 0) {
		rv = gw_pki_key_save(path, key);
	}
	if (rv == 0) {
		rv = path_of(path, sizeof path, dir, "node.crt");
	}
	if (rv == 0) {
		rv = gw_pki_cert_save(path, cert);
	}
	return rv;
}

int gw_peertls_issue_into(const char *dir, X509 *ca, EVP_PKEY *ca_key, uint64_t cluster_id,
			  uint64_t id, const char *ip)
{
	char uri[GW_PEERTLS_URI_LEN], cn[48];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rv;

	if (ca_key == NULL || id == 0) {
		return GW_EINVAL;
	}
	gw_peertls_uri(uri, cluster_id, id);
	snprintf(cn, sizeof cn, "apigw member %016" PRIx64, id);
	rv = gw_pki_key_new(&key);
	if (rv == 0) {
		rv = gw_pki_cert_issue_secs(ca_key, ca, key, cn, uri, ip,
					    gw_peertls_node_lifetime(), &cert);
	}
	if (rv == 0) {
		rv = gw_peertls_save(dir, ca, ca_key, cert, key);
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return rv;
}

int gw_peertls_bootstrap(const char *dir, uint64_t cluster_id, uint64_t id, const char *ip)
{
	char path[PATH_MAX], cn[48];
	struct stat st;
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	int rv;

	rv = path_of(path, sizeof path, dir, "ca.crt");
	if (rv != 0) {
		return rv;
	}
	if (stat(path, &st) == 0) {
		return GW_EEXIST;
	}
	snprintf(cn, sizeof cn, "apigw cluster %016" PRIx64 " CA", cluster_id);
	rv = gw_pki_key_new(&ca_key);
	if (rv == 0) {
		rv = gw_pki_ca_new(ca_key, cn, GW_PEERTLS_CA_DAYS, &ca);
	}
	if (rv == 0) {
		rv = gw_peertls_issue_into(dir, ca, ca_key, cluster_id, id, ip);
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return rv;
}

/* A context of the cluster: TLS 1.3 only, our certificate, the CA as the
 * only trust anchor (and sent along, so a joining node can pin it). */
static SSL_CTX *ctx_new(const struct gw_peertls *p, bool server, int verify)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	X509_STORE *store;

	if (ctx == NULL) {
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate(ctx, p->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, p->key) != 1 || SSL_CTX_check_private_key(ctx) != 1 ||
	    SSL_CTX_add1_chain_cert(ctx, p->ca) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	store = SSL_CTX_get_cert_store(ctx);
	if (store == NULL || X509_STORE_add_cert(store, p->ca) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, verify, NULL);
	SSL_CTX_set_verify_depth(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (server) {
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

void gw_peertls_free(struct gw_peertls *p)
{
	if (p == NULL) {
		return;
	}
	SSL_CTX_free(p->server);
	SSL_CTX_free(p->server_opt);
	SSL_CTX_free(p->client);
	X509_free(p->ca);
	X509_free(p->cert);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->key);
	free(p);
}

/* Load <@dir>/<@name> as a key or a certificate. GW_ENOTFOUND stays;
 * anything else is GW_ECORRUPT with @why naming the file. */
static int load_one(const char *dir, const char *name, bool is_key, void **out, char *why,
		    size_t whylen)
{
	char path[PATH_MAX], inner[160] = "";
	int rv = path_of(path, sizeof path, dir, name);

	if (rv == 0) {
		rv = is_key ? gw_pki_key_load(path, (EVP_PKEY **)out, inner, sizeof inner)
			    : gw_pki_cert_load(path, (X509 **)out, inner, sizeof inner);
	}
	if (rv == GW_ENOTFOUND) {
		snprintf(why, whylen, "%s is missing", path);
		return rv;
	}
	if (rv != 0) {
		snprintf(why, whylen, "%s is damaged: %s", path,
			 inner[0] ? inner : gw_strerror(rv));
		return GW_ECORRUPT;
	}
	return 0;
}

int gw_peertls_load(const char *dir, uint64_t cluster_id, uint64_t id, struct gw_peertls **out,
		    char *why, size_t whylen)
{
	struct gw_peertls *p;
	char inner[160];
	uint64_t cid, mid;
	int rv;

	*out = NULL;
	p = calloc(1, sizeof *p);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	p->cluster_id = cluster_id;
	p->id = id;
	rv = load_one(dir, "ca.crt", false, (void **)&p->ca, why, whylen);
	if (rv == GW_ENOTFOUND) {
		gw_peertls_free(p);
		return GW_ENOTFOUND; /* no pki at all */
	}
	if (rv == 0) {
		rv = load_one(dir, "ca.key", true, (void **)&p->ca_key, why, whylen);
		if (rv == GW_ENOTFOUND) {
			rv = 0; /* a member that cannot issue */
		}
	}
	if (rv == 0) {
		rv = load_one(dir, "node.crt", false, (void **)&p->cert, why, whylen);
	}
	if (rv == 0) {
		rv = load_one(dir, "node.key", true, (void **)&p->key, why, whylen);
	}
	if (rv == GW_ENOTFOUND) {
		rv = GW_ECORRUPT;
	}
	if (rv == 0 && (p->ca_key != NULL && !gw_pki_key_matches(p->ca_key, p->ca))) {
		snprintf(why, whylen, "%s/ca.key is not the key of %s/ca.crt", dir, dir);
		rv = GW_ECORRUPT;
	}
	if (rv == 0 && !gw_pki_key_matches(p->key, p->cert)) {
		snprintf(why, whylen, "%s/node.key is not the key of %s/node.crt", dir, dir);
		rv = GW_ECORRUPT;
	}
	if (rv == 0 && gw_pki_verify(p->ca, p->cert, time(NULL), inner, sizeof inner) != 0 &&
	    strcmp(inner, "expired") != 0) {
		/* An expired certificate still loads: the node starts, its peers
		 * refuse it, and the log says why (renewal is the cure). */
		snprintf(why, whylen, "%s/node.crt: %s", dir, inner);
		rv = GW_ECORRUPT;
	}
	if (rv == 0) {
		char uri[GW_PEERTLS_URI_LEN + 8];
		if (gw_pki_cert_uri(p->cert, uri, sizeof uri) != 0 ||
		    gw_peertls_uri_parse(uri, &cid, &mid) != 0 || cid != cluster_id || mid != id) {
			snprintf(why, whylen,
				 "%s/node.crt names another member (want cluster %016" PRIx64
				 " member %016" PRIx64 ")",
				 dir, cluster_id, id);
			rv = GW_ECORRUPT;
		}
	}
	if (rv == 0) {
		int req = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		p->server = ctx_new(p, true, req);
		p->server_opt = ctx_new(p, true, SSL_VERIFY_PEER);
		p->client = ctx_new(p, false, SSL_VERIFY_PEER);
		if (p->server == NULL || p->server_opt == NULL || p->client == NULL) {
			unsigned long e = ERR_get_error();
			ERR_error_string_n(e, inner, sizeof inner);
			snprintf(why, whylen, "cannot set up TLS from %s: %s", dir, inner);
			ERR_clear_error();
			rv = GW_ENOMEM;
		}
	}
	if (rv != 0) {
		gw_peertls_free(p);
		return rv;
	}
	*out = p;
	return 0;
}

int gw_peertls_peer_id(const struct gw_peertls *p, X509 *cert, uint64_t *id, char *why,
		       size_t whylen)
{
	char uri[GW_PEERTLS_URI_LEN + 8];
	uint64_t cid, mid;

	if (cert == NULL) {
		snprintf(why, whylen, "no certificate");
		return GW_EPERM;
	}
	if (gw_pki_cert_uri(cert, uri, sizeof uri) != 0 ||
	    gw_peertls_uri_parse(uri, &cid, &mid) != 0) {
		snprintf(why, whylen, "the certificate names no member");
		return GW_EPERM;
	}
	if (cid != p->cluster_id) {
		snprintf(why, whylen, "the certificate is of cluster %016" PRIx64, cid);
		return GW_EPERM;
	}
	*id = mid;
	return 0;
}

int64_t gw_peertls_seconds_left(const struct gw_peertls *p)
{
	return gw_pki_cert_seconds_left(p->cert, time(NULL));
}

bool gw_peertls_renew_due(const struct gw_peertls *p)
{
	const ASN1_TIME *nb = X509_get0_notBefore(p->cert), *na = X509_get0_notAfter(p->cert);
	int days = 0, secs = 0;
	int64_t total;

	if (ASN1_TIME_diff(&days, &secs, nb, na) != 1) {
		return false;
	}
	total = (int64_t)days * 86400 + secs;
	return gw_peertls_seconds_left(p) < total / 3;
}

int gw_peertls_renew(struct gw_peertls *p, const char *dir, char *why, size_t whylen)
{
	struct gw_peertls *fresh = NULL, tmp;
	int rv;

	if (p->ca_key == NULL) {
		snprintf(why, whylen, "this member holds no CA key");
		return GW_EINVAL;
	}
	rv = gw_peertls_issue_into(dir, p->ca, p->ca_key, p->cluster_id, p->id, NULL);
	if (rv != 0) {
		snprintf(why, whylen, "cannot write %s: %s", dir, gw_strerror(rv));
		return rv;
	}
	rv = gw_peertls_load(dir, p->cluster_id, p->id, &fresh, why, whylen);
	if (rv != 0) {
		return rv;
	}
	/* Swap in place: holders of @p see the new contexts from now on;
	 * sessions open on the old ones keep them (OpenSSL counts). */
	tmp = *p;
	*p = *fresh;
	*fresh = tmp;
	gw_peertls_free(fresh);
	return 0;
}
