/* join.c: the joining node's side of `apigw join`. First, on an empty
 * data dir, enrollment (enroll.c): POST /apigw/internal/enroll over TLS
 * pinned to the token's CA (or, legacy --join-secret, the CA the peer
 * shows, trusted on first use; a peer without TLS then gets the old
 * cleartext flow), which writes <data-dir>/pki. Then GET
 * /apigw/internal/cluster from the peer (its cluster id: saved in the
 * identity, then raft starts with an empty log), then POST
 * /apigw/internal/join with this node's metadata until the leader answers
 * with the role given; both over mTLS once the node has its certificate. A member rerunning `apigw
 * join` only checks that the peer is in its cluster. Failure modes: a refused secret (GW_EPERM),
 * another cluster's data dir (GW_ECORRUPT), an address taken by another member (GW_EEXIST) and no
 * answer for 30 s (GW_ETIMEOUT) terminate the node; anything else is retried. Control loop. */
#include "config.h"

#include "lib/err.h"
#include "lib/log.h"
#include "raft/raft_int.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const join_names[] = {
    [GW_RAFT__JOIN_NONE] = "none", [GW_RAFT__JOIN_ENROLL] = "enroll",
    [GW_RAFT__JOIN_INFO] = "info", [GW_RAFT__JOIN_REQUEST] = "request",
    [GW_RAFT__JOIN_DONE] = "done",
};
/* NONE -> ENROLL (start, empty data dir) | INFO (start of a member
 * rerunning join); ENROLL -> INFO | NONE (refused); INFO -> REQUEST | DONE
 * (a member rerunning join) | NONE (given up); REQUEST -> DONE | NONE. */
static const uint32_t join_allowed[] = {
    [GW_RAFT__JOIN_NONE] = GW_SM_BIT(GW_RAFT__JOIN_ENROLL) | GW_SM_BIT(GW_RAFT__JOIN_INFO),
    [GW_RAFT__JOIN_ENROLL] = GW_SM_BIT(GW_RAFT__JOIN_INFO) | GW_SM_BIT(GW_RAFT__JOIN_NONE),
    [GW_RAFT__JOIN_INFO] = GW_SM_BIT(GW_RAFT__JOIN_REQUEST) | GW_SM_BIT(GW_RAFT__JOIN_DONE) |
			   GW_SM_BIT(GW_RAFT__JOIN_NONE),
    [GW_RAFT__JOIN_REQUEST] = GW_SM_BIT(GW_RAFT__JOIN_DONE) | GW_SM_BIT(GW_RAFT__JOIN_NONE),
    [GW_RAFT__JOIN_DONE] = 0,
};
static const struct gw_sm_conf join_conf = {"raft-join", join_names, join_allowed,
					    GW_RAFT__JOIN_DONE + 1};

void gw_raft__join_init(struct gw_raft *r)
{
	gw_sm_init(&r->join, &join_conf, GW_RAFT__JOIN_NONE);
}

#define JOIN_INFO_GIVE_UP_MS 30000 /* no answer from the peer: give up */

static void join_info_done(void *data, int err, const struct gw_httpc_resp *resp);
static void join_request_done(void *data, int err, const struct gw_httpc_resp *resp);
static void join_enroll_done(void *data, int err, const struct gw_httpc_resp *resp);

static void join_fatal(struct gw_raft *r, int err, const char *why)
{
	gw_errorf("raft", "cannot join the cluster through %s: %s", r->join_peer, why);
	gw_sm_move(&r->join, GW_RAFT__JOIN_NONE);
	gw_raft__enroll_release(r);
	gw_raft__terminate(r, err);
}

/* The "reason" of a refusal's JSON body into @out (or the error's text). */
static void refusal_reason(const struct gw_httpc_resp *resp, char *out, size_t len)
{
	cJSON *o =
	    resp->body.data != NULL ? cJSON_ParseWithLength(resp->body.data, resp->body.len) : NULL;
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "reason");

	snprintf(out, len, "%s",
		 cJSON_IsString(why) ? why->valuestring
		 : resp->gw_err != 0 ? gw_strerror(resp->gw_err)
				     : "refused");
	cJSON_Delete(o);
}

