/* keyring_cli.c: `apigw keyring` (see keyring_cli.h).
 *
 * Happy path of a rotation on a cluster: `apigw keyring rotate` on one
 * member, copy its <data-dir>/keyring to every other member, SIGHUP each
 * node (systemctl reload apigw), then `apigw keyring reseal` on any member.
 * reseal reads the resources through the member's etcd JSON gateway (as
 * `apigw config export`: cleartext from loopback), finds every ssls and
 * consumers object holding a sealed string whose key id is not the current
 * one of the local ring, and PUTs it back unchanged through the Admin API,
 * which re-seals it (admin/apisix_ssl.c, apisix_consumer.c). Objects
 * already sealed by the current key are not written: reseal is idempotent.
 * Failure modes: a missing or malformed ring, an unreachable node, a PUT
 * refused: one line on stderr each, exit 1; what was re-sealed stays so.
 * Threads: main() only. */
#include "config.h"

#include "node/keyring_cli.h"
#include "admin/apisix.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/keyring.h"
#include "node/backup_int.h"
#include "node/configfile_int.h"
#include "node/flags.h"
#include "node/history.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts {
	const char *action;
	const char *data_dir;
	const char *admin_listen;
	const char *admin_key;
	const char *etcd_listen;
};

bool gw_node_keyring_is_cmd(int argc, char **argv)
{
	return argc >= 2 && strcmp(argv[1], "keyring") == 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: apigw keyring rotate|list [--data-dir DIR]\n"
		     "       apigw keyring reseal [--data-dir DIR] [--admin-listen ADDR] "
		     "[--admin-key KEY]\n"
		     "                            [--etcd-listen ADDR]\n"
		     "  the cluster's data-encryption keyring (<data-dir>/keyring, docs/tls.md)\n\n"
		     "  rotate  add a new key and make it current; older keys still open what\n"
		     "          they sealed. Copy the file to every member, then SIGHUP each node\n"
		     "          (systemctl reload apigw) so it reads the ring again\n"
		     "  list    the key ids, oldest first, the current one marked\n"
		     "  reseal  once every member has the new ring: re-write through the local\n"
		     "          Admin API (default 127.0.0.1:9180, key from --admin-key or the\n"
		     "          data dir) the ssls objects and consumers whose secrets an older\n"
		     "          key sealed, so that they are sealed by the current one\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
		usage(argc < 3 ? stderr : stdout);
		return argc < 3 ? 2 : -1;
	}
	o->action = argv[2];
	if (strcmp(o->action, "rotate") != 0 && strcmp(o->action, "list") != 0 &&
	    strcmp(o->action, "reseal") != 0) {
		fprintf(stderr, "apigw: keyring: unknown action '%s' (rotate, list or reseal)\n",
			o->action);
		return 2;
	}
	o->admin_listen = "127.0.0.1:9180";
	o->etcd_listen = "127.0.0.1:2379";
	for (int i = 3; i < argc; i++) {
		int r;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return -1;
		}
		if ((r = gw_node__flag(argc, argv, &i, "--data-dir", &o->data_dir, "keyring")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--admin-listen", &o->admin_listen,
				       "keyring")) != 0 ||
		    (r = gw_node__flag(argc, argv, &i, "--admin-key", &o->admin_key, "keyring")) !=
			0 ||
		    (r = gw_node__flag(argc, argv, &i, "--etcd-listen", &o->etcd_listen,
				       "keyring")) != 0) {
			if (r < 0) {
				return 2;
			}
			continue;
		}
		fprintf(stderr,
			"apigw: keyring: unknown argument '%s' (see apigw keyring --help)\n",
			argv[i]);
		return 2;
	}
	return 0;
}

static int load(const char *dir, struct gw_keyring **kr)
{
	int rv = gw_keyring_load(dir, false, kr);
	if (rv != 0) {
		fprintf(stderr, "apigw: keyring: cannot read %s/%s: %s\n", dir, GW_KEYRING_FILE,
			gw_strerror(rv));
		return 1;
	}
	return 0;
}

static int do_rotate(const char *dir)
{
	struct gw_keyring *kr;
	char kid[9];
	int rv = gw_keyring_rotate(dir, kid);

	if (rv != 0) {
		fprintf(stderr, "apigw: keyring rotate: %s/%s: %s\n", dir, GW_KEYRING_FILE,
			gw_strerror(rv));
		return 1;
	}
	if (load(dir, &kr) != 0) {
		return 1;
	}
	printf("added key %s, now current (%d keys in %s/%s)\n", kid, gw_keyring_count(kr), dir,
	       GW_KEYRING_FILE);
	printf("next: copy the file to every member, SIGHUP each node, then run "
	       "`apigw keyring reseal`\n");
	gw_keyring_free(kr);
	return 0;
}

