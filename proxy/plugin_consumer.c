/* plugin_consumer.c: consumers, credentials and consumer groups in the
 * compiled snapshot, and the consumer's part of a request's plugins.
 *
 * Happy path: gw_proxy__consumers_compile (called by config.c after the
 * global rules) compiles the consumer groups, then every consumer (its
 * non-auth plugins merged with its group's: consumer > group, by priority),
 * then indexes the credentials of the auth plugins — the consumer's own
 * key-auth / basic-auth configuration and each
 * /apisix/consumers/<user>/credentials/<id> — in one hash map per kind, so
 * an auth plugin finds the consumer of a presented key in O(1) and then
 * compares the secret in constant time (lib/ct.h). On a request, the auth
 * plugin attaches the consumer; after the rewrite phase
 * gw_proxy__consumer_merge adds the consumer's plugins the route does not
 * have (the route, its plugin_config and service win), keeping the priority
 * order, and runs their rewrite hooks.
 * Secrets at rest: the Admin API seals key-auth's key and basic-auth's
 * password with the node's keyring (as APISIX encrypts them); the compile
 * opens them (GW_KEYRING_AAD_CONSUMER) into the index's memory, values
 * written in clear through the etcd API are taken as they are, and a
 * credential that cannot be opened (no or another keyring) is skipped with
 * a warning.
 * Failure modes: a consumer, credential or group that fails its schema, or a
 * credential whose consumer is missing, is skipped with one warning; a key
 * used twice keeps its first consumer (warning). Only GW_ENOMEM fails the
 * compile. Threads: compile on the config thread; lookups on workers. */
#include "config.h"

#include "lib/err.h"
#include "lib/keyring.h"
#include "lib/log.h"
#include "proxy/plugin_int.h"
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P_CONSUMERS "/apisix/consumers/"
#define P_GROUPS    "/apisix/consumer_groups/"
#define CREDS       "/credentials/"

struct gw_proxy__consumers {
	struct gw_proxy__map by_name;                /* username -> consumer */
	struct gw_proxy__map cred[GW_PROXY__CRED_N]; /* credential id -> struct cred */
	struct gw_proxy__map groups;                 /* group id -> struct group (compile) */
	struct owned *owned;                         /* credential data to free */
	size_t n_owned, cap_owned;
};

struct owned {
	void (*free)(void *data);
	void *data;
};

struct cred {
	const struct gw_proxy__consumer *co;
	const char *secret; /* arena */
	const void *data;   /* the plugin's cred_ops compile, or NULL */
};

struct group {
	struct gw_proxy__plugin_inst *v;
	size_t n;
};

/* The auth plugins and the fields of their consumer configuration. */
static const struct {
	const char *plugin;
	enum gw_proxy__cred kind;
	const char *id_field, *secret_field;
	bool secret_optional;                 /* jwt-auth's RS256 has a public_key instead */
	const struct gw_proxy__cred_ops *ops; /* or NULL */
} auth[] = {
    {"key-auth", GW_PROXY__CRED_KEY, "key", "key", false, NULL},
    {"basic-auth", GW_PROXY__CRED_BASIC, "username", "password", false, NULL},
    {"jwt-auth", GW_PROXY__CRED_JWT, "key", "secret", true, &gw_proxy__jwt_cred_ops},
    {"hmac-auth", GW_PROXY__CRED_HMAC, "key_id", "secret_key", false, NULL},
};

