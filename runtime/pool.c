/*
 * pool.c — the runtime's thread pool: rt_parallel_for splits an index range
 * [0, n) into pieces that a few worker threads and the calling thread take
 * until none is left.  Each thread has a home, an even share of the pieces
 * with a counter of its own, and takes from it first, then from the other
 * homes: consecutive kernels over the same images give each thread the
 * same images, whose data it wrote last and finds in its own caches (a
 * megabyte the other core wrote took 3.5 times as long to read on the Zen
 * 5 of docs/ARCHITECTURE.md, "Parallel loops"; bench/core_handoff.c).
 *
 * Workers block on a condition variable between jobs, so an idle pool costs
 * no CPU; only the caller, waiting for the last piece of a job, polls for a
 * few microseconds before it blocks too (a job is short, a sleep and wake-up
 * costs about as much as a small job), and so does a worker after a job,
 * for up to a millisecond, before it sleeps: the next kernel's job (a
 * GEMM's parts, codegen/gemm.c, or a walk's pieces) usually comes within
 * that, and a polling worker starts it without a wake-up.  A millisecond
 * covers the serial stretches of a small network's step (the host's trace
 * of the next step, a run of small GEMMs): LeNet-5's worker joined the
 * first convolution of a step 65-70 us late, asleep after 4000 pauses (80
 * us on Zen 5), and on time polling a millisecond (--profile's pool
 * spans).  The time is read every 64 pauses, as a pause takes 4 to 40 ns
 * from one CPU to another.
 *
 * One pool.  OpenBLAS has threads of its own; a step never uses them.
 * Generated code and the interpreter run OpenBLAS's products through
 * rt_sgemm (end of this file), which cuts C into one part per pool thread
 * and calls OpenBLAS on one thread in each, and the convolutions and the
 * attention call it on one thread inside their own parts.  Before, a large
 * product ran on OpenBLAS's threads while this pool's worker polled for
 * its next job: on 2 cores the two took turns on one core for up to the
 * worker's millisecond of polling, and every OpenBLAS product of the GPT
 * step took 1.3-1.5 times as long with 2 threads as sinter's kernel, which
 * runs on the pool (docs/ARCHITECTURE.md, "OpenBLAS on the pool").
 * driver/blas.c still sizes OpenBLAS's threads by --threads and shortens
 * their spinning (OPENBLAS_THREAD_TIMEOUT) for code outside a step.
 *
 * Nested calls (fn calling rt_parallel_for) and calls from a second thread
 * while a job runs execute serially on the calling thread: never a deadlock,
 * never more threads than configured.
 */
#include "runtime/runtime.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum {
	MAX_THREADS = RT_MAX_THREADS,
	PIECES_PER_THREAD = 4, /* pieces of a job per thread: balances uneven cores */
	CALLER_POLLS = 4000,   /* pauses before the caller sleeps: 16-160 us (4-40 ns each) */
	WORKER_POLL_MS = 1,    /* a worker's polling after a job, before it sleeps */
};

typedef void RangeFn(void *ctx, int64_t lo, int64_t hi);

/* A job as the threads see it. */
typedef struct {
	RangeFn *fn;
	void *ctx;
	int64_t n;         /* items [0, n) */
	int64_t piece;     /* items per piece */
	int64_t pieces;    /* pieces in all: ceil(n / piece) */
	int threads;       /* the pool's threads when the job began */
	uint64_t tag;      /* job number mod 2^16, the top bits of P.next[t].v */
} Job;

enum { TAG_SHIFT = 48 };
#define INDEX_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)

/*
 * The one pool of the process.  P.next[t] packs the job's tag with the
 * first item of home t not yet handed out, so a worker that wakes late,
 * after its job has ended and the next one begun, fails to claim anything
 * (the tag differs) instead of running pieces of a job it has not seen:
 * the caller need not wait for workers that never got to its job, only for
 * the job's items (and, before the next job, for late workers to let go of
 * the old one).
 */
static struct {
	pthread_mutex_t mu;        /* guards gen, job and stop; done's wake-up */
	pthread_cond_t wake;       /* workers: a new job (gen changed) or stop */
	pthread_cond_t finished;   /* caller: done reached the job's n */
	pthread_mutex_t call;      /* held by the caller of the job in flight */
	pthread_t tid[MAX_THREADS];
	int nworker;               /* threads besides the caller */
	int nthreads;              /* nworker + 1; 0 until rt_pool_init */
	_Atomic uint64_t gen;      /* number of the current job (written under mu) */
	bool stop;
	Job job;
	struct {
		_Alignas(64) _Atomic uint64_t v; /* tag << TAG_SHIFT | first unclaimed item of home t */
	} next[MAX_THREADS];
	atomic_llong done;         /* items of the current job finished */
	atomic_int active;         /* workers holding a copy of some job */
} P = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.finished = PTHREAD_COND_INITIALIZER,
	.call = PTHREAD_MUTEX_INITIALIZER,
};

