/*
 * check.h — what every unit test shares: check(), which prints one line
 * "PASS name" or "FAIL name: message" and counts failures in nfail (each
 * test's main exits non-zero when nfail is), and the seeded random
 * helpers: a 64-bit LCG in rng (seeded with RNG_SEED, which a test may
 * define before it includes this header), urand() drawing from it, and,
 * for tests that include the IR (ir/ir.h or ir/ops.h) before this header,
 * trand() filling a new tensor with random contents.
 */
#ifndef SINTER_TESTS_CHECK_H
#define SINTER_TESTS_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

static int nfail;

/* Prints PASS or FAIL (with the printf-style message) for name; returns ok. */
static inline bool check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline bool check(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("PASS %s\n", name);
		return true;
	}
	nfail++;
	printf("FAIL %s: ", name);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return false;
}

/* ---- random numbers ---- */

#ifndef RNG_SEED
#define RNG_SEED 0
#endif

static uint64_t rng = RNG_SEED;

/* Advances rng (Knuth's MMIX LCG) and returns its new state. */
static inline uint64_t rng_next(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return rng;
}

/* Uniform in [0, 1), from the top 53 bits. */
static inline double urand(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

#ifdef SINTER_IR_H
#include "kernel/kernel.h" /* print_str prints kernel comments, as sinter does */

/* A new tensor of type t: f32 in [lo, hi), i32 in [lo, hi], bool 0/1. */
static inline Tensor trand(Type t, double lo, double hi)
{
	Tensor x = { t, xcalloc((size_t)type_numel(&t) + 1, dtype_size(t.dt)) };
	for (int64_t i = 0; i < type_numel(&t); i++) {
		double u = urand();
		if (t.dt == DT_F32)
			((float *)x.data)[i] = (float)(lo + (hi - lo) * u);
		else if (t.dt == DT_I32)
			((int32_t *)x.data)[i] = (int32_t)floor(lo + (hi - lo + 1) * u);
		else
			((uint8_t *)x.data)[i] = u < 0.5;
	}
	return x;
}

/* The printed form of r (with its kernel comments) as a malloc'd string. */
static inline char *print_str(const Region *r)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	ir_print_with(f, r, kernel_print_comments);
	fclose(f);
	return s;
}
#endif

#endif
