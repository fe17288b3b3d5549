/*
 * check.h — what every unit test shares: check(), which prints one line
 * "PASS name" or "FAIL name: message" and counts failures in nfail (each
 * test's main exits non-zero when nfail is), and the seeded random
 * helpers: a 64-bit LCG in rng (seeded with RNG_SEED, which a test may
 * define before it includes this header), urand() drawing from it, and,
 * a scratch directory (tmpdir_make, tpath, tmpdir_remove; tmpdir_run for a
 * main that runs its tests in one), slurp() reading
 * a whole file, write_text() writing one (gzipped or not), stderr_of() running a function in a child process and
 * returning what it wrote to stderr, and, for tests that include the IR
 * (ir/ir.h or ir/ops.h) before this header, the region builders every IR
 * test wants: ty() for a type, region() for an empty region, emit() for a
 * node that must be accepted, trand() for a tensor of random contents.
 */
#ifndef SINTER_TESTS_CHECK_H
#define SINTER_TESTS_CHECK_H

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

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

/* ---- files ---- */

/* The scratch directory of tmpdir_make; tpath() names files inside it. */
static char tmpdir[64];

/* Makes tmpdir, /tmp/sinter-NAME-XXXXXX; on failure prints a FAIL line (the
   test cannot run, and a test that ran nothing must not pass). */
static inline bool tmpdir_make(const char *name)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sinter-%s-XXXXXX", name);
	if (mkdtemp(tmpdir))
		return true;
	printf("FAIL %s_tmpdir: %s\n", name, strerror(errno));
	return false;
}

/* A path inside tmpdir; a ring of eight, so that a call's few arguments
   can each take one without a buffer of their own. */
static inline const char *tpath(const char *name)
{
	static char ring[8][384];
	static int k;
	char *p = ring[k++ % 8];
	snprintf(p, sizeof ring[0], "%s/%s", tmpdir, name);
	return p;
}

static inline int tmpdir_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Removes tmpdir and everything the test left in it. */
static inline void tmpdir_remove(void)
{
	if (nftw(tmpdir, tmpdir_remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* A test function of a unit test's main; lists of them end with NULL. */
typedef void (*CheckTest)(void);

/* Runs tests in a fresh tmpdir (removed after them): a main's exit status. */
static inline int tmpdir_run(const char *name, const CheckTest *tests)
{
	if (!tmpdir_make(name))
		return 1;
	for (; *tests; tests++)
		(*tests)();
	tmpdir_remove();
	return nfail != 0;
}

/* The whole of a file, malloc'd with a NUL after it (for text); its length
   in *n unless n is NULL; NULL when it cannot be opened. */
static inline char *slurp(const char *path, size_t *n)
{
	if (n)
		*n = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)(len < 0 ? 0 : len) + 1);
	size_t got = b ? fread(b, 1, (size_t)(len < 0 ? 0 : len), f) : 0;
	fclose(f);
	if (!b)
		return NULL;
	b[got] = 0;
	if (n)
		*n = got;
	return b;
}

/* Writes n bytes at p to path, gzipped when gz (the data readers inflate). */
static inline void write_bytes(const char *path, const void *p, size_t n, bool gz)
{
	if (gz) {
		gzFile f = gzopen(path, "wb");
		gzwrite(f, p, (unsigned)n);
		gzclose(f);
	} else {
		FILE *f = fopen(path, "wb");
		fwrite(p, 1, n, f);
		fclose(f);
	}
}

/* Writes the text s to path, gzipped when gz. */
static inline void write_text(const char *path, const char *s, bool gz)
{
	write_bytes(path, s, strlen(s), gz);
}

/* ---- a child process ---- */

/* Runs fn(arg) in a child process (which then exits 0) and returns what it
   wrote to stderr (a static buffer, overwritten by the next call); *status
   is its wait status.  For errors that end the process: a test of them
   must survive them. */
static inline const char *stderr_of(void (*fn)(const void *), const void *arg, int *status)
{
	static char buf[4096];
	int fd[2];
	buf[0] = 0;
	*status = -1;
	if (pipe(fd) != 0)
		return buf;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		fn(arg);
		_exit(0);
	}
	close(fd[1]);
	size_t len = 0;
	ssize_t k;
	while (len < sizeof buf - 1 && (k = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)k;
	buf[len] = 0;
	close(fd[0]);
	waitpid(pid, status, 0);
	return buf;
}

#ifdef SINTER_IR_H
#include "kernel/kernel.h" /* print_str prints kernel comments, as sinter does */
#include "runtime/runtime.h" /* trand rounds bf16 as the IR does */
/* ---- regions ---- */

/* The type dt[d0, d1, ...] of rank dimensions (ints). */
static inline Type ty(DType dt, int rank, ...)
{
	int64_t d[MAX_RANK];
	va_list ap;
	va_start(ap, rank);
	for (int i = 0; i < rank; i++)
		d[i] = va_arg(ap, int);
	va_end(ap);
	return type_make(dt, rank, d);
}

/* An empty region in an arena of its own (arena_free(r->arena) frees it). */
static inline Region *region(void)
{
	return ir_region_new(arena_new(), "t");
}

/* Emits node p on args; a test's own node that the IR refuses is a bug in
   the test, so it dies with the message. */
static inline int emit(Region *r, Node p, const int *args, int nargs)
{
	char err[300];
	int v = ir_emit(r, &p, args, nargs, err, sizeof err);
	if (v < 0)
		die("test: %s", err);
	return v;
}

/* A new tensor of type t: f32 (and bf16) in [lo, hi), i32 in [lo, hi], bool 0/1. */
static inline Tensor trand(Type t, double lo, double hi)
{
	Tensor x = { t, xcalloc((size_t)type_numel(&t) + 1, dtype_size(t.dt)) };
	for (int64_t i = 0; i < type_numel(&t); i++) {
		double u = urand();
		if (t.dt == DT_F32)
			((float *)x.data)[i] = (float)(lo + (hi - lo) * u);
		else if (t.dt == DT_I32)
			((int32_t *)x.data)[i] = (int32_t)floor(lo + (hi - lo + 1) * u);
		else if (t.dt == DT_BF16)
			((uint16_t *)x.data)[i] = rt_bf16_from_f32((float)(lo + (hi - lo) * u));
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
