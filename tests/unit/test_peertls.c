/* test_peertls.c: lib/peertls + lib/tlsbio. A pki dir made by bootstrap
 * loads back; a member issued from its CA into another dir completes a TLS
 * 1.3 handshake with it over two memory sessions, both ways authenticated,
 * and each reads the other's member id from the certificate; a member of
 * another cluster (own CA) and a client without a certificate fail the
 * handshake; damaged or foreign files are refused at load; garbage is a
 * protocol error, never a crash. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/peertls.h"
#include "lib/pki.h"
#include "lib/tlsbio.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CID UINT64_C(0x00000000c1c1c1c1)

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/test_peertls.XXXXXX");
	return mkdtemp(root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void dir_of(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", root, name);
}

static void test_uri(void **state)
{
	char uri[GW_PEERTLS_URI_LEN];
	uint64_t c, i;
	(void)state;

	gw_peertls_uri(uri, CID, 0xabc);
	assert_string_equal(uri, "apigw://00000000c1c1c1c1/member/0000000000000abc");
	assert_int_equal(gw_peertls_uri_parse(uri, &c, &i), 0);
	assert_true(c == CID && i == 0xabc);
	assert_int_equal(
	    gw_peertls_uri_parse("apigw://00000000c1c1c1c1/member/0000000000000000", &c, &i),
	    GW_EINVAL); /* id 0 is nobody */
	assert_int_equal(
	    gw_peertls_uri_parse("apigw://00000000C1C1C1C1/member/0000000000000abc", &c, &i),
	    GW_EINVAL);
	assert_int_equal(
	    gw_peertls_uri_parse("apigw://00000000c1c1c1c1/member/0000000000000abcd", &c, &i),
	    GW_EINVAL);
	assert_int_equal(gw_peertls_uri_parse("", &c, &i), GW_EINVAL);
}

/* Two sessions wired back to back in memory. */
struct end {
	struct gw_tlsbio t;
	struct end *other;
	char got[65536];
	size_t n_got;
	bool ready;
	int err; /* first failure seen by the other side's feed */
};

static int on_plain(void *data, const char *p, size_t len)
{
	struct end *e = data;
	assert_true(e->n_got + len <= sizeof e->got);
	memcpy(e->got + e->n_got, p, len);
	e->n_got += len;
	return 0;
}

static int on_cipher(void *data, const char *p, size_t len)
{
	struct end *e = data;
	int rv = gw_tlsbio_feed(&e->other->t, p, len);
	if (rv != 0 && e->other->err == 0) {
		e->other->err = rv;
	}
	return 0;
}

static int on_ready(void *data)
{
	struct end *e = data;
	e->ready = true;
	return 0;
}

static const struct gw_tlsbio_ops ops = {on_plain, on_cipher, on_ready};

/* Handshake @cli (client of @pc) with @srv (server context @sctx). */
static void pair(struct end *srv, struct end *cli, SSL_CTX *sctx, SSL_CTX *cctx)
{
	memset(srv, 0, sizeof *srv);
	memset(cli, 0, sizeof *cli);
	srv->other = cli;
	cli->other = srv;
	assert_int_equal(gw_tlsbio_init(&srv->t, sctx, true, NULL, &ops, srv), 0);
	assert_int_equal(gw_tlsbio_init(&cli->t, cctx, false, "apigw-peer", &ops, cli), 0);
	int rv = gw_tlsbio_start(&cli->t);
	if (rv != 0 && cli->err == 0) {
		cli->err = rv;
	}
}

static void unpair(struct end *a, struct end *b)
{
	gw_tlsbio_free(&a->t);
	gw_tlsbio_free(&b->t);
}

static void test_bootstrap_issue_handshake(void **state)
{
	char a[PATH_MAX], b[PATH_MAX], why[256] = "";
	struct gw_peertls *pa = NULL, *pb = NULL;
	static struct end srv, cli;
	uint64_t id = 0;
	(void)state;

	dir_of(a, "a");
	dir_of(b, "b");
	assert_int_equal(gw_peertls_bootstrap(a, CID, 1, "127.0.0.1"), 0);
	assert_int_equal(gw_peertls_bootstrap(a, CID, 1, NULL), GW_EEXIST);
	assert_int_equal(gw_peertls_load(a, CID, 1, &pa, why, sizeof why), 0);
	assert_non_null(pa->ca_key);
	assert_true(gw_peertls_seconds_left(pa) > 300 * 86400);
	/* A second member: what a joining node does with the received CA. */
	assert_int_equal(gw_peertls_issue_into(b, pa->ca, pa->ca_key, CID, 2, NULL), 0);
	assert_int_equal(gw_peertls_load(b, CID, 2, &pb, why, sizeof why), 0);

	pair(&srv, &cli, pa->server, pb->client);
	assert_int_equal(srv.err, 0);
	assert_int_equal(cli.err, 0);
	assert_true(srv.ready && cli.ready);
	assert_string_equal(SSL_get_version(srv.t.ssl), "TLSv1.3");
	assert_int_equal(gw_peertls_peer_id(pa, gw_tlsbio_peer_cert(&srv.t), &id, why, sizeof why),
			 0);
	assert_true(id == 2);
	assert_int_equal(gw_peertls_peer_id(pb, gw_tlsbio_peer_cert(&cli.t), &id, why, sizeof why),
			 0);
	assert_true(id == 1);
	/* Data both ways, more than one record. */
	char big[40000];
	memset(big, 'x', sizeof big);
	assert_int_equal(gw_tlsbio_write(&cli.t, "hello", 5), 0);
	assert_int_equal(srv.n_got, 5);
	assert_memory_equal(srv.got, "hello", 5);
	assert_int_equal(gw_tlsbio_write(&srv.t, "ok", 2), 0);
	assert_memory_equal(cli.got, "ok", 2);
	assert_int_equal(gw_tlsbio_write(&cli.t, big, sizeof big), 0);
	assert_int_equal(srv.n_got, 5 + sizeof big);
	assert_memory_equal(srv.got + 5, big, sizeof big);
	unpair(&srv, &cli);

	/* Wrong id at load: the certificate names member 2. */
	gw_peertls_free(pa);
	assert_int_equal(gw_peertls_load(b, CID, 3, &pa, why, sizeof why), GW_ECORRUPT);
	assert_null(pa);
	assert_non_null(strstr(why, "names another member"));
	gw_peertls_free(pb);
	assert_int_equal(gw_peertls_load(a, CID, 1, &pa, why, sizeof why), 0);
	gw_peertls_free(pa);
}

