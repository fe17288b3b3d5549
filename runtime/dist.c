/*
 * dist.c — the MPI side of data-parallel training: joining the job, the
 * mean of the gradient arenas and of the loss over ranks, comparing hashes.
 *
 * Open MPI is loaded at run time (dlopen of libmpi.so.40), never linked:
 * `sinter` and the binaries of `sinter build` run without any MPI library
 * installed, and only a process that mpirun started with more than one
 * rank loads it.  The few entry points are looked up by name and declared
 * here with handles as plain pointers instead of including mpi.h, because
 * Open MPI's handles are pointers to exported objects (MPI_COMM_WORLD is
 * &ompi_mpi_comm_world, MPI_FLOAT &ompi_mpi_float, ...) and its header is
 * not needed to build sinter (libopenmpi-dev is a test dependency only).
 * This ties the module to Open MPI's ABI (libmpi.so.40), the MPI Debian
 * ships; MPICH's integer handles would need a second table.
 *
 * Every collective is non-blocking and waited for by polling MPI_Test
 * against a deadline (rt_dist_timeout), with MPI_ERRORS_RETURN on the
 * communicator: a rank that died makes the others stop with a message
 * instead of waiting for ever.
 */
#include "runtime/dist.h"
#include "base/arena.h"
#include "runtime/runtime.h"

#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int32_t rt_dist_on;
double rt_dist_timeout = 60;
int64_t rt_dist_bucket_bytes = RT_DIST_BUCKET_DEFAULT;

typedef void *MpiHandle;

static struct {
	void *lib;
	int rank, size;
	MpiHandle comm, f32, f64, sum, max, in_place;
	int (*init_thread)(int *, char ***, int, int *);
	int (*comm_rank)(MpiHandle, int *);
	int (*comm_size)(MpiHandle, int *);
	int (*set_errhandler)(MpiHandle, MpiHandle);
	int (*iallreduce)(const void *, void *, int, MpiHandle, MpiHandle, MpiHandle, MpiHandle *);
	int (*test)(MpiHandle *, int *, void *);
	int (*error_string)(int, char *, int *);
	int (*finalize)(void);
} mpi = { .size = 1 };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A collective failed or timed out: this rank cannot go on alone, and the
   others learn of it from mpirun, which ends the job when a rank exits
   without MPI_Finalize. */
static _Noreturn void dist_fail(const char *what, int rc)
{
	char msg[512] = "";
	int len = 0;
	if (rc > 0 && mpi.error_string)
		mpi.error_string(rc, msg, &len);
	fflush(stdout);
	fprintf(stderr, "sinter: error: rank %d of %d: %s%s%s; stopping\n", mpi.rank, mpi.size, what,
	        msg[0] ? ": " : "", msg);
	exit(1);
}

static void *sym(const char *name, char *err, size_t errlen, bool *ok)
{
	void *p = dlsym(mpi.lib, name);
	if (!p && *ok) {
		snprintf(err, errlen, "Open MPI's libmpi.so.40 has no %s", name);
		*ok = false;
	}
	return p;
}

/* MPI_THREAD_FUNNELED: only the main thread calls MPI (the pool's workers
   and OpenBLAS's threads never do). */
enum { MPI_THREAD_FUNNELED_ = 1 };

bool rt_dist_init(char *err, size_t errlen)
{
	const char *s = getenv("OMPI_COMM_WORLD_SIZE");
	if (!s || atoi(s) <= 1)
		return true;
	mpi.lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
	if (!mpi.lib) {
		snprintf(err, errlen, "mpirun started %s processes, but Open MPI's libmpi.so.40 cannot be loaded (%s); "
		         "install openmpi-bin", s, dlerror());
		return false;
	}
	bool ok = true;
	*(void **)&mpi.init_thread = sym("MPI_Init_thread", err, errlen, &ok);
	*(void **)&mpi.comm_rank = sym("MPI_Comm_rank", err, errlen, &ok);
	*(void **)&mpi.comm_size = sym("MPI_Comm_size", err, errlen, &ok);
	*(void **)&mpi.set_errhandler = sym("MPI_Comm_set_errhandler", err, errlen, &ok);
	*(void **)&mpi.iallreduce = sym("MPI_Iallreduce", err, errlen, &ok);
	*(void **)&mpi.test = sym("MPI_Test", err, errlen, &ok);
	*(void **)&mpi.error_string = sym("MPI_Error_string", err, errlen, &ok);
	*(void **)&mpi.finalize = sym("MPI_Finalize", err, errlen, &ok);
	mpi.comm = sym("ompi_mpi_comm_world", err, errlen, &ok);
	mpi.f32 = sym("ompi_mpi_float", err, errlen, &ok);
	mpi.f64 = sym("ompi_mpi_double", err, errlen, &ok);
	mpi.sum = sym("ompi_mpi_op_sum", err, errlen, &ok);
	mpi.max = sym("ompi_mpi_op_max", err, errlen, &ok);
	MpiHandle errors_return = sym("ompi_mpi_errors_return", err, errlen, &ok);
	if (!ok)
		return false;
	mpi.in_place = (MpiHandle)1; /* Open MPI's MPI_IN_PLACE */
	/* The ring: every element's sum is computed on one rank, in one order
	   fixed for a given number of ranks, and copied to the others, so all
	   ranks hold the same bits and a run repeats itself.  An environment
	   that chose an algorithm keeps its choice. */
	setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "ring", 0);
	int provided = 0;
	int rc = mpi.init_thread(NULL, NULL, MPI_THREAD_FUNNELED_, &provided);
	if (rc) {
		snprintf(err, errlen, "MPI_Init_thread failed (error %d)", rc);
		return false;
	}
	mpi.set_errhandler(mpi.comm, errors_return);
	mpi.comm_rank(mpi.comm, &mpi.rank);
	mpi.comm_size(mpi.comm, &mpi.size);
	rt_dist_on = mpi.size > 1;
	if (mpi.rank != 0 && !freopen("/dev/null", "w", stdout)) {
		snprintf(err, errlen, "rank %d cannot send its output to /dev/null", mpi.rank);
		return false;
	}
	return true;
}