/* Set while this thread runs pieces of a job: nested calls go serial. */
static _Thread_local bool in_job;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The first item of thread t's home: the t-th of j->threads even shares
   of the pieces (t == j->threads: n). */
static int64_t home_of(const Job *j, int t)
{
	int64_t at = j->pieces * t / j->threads * j->piece;
	return at < j->n ? at : j->n;
}

/* Claims and runs pieces of job j until none is left (or j has ended):
   thread self's own items first, then the others' (self + 1, ...); true
   when this thread finished the job's last item. */
static bool run_pieces(const Job *j, int self, bool *ran)
{
	bool last = false;
	in_job = true;
	for (int o = 0; o < j->threads && !last; o++) {
		int t = (self + o) % j->threads;
		_Atomic uint64_t *next = &P.next[t].v;
		uint64_t v = atomic_load_explicit(next, memory_order_relaxed);
		for (;;) {
			int64_t lo = (int64_t)(v & INDEX_MASK), end = home_of(j, t + 1);
			if (v >> TAG_SHIFT != j->tag || lo >= end)
				break;
			int64_t hi = lo + j->piece < end ? lo + j->piece : end;
			if (!atomic_compare_exchange_weak(next, &v, (j->tag << TAG_SHIFT) | (uint64_t)hi))
				continue;
			j->fn(j->ctx, lo, hi);
			*ran = true;
			if (atomic_fetch_add(&P.done, hi - lo) + (hi - lo) == j->n) {
				last = true;
				break;
			}
			v = atomic_load_explicit(next, memory_order_relaxed);
		}
	}
	in_job = false;
	return last;
}

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&P.mu);
	for (;;) {
		/* Poll before sleeping: a caller's jobs often come in quick
		   succession (one kernel's, then the next kernel's), and a
		   worker still polling takes the next one without the wake-up
		   of a sleeping thread (tens of microseconds, more on a loaded
		   machine), which is most of a small job's time. */
		if (!P.stop && atomic_load(&P.gen) == seen) {
			pthread_mutex_unlock(&P.mu);
			double t0 = rt_now_ms();
			for (int i = 1; atomic_load_explicit(&P.gen, memory_order_relaxed) == seen; i++) {
				cpu_relax();
				if (i % 64 == 0 && rt_now_ms() - t0 > WORKER_POLL_MS)
					break;
			}
			pthread_mutex_lock(&P.mu);
		}
		while (!P.stop && P.gen == seen)
			pthread_cond_wait(&P.wake, &P.mu);
		if (P.stop)
			break;
		seen = P.gen;
		Job j = P.job;
		atomic_fetch_add(&P.active, 1);
		pthread_mutex_unlock(&P.mu);
		/* one profile span per job this worker took part in (profile.c) */
		double t0 = rt_prof_on ? rt_prof_now() : 0;
		bool ran = false, last = run_pieces(&j, self + 1, &ran);
		if (rt_prof_on && ran)
			rt_prof_pool_span(self, t0, rt_prof_now());
		atomic_fetch_sub(&P.active, 1);
		pthread_mutex_lock(&P.mu);
		/* under mu: the caller checks done and sleeps under mu */
		if (last)
			pthread_cond_signal(&P.finished);
	}
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

void rt_pool_shutdown(void)
{
	pthread_mutex_lock(&P.call);
	pthread_mutex_lock(&P.mu);
	P.stop = true;
	pthread_cond_broadcast(&P.wake);
	pthread_mutex_unlock(&P.mu);
	for (int i = 0; i < P.nworker; i++)
		pthread_join(P.tid[i], NULL);
	P.stop = false;
	P.nworker = 0;
	P.nthreads = 0;
	pthread_mutex_unlock(&P.call);
}

int rt_pool_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void rt_pool_init(int nthreads)
{
	if (nthreads <= 0)
		nthreads = rt_pool_cores();
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	if (P.nthreads == nthreads)
		return;
	rt_pool_shutdown();
	pthread_mutex_lock(&P.call);
	int made = 0;
	for (; made < nthreads - 1; made++) {
		/* small stacks: workers only run generated loops */
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 1 << 20);
		int e = pthread_create(&P.tid[made], &at, worker, (void *)(intptr_t)made);
		pthread_attr_destroy(&at);
		if (e) {
			/* fewer threads is slower, not wrong */
			fprintf(stderr, "sinter: warning: could only start %d of %d pool threads\n", made + 1, nthreads);
			break;
		}
	}
	P.nworker = made;
	P.nthreads = made + 1;
	pthread_mutex_unlock(&P.call);
}

int rt_pool_threads(void)
{
	return P.nthreads ? P.nthreads : 1;
}

int rt_pool_expected(void)
{
	return P.nthreads ? P.nthreads : rt_pool_cores();
}

