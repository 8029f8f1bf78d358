/* buf.h: a growable byte buffer and a byte slice.
 *
 * struct gw_buf owns its heap memory; gw_buf_close frees it. Appends grow the
 * buffer geometrically and fail with GW_ENOMEM (leaving the buffer unchanged)
 * when memory runs out. A buffer belongs to one thread at a time. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <uv.h>

struct gw_slice {
	const char *p; /* not owned; not NUL-terminated */
	size_t len;
};

struct gw_buf {
	char *data; /* owned; NUL-terminated after every successful append */
	size_t len; /* bytes used, not counting the NUL */
	size_t cap; /* bytes allocated */
};

/* An empty buffer that owns nothing yet. */
void gw_buf_init(struct gw_buf *b);
/* Free the memory; the buffer is empty and reusable afterwards. */
void gw_buf_close(struct gw_buf *b);
/* Make room for @extra more bytes. 0 or GW_ENOMEM. */
int gw_buf_reserve(struct gw_buf *b, size_t extra);
/* Append @n bytes of @p. 0 or GW_ENOMEM (@b unchanged). Inline when they
 * fit: the proxy builds every head with a few dozen small appends. */
int gw_buf__append_grow(struct gw_buf *b, const void *p, size_t n);
static inline int gw_buf_append(struct gw_buf *b, const void *p, size_t n)
{
	if (n > 0 && n < b->cap - b->len) { /* fits with its NUL (cap 0: never) */
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return gw_buf__append_grow(b, p, n);
}
int gw_buf_appends(struct gw_buf *b, const char *s);
int gw_buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drop the first @n bytes, keeping the rest. */
void gw_buf_consume(struct gw_buf *b, size_t n);
/* Hand the memory to the caller (free() it); the buffer is left empty. */
char *gw_buf_steal(struct gw_buf *b, size_t *len);

/* The read side of a libuv stream that collects bytes in @b: point @out at
 * the free tail of @b (at least 16 KiB, keeping a byte for the NUL), or at
 * nothing when memory runs out (libuv then reports UV_ENOBUFS). Call from
 * the uv_alloc_cb; the memory stays @b's. */
void gw_buf_read_alloc(struct gw_buf *b, uv_buf_t *out);
/* @n bytes were read into the tail given by gw_buf_read_alloc: count them
 * and keep @b NUL-terminated. */
static inline void gw_buf_read_commit(struct gw_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

#endif