int rt_dist_rank(void)
{
	return mpi.rank;
}

int rt_dist_size(void)
{
	return mpi.size;
}

/* Waits for one request, making MPI progress, until rt_dist_timeout. */
static void wait_for(MpiHandle *req, const char *what)
{
	double deadline = now_s() + rt_dist_timeout;
	for (unsigned spin = 0;; spin++) {
		int done = 0;
		int rc = mpi.test(req, &done, NULL);
		if (rc)
			dist_fail(what, rc);
		if (done)
			return;
		if (spin % 64 == 63) {
			if (now_s() > deadline) {
				char msg[160];
				snprintf(msg, sizeof msg, "%s: the other ranks did not answer within %g s (did one stop?)", what,
				         rt_dist_timeout);
				dist_fail(msg, 0);
			}
			/* the other ranks may share this core: give it up, and
			   after a while (a rank that computes much longer) sleep */
			if (spin < 1 << 14)
				sched_yield();
			else
				nanosleep(&(struct timespec){ 0, 20000 }, NULL);
		}
	}
}

static void allreduce(void *p, int64_t n, MpiHandle type, size_t size, MpiHandle op, const char *what)
{
	char *b = p;
	for (int64_t at = 0; at < n;) {
		int m = n - at > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - at);
		MpiHandle req = NULL;
		int rc = mpi.iallreduce(mpi.in_place, b + (size_t)at * size, m, type, op, mpi.comm, &req);
		if (rc)
			dist_fail(what, rc);
		wait_for(&req, what);
		at += m;
	}
}

/*
 * Buckets.  A gradient arena is cut into buckets of rt_dist_bucket_bytes;
 * generated code reports each gradient the backward has finished in place
 * (rt_dist_ready, with its 64-byte-aligned extent, so the extents of a
 * pack's operands tile the arena), and a bucket whose bytes are all
 * reported starts its MPI_Iallreduce at once.  The backward computes the
 * last layers' gradients first and they lie at the arena's end, so the
 * buckets there go out while the earlier layers are still differentiated,
 * as in PyTorch's DDP.  Every rank runs the same code, so the buckets start
 * in the same order everywhere, as MPI requires of collectives.
 */
typedef struct {
	float *base;
	int64_t n, size, nb; /* floats, floats per bucket, buckets */
	int64_t *covered;    /* bytes of each bucket reported */
	MpiHandle *req;      /* NULL: not started or finished */
	bool *started;
	double *t0;          /* start, for the trace */
} Arena_;

enum { MAX_ARENAS = 8 };
static Arena_ arenas[MAX_ARENAS];
static int narenas;

static Arena_ *arena_of(float *base, int64_t n)
{
	for (int i = 0; i < narenas; i++)
		if (arenas[i].base == base && arenas[i].n == n)
			return &arenas[i];
	if (narenas == MAX_ARENAS)
		return NULL; /* reduced whole at its pack */
	Arena_ *a = &arenas[narenas++];
	int64_t size = rt_dist_bucket_bytes / (int64_t)sizeof(float);
	a->base = base;
	a->n = n;
	a->size = size < 1 ? 1 : size > INT_MAX / 2 ? INT_MAX / 2 : size;
	a->nb = (n + a->size - 1) / a->size;
	a->covered = xcalloc((size_t)a->nb + 1, sizeof *a->covered);
	a->req = xcalloc((size_t)a->nb + 1, sizeof *a->req);
	a->started = xcalloc((size_t)a->nb + 1, sizeof *a->started);
	a->t0 = xcalloc((size_t)a->nb + 1, sizeof *a->t0);
	return a;
}

