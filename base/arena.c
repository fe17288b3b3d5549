/*
 * arena.c — chunked bump allocator and the two fatal-error helpers every
 * subsystem shares.
 */
#include "base/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ArenaChunk {
	ArenaChunk *next;
	size_t used, cap; /* bytes of data[] */
	_Alignas(16) unsigned char data[];
};

enum { CHUNK_MIN = 64 * 1024 };

Arena *arena_new(void)
{
	return xcalloc(1, sizeof(Arena));
}

void arena_free(Arena *a)
{
	if (!a)
		return;
	for (ArenaChunk *c = a->head, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

/* n bytes (rounded up to 16) not yet zeroed: the callers below write or
   zero them, each only once (a trace's batch copied in every step is
   hundreds of KB). */
static void *bump(Arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	ArenaChunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
		c = xmalloc(sizeof *c + cap);
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

void *arena_alloc(Arena *a, size_t n)
{
	return memset(bump(a, n), 0, n);
}

void *arena_grow(Arena *a, void *p, size_t oldn, size_t newn)
{
	unsigned char *q = bump(a, newn);
	size_t keep = p && oldn ? (oldn < newn ? oldn : newn) : 0;
	if (keep)
		memcpy(q, p, keep);
	memset(q + keep, 0, newn - keep);
	return q;
}

void *arena_copy(Arena *a, const void *src, size_t n)
{
	void *q = bump(a, n);
	if (n)
		memcpy(q, src, n);
	return q;
}

char *arena_strdup(Arena *a, const char *s)
{
	return arena_copy(a, s, strlen(s) + 1);
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

_Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "sinter: internal error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Large allocations are checked against the memory limit first, so this
   is the system refusing memory the limit allowed (a limit set above what
   the machine has, or other processes using it): the user's problem, not
   sinter's, so no abort. */
_Noreturn void die_out_of_memory(size_t bytes)
{
	fflush(stdout);
	fprintf(stderr, "sinter: error: out of memory: the system refused %zu bytes "
		"(is --max-memory above the memory available?)\n", bytes);
	exit(1);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die_out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die_out_of_memory(n > SIZE_MAX / (size ? size : 1) ? SIZE_MAX : n * size);
	return p;
}
