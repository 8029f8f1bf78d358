/* util.c: the hash map of proxy/ (its arena is lib/arena.h).
 *
 * The map is open addressing with linear probing keyed by FNV-1a (mixed for
 * the slot index); the router probes it with hashes computed incrementally
 * over a path, so a key's hash must be the plain FNV-1a state of its bytes.
 * Failure mode: out of memory, reported as GW_ENOMEM / NULL. */
#include "config.h"

#include "lib/err.h"
#include "proxy/proxy_int.h"

#include <stdlib.h>
#include <string.h>

uint64_t gw_proxy__hash(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = GW_PROXY__FNV_INIT;
	for (size_t i = 0; i < n; i++) {
		h = gw_proxy__fnv_step(h, s[i]);
	}
	return h;
}

static size_t slot_of(uint64_t h, size_t cap)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

void gw_proxy__map_init(struct gw_proxy__map *m)
{
	m->ents = NULL;
	m->cap = 0;
	m->n = 0;
}

static int map_grow(struct gw_proxy__map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 8;
	struct gw_proxy__map_ent *e = calloc(cap, sizeof *e);
	if (e == NULL) {
		return GW_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		struct gw_proxy__map_ent *o = &m->ents[i];
		if (o->val == NULL) {
			continue;
		}
		size_t j = slot_of(o->hash, cap);
		while (e[j].val != NULL) {
			j = (j + 1) & (cap - 1);
		}
		e[j] = *o;
	}
	free(m->ents);
	m->ents = e;
	m->cap = cap;
	return 0;
}

int gw_proxy__map_put(struct gw_proxy__map *m, const char *key, size_t len, void *val)
{
	uint64_t h = gw_proxy__hash(key, len);
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3) {
		int rv = map_grow(m);
		if (rv != 0) {
			return rv;
		}
	}
	i = slot_of(h, m->cap);
	while (m->ents[i].val != NULL) {
		struct gw_proxy__map_ent *e = &m->ents[i];
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
			e->val = val;
			return 0;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->ents[i].key = key;
	m->ents[i].len = len;
	m->ents[i].hash = h;
	m->ents[i].val = val;
	m->n++;
	return 0;
}

void gw_proxy__map_del(struct gw_proxy__map *m, const char *key, size_t len)
{
	uint64_t h = gw_proxy__hash(key, len);
	size_t i, j;

	if (m->n == 0) {
		return;
	}
	i = slot_of(h, m->cap);
	while (m->ents[i].val != NULL) {
		struct gw_proxy__map_ent *e = &m->ents[i];
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
			break;
		}
		i = (i + 1) & (m->cap - 1);
	}
	if (m->ents[i].val == NULL) {
		return;
	}
	/* backward-shift deletion: later entries of the probe run move up so
	 * that no lookup stops at the hole */
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & (m->cap - 1);
		if (m->ents[j].val == NULL) {
			break;
		}
		home = slot_of(m->ents[j].hash, m->cap);
		/* move j to i unless its home lies cyclically in (i, j] */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j)) {
			m->ents[i] = m->ents[j];
			i = j;
		}
	}
	memset(&m->ents[i], 0, sizeof m->ents[i]);
	m->n--;
}

void *gw_proxy__map_get_h(const struct gw_proxy__map *m, uint64_t h, const char *key, size_t len)
{
	size_t i;
	if (m->n == 0) {
		return NULL;
	}
	i = slot_of(h, m->cap);
	while (m->ents[i].val != NULL) {
		const struct gw_proxy__map_ent *e = &m->ents[i];
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0) {
			return e->val;
		}
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

void *gw_proxy__map_get(const struct gw_proxy__map *m, const char *key, size_t len)
{
	return gw_proxy__map_get_h(m, gw_proxy__hash(key, len), key, len);
}

void gw_proxy__map_close(struct gw_proxy__map *m)
{
	free(m->ents);
	gw_proxy__map_init(m);
}
