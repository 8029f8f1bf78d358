/* list.h: an intrusive, circular, doubly linked list (the one list of the
 * project).
 *
 * A struct that lives on a list embeds a struct gw_list; the head is a
 * struct gw_list of its own. The list owns nothing: linking and unlinking
 * never allocate, and freeing an element is its owner's business (unlink it
 * first). An unlinked element points at itself, so gw_list_del is safe to
 * call twice and gw_list_linked tells whether an element is on a list. Not
 * thread-safe: a list belongs to the thread that owns its elements. */
#ifndef GW_LIST_H
#define GW_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct gw_list {
	struct gw_list *prev; /* last element when this is the head */
	struct gw_list *next; /* first element when this is the head */
};

/* The struct that embeds @ptr as its member @field. */
#define gw_container_of(ptr, type, field) ((type *)(void *)((char *)(ptr)-offsetof(type, field)))

/* An empty list, or an element that is on no list. */
static inline void gw_list_init(struct gw_list *l)
{
	l->prev = l->next = l;
}

static inline bool gw_list_empty(const struct gw_list *head)
{
	return head->next == head;
}

/* True when @e (initialised with gw_list_init) is on a list. */
static inline bool gw_list_linked(const struct gw_list *e)
{
	return e->next != e;
}

/* Link @e after @pos (gw_list_add(head, e) = push front). */
static inline void gw_list_insert_after(struct gw_list *pos, struct gw_list *e)
{
	e->prev = pos;
	e->next = pos->next;
	pos->next->prev = e;
	pos->next = e;
}

/* Link @e at the end of @head. */
static inline void gw_list_add_tail(struct gw_list *head, struct gw_list *e)
{
	gw_list_insert_after(head->prev, e);
}

/* Link @e at the front of @head. */
static inline void gw_list_add_head(struct gw_list *head, struct gw_list *e)
{
	gw_list_insert_after(head, e);
}

/* Unlink @e (a no-op when it is on no list); @e is then empty. */
static inline void gw_list_del(struct gw_list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	gw_list_init(e);
}

/* First element of @head or NULL. */
static inline struct gw_list *gw_list_first(const struct gw_list *head)
{
	return head->next == head ? NULL : head->next;
}

/* Move every element of @from to the end of @to; @from is then empty. */
static inline void gw_list_splice_tail(struct gw_list *to, struct gw_list *from)
{
	if (gw_list_empty(from)) {
		return;
	}
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	gw_list_init(from);
}

/* Iterate @it (struct gw_list *) over @head; the loop body must not unlink
 * @it (use gw_list_foreach_safe for that). */
#define gw_list_foreach(it, head) for ((it) = (head)->next; (it) != (head); (it) = (it)->next)

/* Iterate with @tmp holding the next element, so the body may unlink (or
 * free) @it. */
#define gw_list_foreach_safe(it, tmp, head)                                                        \
	for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head);                              \
	     (it) = (tmp), (tmp) = (it)->next)

#endif
