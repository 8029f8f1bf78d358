/* pki.c: this member's TLS credentials (lib/peertls) in <data-dir>/pki.
 *
 * Happy path: bootstrap creates the cluster CA and this member's
 * certificate; a restart loads them; a joining node receives the CA (cert
 * and key) from the member it joins through and issues its own certificate
 * (gw_raft__pki_adopt), so every member can issue certificates later.
 * Failure modes: a damaged pki dir refuses the start (GW_ECORRUPT, logged
 * naming the file); a data dir made before the pki existed runs without
 * peer TLS and says so. Control loop (start-up only: blocks on files). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/peertls.h"
#include "lib/pki.h"
#include "raft/raft_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pki_dir(const struct gw_raft *r, char *out, size_t len)
{
	snprintf(out, len, "%s/pki", r->data_dir);
}

int gw_raft__pki_load(struct gw_raft *r)
{
	char dir[PATH_MAX + 8], why[512] = "";
	int rv;

	pki_dir(r, dir, sizeof dir);
	gw_peertls_free(r->tls);
	r->tls = NULL;
	rv = gw_peertls_load(dir, r->ident.cluster_id, r->ident.node_id, &r->tls, why, sizeof why);
	if (rv == GW_ENOTFOUND) {
		gw_warnf("raft",
			 "data dir %s has no pki/ (made by an older apigw): this member has no "
			 "certificate, its peer traffic is not authenticated",
			 r->data_dir);
		return 0;
	}
	if (rv != 0) {
		gw_errorf("raft", "cannot load this member's TLS credentials: %s", why);
		return rv == GW_ENOMEM ? rv : GW_ECORRUPT;
	}
	if (r->peer_tls_off) {
		/* --peer-tls=off (warned at start): every peer path sees NULL
		 * and speaks plaintext. The files stay for the next start. */
		gw_peertls_free(r->tls);
		r->tls = NULL;
		return 0;
	}
	if (gw_peertls_seconds_left(r->tls) < 0) {
		gw_warnf("raft", "this member's certificate %s/node.crt has expired", dir);
	}
	return 0;
}

int gw_raft__pki_bootstrap(struct gw_raft *r)
{
	char dir[PATH_MAX + 8];
	int rv;

	pki_dir(r, dir, sizeof dir);
	rv = gw_peertls_bootstrap(dir, r->ident.cluster_id, r->ident.node_id, NULL);
	if (rv != 0) {
		gw_errorf("raft", "cannot create the cluster CA in %s: %s", dir, gw_strerror(rv));
		return rv;
	}
	gw_infof("raft", "created the cluster CA and this member's certificate in %s", dir);
	return gw_raft__pki_load(r);
}

int gw_raft__pki_json(struct gw_raft *r, struct cJSON *o)
{
	char *ca, *key;
	int rv = 0;

	if (r->tls == NULL || r->tls->ca_key == NULL) {
		return 0;
	}
	ca = gw_pki_cert_pem(r->tls->ca);
	key = gw_pki_key_pem(r->tls->ca_key);
	if (ca == NULL || key == NULL || cJSON_AddStringToObject(o, "ca_cert", ca) == NULL ||
	    cJSON_AddStringToObject(o, "ca_key", key) == NULL) {
		rv = GW_ENOMEM;
	}
	free(ca);
	if (key != NULL) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	return rv;
}

int gw_raft__pki_adopt(struct gw_raft *r, const struct cJSON *o)
{
	const cJSON *jc = cJSON_GetObjectItemCaseSensitive(o, "ca_cert");
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(o, "ca_key");
	char dir[PATH_MAX + 8], why[256] = "";
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	int rv;

	if (!cJSON_IsString(jc) || !cJSON_IsString(jk)) {
		gw_warnf("raft", "the peer sent no cluster CA (an older apigw?): this member runs "
				 "without a certificate");
		return 0;
	}
	rv = gw_pki_cert_parse(jc->valuestring, strlen(jc->valuestring), &ca, why, sizeof why);
	if (rv == 0) {
		rv = gw_pki_key_parse(jk->valuestring, strlen(jk->valuestring), &key, why,
				      sizeof why);
	}
	if (rv == 0 && !gw_pki_key_matches(key, ca)) {
		snprintf(why, sizeof why, "the CA key does not match the CA certificate");
		rv = GW_EINVAL;
	}
	if (rv != 0) {
		gw_errorf("raft", "join: the peer sent an unusable cluster CA: %s", why);
		rv = GW_EPROTO;
	}
	if (rv == 0) {
		pki_dir(r, dir, sizeof dir);
		rv = gw_peertls_issue_into(dir, ca, key, r->ident.cluster_id, r->ident.node_id,
					   NULL);
		if (rv != 0) {
			gw_errorf("raft", "join: cannot write %s: %s", dir, gw_strerror(rv));
		}
	}
	X509_free(ca);
	EVP_PKEY_free(key);
	return rv == 0 ? gw_raft__pki_load(r) : rv;
}