static int auth_of(const char *plugin)
{
	for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++) {
		if (strcmp(auth[i].plugin, plugin) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* ---- compile */

/* Parse and check the object at @kv as @schema. NULL with the reason in
 * @why when it fails. Owned by the caller. */
static cJSON *parse(const struct gw_proxy_kv *kv, const char *schema, char *why, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(kv->value, kv->value_len);

	if (j == NULL) {
		snprintf(why, n, "invalid JSON");
		return NULL;
	}
	if (gw_schema_check(schema, j, GW_SCHEMA_PROXY, why, n) != 0) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

static void skipped(const char *kind, const struct gw_proxy_kv *kv, const char *why)
{
	gw_warnf("proxy", "%s %.*s skipped: %s", kind, (int)(kv->key_len > 200 ? 200 : kv->key_len),
		 kv->key, why);
}

/* @id and @secret in clear (either may be sealed): *idp and *secp, the
 * caller's (close_pair). 0, GW_ENOMEM or why one cannot be opened. */
static int open_pair(const char *id, const char *secret, char **idp, char **secp)
{
	const struct gw_keyring *kr = gw_keyring_default();
	int rv;

	*idp = *secp = NULL;
	rv = gw_keyring_reveal(kr, GW_KEYRING_AAD_CONSUMER, id, idp);
	if (rv == 0) {
		rv = gw_keyring_reveal(kr, GW_KEYRING_AAD_CONSUMER, secret, secp);
		if (rv != 0) {
			gw_keyring_wipe_free(*idp, strlen(*idp) + 1);
			*idp = NULL;
		}
	}
	return rv;
}

static void close_pair(char *idp, char *secp)
{
	gw_keyring_wipe_free(idp, strlen(idp) + 1);
	gw_keyring_wipe_free(secp, strlen(secp) + 1);
}

/* The plugin's compile of credential @conf into *@out; what it owns is
 * kept for gw_proxy__consumers_free. */
static int cred_data(struct gw_proxy__compiler *c, struct gw_proxy__consumers *cs,
		     const struct gw_proxy__cred_ops *ops, const cJSON *conf, const char *secret,
		     const void **out)
{
	void *data = NULL;
	int rv = ops->compile(c, conf, secret, &data);

	if (rv != 0 || data == NULL || ops->free == NULL) {
		*out = data;
		return rv;
	}
	if (cs->n_owned == cs->cap_owned) {
		size_t cap = cs->cap_owned ? cs->cap_owned * 2 : 8;
		struct owned *v = realloc(cs->owned, cap * sizeof *v);
		if (v == NULL) {
			ops->free(data);
			return GW_ENOMEM;
		}
		cs->owned = v;
		cs->cap_owned = cap;
	}
	cs->owned[cs->n_owned].free = ops->free;
	cs->owned[cs->n_owned++].data = data;
	*out = data;
	return 0;
}

/* Index the credentials of the auth plugins of @plugins for @co. */
static int index_creds(struct gw_proxy__compiler *c, struct gw_proxy__consumers *cs,
		       const struct gw_proxy__consumer *co, const cJSON *plugins)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, plugins)
	{
		int a = auth_of(p->string);
		const cJSON *id, *sec, *dis;
		struct cred *cr;
		const char *key;
		char *idp, *secp;
		int rv;

		dis = cJSON_GetObjectItemCaseSensitive(p, "_meta");
		if (a < 0 || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dis, "disable"))) {
			continue;
		}
		id = cJSON_GetObjectItemCaseSensitive(p, auth[a].id_field);
		sec = cJSON_GetObjectItemCaseSensitive(p, auth[a].secret_field);
		if (!cJSON_IsString(id) ||
		    !(cJSON_IsString(sec) || (sec == NULL && auth[a].secret_optional))) {
			continue; /* the schema requires both */
		}
		/* Sealed by the Admin API (key-auth's key, basic-auth's password):
		 * the index and the comparison need them in clear. */
		rv = open_pair(id->valuestring, sec ? sec->valuestring : "", &idp, &secp);
		if (rv == GW_ENOMEM) {
			return rv;
		}
		if (rv != 0) {
			gw_warnf("proxy",
				 "consumer %s: %s credential cannot be opened (%s), ignored",
				 co->username, auth[a].plugin, gw_strerror(rv));
			continue;
		}
		if (gw_proxy__map_get(&cs->cred[auth[a].kind], idp, strlen(idp)) != NULL) {
			gw_warnf("proxy",
				 "consumer %s: %s credential already used by another "
				 "consumer, ignored",
				 co->username, auth[a].plugin);
			close_pair(idp, secp);
			continue;
		}
		cr = gw_proxy__c_alloc(c, sizeof *cr);
		key = gw_proxy__c_strdup(c, idp);
		if (cr != NULL) {
			cr->secret = gw_proxy__c_strdup(c, secp);
		}
		rv = cr != NULL && key != NULL && cr->secret != NULL ? 0 : GW_ENOMEM;
		if (rv == 0 && auth[a].ops != NULL) {
			rv = cred_data(c, cs, auth[a].ops, p, secp, &cr->data);
		}
		close_pair(idp, secp);
		if (rv == GW_EINVAL) {
			gw_warnf("proxy", "consumer %s: %s credential invalid, ignored",
				 co->username, auth[a].plugin);
			continue;
		}
		if (rv != 0) {
			return rv;
		}
		cr->co = co;
		if (gw_proxy__map_put(&cs->cred[auth[a].kind], key, strlen(key), cr) != 0) {
			return GW_ENOMEM;
		}
	}
	return 0;
}