void gw_raft__join_tick(struct gw_raft *r)
{
	uint64_t now = gw_raft__now(r);
	int rv;

	if (r->join_inflight || now < r->join_next_try) {
		return;
	}
	if (gw_sm_state(&r->join) == GW_RAFT__JOIN_ENROLL) {
		char *body;
		if (gw_raft__enroll_prepare(r) != 0 || (body = gw_raft__enroll_body(r)) == NULL) {
			r->join_next_try = now + 1000;
			return;
		}
		r->join_inflight = true;
		r->call_why[0] = '\0';
		rv = gw_raft__call(r, r->join_peer, "POST", "/apigw/internal/enroll", body,
				   strlen(body), GW_RAFT__JOIN_TIMEOUT_MS, false, join_enroll_done,
				   r);
		OPENSSL_cleanse(body, strlen(body));
		free(body);
		if (rv != 0) {
			r->join_inflight = false;
		}
	} else if (gw_sm_state(&r->join) == GW_RAFT__JOIN_INFO) {
		r->join_inflight = true;
		rv = gw_raft__call(r, r->join_peer, "GET", "/apigw/internal/cluster", NULL, 0,
				   GW_RAFT__PING_TIMEOUT_MS * 2, false, join_info_done, r);
		if (rv != 0) {
			r->join_inflight = false;
		}
	} else if (gw_sm_state(&r->join) == GW_RAFT__JOIN_REQUEST) {
		char *meta = gw_raft__self_json(r);
		if (meta == NULL) {
			return;
		}
		r->join_inflight = true;
		rv = gw_raft__call(r, r->join_peer, "POST", "/apigw/internal/join", meta,
				   strlen(meta), GW_RAFT__JOIN_TIMEOUT_MS, false, join_request_done,
				   r);
		free(meta);
		if (rv != 0) {
			r->join_inflight = false;
		}
	}
}

/* Legacy --join-secret and a peer without a cluster PKI: the old flow. */
static void enroll_fallback(struct gw_raft *r, const char *why)
{
	gw_warnf("raft",
		 "join: %s: joining in cleartext with the join secret (legacy; the peer has "
		 "no peer TLS)",
		 why);
	gw_raft__enroll_release(r);
	gw_sm_move(&r->join, GW_RAFT__JOIN_INFO);
	r->join_next_try = 0;
}

static void join_enroll_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_raft *r = data;
	bool legacy = r->join_token_id[0] == '\0';
	char why[512];
	int rv;

	r->join_inflight = false;
	if (gw_raft__stopping(r)) {
		return;
	}
	if (err == GW_EPERM) {
		snprintf(why, sizeof why, "the peer's TLS identity was refused: %s", r->call_why);
		join_fatal(r, GW_EPERM, why);
		return;
	}
	if (err == GW_EPROTO && legacy) {
		enroll_fallback(r, r->call_why[0] ? r->call_why : "TLS failed");
		return;
	}
	if (err == 0 && resp->status == 404 && legacy) {
		enroll_fallback(r, "the peer has no cluster CA");
		return;
	}
	if (err == 0 && (resp->status == 403 || resp->status == 404 || resp->status == 400)) {
		char reason[256];
		refusal_reason(resp, reason, sizeof reason);
		snprintf(why, sizeof why, "the peer refused the %s: %s",
			 legacy ? "join secret" : "join token", reason);
		join_fatal(r, GW_EPERM, why);
		return;
	}
	if (err != 0 || resp->status != 200) {
		if (gw_raft__now(r) - r->join_started > JOIN_INFO_GIVE_UP_MS) {
			snprintf(why, sizeof why, "no enrollment: %s%s%s",
				 err != 0 ? gw_strerror(err) : "unexpected answer",
				 r->call_why[0] ? ": " : "", r->call_why);
			join_fatal(r, err == GW_EPROTO ? GW_EPERM : GW_ETIMEOUT, why);
			return;
		}
		gw_warnf("raft", "join: enrollment through %s: %s%s%s (retrying)", r->join_peer,
			 err != 0 ? gw_strerror(err)
				  : (resp->gw_err != 0 ? gw_strerror(resp->gw_err) : "error"),
			 err != 0 && r->call_why[0] ? ": " : "", err != 0 ? r->call_why : "");
		r->join_next_try = gw_raft__now(r) + (err == 0 ? 250 : 1000);
		return;
	}
	rv = gw_raft__enroll_adopt(r, resp->body.data != NULL ? resp->body.data : "",
				   resp->body.len, why, sizeof why);
	if (rv != 0) {
		join_fatal(r, rv, why);
		return;
	}
	gw_raft__enroll_release(r);
	rv = gw_raft__pki_load(r);
	if (rv != 0 || r->tls == NULL) {
		join_fatal(r, rv != 0 ? rv : GW_ECORRUPT, "cannot load the certificate received");
		return;
	}
	gw_infof("raft", "enrolled in cluster %016" PRIx64 ": certificate in %s/pki",
		 r->ident.cluster_id, r->data_dir);
	r->enrolled_at = gw_raft__now(r);
	gw_sm_move(&r->join, GW_RAFT__JOIN_INFO);
	r->join_next_try = 0;
	gw_raft__join_tick(r);
}

