/* arena.c: the slow paths of the arena (see arena.h): new chunks, reset and
 * close. The fast path is inline in arena.h.
 *
 * Happy path: a request that fits in the newest chunk never gets here; one
 * that does not gets a chunk twice the size of the newest (capped at
 * GW_ARENA_GROW_MAX), or a chunk of its own when it is larger than that; a
 * chunk of its own is linked behind the newest so the room left there is
 * still used. Failure modes: malloc failure or a size that overflows ->
 * NULL, the arena unchanged. */
#include "config.h"

#include "lib/arena.h"

#include <stdlib.h>

#define HDR sizeof(struct gw_arena_chunk)

void gw_arena_init(struct gw_arena *a)
{
	a->head = NULL;
	a->total = 0;
	a->first = 0;
}

void gw_arena_init_sized(struct gw_arena *a, size_t first)
{
	gw_arena_init(a);
	a->first = first < 64 ? 64 : first;
}

void *gw_arena__take_slow(struct gw_arena *a, size_t n)
{
	struct gw_arena_chunk *c, *head = a->head;
	size_t need = (n + (GW_ARENA_ALIGN - 1)) & ~(size_t)(GW_ARENA_ALIGN - 1);
	size_t size = a->first != 0 ? a->first : GW_ARENA_CHUNK;

	if (n == 0) {
		need = GW_ARENA_ALIGN;
	} else if (need < n) {
		return NULL;
	}
	if (head != NULL && head->cap - head->used >= need) {
		/* room after all (only n == 0 takes this path) */
		void *p = head->data + head->used;
		head->used += need;
		return p;
	}
	if (head != NULL) {
		size_t last = head->cap + HDR;
		size = last < GW_ARENA_GROW_MAX / 2 ? last * 2 : GW_ARENA_GROW_MAX;
	}
	if (need > size - HDR) {
		if (need > SIZE_MAX - HDR) {
			return NULL;
		}
		size = need + HDR; /* a chunk of its own */
	}
	c = malloc(size);
	if (c == NULL) {
		return NULL;
	}
	c->cap = size - HDR;
	c->used = need;
	a->total += size;
	if (head != NULL && size - HDR == need && head->used < head->cap) {
		/* full at once: keep filling the newest chunk */
		c->next = head->next;
		head->next = c;
	} else {
		c->next = head;
		a->head = c;
	}
	return c->data;
}

void gw_arena_reset(struct gw_arena *a)
{
	struct gw_arena_chunk *keep = NULL;
	while (a->head != NULL) {
		struct gw_arena_chunk *c = a->head;
		a->head = c->next;
		if (keep == NULL && c->cap + HDR <= GW_ARENA_CHUNK) {
			keep = c;
		} else {
			free(c);
		}
	}
	a->total = 0;
	if (keep != NULL) {
		keep->used = 0;
		keep->next = NULL;
		a->head = keep;
		a->total = keep->cap + HDR;
	}
}

void gw_arena_close(struct gw_arena *a)
{
	while (a->head != NULL) {
		struct gw_arena_chunk *c = a->head;
		a->head = c->next;
		free(c);
	}
	a->total = 0;
}
