/* peertls.h: a member's TLS credentials and the contexts every peer path
 * uses (raft transport, node-to-node calls, the peer side of the etcd port).
 *
 * A member holds, in <data-dir>/pki/: ca.crt (the cluster CA), ca.key (its
 * key, 0600: every member can issue member certificates), node.crt and
 * node.key (0600: this member's certificate, issued by the CA, whose SAN
 * URI is "apigw://<cluster-id hex16>/member/<raft-id hex16>"). A peer is
 * authenticated by a certificate chaining to the CA; its identity is the
 * raft id in that URI, which must name our cluster.
 *
 * Contexts are TLS 1.3 only, with P-256 ECDSA, no session tickets, and
 * certificates required both ways (the server side also accepts clients
 * without one when built with GW_PEERTLS_CLIENT_OPTIONAL: the etcd port).
 * Ownership: the struct and its objects belong to whoever loaded it;
 * gw_peertls_free drops our references (sessions still open keep their
 * SSL_CTX alive: OpenSSL counts references).
 * Threads: contexts may be used from any thread; nothing here blocks
 * except the file functions. */
#ifndef GW_PEERTLS_H
#define GW_PEERTLS_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "apigw://0123456789abcdef/member/0123456789abcdef" and its NUL. */
#define GW_PEERTLS_URI_LEN 64

/* Validity of what bootstrap issues. */
#define GW_PEERTLS_CA_DAYS   3650
#define GW_PEERTLS_NODE_DAYS 365

struct gw_peertls {
	uint64_t cluster_id;
	uint64_t id; /* this member's raft id */
	X509 *ca;
	EVP_PKEY *ca_key; /* NULL when this member cannot issue */
	X509 *cert;
	EVP_PKEY *key;
	SSL_CTX *server;     /* peers connecting to us: client certificate required */
	SSL_CTX *client;     /* us connecting to peers */
	SSL_CTX *server_opt; /* the etcd port: client certificate optional */
};

/* The member URI of (@cluster_id, @id) into @out. */
void gw_peertls_uri(char out[GW_PEERTLS_URI_LEN], uint64_t cluster_id, uint64_t id);
/* Parse a member URI. 0 or GW_EINVAL. */
int gw_peertls_uri_parse(const char *uri, uint64_t *cluster_id, uint64_t *id);

/* Create <@dir> (0700) holding a new CA and a member certificate for @id
 * (with SAN IP @ip when not NULL). Refuses (GW_EEXIST) when @dir already
 * holds a ca.crt. 0 or GW_EIO / GW_ENOMEM. */
int gw_peertls_bootstrap(const char *dir, uint64_t cluster_id, uint64_t id, const char *ip);

/* Issue a member certificate for @id, with a new key, from @ca/@ca_key,
 * and write it with the CA (and @ca_key when not NULL) into @dir. Used by a
 * member renewing its own certificate and by a joining node that received
 * the CA. 0 or GW_EIO / GW_ENOMEM / GW_EINVAL. */
int gw_peertls_issue_into(const char *dir, X509 *ca, EVP_PKEY *ca_key, uint64_t cluster_id,
			  uint64_t id, const char *ip);

/* Write a member's files into @dir (0700; keys 0600): the CA, its key
 * when not NULL, the member's key and certificate. 0 or GW_EIO. */
int gw_peertls_save(const char *dir, X509 *ca, EVP_PKEY *ca_key, X509 *cert, EVP_PKEY *key);

/* Seconds a member certificate is issued for: GW_PEERTLS_NODE_DAYS, or
 * APIGW_NODE_CERT_SECONDS (10 s or more: tests of renewal). */
long gw_peertls_node_lifetime(void);

/* True when less than a third of this member's certificate's validity is
 * left (time to renew). */
bool gw_peertls_renew_due(const struct gw_peertls *p);

/* Issue this member a new certificate and key with its CA key, write them
 * to @dir and swap the new credentials and contexts into @p in place (the
 * pointer stays valid; new connections use the new certificate). 0 or an
 * error with @why. Blocks on files: call it rarely. */
int gw_peertls_renew(struct gw_peertls *p, const char *dir, char *why, size_t whylen);

/* Load @dir and build the contexts. The member certificate must chain to
 * the CA, match the key and name (@cluster_id, @id). 0, GW_ENOTFOUND (no
 * pki dir: nothing was ever created), GW_ECORRUPT (a file is missing or
 * damaged, or the certificate names another member; @why says which) or
 * GW_ENOMEM. *@out is malloc'ed: gw_peertls_free. */
int gw_peertls_load(const char *dir, uint64_t cluster_id, uint64_t id, struct gw_peertls **out,
		    char *why, size_t whylen);
void gw_peertls_free(struct gw_peertls *p);

/* The member id of a verified peer certificate: it must chain to our CA
 * (the contexts check that), carry a member URI naming our cluster. 0 and
 * *@id, or GW_EPERM with the reason in @why. */
int gw_peertls_peer_id(const struct gw_peertls *p, X509 *cert, uint64_t *id, char *why,
		       size_t whylen);

/* Seconds until this member's certificate expires (negative once it has). */
int64_t gw_peertls_seconds_left(const struct gw_peertls *p);

#endif
