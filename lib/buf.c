/* buf.c: see buf.h. */
#include "config.h"

#include "lib/buf.h"
#include "lib/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_buf_init(struct gw_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void gw_buf_close(struct gw_buf *b)
{
	free(b->data);
	gw_buf_init(b);
}

int gw_buf_reserve(struct gw_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX / 2 - b->len - 1) {
		return GW_ENOMEM;
	}
	need = b->len + extra + 1;
	if (need <= b->cap) {
		return 0;
	}
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL) {
		return GW_ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int gw_buf__append_grow(struct gw_buf *b, const void *p, size_t n)
{
	int rv = gw_buf_reserve(b, n);
	if (rv != 0) {
		return rv;
	}
	if (n > 0) {
		memcpy(b->data + b->len, p, n);
	}
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int gw_buf_appends(struct gw_buf *b, const char *s)
{
	return gw_buf_append(b, s, strlen(s));
}

int gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rv;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		return GW_EINVAL;
	}
	rv = gw_buf_reserve(b, (size_t)n);
	if (rv != 0) {
		return rv;
	}
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rv;
	va_start(ap, fmt);
	rv = gw_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rv;
}

void gw_buf_consume(struct gw_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL) {
		b->data[b->len] = '\0';
	}
}

char *gw_buf_steal(struct gw_buf *b, size_t *len)
{
	char *p = b->data;
	if (len != NULL) {
		*len = b->len;
	}
	gw_buf_init(b);
	return p;
}

void gw_buf_read_alloc(struct gw_buf *b, uv_buf_t *out)
{
	if (gw_buf_reserve(b, 16384) != 0) {
		out->base = NULL;
		out->len = 0;
		return;
	}
	out->base = b->data + b->len;
	out->len = b->cap - b->len - 1;
}
