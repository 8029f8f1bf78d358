/* decl.h: declarative config, APISIX's standalone apisix.yaml layout
 * ({routes: [...], upstreams: [...], ...}), shared by `apigw config apply`
 * (node/), `PUT /apisix/admin/configs` (admin/) and standalone mode: parse
 * the text (YAML through libyaml, or JSON), check every object with its
 * schema, turn the file and the store into sorted (key, value) lists and
 * diff them. See docs/backup.md.
 *
 * Values are compared as member-sorted JSON without create_time and
 * update_time (bookkeeping the Admin API adds), with "id" the key's last
 * part (plugin_metadata: the plugin name; secrets: "<manager>/<id>").
 * Depends on lib/, cJSON and libyaml. Threads: any; no shared state. */
#ifndef GW_SCHEMA_DECL_H
#define GW_SCHEMA_DECL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SCHEMA_DECL_N 12
/* The sections of the file, in export order. */
extern const char *const gw_schema_decl_sections[GW_SCHEMA_DECL_N];

/* One object. */
struct gw_schema_decl_obj {
	char *key;   /* /apisix/<section>/<id> */
	char *value; /* member-sorted JSON without create/update_time */
	int op;      /* in a diff: '+' create, '~' update, '-' delete */
	long line;   /* line of the file where it starts (0: unknown/stored) */
};

/* A list of objects (owned: free with gw_schema_decl_free). */
struct gw_schema_decl {
	struct gw_schema_decl_obj *objs;
	size_t n, cap;
};

/* The diff of a file against the store. ops[] are shallow copies of the
 * two lists' entries (the lists keep owning the strings): free ops only. */
struct gw_schema_decl_diff {
	struct gw_schema_decl_obj *ops;
	size_t n, n_add, n_mod, n_del, same;
};

/* The secret fields of consumers (and credentials) that the Admin API
 * seals: key-auth key, basic-auth password, jwt-auth secret, hmac-auth
 * secret_key (APISIX's encrypted fields). */
#define GW_SCHEMA_DECL_N_SECRETS 4
struct gw_schema_decl_secret {
	const char *plugin, *field;
};
extern const struct gw_schema_decl_secret gw_schema_decl_secrets[GW_SCHEMA_DECL_N_SECRETS];

/* Parse @text (@len bytes, YAML or JSON; @name is what errors call it)
 * into a JSON document (caller deletes), or NULL with "NAME:LINE: why" in
 * @err. Aliases are refused, nesting is limited to 64 levels. Mapping
 * items at depth 2 (the objects) carry their line for collect. */
cJSON *gw_schema_decl_parse(const char *name, const char *text, size_t len, char *err,
			    size_t errlen);

/* Check every object of @root (as parse returns it; modified: ids become
 * strings, times and hidden members are removed) with its schema and
 * append it to @out, sorted by key. APISIX's "<section>_conf_version"
 * members are ignored. 0, or GW_EINVAL / GW_ENOMEM with "NAME:LINE:
 * section[i] (id X): why" in @err. */
int gw_schema_decl_collect(const char *name, cJSON *root, struct gw_schema_decl *out, char *err,
			   size_t errlen);

/* Append the stored pair (@key, @val) if @key is an object of a section:
 * 0 (added), 1 (not a resource key: skipped), GW_EINVAL (the value is not
 * a JSON object), GW_ENOMEM. Call gw_schema_decl_sort_keys after the last. */
int gw_schema_decl_add_stored(struct gw_schema_decl *d, const char *key, size_t klen,
			      const char *val, size_t vlen);
/* Order @d by key. */
void gw_schema_decl_sort_keys(struct gw_schema_decl *d);

/* The value to store for an object of body @value (JSON): with create_time
 * kept from the stored @old (@old_len bytes; NULL when new) and update_time
 * @now. Malloc'ed text (free), or NULL when out of memory or @value is
 * not JSON. */
char *gw_schema_decl_stamped(const char *value, const char *old, size_t old_len, int64_t now);

/* @want (the file) against @have (the store), both sorted: creates and
 * updates, and with @prune deletes of what the file lacks. 0 or GW_ENOMEM. */
int gw_schema_decl_diff(const struct gw_schema_decl *want, const struct gw_schema_decl *have,
			bool prune, struct gw_schema_decl_diff *out);

void gw_schema_decl_free(struct gw_schema_decl *d);

/* Sort every object's members by name, recursively. */
void gw_schema_decl_sort(cJSON *j);

#endif
