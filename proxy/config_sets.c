/* config_sets.c: objects the compile cache compiles as a whole when one of
 * them changes — the ssls objects (the SNI table, proxy/ssl.c) and the
 * consumers with their credentials and groups (the credential index,
 * proxy/plugin_consumer.c) — and the sets of stored pairs they are
 * compiled from.
 *
 * A struct gw_proxy__kvset owns copies of the pairs under its prefixes,
 * one per key (a put replaces, a delete removes, a pair older than the one
 * held is ignored) and says whether it changed since the last compile. The
 * consumer index is compiled into a unit of its own, which snapshots share
 * by reference until a consumer-related key changes. Failure modes: only
 * GW_ENOMEM. Threads: the compile thread (one at a time). */
#include "config.h"

#include "lib/err.h"
#include "proxy/config_int.h"
#include "proxy/plugin_int.h"

#include <stdlib.h>
#include <string.h>

static void kv_free(struct gw_proxy_kv *kv)
{
	free((char *)kv->key);
	free((char *)kv->value);
}

void gw_proxy__kvset_clear(struct gw_proxy__kvset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		kv_free(&ks->v[i]);
	}
	ks->n = 0;
	ks->dirty = true;
}

int gw_proxy__kvset_record(struct gw_proxy__kvset *ks, const struct gw_proxy_kv *kv)
{
	struct gw_proxy_kv *slot = NULL;
	char *key, *value;

	for (size_t i = 0; i < ks->n; i++) {
		if (ks->v[i].key_len == kv->key_len &&
		    memcmp(ks->v[i].key, kv->key, kv->key_len) == 0) {
			slot = &ks->v[i];
			break;
		}
	}
	if (slot != NULL && kv->mod_revision != 0 && kv->mod_revision < slot->mod_revision) {
		return 0; /* older than what the cache holds */
	}
	if (kv->value == NULL) {
		if (slot != NULL) {
			kv_free(slot);
			*slot = ks->v[--ks->n];
			ks->dirty = true;
		}
		return 0;
	}
	key = malloc(kv->key_len + 1);
	value = malloc(kv->value_len + 1);
	if (key == NULL || value == NULL ||
	    (slot == NULL &&
	     gw_proxy__grow((void **)&ks->v, &ks->cap, ks->n + 1, sizeof *ks->v) != 0)) {
		free(key);
		free(value);
		return GW_ENOMEM;
	}
	memcpy(key, kv->key, kv->key_len);
	key[kv->key_len] = '\0';
	memcpy(value, kv->value, kv->value_len);
	value[kv->value_len] = '\0';
	if (slot == NULL) {
		slot = &ks->v[ks->n++];
	} else {
		kv_free(slot);
	}
	*slot = *kv;
	slot->key = key;
	slot->value = value;
	ks->dirty = true;
	return 0;
}

bool gw_proxy__kv_has_prefix(const struct gw_proxy_kv *kv, const char *prefix)
{
	size_t pl = strlen(prefix);
	return kv->key_len > pl && memcmp(kv->key, prefix, pl) == 0;
}

void gw_proxy__kvset_free(struct gw_proxy__kvset *ks)
{
	gw_proxy__kvset_clear(ks);
	free(ks->v);
	ks->v = NULL;
	ks->cap = 0;
}

static void consumers_dtor(void *obj)
{
	struct gw_proxy_config tmp;

	memset(&tmp, 0, sizeof tmp);
	tmp.consumers = obj;
	gw_proxy__consumers_free(&tmp);
}

int gw_proxy__consumers_unit(struct gw_proxy_cache *cc, const struct gw_proxy__kvset *ks,
			     int64_t revision, struct gw_proxy__unit **out)
{
	struct gw_proxy__compiler c;
	struct gw_proxy_config tmp;
	int rv;

	*out = NULL;
	if (ks->n == 0) {
		return 0;
	}
	memset(&c, 0, sizeof c);
	memset(&tmp, 0, sizeof tmp);
	c.cc = cc;
	c.revision = revision;
	c.u = gw_proxy__unit_new(4096);
	if (c.u == NULL) {
		return GW_ENOMEM;
	}
	rv = gw_proxy__consumers_compile(&c, &tmp, ks->v, ks->n);
	c.u->obj = tmp.consumers;
	c.u->dtor = consumers_dtor;
	if (rv != 0) {
		gw_proxy__unit_unref(c.u);
		return rv;
	}
	*out = c.u;
	return 0;
}
