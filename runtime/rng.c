/*
 * rng.c — counter-based random numbers.  A stream is a 64-bit key (derived
 * from the program seed and a name such as a parameter's dotted path); its
 * i-th draw is a pure function of (key, i).  Nothing is stateful, so any
 * element can be drawn in any order, by any thread, and a run is
 * reproducible no matter how work is split.
 */
#include "runtime/runtime.h"

#include <math.h>

/* Odd constant (2^64 / golden ratio) that decorrelates counter 0 from key 0. */
#define GOLDEN 0x9E3779B97F4A7C15ull

uint64_t rt_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

uint64_t rt_key(uint64_t seed, const char *name)
{
	/* FNV-1a spreads the name; the mix makes nearby seeds unrelated. */
	uint64_t h = 0xCBF29CE484222325ull;
	for (const unsigned char *s = (const unsigned char *)(name ? name : ""); *s; s++) {
		h ^= *s;
		h *= 0x100000001B3ull;
	}
	return rt_mix64(rt_mix64(seed + GOLDEN) ^ h);
}

/* 64 random bits for position i of stream key.  The counter is mixed before
   it meets the key so that streams with related keys do not overlap. */
static inline uint64_t draw64(uint64_t key, uint64_t i)
{
	return rt_mix64(key ^ rt_mix64(i + GOLDEN));
}

float rt_uniform(uint64_t key, uint64_t i)
{
	/* 24 bits fill a float mantissa exactly, so the result is never 1. */
	return (float)(draw64(key, i) >> 40) * (1.0f / 16777216.0f);
}

/* A double in (0, 1]: 53 bits keep the normal's tails (up to ~8.6 sigma). */
static inline double open_unit(uint64_t key, uint64_t i)
{
	return ((double)(draw64(key, i) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

float rt_normal(uint64_t key, uint64_t i)
{
	/* Box–Muller on positions 2i and 2i+1; only the cosine half is used so
	   that draw i does not depend on whether i is even. */
	double u1 = open_unit(key, 2 * i);
	double u2 = open_unit(key, 2 * i + 1);
	double r = sqrt(-2.0 * log(u1));
	return (float)(r * cos(6.283185307179586 * u2));
}

void rt_fill_uniform(float *p, int64_t n, float lo, float hi, uint64_t key)
{
	float span = hi - lo;
	for (int64_t i = 0; i < n; i++) {
		float v = lo + span * rt_uniform(key, (uint64_t)i);
		/* Rounding may reach hi; keep the interval half-open. */
		if (hi > lo && v >= hi)
			v = nextafterf(hi, lo);
		p[i] = v;
	}
}

void rt_fill_normal(float *p, int64_t n, float mean, float std, uint64_t key)
{
	for (int64_t i = 0; i < n; i++)
		p[i] = mean + std * rt_normal(key, (uint64_t)i);
}

void rt_permutation(int64_t *out, int64_t n, uint64_t key)
{
	for (int64_t i = 0; i < n; i++)
		out[i] = i;
	/* Modulo of a 64-bit draw: the bias is below n / 2^64, far under any
	   effect a data order could show. */
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)(draw64(key, (uint64_t)i) % (uint64_t)(i + 1));
		int64_t t = out[i];
		out[i] = out[j];
		out[j] = t;
	}
}
