/* arena.h: a bump allocator freed all at once (the one arena of the project).
 *
 * Many small allocations that die together (a proxied request, a compiled
 * config snapshot, one etcd call) come from chunks owned by a struct
 * gw_arena: 16-byte aligned, zeroed (gw_arena_alloc) or not (gw_arena_take,
 * for bytes the caller overwrites at once), never freed one by one. The
 * first chunk is GW_ARENA_CHUNK bytes, header included; each new chunk is
 * twice the previous one up to GW_ARENA_GROW_MAX, or exactly as large as an
 * allocation that does not fit. gw_arena_reset keeps one standard chunk for
 * the next user (a keep-alive connection's next request mallocs nothing);
 * gw_arena_close frees every chunk. The fast path (room in the newest chunk)
 * is inline: a compare, an add and, for gw_arena_alloc, a memset.
 * Failure mode: out of memory or a size that overflows, reported as NULL.
 * Not thread-safe: an arena belongs to one thread at a time. */
#ifndef GW_ARENA_H
#define GW_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GW_ARENA_ALIGN    16
#define GW_ARENA_CHUNK    4096          /* first (and kept) chunk, header included */
#define GW_ARENA_GROW_MAX (1024 * 1024) /* chunks stop doubling past this size */

struct gw_arena_chunk {
	struct gw_arena_chunk *next; /* older chunk */
	size_t used, cap;            /* bytes of data[] handed out, and its size */
	_Alignas(GW_ARENA_ALIGN) unsigned char data[];
};

struct gw_arena {
	struct gw_arena_chunk *head; /* newest chunk, owned with every older one; NULL when empty */
	size_t total;                /* chunk bytes malloc'ed and not yet freed, for accounting */
	size_t first;                /* size of the first chunk; 0 = GW_ARENA_CHUNK */
};

/* An empty arena (no memory yet). */
void gw_arena_init(struct gw_arena *a);
/* An empty arena whose first chunk is @first bytes (header included, at
 * least 64) instead of GW_ARENA_CHUNK: for many small arenas that live long
 * (the config compiler's per-object units). Later chunks double as usual. */
void gw_arena_init_sized(struct gw_arena *a, size_t first);

/* Slow path of gw_arena_take: a new chunk. Returns @n bytes or NULL. */
void *gw_arena__take_slow(struct gw_arena *a, size_t n);

/* @n bytes (a unique pointer even for 0), 16-byte aligned, NOT zeroed,
 * valid until gw_arena_reset or gw_arena_close of @a, which owns them.
 * NULL when out of memory or when @n overflows. */
static inline void *gw_arena_take(struct gw_arena *a, size_t n)
{
	struct gw_arena_chunk *c = a->head;
	size_t need = (n + (GW_ARENA_ALIGN - 1)) & ~(size_t)(GW_ARENA_ALIGN - 1);
	/* need - 1 < room: need is neither 0 (n == 0 or overflow) nor too big */
	if (__builtin_expect(c != NULL && need - 1 < c->cap - c->used, 1)) {
		void *p = c->data + c->used;
		c->used += need;
		return p;
	}
	return gw_arena__take_slow(a, n);
}

/* As gw_arena_take, zeroed. */
static inline void *gw_arena_alloc(struct gw_arena *a, size_t n)
{
	void *p = gw_arena_take(a, n);
	if (p != NULL) {
		memset(p, 0, n);
	}
	return p;
}

/* A NUL-terminated copy of the @n bytes at @p (which may hold NULs), owned by
 * @a; NULL when out of memory. */
static inline char *gw_arena_strndup(struct gw_arena *a, const char *p, size_t n)
{
	char *s = n + 1 != 0 ? gw_arena_take(a, n + 1) : NULL;
	if (s == NULL) {
		return NULL;
	}
	if (n > 0) {
		memcpy(s, p, n);
	}
	s[n] = '\0';
	return s;
}

/* Free everything handed out; one standard chunk is kept, empty, so the next
 * user of @a allocates without malloc. */
void gw_arena_reset(struct gw_arena *a);

/* Free every chunk; @a is empty and may be used again. */
void gw_arena_close(struct gw_arena *a);

#endif
