/* pki.c: this member's TLS credentials (lib/peertls) in <data-dir>/pki.
 *
 * Happy path: bootstrap creates the cluster CA and this member's
 * certificate; a restart loads them (a joining node gets its certificate,
 * the CA and its key by enrollment: enroll.c), so every member can issue
 * and renew; a certificate with less than a third of its validity left is
 * renewed in place (gw_raft__pki_tick) without a restart.
 * Failure modes: a damaged pki dir refuses the start (GW_ECORRUPT, logged
 * naming the file); a data dir made before the pki existed runs without
 * peer TLS and says so. Control loop (blocks on files: start-up and a
 * renewal, at most once a minute). */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "lib/peertls.h"
#include "lib/pki.h"
#include "raft/raft_int.h"

#include <inttypes.h>
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

#define RENEW_CHECK_MS 60000 /* at most this long between certificate checks */

void gw_raft__pki_tick(struct gw_raft *r)
{
	char dir[PATH_MAX + 8], why[512] = "";
	uint64_t now = gw_raft__now(r);
	long life = gw_peertls_node_lifetime();
	uint64_t every = (uint64_t)life * 1000 / 10;
	int rv;

	if (r->tls == NULL || now < r->next_renew_check) {
		return;
	}
	r->next_renew_check = now + (every < RENEW_CHECK_MS ? every : RENEW_CHECK_MS);
	if (!gw_peertls_renew_due(r->tls)) {
		return;
	}
	pki_dir(r, dir, sizeof dir);
	rv = gw_peertls_renew(r->tls, dir, why, sizeof why);
	if (rv != 0) {
		gw_errorf("raft", "cannot renew this member's certificate: %s", why);
		return;
	}
	gw_infof("raft", "renewed this member's certificate (%s/node.crt, valid %lds)", dir, life);
}
