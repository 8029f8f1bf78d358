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

static int parse(struct gw_config *cfg, char *err, ...)
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
	return gw_config_parse(argc, argv, cfg, err, 256);
}

static void test_defaults(void **state)
{
	struct gw_config c;
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
	assert_true(c.data_dir[0] == '/');
	assert_true(c.name[0] != '\0');
	assert_int_equal(parse(&c, err, NULL), 0);
	assert_int_equal(c.cmd, GW_CMD_HELP);
}

static void test_values(void **state)
{
	struct gw_config c;
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
	assert_int_equal(parse(&c, err, "status", "--json", NULL), 0);
	assert_true(c.json);
	assert_int_equal(parse(&c, err, "help", "start", NULL), 0);
	assert_string_equal(c.help_topic, "start");
}

static void test_errors_name_the_flag(void **state)
{
	struct gw_config c;
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

static void test_help_output(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	(void)state;
	assert_int_equal(gw_config_help(f, "join"), 0);
	assert_int_equal(gw_config_help(f, "nope"), GW_EINVAL);
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
	    cmocka_unit_test(test_help_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
