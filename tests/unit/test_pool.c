/*
 * test_pool.c — unit tests of the runtime thread pool (runtime/pool.c):
 * every index of a parallel loop runs exactly once for sizes from 1 to a
 * million, results equal a serial loop bit for bit, nested and concurrent
 * calls neither deadlock nor lose work, the pool can be resized, work
 * really spreads over threads, each thread runs its own share of a job's
 * items first, and idle workers sleep instead of spinning.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ---- coverage: each index visited once ---- */

typedef struct {
	atomic_int *hits;     /* [n] visits of each index */
	float *out;           /* [n] f(i) */
	atomic_llong calls;   /* ranges handed to fn */
	int64_t n;
	bool bad_range;       /* some range was empty or outside [0, n) */
} Cover;

static float f_of(int64_t i)
{
	return sinf((float)i * 0.37f) * 3.0f + (float)(i % 11);
}

static void cover_fn(void *ctx, int64_t lo, int64_t hi)
{
	Cover *c = ctx;
	if (lo < 0 || hi > c->n || lo >= hi)
		c->bad_range = true;
	for (int64_t i = lo; i < hi && i >= 0 && i < c->n; i++) {
		atomic_fetch_add_explicit(&c->hits[i], 1, memory_order_relaxed);
		c->out[i] = f_of(i);
	}
	atomic_fetch_add(&c->calls, 1);
}

static void test_cover(int64_t n)
{
	Cover c = { .n = n };
	c.hits = calloc((size_t)n + 1, sizeof *c.hits);
	c.out = calloc((size_t)n + 1, sizeof *c.out);
	rt_parallel_for(n, cover_fn, &c);
	int64_t wrong = -1, mism = -1;
	for (int64_t i = 0; i < n; i++) {
		if (atomic_load(&c.hits[i]) != 1 && wrong < 0)
			wrong = i;
		float want = f_of(i);
		if (memcmp(&c.out[i], &want, sizeof want) && mism < 0)
			mism = i;
	}
	char name[64];
	snprintf(name, sizeof name, "pool_cover_n%lld_t%d", (long long)n, rt_pool_threads());
	check(wrong < 0 && mism < 0 && !c.bad_range && atomic_load(&c.calls) >= 1, name,
	      "index %lld visited %d times, value mismatch at %lld, bad range %d", (long long)wrong,
	      wrong >= 0 ? atomic_load(&c.hits[wrong]) : 1, (long long)mism, c.bad_range);
	free(c.hits);
	free(c.out);
}

/* ---- nesting: a parallel loop inside a parallel loop ---- */

typedef struct {
	int64_t inner;
	atomic_llong total;
} Nest;

static void inner_fn(void *ctx, int64_t lo, int64_t hi)
{
	atomic_fetch_add(&((Nest *)ctx)->total, hi - lo);
}

static void outer_fn(void *ctx, int64_t lo, int64_t hi)
{
	Nest *ns = ctx;
	for (int64_t i = lo; i < hi; i++)
		rt_parallel_for(ns->inner, inner_fn, ns);
}

/* ---- spreading: which threads ran pieces ---- */

typedef struct {
	pthread_t seen[64];
	atomic_int nseen;
	pthread_mutex_t mu;
} Spread;

static void spread_fn(void *ctx, int64_t lo, int64_t hi)
{
	Spread *s = ctx;
	pthread_t me = pthread_self();
	pthread_mutex_lock(&s->mu);
	bool known = false;
	for (int i = 0; i < s->nseen; i++)
		known |= pthread_equal(s->seen[i], me);
	if (!known && s->nseen < 64)
		s->seen[s->nseen++] = me;
	pthread_mutex_unlock(&s->mu);
	/* a thread holds on to its piece (up to 5 s on a loaded machine) until
	   another thread has taken one: either may wake first */
	struct timespec ms = { 0, 1000000 };
	(void)lo, (void)hi;
	for (int i = 0; i < 5000 && atomic_load(&s->nseen) < 2; i++)
		nanosleep(&ms, NULL);
}

/* ---- homes: each thread runs its own share of the items first ---- */

/* Items 0..3 with 2 threads: the caller's share is [0, 2), the worker's
   [2, 4).  Item i holds (up to 5 s on a loaded machine) until item i ^ 2,
   the same place in the other share, has begun: so both shares run at
   once, and a thread that took an item of the other's share first (a
   shared counter hands out 0 and 1 first) waits out the 5 s and is seen
   in ran[]. */
typedef struct {
	pthread_t ran[4];
	atomic_int begun[4];
} Homes;