static void test_foreign_cluster_refused(void **state)
{
	char a[PATH_MAX], x[PATH_MAX], why[256] = "";
	struct gw_peertls *pa = NULL, *px = NULL;
	static struct end srv, cli;
	(void)state;

	dir_of(a, "fa");
	dir_of(x, "fx");
	assert_int_equal(gw_peertls_bootstrap(a, CID, 1, NULL), 0);
	assert_int_equal(gw_peertls_bootstrap(x, CID, 5, NULL), 0); /* same ids, other CA */
	assert_int_equal(gw_peertls_load(a, CID, 1, &pa, why, sizeof why), 0);
	assert_int_equal(gw_peertls_load(x, CID, 5, &px, why, sizeof why), 0);
	pair(&srv, &cli, pa->server, px->client);
	assert_false(srv.ready && cli.ready);
	assert_true(srv.err == GW_EPROTO || cli.err == GW_EPROTO);
	unpair(&srv, &cli);

	/* A client without a certificate: refused by server, accepted by
	 * server_opt (the etcd port) with no peer certificate. */
	SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(bare), pa->ca);
	SSL_CTX_set_verify(bare, SSL_VERIFY_PEER, NULL);
	pair(&srv, &cli, pa->server, bare);
	assert_false(srv.ready);
	unpair(&srv, &cli);
	pair(&srv, &cli, pa->server_opt, bare);
	assert_true(srv.ready && cli.ready);
	assert_null(gw_tlsbio_peer_cert(&srv.t));
	uint64_t id;
	assert_int_equal(gw_peertls_peer_id(pa, NULL, &id, why, sizeof why), GW_EPERM);
	unpair(&srv, &cli);
	SSL_CTX_free(bare);
	gw_peertls_free(pa);
	gw_peertls_free(px);
}

static void test_load_refusals(void **state)
{
	char a[PATH_MAX], path[PATH_MAX + 16], why[256] = "";
	struct gw_peertls *p = NULL;
	FILE *f;
	(void)state;

	dir_of(a, "none");
	assert_int_equal(gw_peertls_load(a, CID, 1, &p, why, sizeof why), GW_ENOTFOUND);
	dir_of(a, "dmg");
	assert_int_equal(gw_peertls_bootstrap(a, CID, 1, NULL), 0);
	snprintf(path, sizeof path, "%s/node.key", a);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(gw_peertls_load(a, CID, 1, &p, why, sizeof why), GW_ECORRUPT);
	assert_non_null(strstr(why, "node.key"));
	assert_int_equal(gw_peertls_load(a, CID + 1, 1, &p, why, sizeof why), GW_ECORRUPT);
	snprintf(path, sizeof path, "%s/node.crt", a);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(gw_peertls_load(a, CID, 1, &p, why, sizeof why), GW_ECORRUPT);
	assert_non_null(strstr(why, "missing"));
}

static void test_garbage(void **state)
{
	char a[PATH_MAX], why[256] = "";
	struct gw_peertls *pa = NULL;
	static struct end srv;
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	(void)state;

	dir_of(a, "g");
	assert_int_equal(gw_peertls_bootstrap(a, CID, 1, NULL), 0);
	assert_int_equal(gw_peertls_load(a, CID, 1, &pa, why, sizeof why), 0);
	memset(&srv, 0, sizeof srv);
	srv.other = &srv;
	assert_int_equal(gw_tlsbio_init(&srv.t, pa->server, true, NULL, &ops, &srv), 0);
	assert_int_equal(gw_tlsbio_feed(&srv.t, junk, sizeof junk - 1), GW_EPROTO);
	assert_true(srv.t.why[0] != '\0');
	assert_int_equal(gw_tlsbio_write(&srv.t, "x", 1), GW_EPROTO); /* not ready */
	gw_tlsbio_free(&srv.t);
	gw_peertls_free(pa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri),
	    cmocka_unit_test(test_bootstrap_issue_handshake),
	    cmocka_unit_test(test_foreign_cluster_refused),
	    cmocka_unit_test(test_load_refusals),
	    cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests_name("peertls", tests, setup, teardown);
}