static void join_info_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_raft *r = data;
	char hex[32] = "";
	cJSON *info = NULL;
	const cJSON *cj;
	uint64_t cid;
	int rv;

	r->join_inflight = false;
	if (gw_raft__stopping(r)) {
		return;
	}
	if (err == 0 && resp->status == 403 && r->tls != NULL && r->enrolled_at != 0 &&
	    gw_raft__now(r) - r->enrolled_at < 10000) {
		/* The peer may not have applied our enrollment record yet. */
		r->join_next_try = gw_raft__now(r) + 250;
		return;
	}
	if (err == 0 && resp->status == 403) {
		char reason[256], why[300];
		refusal_reason(resp, reason, sizeof reason);
		snprintf(why, sizeof why, "the peer refused us: %s", reason);
		join_fatal(r, GW_EPERM, why);
		return;
	}
	if ((err == GW_EPROTO || err == GW_EPERM) && r->tls != NULL && r->ident.cluster_id != 0 &&
	    r->enrolled_at == 0) {
		char why[512];
		snprintf(
		    why, sizeof why,
		    "mTLS with the peer failed (%s): this data dir belongs to cluster %016" PRIx64
		    " and the peer is not a member of it (use an empty data dir to join "
		    "another cluster)",
		    r->call_why, r->ident.cluster_id);
		join_fatal(r, GW_ECORRUPT, why);
		return;
	}
	if (err == 0 && resp->status == 200 && resp->body.data != NULL) {
		info = cJSON_ParseWithLength(resp->body.data, resp->body.len);
		cj = cJSON_GetObjectItemCaseSensitive(info, "cluster_id");
		if (cJSON_IsString(cj) && strlen(cj->valuestring) == 16 &&
		    strspn(cj->valuestring, "0123456789abcdef") == 16) {
			memcpy(hex, cj->valuestring, 17);
		}
	}
	if (err != 0 || resp->status != 200 || hex[0] == '\0') {
		cJSON_Delete(info);
		if (r->join_member) {
			gw_warnf("raft",
				 "join: cannot check the cluster through %s (%s); "
				 "restarting as the member this data dir holds",
				 r->join_peer, err != 0 ? gw_strerror(err) : "unexpected answer");
			gw_sm_move(&r->join, GW_RAFT__JOIN_NONE);
			return;
		}
		if (gw_raft__now(r) - r->join_started > JOIN_INFO_GIVE_UP_MS) {
			join_fatal(r, GW_ETIMEOUT, "no answer from the peer");
			return;
		}
		gw_warnf("raft", "join: peer %s: %s (retrying)", r->join_peer,
			 err != 0 ? gw_strerror(err) : "unexpected answer");
		r->join_next_try = gw_raft__now(r) + 1000;
		return;
	}
	cid = strtoull(hex, NULL, 16);
	if (r->ident.cluster_id != 0 && r->ident.cluster_id != cid) {
		gw_errorf("raft",
			  "this data dir belongs to cluster %016" PRIx64 " but %s is in cluster "
			  "%016" PRIx64 ": use an empty data dir to join it",
			  r->ident.cluster_id, r->join_peer, cid);
		cJSON_Delete(info);
		gw_sm_move(&r->join, GW_RAFT__JOIN_NONE);
		gw_raft__terminate(r, GW_ECORRUPT);
		return;
	}
	if (!r->raft_running) {
		r->ident.cluster_id = cid;
		r->ident.origin = GW_ORIGIN_JOIN;
		/* The certificate is on disk already (enrollment): an identity
		 * on disk means a member. */
		rv = gw_raft__identity_save(r->data_dir, &r->ident);
		if (rv == 0) {
			rv = gw_raft__setup(r, false);
		}
		cJSON_Delete(info);
		info = NULL;
		if (rv != 0) {
			gw_sm_move(&r->join, GW_RAFT__JOIN_NONE);
			gw_raft__terminate(r, rv);
			return;
		}
	}
	cJSON_Delete(info);
	if (r->join_member) {
		gw_sm_move(&r->join, GW_RAFT__JOIN_DONE); /* already a member of this cluster */
		return;
	}
	gw_sm_move(&r->join, GW_RAFT__JOIN_REQUEST);
	r->join_next_try = 0;
	gw_raft__join_tick(r);
}

static void join_request_done(void *data, int err, const struct gw_httpc_resp *resp)
{
	struct gw_raft *r = data;
	char role[16] = "";

	r->join_inflight = false;
	if (gw_raft__stopping(r)) {
		return;
	}
	if (err == 0 && resp->status == 403) {
		char reason[256], why[300];
		refusal_reason(resp, reason, sizeof reason);
		snprintf(why, sizeof why, "the join was refused: %s", reason);
		join_fatal(r, GW_EPERM, why);
		return;
	}
	if (err == 0 && resp->status == 409 && resp->gw_err == GW_EEXIST) {
		join_fatal(r, GW_EEXIST,
			   "the leader refused: another member uses this raft address (remove "
			   "it first)");
		return;
	}
	if (err != 0 || resp->status != 200) {
		r->join_failures++;
		gw_warnf("raft", "join request: %s (retrying)",
			 err != 0 ? gw_strerror(err)
				  : (resp->gw_err != 0 ? gw_strerror(resp->gw_err) : "error"));
		r->join_next_try = gw_raft__now(r) + 250;
		return;
	}
	if (resp->body.data != NULL) {
		sscanf(resp->body.data, "{\"role\":\"%15[a-z]\"", role);
	}
	gw_infof("raft", "joined cluster %016" PRIx64 " as %s", r->ident.cluster_id,
		 role[0] ? role : "member");
	gw_sm_move(&r->join, GW_RAFT__JOIN_DONE);
}
