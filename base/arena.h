/*
 * arena.h — bump allocation for compiler data: everything a compilation
 * creates lives in an arena and is freed at once with arena_free.
 */
#ifndef SINTER_ARENA_H
#define SINTER_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ArenaChunk ArenaChunk;
typedef struct {
	ArenaChunk *head; /* newest chunk first */
} Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed, 16-byte aligned memory that lives until arena_free. */
void *arena_alloc(Arena *a, size_t n);
/* Grows an array owned by the arena (old contents copied; old block stays). */
void *arena_grow(Arena *a, void *p, size_t oldn, size_t newn);
/* n bytes of src copied, not zeroed first. */
void *arena_copy(Arena *a, const void *src, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fatal internal error: prints "sinter: internal error: ..." and aborts. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "sinter: error: out of memory ..." and exit 1: the system refused memory. */
_Noreturn void die_out_of_memory(size_t bytes);
/* malloc that dies on failure (for runtime buffers outside arenas). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);

/* n rounded up to a multiple of a (n >= 0, a > 0): the sizes and offsets of
   blocks that start on cache lines (a = 64). */
static inline int64_t align_up(int64_t n, int64_t a)
{
	return (n + a - 1) / a * a;
}

#endif
