/* util.c: the arena and the hash map of proxy/.
 *
 * The arena hands out zeroed, aligned memory from 4 KiB (or larger) chunks
 * and frees everything at once; a request and a config snapshot each own one.
 * The map is open addressing with linear probing keyed by FNV-1a (mixed for
 * the slot index); the router probes it with hashes computed incrementally
 * over a path, so a key's hash must be the plain FNV-1a state of its bytes.
 * Failure mode: out of memory, reported as GW_ENOMEM / NULL. */
#include "config.h"

#include "lib/err.h"
#include "proxy/proxy_int.h"

#include <stdlib.h>
#include <string.h>

struct gw_proxy__arena_chunk {
	struct gw_proxy__arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void gw_proxy__arena_init(struct gw_proxy__arena *a)
{
	a->head = NULL;
}

/* @n bytes, aligned, not zeroed (strndup overwrites them at once). */
static void *arena_take(struct gw_proxy__arena *a, size_t n)
{
	struct gw_proxy__arena_chunk *c = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	void *p;

	if (need < n) {
		return NULL;
	}
	if (c == NULL || c->cap - c->used < need) {
		size_t cap = need > 4096 - sizeof *c ? need : 4096 - sizeof *c;
		c = malloc(sizeof *c + cap);
		if (c == NULL) {
			return NULL;
		}
		c->used = 0;
		c->cap = cap;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	return p;
}

void *gw_proxy__arena_alloc(struct gw_proxy__arena *a, size_t n)
{
	void *p = arena_take(a, n);
	if (p != NULL) {
		memset(p, 0, n);
	}
	return p;
}

char *gw_proxy__arena_strndup(struct gw_proxy__arena *a, const char *p, size_t n)
{
	char *s = arena_take(a, n + 1);
	if (s == NULL) {
		return NULL;
	}
	if (n > 0) {
		memcpy(s, p, n);
	}
	s[n] = '\0';
	return s;
}

void gw_proxy__arena_reset(struct gw_proxy__arena *a)
{
	struct gw_proxy__arena_chunk *keep = NULL;
	while (a->head != NULL) {
		struct gw_proxy__arena_chunk *c = a->head;
		a->head = c->next;
		if (keep == NULL && c->cap + sizeof *c <= 4096) {
			keep = c; /* one standard chunk is kept for the next user */
		} else {
			free(c);
		}
	}
	if (keep != NULL) {
		keep->used = 0;
		keep->next = NULL;
		a->head = keep;
	}
}

void gw_proxy__arena_close(struct gw_proxy__arena *a)
{
	while (a->head != NULL) {
		struct gw_proxy__arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
}

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
