/*
 * mem.c - allocation policy, capped buffers and arenas.
 *
 * Out of memory aborts with a message: one policy for the whole program, so
 * no caller checks malloc.  struct mw_buf never grows past its cap; arenas
 * hand out 16-byte aligned blocks from chained chunks and free them at once.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
	fprintf(stderr, "mw: out of memory (%zu bytes)\n", n);
	abort();
}

void *mw_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *mw_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom(n * m);
	return p;
}

void *mw_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *mw_xstrdup(const char *s)
{
	return mw_xstrndup(s, strlen(s));
}

char *mw_xstrndup(const char *s, size_t n)
{
	char *p = mw_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* ------------------------------------------------------------------ buf */

void mw_buf_init(struct mw_buf *b, size_t cap)
{
	if (!cap) {
		fprintf(stderr, "mw: a buffer was created without a cap (a bug)\n");
		abort();
	}
	b->alloc = 64;
	b->data = mw_xmalloc(b->alloc);
	b->data[0] = 0;
	b->len = 0;
	b->cap = cap;
	b->err = 0;
}

int mw_buf_error(const struct mw_buf *b)
{
	return b->err;
}

void mw_buf_release(struct mw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->alloc = 0;
}

void mw_buf_reset(struct mw_buf *b)
{
	b->len = 0;
	b->data[0] = 0;
	b->err = 0;
}

static int buf_grow(struct mw_buf *b, size_t extra)
{
	if (extra > b->cap - b->len)
		return b->err = -MW_E_TOO_LARGE;
	size_t need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	size_t n = b->alloc;
	while (n < need)
		n = n < (1u << 20) ? n * 2 : n + n / 2;
	b->data = mw_xrealloc(b->data, n);
	b->alloc = n;
	return 0;
}

void mw_buf_reserve(struct mw_buf *b, size_t n)
{
	if (n > b->cap - b->len)
		n = b->cap - b->len;
	(void)buf_grow(b, n);
}

int mw_buf_append(struct mw_buf *b, const void *p, size_t n)
{
	int rc = buf_grow(b, n);
	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int mw_buf_puts(struct mw_buf *b, const char *s)
{
	return mw_buf_append(b, s, strlen(s));
}

int mw_buf_printf(struct mw_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	int rc = 0;
	if (n < 0) {
		rc = b->err ? b->err : (b->err = -MW_E_INTERNAL);
	} else if ((size_t)n < sizeof tmp) {
		rc = mw_buf_append(b, tmp, (size_t)n);
	} else {
		rc = buf_grow(b, (size_t)n);
		if (!rc) {
			vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
			b->len += (size_t)n;
		}
	}
	va_end(ap2);
	return rc;
}

char *mw_buf_detach(struct mw_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	size_t cap = b->cap;
	mw_buf_init(b, cap);
	return p;
}

/* ---------------------------------------------------------------- arena */

struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char mem[];
};

struct mw_arena {
	struct chunk *head;
	size_t chunk_size;
	size_t total;
};

static struct chunk *chunk_new(size_t size)
{
	struct chunk *c = mw_xmalloc(sizeof *c + size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

struct mw_arena *mw_arena_new(size_t chunk)
{
	struct mw_arena *a = mw_xcalloc(1, sizeof *a);
	a->chunk_size = chunk ? chunk : 8192;
	a->head = chunk_new(a->chunk_size);
	return a;
}

void mw_arena_free(struct mw_arena *a)
{
	if (!a)
		return;
	struct chunk *c = a->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

void mw_arena_reset(struct mw_arena *a)
{
	/* keep the last chunk of the list (the oldest, or a big block inserted
	 * behind it) and free the rest; an arena always has a chunk */
	struct chunk *c = a->head;
	while (c->next) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	a->head = c;
	c->used = 0;
	a->total = 0;
}

void *mw_arena_alloc(struct mw_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!n)
		n = 16;
	struct chunk *c = a->head;
	if (c->size - c->used < n) {
		size_t sz = n > a->chunk_size / 2 ? n : a->chunk_size;
		struct chunk *nc = chunk_new(sz);
		if (sz == n && c->size - c->used > 256) {
			/* big block: keep the current chunk at the head */
			nc->next = c->next;
			c->next = nc;
			nc->used = n;
			a->total += n;
			return nc->mem;
		}
		nc->next = c;
		a->head = c = nc;
	}
	void *p = c->mem + c->used;
	c->used += n;
	a->total += n;
	return p;
}

char *mw_arena_strndup(struct mw_arena *a, const char *s, size_t n)
{
	char *p = mw_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *mw_arena_strdup(struct mw_arena *a, const char *s)
{
	return mw_arena_strndup(a, s, strlen(s));
}

char *mw_arena_printf(struct mw_arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	char *p = mw_arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

size_t mw_arena_used(const struct mw_arena *a)
{
	return a->total;
}