/* @plugins without the auth plugins, compiled. */
static int compile_rest(struct gw_proxy__compiler *c, const cJSON *plugins,
			struct gw_proxy__plugin_inst **v, size_t *n)
{
	cJSON *rest;
	int rv;

	*v = NULL;
	*n = 0;
	if (plugins == NULL) {
		return 0;
	}
	rest = cJSON_Duplicate(plugins, true);
	if (rest == NULL) {
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(rest, auth[i].plugin);
	}
	rv = gw_proxy__c_plugins(c, rest, v, n);
	cJSON_Delete(rest);
	return rv;
}

static bool has(const struct gw_proxy__plugin_inst *v, size_t n, const struct gw_proxy__plugin *p)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].p == p) {
			return true;
		}
	}
	return false;
}

/* @a then @b's plugins @a lacks, sorted by priority desc (stable), into
 * @out (room for na + nb). Returns the count. */
static size_t merge(const struct gw_proxy__plugin_inst *a, size_t na,
		    const struct gw_proxy__plugin_inst *b, size_t nb,
		    struct gw_proxy__plugin_inst *out)
{
	size_t n = 0;

	for (size_t i = 0; i < na; i++) {
		out[n++] = a[i];
	}
	for (size_t i = 0; i < nb; i++) {
		if (!has(a, na, b[i].p)) {
			out[n++] = b[i];
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct gw_proxy__plugin_inst t = out[i];
		size_t j = i;
		while (j > 0 && out[j - 1].p->priority < t.p->priority) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = t;
	}
	return n;
}

static int compile_group(struct gw_proxy__compiler *c, struct gw_proxy__consumers *cs,
			 const struct gw_proxy_kv *kv, const char *id)
{
	char why[512], obj[300];
	cJSON *j = parse(kv, "consumer_group", why, sizeof why);
	struct group *g;
	const char *gid;
	int rv;

	if (j == NULL) {
		skipped("consumer_group", kv, why);
		return 0;
	}
	g = gw_proxy__c_alloc(c, sizeof *g);
	gid = gw_proxy__c_strdup(c, id);
	snprintf(obj, sizeof obj, "%.*s", (int)(kv->key_len > 299 ? 299 : kv->key_len), kv->key);
	gw_proxy__c_object(c, obj);
	rv = g && gid ? gw_proxy__c_plugins(c, cJSON_GetObjectItemCaseSensitive(j, "plugins"),
					    &g->v, &g->n)
		      : GW_ENOMEM;
	gw_proxy__c_object(c, "");
	cJSON_Delete(j);
	if (rv == 0) {
		return gw_proxy__map_put(&cs->groups, gid, strlen(gid), g);
	}
	if (rv != GW_ENOMEM) {
		skipped("consumer_group", kv, "invalid plugins");
		rv = 0;
	}
	return rv;
}

static int compile_consumer(struct gw_proxy__compiler *c, struct gw_proxy__consumers *cs,
			    const struct gw_proxy_kv *kv)
{
	char why[512], obj[300], num[32];
	cJSON *j = parse(kv, "consumer", why, sizeof why);
	const cJSON *user, *gid, *plugins;
	const char *gtext = NULL;
	struct gw_proxy__consumer *co;
	struct gw_proxy__plugin_inst *v = NULL;
	const struct group *g = NULL;
	size_t n = 0;
	int rv;

	if (j == NULL) {
		skipped("consumer", kv, why);
		return 0;
	}
	user = cJSON_GetObjectItemCaseSensitive(j, "username");
	gid = cJSON_GetObjectItemCaseSensitive(j, "group_id");
	plugins = cJSON_GetObjectItemCaseSensitive(j, "plugins");
	if (cJSON_IsString(gid) || cJSON_IsNumber(gid)) {
		gtext = gid->valuestring;
		if (cJSON_IsNumber(gid)) {
			snprintf(num, sizeof num, "%.0f", gid->valuedouble);
			gtext = num;
		}
		g = gw_proxy__map_get(&cs->groups, gtext, strlen(gtext));
		if (g == NULL) {
			cJSON_Delete(j);
			skipped("consumer", kv, "its consumer group is missing");
			return 0;
		}
	}
	co = gw_proxy__c_alloc(c, sizeof *co);
	if (co == NULL || (co->username = gw_proxy__c_strdup(c, user->valuestring)) == NULL) {
		cJSON_Delete(j);
		return GW_ENOMEM;
	}
	snprintf(obj, sizeof obj, "%.*s", (int)(kv->key_len > 299 ? 299 : kv->key_len), kv->key);
	gw_proxy__c_object(c, obj); /* limits keyed by this consumer */
	rv = compile_rest(c, plugins, &v, &n);
	gw_proxy__c_object(c, "");
	if (rv == 0 && g != NULL) {
		struct gw_proxy__plugin_inst *m = gw_proxy__c_alloc(c, (n + g->n + 1) * sizeof *m);
		co->group_id = gw_proxy__c_strdup(c, gtext);
		if (m == NULL || co->group_id == NULL) {
			rv = GW_ENOMEM;
		} else {
			n = merge(v, n, g->v, g->n, m); /* consumer > consumer_group */
			v = m;
		}
	} else if (rv == 0 && n > 1) {
		struct gw_proxy__plugin_inst *m = gw_proxy__c_alloc(c, n * sizeof *m);
		if (m == NULL) {
			rv = GW_ENOMEM;
		} else {
			n = merge(v, n, NULL, 0, m); /* sorted by priority */
			v = m;
		}
	}
	co->plugins = v;
	co->n_plugins = n;
	if (rv == 0 &&
	    gw_proxy__map_get(&cs->by_name, co->username, strlen(co->username)) == NULL) {
		rv = gw_proxy__map_put(&cs->by_name, co->username, strlen(co->username), co);
		if (rv == 0) {
			rv = index_creds(c, cs, co, plugins);
		}
	}
	cJSON_Delete(j);
	if (rv != 0 && rv != GW_ENOMEM) {
		skipped("consumer", kv, "invalid plugins");
		rv = 0;
	}
	return rv;
}

static int compile_credential(struct gw_proxy__compiler *c, struct gw_proxy__consumers *cs,
			      const struct gw_proxy_kv *kv, const char *user, size_t user_len)
{
	char why[512];
	const struct gw_proxy__consumer *co = gw_proxy__map_get(&cs->by_name, user, user_len);
	cJSON *j;
	int rv;

	if (co == NULL) {
		skipped("credential", kv, "its consumer is missing");
		return 0;
	}
	j = parse(kv, "credential", why, sizeof why);
	if (j == NULL) {
		skipped("credential", kv, why);
		return 0;
	}
	rv = index_creds(c, cs, co, cJSON_GetObjectItemCaseSensitive(j, "plugins"));
	cJSON_Delete(j);
	return rv;
}

int gw_proxy__consumers_compile(struct gw_proxy__compiler *c, struct gw_proxy_config *cfg,
				const struct gw_proxy_kv *kvs, size_t n)
{
	struct gw_proxy__consumers *cs = calloc(1, sizeof *cs);
	char id[256];
	int rv = 0;

	if (cs == NULL) {
		return GW_ENOMEM;
	}
	gw_proxy__map_init(&cs->by_name);
	gw_proxy__map_init(&cs->groups);
	for (int k = 0; k < GW_PROXY__CRED_N; k++) {
		gw_proxy__map_init(&cs->cred[k]);
	}
	cfg->consumers = cs;
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (gw_proxy__c_key_id(&kvs[i], P_GROUPS, id, sizeof id)) {
			rv = compile_group(c, cs, &kvs[i], id);
		}
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		if (gw_proxy__c_key_id(&kvs[i], P_CONSUMERS, id, sizeof id)) {
			rv = compile_consumer(c, cs, &kvs[i]);
		}
	}
	for (size_t i = 0; i < n && rv == 0; i++) {
		const struct gw_proxy_kv *kv = &kvs[i];
		size_t pl = sizeof P_CONSUMERS - 1;
		const char *user = kv->key + pl, *slash;

		if (kv->key_len <= pl || memcmp(kv->key, P_CONSUMERS, pl) != 0 ||
		    (slash = memchr(user, '/', kv->key_len - pl)) == NULL ||
		    (size_t)(kv->key + kv->key_len - slash) <= sizeof CREDS - 1 ||
		    memcmp(slash, CREDS, sizeof CREDS - 1) != 0 ||
		    memchr(slash + sizeof CREDS - 1, '/',
			   (size_t)(kv->key + kv->key_len - slash) - (sizeof CREDS - 1)) != NULL) {
			continue;
		}
		rv = compile_credential(c, cs, kv, user, (size_t)(slash - user));
	}
	gw_proxy__map_close(&cs->groups); /* compile only */
	return rv;
}