void rt_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx)
{
	if (n <= 0)
		return;
	if (!P.nthreads)
		rt_pool_init(0);
	if (P.nworker == 0 || n == 1 || in_job || n > (int64_t)INDEX_MASK || pthread_mutex_trylock(&P.call)) {
		fn(ctx, 0, n);
		return;
	}
	int64_t pieces = (int64_t)P.nthreads * PIECES_PER_THREAD;
	/* a worker still holding the previous job (woken late, about to find
	   it over) must let go before the tags could wrap around to its job */
	for (int i = 0; atomic_load(&P.active); i++)
		if (i < CALLER_POLLS)
			cpu_relax();
		else
			sched_yield();
	pthread_mutex_lock(&P.mu);
	P.gen++;
	P.job = (Job){ .fn = fn, .ctx = ctx, .n = n, .piece = (n + pieces - 1) / pieces, .threads = P.nthreads,
		.tag = P.gen & ((UINT64_C(1) << (64 - TAG_SHIFT)) - 1) };
	P.job.pieces = (n + P.job.piece - 1) / P.job.piece;
	atomic_store(&P.done, 0);
	for (int t = 0; t < P.nthreads; t++)
		atomic_store(&P.next[t].v, P.job.tag << TAG_SHIFT | (uint64_t)home_of(&P.job, t));
	Job j = P.job;
	pthread_cond_broadcast(&P.wake);
	pthread_mutex_unlock(&P.mu);
	bool ran = false;
	run_pieces(&j, 0, &ran);
	for (int i = 0; i < CALLER_POLLS && atomic_load(&P.done) != n; i++)
		cpu_relax();
	if (atomic_load(&P.done) != n) {
		pthread_mutex_lock(&P.mu);
		while (atomic_load(&P.done) != n)
			pthread_cond_wait(&P.finished, &P.mu);
		pthread_mutex_unlock(&P.mu);
	}
	pthread_mutex_unlock(&P.call);
}

void rt_pool_wait_idle(void)
{
	while (atomic_load(&P.active))
		sched_yield();
}

int rt_gemm_serial_begin(void)
{
	int n = openblas_get_num_threads();
	if (n > 1)
		openblas_set_num_threads(1);
	return n;
}

void rt_gemm_serial_end(int threads)
{
	if (threads > 1)
		openblas_set_num_threads(threads);
}

/* ---- OpenBLAS's products on the pool ---- */

typedef struct {
	bool ta, tb, rows;  /* rows: the parts are blocks of rows, else of columns */
	int64_t m, n, k, lda, ldb, ldc;
	int64_t step;       /* rows (columns) per part, a multiple of SGEMM_UNIT */
	float alpha, beta;
	const float *a, *b;
	float *c;
} Sgemm;

/* Parts of whole tiles of OpenBLAS's kernels (16 x 4 in its Haswell and
   SkylakeX sgemm): only the last part has edge tiles. */
enum { SGEMM_UNIT = 32 };

static void sgemm_rect(const Sgemm *s, int64_t i0, int64_t m, int64_t j0, int64_t n)
{
	const float *a = s->a + (s->ta ? i0 : i0 * s->lda), *b = s->b + (s->tb ? j0 * s->ldb : j0);
	cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, (int)m,
		(int)n, (int)s->k, s->alpha, a, (int)s->lda, b, (int)s->ldb, s->beta, s->c + i0 * s->ldc + j0,
		(int)s->ldc);
}

static void sgemm_parts(void *ctx, int64_t lo, int64_t hi)
{
	const Sgemm *s = ctx;
	int64_t len = s->rows ? s->m : s->n;
	for (int64_t p = lo; p < hi; p++) {
		int64_t x0 = p * s->step, x = len - x0 < s->step ? len - x0 : s->step;
		if (s->rows)
			sgemm_rect(s, x0, x, 0, s->n);
		else
			sgemm_rect(s, 0, s->m, x0, x);
	}
}

void rt_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
	const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
	Sgemm s = { .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc,
		.alpha = alpha, .beta = beta, .a = a, .b = b, .c = c };
	/* a cut duplicates the packing of the operand every part reads whole:
	   B's for blocks of rows, A's for blocks of columns; the smaller one */
	s.rows = n <= m;
	int64_t len = s.rows ? m : n, threads = rt_pool_expected();
	s.step = ((len + threads - 1) / threads + SGEMM_UNIT - 1) / SGEMM_UNIT * SGEMM_UNIT;
	int64_t parts = s.step ? (len + s.step - 1) / s.step : 0;
	int saved = rt_gemm_serial_begin();
	if (parts <= 1 || m * n * k < RT_GEMM_SERIAL_MAX)
		sgemm_rect(&s, 0, m, 0, n);
	else
		rt_parallel_for(parts, sgemm_parts, &s);
	rt_gemm_serial_end(saved);
}

