/* test_config.c: the flag table and parser (node/flags.c). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/err.h"
#include "node/flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct gw_node_config *cfg, char *err, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, err);
	argv[argc++] = "apigw";
	for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return gw_node_config_parse(argc, argv, cfg, err, 256);
}

static void test_defaults(void **state)
{
	struct gw_node_config c;
	char err[256];
	(void)state;
	assert_int_equal(parse(&c, err, "start", NULL), 0);
	assert_int_equal(c.cmd, GW_CMD_START);
	assert_int_equal(c.n_proxy_listen, 1);
	assert_string_equal(c.proxy_listen[0].text, "0.0.0.0:9080");
	assert_string_equal(c.admin_listen.text, "127.0.0.1:9180");
	assert_string_equal(c.etcd_listen.text, "127.0.0.1:2379");
	assert_string_equal(c.raft_listen.text, "127.0.0.1:2380");
	assert_string_equal(c.status_listen.text, "127.0.0.1:7085");
	assert_string_equal(c.metrics_listen.text, "127.0.0.1:9091");
	assert_int_equal(c.write_timeout_ms, 2000);
	assert_int_equal(c.voters, 3);
	assert_int_equal(c.drain_delay_ms, 5000);
	assert_int_equal(c.log_level, GW_LOG_INFO);
	assert_string_equal(c.admin_allow, "127.0.0.0/24");
	assert_string_equal(c.etcd_trusted, "127.0.0.0/8,::1/128");
	assert_int_equal(c.auth_token_ttl_ms, 300000);
	assert_true(c.quota_bytes == 2147483648ULL);
	assert_true(c.data_dir[0] == '/');
	assert_true(c.name[0] != '\0');
	assert_int_equal(parse(&c, err, NULL), 0);
	assert_int_equal(c.cmd, GW_CMD_HELP);
}

static void test_values(void **state)
{
	struct gw_node_config c;
	char err[256];
	(void)state;
	assert_int_equal(
	    parse(&c, err, "join", "--peer", "127.0.0.1:2379", "--join-secret=s3", "--proxy-listen",
		  "127.0.0.1:1", "--proxy-listen", "[::1]:2,proxy_protocol", "--write-timeout",
		  "500ms", "--drain-delay", "1m", "--voters", "5", "--log-level", "debug", NULL),
	    0);
	assert_int_equal(c.cmd, GW_CMD_JOIN);
	assert_string_equal(c.join_secret, "s3");
	assert_int_equal(c.n_proxy_listen, 2);
	assert_string_equal(c.proxy_listen[1].text, "[::1]:2");
	assert_string_equal(c.proxy_listen[1].opts, "proxy_protocol");
	assert_int_equal(c.write_timeout_ms, 500);
	assert_int_equal(c.drain_delay_ms, 60000);
	assert_int_equal(c.voters, 5);
	assert_int_equal(c.log_level, GW_LOG_DEBUG);
	assert_int_equal(parse(&c, err, "start", "--quota-backend-bytes", "64MiB", NULL), 0);
	assert_true(c.quota_bytes == 64ULL << 20);
	assert_int_equal(parse(&c, err, "start", "--quota-backend-bytes", "5000000", NULL), 0);
	assert_true(c.quota_bytes == 5000000ULL);
	assert_int_equal(parse(&c, err, "start", "--quota-backend-bytes", "1KiB", NULL), GW_EINVAL);
	assert_int_equal(parse(&c, err, "start", "--quota-backend-bytes", "2XB", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--quota-backend-bytes"));
	assert_int_equal(parse(&c, err, "start", "--admin-allow", "10.0.0.0/8,::1/128,127.0.0.1",
			       "--admin-viewer-key", "v", NULL),
			 0);
	assert_string_equal(c.admin_allow, "10.0.0.0/8,::1/128,127.0.0.1");
	assert_string_equal(c.admin_viewer_key, "v");
	assert_int_equal(parse(&c, err, "start", "--admin-allow", "10.0.0.0/33", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--admin-allow"));
	assert_int_equal(parse(&c, err, "start", "--admin-allow", "10.0.0/8", NULL), GW_EINVAL);
	/* --etcd-trusted-cidr repeats: the first replaces the default */
	assert_int_equal(parse(&c, err, "start", "--etcd-trusted-cidr", "127.0.0.1/32",
			       "--etcd-trusted-cidr=10.0.0.0/8,::1", "--auth-token-ttl", "30s",
			       NULL),
			 0);
	assert_string_equal(c.etcd_trusted, "127.0.0.1/32,10.0.0.0/8,::1");
	assert_int_equal(c.auth_token_ttl_ms, 30000);
	assert_int_equal(parse(&c, err, "start", "--etcd-trusted-cidr", "127.0.0.1/33", NULL),
			 GW_EINVAL);
	assert_non_null(strstr(err, "--etcd-trusted-cidr"));
	assert_int_equal(parse(&c, err, "status", "--json", NULL), 0);
	assert_true(c.json);
	assert_int_equal(parse(&c, err, "help", "start", NULL), 0);
	assert_string_equal(c.help_topic, "start");
}