static const char *what_grads = "the all-reduce of the gradients";

static void bucket_start(Arena_ *a, int64_t b)
{
	int64_t lo = b * a->size, m = a->n - lo < a->size ? a->n - lo : a->size;
	a->started[b] = true;
	a->t0[b] = rt_prof_on ? rt_prof_now() : 0;
	int rc = mpi.iallreduce(mpi.in_place, a->base + lo, (int)m, mpi.f32, mpi.sum, mpi.comm, &a->req[b]);
	if (rc)
		dist_fail(what_grads, rc);
}

static void bucket_done(Arena_ *a, int64_t b)
{
	if (rt_prof_on) {
		char name[64];
		snprintf(name, sizeof name, "all-reduce bucket %lld", (long long)b);
		rt_prof_comm(name, a->t0[b], rt_prof_now());
	}
	a->req[b] = NULL;
}

/* Lets MPI move the buckets under way (nonblocking collectives advance
   only inside MPI calls) and notes the finished ones. */
static void progress(Arena_ *a)
{
	for (int64_t b = 0; b < a->nb; b++)
		if (a->req[b]) {
			int done = 0, rc = mpi.test(&a->req[b], &done, NULL);
			if (rc)
				dist_fail(what_grads, rc);
			if (done)
				bucket_done(a, b);
		}
}

void rt_dist_ready(float *base, int64_t n, int64_t at, int64_t bytes)
{
	Arena_ *a = mpi.size > 1 && rt_dist_bucket_bytes > 0 ? arena_of(base, n) : NULL;
	if (!a)
		return;
	int64_t lo = at, hi = at + bytes, bb = a->size * (int64_t)sizeof(float), end = a->n * (int64_t)sizeof(float);
	hi = hi < end ? hi : end;
	for (int64_t b = lo / bb; lo < hi && b < a->nb; b++) {
		int64_t blo = b * bb, bhi = blo + bb < end ? blo + bb : end;
		int64_t olo = lo > blo ? lo : blo, ohi = hi < bhi ? hi : bhi;
		if (ohi > olo)
			a->covered[b] += ohi - olo;
		if (!a->started[b] && a->covered[b] >= bhi - blo)
			bucket_start(a, b);
	}
	progress(a);
}

void rt_dist_grads(float *p, int64_t n)
{
	if (mpi.size <= 1)
		return;
	Arena_ *a = arena_of(p, n);
	if (!a) { /* more arenas than tracked: one sum of the whole */
		allreduce(p, n, mpi.f32, sizeof *p, mpi.sum, what_grads);
	} else {
		double t0 = rt_prof_on ? rt_prof_now() : 0;
		for (int64_t b = 0; b < a->nb; b++)
			if (!a->started[b])
				bucket_start(a, b);
		for (int64_t b = 0; b < a->nb; b++)
			if (a->req[b]) {
				wait_for(&a->req[b], what_grads);
				bucket_done(a, b);
			}
		if (rt_prof_on)
			rt_prof_comm("all-reduce wait", t0, rt_prof_now());
		/* the next step starts afresh */
		memset(a->covered, 0, (size_t)a->nb * sizeof *a->covered);
		memset(a->started, 0, (size_t)a->nb * sizeof *a->started);
	}
	float inv = 1.0f / (float)mpi.size;
	for (int64_t i = 0; i < n; i++)
		p[i] *= inv;
}

double rt_dist_mean(double v)
{
	if (mpi.size <= 1)
		return v;
	allreduce(&v, 1, mpi.f64, sizeof v, mpi.sum, "the all-reduce of the loss");
	return v / mpi.size;
}

void rt_dist_reduce(double *v, int64_t n, bool max)
{
	if (mpi.size > 1)
		allreduce(v, n, mpi.f64, sizeof *v, max ? mpi.max : mpi.sum,
		          max ? "the all-reduce (max) of host values" : "the all-reduce (sum) of host values");
}

bool rt_dist_same(uint64_t v, const char *what)
{
	if (mpi.size <= 1)
		return true;
	/* max(x) == -max(-x) over every rank: all equal; 32-bit halves are
	   exact in a double */
	double h[4] = { (double)(v >> 32), (double)(v & 0xffffffffu) };
	h[2] = -h[0];
	h[3] = -h[1];
	allreduce(h, 4, mpi.f64, sizeof *h, mpi.max, what);
	return h[0] == -h[2] && h[1] == -h[3];
}

void rt_dist_finalize(void)
{
	if (mpi.size > 1) {
		fflush(stdout);
		mpi.finalize();
		mpi.size = 1;
		rt_dist_on = 0;
	}
}