void gw_proxy__consumers_free(struct gw_proxy_config *cfg)
{
	struct gw_proxy__consumers *cs = cfg->consumers;

	if (cs == NULL) {
		return;
	}
	gw_proxy__map_close(&cs->by_name);
	gw_proxy__map_close(&cs->groups);
	for (int k = 0; k < GW_PROXY__CRED_N; k++) {
		gw_proxy__map_close(&cs->cred[k]);
	}
	for (size_t i = 0; i < cs->n_owned; i++) {
		cs->owned[i].free(cs->owned[i].data);
	}
	free(cs->owned);
	free(cs);
	cfg->consumers = NULL;
}

/* ---- requests */

const struct gw_proxy__consumer *gw_proxy__consumer_find(const struct gw_proxy_config *cfg,
							 enum gw_proxy__cred kind, const char *id,
							 size_t len, const char **secret)
{
	const void *data;

	return gw_proxy__consumer_cred(cfg, kind, id, len, secret, &data);
}

const struct gw_proxy__consumer *gw_proxy__consumer_cred(const struct gw_proxy_config *cfg,
							 enum gw_proxy__cred kind, const char *id,
							 size_t len, const char **secret,
							 const void **data)
{
	const struct cred *cr;

	*data = NULL;
	if (cfg->consumers == NULL) {
		return NULL;
	}
	cr = gw_proxy__map_get(&cfg->consumers->cred[kind], id, len);
	if (cr == NULL) {
		return NULL;
	}
	*secret = cr->secret;
	*data = cr->data;
	return cr->co;
}