static void test_errors_name_the_flag(void **state)
{
	struct gw_node_config c;
	char err[256];
	(void)state;
	assert_int_equal(parse(&c, err, "start", "--admin-listen", "1.2.3.4:0", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--admin-listen"));
	assert_int_equal(parse(&c, err, "start", "--nope", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--nope"));
	assert_int_equal(parse(&c, err, "start", "--voters", "4", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--voters"));
	assert_int_equal(parse(&c, err, "start", "--workers", "257", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--workers"));
	assert_int_equal(parse(&c, err, "start", "--write-timeout", "-1s", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--write-timeout"));
	assert_int_equal(parse(&c, err, "join", "--peer", "127.0.0.1:1", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--join-secret"));
	assert_int_equal(parse(&c, err, "bogus", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "bogus"));
	assert_int_equal(parse(&c, err, "start", "--json", NULL), GW_EINVAL);
	assert_non_null(strstr(err, "--json"));
	/* One more listener than GW_MAX_PROXY_LISTEN (8). */
	assert_int_equal(parse(&c, err, "start", "--proxy-listen", "127.0.0.1:1", "--proxy-listen",
			       "127.0.0.1:2", "--proxy-listen", "127.0.0.1:3", "--proxy-listen",
			       "127.0.0.1:4", "--proxy-listen", "127.0.0.1:5", "--proxy-listen",
			       "127.0.0.1:6", "--proxy-listen", "127.0.0.1:7", "--proxy-listen",
			       "127.0.0.1:8", "--proxy-listen", "127.0.0.1:9", NULL),
			 GW_EINVAL);
	assert_non_null(strstr(err, "--proxy-listen"));
}

/* Write @text to a new temp file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
	static char path[64];
	int fd;
	strcpy(path, "/tmp/apigw-cfg-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_config_file(void **state)
{
	struct gw_node_config c;
	char err[256];
	char arg[128];
	const char *p;
	(void)state;

	p = temp_file("{\"workers\": 3, \"proxy-listen\": [\":19080\", \"[::1]:19081\"],"
		      " \"write-timeout\": \"750ms\", \"admin-key\": \"k1\", \"voters\": 5}");
	snprintf(arg, sizeof arg, "--config=%s", p);
	/* Flags win over the file. */
	assert_int_equal(parse(&c, err, "start", arg, "--voters", "1", NULL), 0);
	unlink(p);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.n_proxy_listen, 2);
	assert_string_equal(c.proxy_listen[1].text, "[::1]:19081");
	assert_int_equal(c.write_timeout_ms, 750);
	assert_string_equal(c.admin_key, "k1");
	assert_int_equal(c.voters, 1);

	/* Required join flags may come from the file. */
	p = temp_file("{\"peer\": \"127.0.0.1:2379\", \"join-secret\": \"s\"}");
	snprintf(arg, sizeof arg, "--config=%s", p);
	assert_int_equal(parse(&c, err, "join", arg, "--check", NULL), 0);
	unlink(p);
	assert_true(c.check);
	assert_string_equal(c.join_secret, "s");

	p = temp_file("{\"workers\": \"many\"}");
	snprintf(arg, sizeof arg, "--config=%s", p);
	assert_int_equal(parse(&c, err, "start", arg, NULL), GW_EINVAL);
	unlink(p);
	assert_non_null(strstr(err, "--workers"));
	assert_non_null(strstr(err, p));

	p = temp_file("{\"frob\": 1}");
	snprintf(arg, sizeof arg, "--config=%s", p);
	assert_int_equal(parse(&c, err, "start", arg, NULL), GW_EINVAL);
	unlink(p);
	assert_non_null(strstr(err, "\"frob\""));

	p = temp_file("{\"voters\": 1.5}");
	snprintf(arg, sizeof arg, "--config=%s", p);
	assert_int_equal(parse(&c, err, "start", arg, NULL), GW_EINVAL);
	unlink(p);
	assert_non_null(strstr(err, "voters"));

	p = temp_file("[\"not an object\"");
	snprintf(arg, sizeof arg, "--config=%s", p);
	assert_int_equal(parse(&c, err, "start", arg, NULL), GW_EINVAL);
	unlink(p);
	assert_non_null(strstr(err, "not a JSON object"));

	assert_int_equal(parse(&c, err, "start", "--config", "/nonexistent/apigw.json", NULL),
			 GW_EINVAL);
	assert_non_null(strstr(err, "/nonexistent/apigw.json"));
}

static void test_help_output(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	(void)state;
	assert_int_equal(gw_node_config_help(f, "join"), 0);
	assert_int_equal(gw_node_config_help(f, "nope"), GW_EINVAL);
	fclose(f);
	assert_non_null(strstr(text, "--peer HOST:PORT"));
	assert_non_null(strstr(text, "(required)"));
	assert_non_null(strstr(text, "(default 127.0.0.1:9180)"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors_name_the_flag),
	    cmocka_unit_test(test_config_file),
	    cmocka_unit_test(test_help_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