static int do_list(const char *dir)
{
	struct gw_keyring *kr;
	size_t len = 0;
	char *text, *line, *save = NULL;

	if (load(dir, &kr) != 0) {
		return 1;
	}
	text = gw_keyring_text(kr, &len);
	if (text == NULL) {
		gw_keyring_free(kr);
		fprintf(stderr, "apigw: keyring: out of memory\n");
		return 1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp != NULL) {
			*sp = '\0';
		}
		printf("%s%s\n", line, strcmp(line, gw_keyring_current(kr)) == 0 ? " current" : "");
	}
	gw_keyring_wipe_free(text, len + 1);
	gw_keyring_free(kr);
	return 0;
}

/* True when @j holds, anywhere, a sealed string whose key is not @current. */
static bool has_stale(const cJSON *j, const char *current)
{
	const cJSON *c;
	char kid[9];

	if (cJSON_IsString(j)) {
		return gw_keyring_kid_of(j->valuestring, kid) == 0 && strcmp(kid, current) != 0;
	}
	cJSON_ArrayForEach(c, j)
	{
		if (has_stale(c, current)) {
			return true;
		}
	}
	return false;
}

/* PUT back every object of @section in @root holding a stale blob. The
 * number re-sealed, or -1 after a failure (printed). */
static int reseal_section(const struct opts *o, const char *key, const cJSON *root,
			  const char *section, const char *current, int *failed)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, section), *obj;
	int n = 0;

	cJSON_ArrayForEach(obj, list)
	{
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "id"));
		cJSON *copy;
		char path[1024], *body;
		struct gw_buf out;
		int st;

		if (id == NULL || !has_stale(obj, current)) {
			continue;
		}
		copy = cJSON_Duplicate(obj, true);
		if (copy == NULL) {
			(*failed)++;
			continue;
		}
		if (strcmp(section, "consumers") == 0) {
			cJSON_DeleteItemFromObjectCaseSensitive(copy, "id"); /* the path has it */
		}
		body = cJSON_PrintUnformatted(copy);
		cJSON_Delete(copy);
		snprintf(path, sizeof path, "/apisix/admin/%s/%s", section, id);
		gw_buf_init(&out);
		st = body != NULL
			 ? gw_node__admin_call(o->admin_listen, key, "PUT", path, body, &out)
			 : -1;
		if (body != NULL) {
			gw_keyring_wipe_free(body, strlen(body) + 1);
		}
		if (st == 200 || st == 201) {
			printf("re-sealed %s/%s\n", section, id);
			n++;
		} else {
			if (st >= 0) {
				fprintf(stderr,
					"apigw: keyring reseal: PUT %s answered %d: %.300s\n", path,
					st, out.data != NULL ? out.data : "");
			}
			(*failed)++;
		}
		gw_buf_close(&out);
	}
	return n;
}

static int do_reseal(const struct opts *o, const char *dir)
{
	static const char *const sections[] = {"ssls", "consumers"};
	struct gw_keyring *kr;
	char key[256], current[9];
	cJSON *root = NULL;
	int done = 0, failed = 0;

	if (load(dir, &kr) != 0) {
		return 1;
	}
	snprintf(current, sizeof current, "%s", gw_keyring_current(kr));
	gw_keyring_free(kr);
	if (gw_admin_key_load(dir, o->admin_key, false, key, sizeof key) != 0) {
		fprintf(stderr, "apigw: keyring reseal: no admin key: give --admin-key or the "
				"node's --data-dir\n");
		return 1;
	}
	if (gw_node__cf_fetch(o->etcd_listen, &root) != 0) {
		memset(key, 0, sizeof key);
		return 1;
	}
	for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
		done += reseal_section(o, key, root, sections[i], current, &failed);
	}
	memset(key, 0, sizeof key);
	cJSON_Delete(root);
	printf("%d object(s) re-sealed with key %s%s\n", done, current,
	       failed ? "; some failed (above)" : "");
	return failed ? 1 : 0;
}

int gw_node_keyring_main(int argc, char **argv)
{
	struct opts o = {0};
	char dir[PATH_MAX];
	int rv = parse(argc, argv, &o);

	if (rv != 0) {
		return rv < 0 ? 0 : rv;
	}
	if (o.data_dir != NULL && o.data_dir[0] != '\0') {
		snprintf(dir, sizeof dir, "%s", o.data_dir);
	} else {
		gw_node_default_data_dir(dir, sizeof dir);
	}
	if (strcmp(o.action, "rotate") == 0) {
		return do_rotate(dir);
	}
	if (strcmp(o.action, "list") == 0) {
		return do_list(dir);
	}
	return do_reseal(&o, dir);
}