const struct gw_proxy__consumer *gw_proxy__consumer_by_name(const struct gw_proxy_config *cfg,
							    const char *username)
{
	if (cfg->consumers == NULL) {
		return NULL;
	}
	return gw_proxy__map_get(&cfg->consumers->by_name, username, strlen(username));
}

int gw_proxy__consumer_fallback(struct gw_proxy__req *r, const char *anonymous, const char *why)
{
	const struct gw_proxy__consumer *co;

	if (anonymous == NULL) {
		return gw_proxy__plugin_message(r, 401, "message", why);
	}
	co = gw_proxy__consumer_by_name(r->snap->cfg, anonymous);
	if (co == NULL) {
		gw_warnf("proxy", "anonymous consumer %.64s is not found", anonymous);
		return gw_proxy__plugin_message(r, 401, "message", "Invalid user authorization");
	}
	gw_proxy__consumer_attach(r, co);
	return 0;
}

void gw_proxy__consumer_attach(struct gw_proxy__req *r, const struct gw_proxy__consumer *co)
{
	r->consumer = co;
}

int gw_proxy__consumer_merge(struct gw_proxy__req *r)
{
	const struct gw_proxy__consumer *co = r->consumer;
	const struct gw_proxy__route *rt = r->route;
	struct gw_proxy__plugin_inst *v;
	size_t n;

	if (co->n_plugins == 0 || r->pv != NULL) {
		return 0;
	}
	v = gw_arena_alloc(&r->arena, (rt->n_plugins + co->n_plugins) * sizeof *v);
	if (v == NULL) {
		return gw_proxy__plugin_respond(r, 503, NULL);
	}
	n = merge(rt->plugins, rt->n_plugins, co->plugins, co->n_plugins, v);
	r->pv = v;
	r->pn = n;
	for (size_t i = 0; i < co->n_plugins; i++) {
		const struct gw_proxy__plugin_inst *pi = &co->plugins[i];
		if (!has(rt->plugins, rt->n_plugins, pi->p) && pi->p->rewrite != NULL &&
		    pi->p->rewrite(r, pi->conf) != 0) {
			return 1;
		}
	}
	return 0;
}