static void homes_fn(void *ctx, int64_t lo, int64_t hi)
{
	Homes *h = ctx;
	struct timespec ms = { 0, 1000000 };
	for (int64_t i = lo; i < hi; i++) {
		h->ran[i] = pthread_self();
		atomic_store(&h->begun[i], 1);
		for (int k = 0; k < 5000 && !atomic_load(&h->begun[i ^ 2]); k++)
			nanosleep(&ms, NULL);
	}
}

/* ---- concurrency: two threads calling at once ---- */

static void *caller_thread(void *arg)
{
	int64_t n = *(int64_t *)arg;
	for (int r = 0; r < 200; r++) {
		Cover c = { .n = n };
		c.hits = calloc((size_t)n, sizeof *c.hits);
		c.out = calloc((size_t)n, sizeof *c.out);
		rt_parallel_for(n, cover_fn, &c);
		for (int64_t i = 0; i < n; i++)
			if (atomic_load(&c.hits[i]) != 1)
				*(int64_t *)arg = -1;
		free(c.hits);
		free(c.out);
	}
	return NULL;
}

static double cpu_seconds(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

int main(void)
{
	static const int64_t sizes[] = { 1, 2, 7, 33, 1000, 4097, 1000000 };
	int threads[] = { 1, 2, 3, 0 };
	for (int t = 0; t < 4; t++) {
		rt_pool_init(threads[t]);
		for (int k = 0; k < (int)(sizeof sizes / sizeof sizes[0]); k++)
			test_cover(sizes[k]);
	}
	check(rt_pool_threads() == rt_pool_cores(), "pool_default_is_cores", "%d threads, %d cores",
	      rt_pool_threads(), rt_pool_cores());

	/* many tiny jobs back to back: the hand-over between jobs is where races live */
	rt_pool_init(3);
	int64_t bad = -1;
	for (int r = 0; r < 20000 && bad < 0; r++) {
		int64_t n = 2 + r % 5;
		atomic_int hits[8] = { 0 };
		float out[8];
		Cover c = { .hits = hits, .out = out, .n = n };
		rt_parallel_for(n, cover_fn, &c);
		for (int64_t i = 0; i < n; i++)
			if (atomic_load(&hits[i]) != 1)
				bad = r;
	}
	check(bad < 0, "pool_many_small_jobs", "job %lld lost or repeated an index", (long long)bad);

	Nest ns = { .inner = 1000 };
	rt_parallel_for(50, outer_fn, &ns);
	check(atomic_load(&ns.total) == 50 * 1000, "pool_nested", "inner items %lld, want %d",
	      (long long)atomic_load(&ns.total), 50 * 1000);

	int64_t na = 5000, nb = 777;
	pthread_t ta, tb;
	pthread_create(&ta, NULL, caller_thread, &na);
	pthread_create(&tb, NULL, caller_thread, &nb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	check(na == 5000 && nb == 777, "pool_concurrent_callers", "a caller lost work (%lld, %lld)",
	      (long long)na, (long long)nb);

	rt_pool_init(2);
	Spread sp = { .mu = PTHREAD_MUTEX_INITIALIZER };
	rt_parallel_for(16, spread_fn, &sp);
	check(sp.nseen == 2, "pool_uses_workers", "%d distinct threads ran pieces with a pool of 2",
	      (int)sp.nseen);

	Homes hm = { 0 };
	rt_parallel_for(4, homes_fn, &hm);
	pthread_t me = pthread_self();
	check(pthread_equal(hm.ran[0], me) && pthread_equal(hm.ran[1], me) && !pthread_equal(hm.ran[2], me) &&
	          pthread_equal(hm.ran[2], hm.ran[3]),
	      "pool_homes", "items 0-3 ran on %s, %s, %s, %s", pthread_equal(hm.ran[0], me) ? "caller" : "worker",
	      pthread_equal(hm.ran[1], me) ? "caller" : "worker", pthread_equal(hm.ran[2], me) ? "caller" : "worker",
	      pthread_equal(hm.ran[3], me) ? "caller" : "worker");

	/* idle workers must block, not spin: no CPU time while the caller sleeps */
	rt_pool_init(rt_pool_cores() > 2 ? rt_pool_cores() : 2);
	test_cover(100000);
	double c0 = cpu_seconds();
	struct timespec ts = { 0, 300000000 };
	nanosleep(&ts, NULL);
	double idle = cpu_seconds() - c0;
	check(idle < 0.03, "pool_idle_workers_sleep", "%.3f s of CPU in 0.3 s of idling with %d threads", idle,
	      rt_pool_threads());

	rt_pool_shutdown();
	check(rt_pool_threads() == 1, "pool_shutdown", "%d threads after shutdown", rt_pool_threads());
	test_cover(1000); /* restarts the default pool */
	rt_pool_shutdown();
	return nfail ? 1 : 0;
}
