/*
 * blas.c — puts OpenBLAS on the fastest kernels this CPU runs correctly,
 * in main() right after the options are parsed, and gives it and the
 * pool the --threads count.
 *
 * Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels when it loads,
 * from the CPU's model numbers; a CPU newer than the library falls back to
 * the generic Prescott kernels, 3-5x slower than the AVX2 or AVX-512 ones
 * the CPU runs.  OPENBLAS_CORETYPE overrides the choice but is read only at
 * load time, so when the library's core is slower than what the CPU's
 * features (cpuid) allow, sinter re-executes itself (/proc/self/exe, same
 * argv) with OPENBLAS_CORETYPE set.  Then a self-check compares
 * cblas_sgemm on odd shapes with a naive loop; kernels that compute wrong
 * results are abandoned for the previous choice, again by re-executing.
 *
 * A value of OPENBLAS_CORETYPE that the user or the environment set is never
 * overridden (some machines set it, and OPENBLAS_L2_SIZE, because older
 * OpenBLAS miscomputes there); sinter only reports what the CPU could run.
 * The environment carries sinter's own state across re-executions:
 *   SINTER_BLAS_CORE   the OPENBLAS_CORETYPE sinter set (so it is not the user's)
 *   SINTER_BLAS_FROM   the core OpenBLAS had chosen itself
 *   SINTER_BLAS_BAD    cores that failed the self-check, comma separated
 *   SINTER_BLAS_EXECS  re-executions so far (at most MAX_EXECS: no loops)
 *   SINTER_BLAS_TIMEOUT  the OPENBLAS_THREAD_TIMEOUT sinter set (see below)
 * and SINTER_BLAS_FAIL=CORE makes the self-check fail on CORE (tests only).
 *
 * Also here: OpenBLAS's idle threads spin in sched_yield for ~0.1 s after
 * every GEMM, i.e. all the time in a training loop, on the cores the
 * runtime's thread pool wants next (runtime/pool.c).  Unless the user set
 * OPENBLAS_THREAD_TIMEOUT, sinter sets it to the minimum (2^4 cycles) and
 * restarts OpenBLAS's threads, which read it when they start, so they go
 * to sleep as soon as a GEMM ends.  Measured on the (shared, loaded) 2-core
 * machine, one epoch of examples/mlp.sn, median of 10 alternating runs:
 * 3.46 s wall and 2.36 s CPU against 3.85 s and 2.89 s with the default.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "driver/driver.h"
#include "runtime/runtime.h"

enum { MAX_EXECS = 3 };

/* OpenBLAS internals, exported by its shared library but in no header;
   weak, so a library without them links and only skips the timeout fix. */
extern void openblas_read_env(void) __attribute__((weak));
extern int openblas_thread_timeout(void) __attribute__((weak));
extern int blas_thread_shutdown_(void) __attribute__((weak));
extern int blas_thread_init(void) __attribute__((weak));

/* What decided the kernels, for --verbose. */
static char why[256];
static bool verbose;

/* Speed class of an OpenBLAS core name: 3 AVX-512, 2 AVX2+FMA, 1 AVX,
   0 SSE-only or unknown (the generic fallback). */
static int core_rank(const char *name)
{
	static const struct {
		const char *name;
		int rank;
	} known[] = {
		{ "SapphireRapids", 3 }, { "Cooperlake", 3 }, { "SkylakeX", 3 },
		{ "Haswell", 2 }, { "Zen", 2 },
		{ "Sandybridge", 1 }, { "Excavator", 1 }, { "Steamroller", 1 }, { "Piledriver", 1 }, { "Bulldozer", 1 },
	};
	for (size_t i = 0; name && i < sizeof known / sizeof known[0]; i++)
		if (!strcasecmp(name, known[i].name))
			return known[i].rank;
	return 0;
}

/* Is name in the comma-separated list? */
static bool listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && !strncasecmp(p, name, n))
			return true;
		p += k + (p[k] == ',');
	}
	return false;
}

/*
 * The fastest core whose instructions this CPU (and its OS, which
 * __builtin_cpu_supports checks through XGETBV) supports, skipping the
 * cores in bad; NULL when none is better than the generic one.  For AMD
 * CPUs with AVX2 OpenBLAS's own Zen tuning comes first.
 */
static const char *best_core(const char *bad, char *cpu, size_t len)
{
	__builtin_cpu_init();
	bool amd = __builtin_cpu_is("amd");
	bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
		&& __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
		&& __builtin_cpu_supports("avx512cd");
	bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
	bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	bool avx = __builtin_cpu_supports("avx");
	snprintf(cpu, len, "%s%s%s%s", amd ? "AMD" : __builtin_cpu_is("intel") ? "Intel" : "x86-64",
		bf16 ? ", avx512 with bf16" : avx512 ? ", avx512" : "", avx2 ? ", avx2+fma" : "", avx ? ", avx" : "");
	const char *order[6];
	int n = 0;
	if (bf16)
		order[n++] = "Cooperlake";
	if (avx512)
		order[n++] = "SkylakeX";
	if (avx2) {
		order[n++] = amd ? "Zen" : "Haswell";
		order[n++] = amd ? "Haswell" : "Zen";
	}
	if (avx)
		order[n++] = "Sandybridge";
	for (int i = 0; i < n; i++)
		if (!listed(bad, order[i]))
			return order[i];
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Re-executes sinter with OPENBLAS_CORETYPE=core; returns only on failure. */
static void reexec(char **argv, const char *core, const char *reason)
{
	const char *n = env("SINTER_BLAS_EXECS");
	int execs = n ? atoi(n) : 0;
	if (execs >= MAX_EXECS)
		return;
	char buf[16];
	snprintf(buf, sizeof buf, "%d", execs + 1);
	setenv("SINTER_BLAS_EXECS", buf, 1);
	setenv("OPENBLAS_CORETYPE", core, 1);
	setenv("SINTER_BLAS_CORE", core, 1);
	if (verbose)
		fprintf(stderr, "sinter: blas: restarting with OPENBLAS_CORETYPE=%s (%s)\n", core, reason);
	fflush(stdout);
	fflush(stderr);
	execv("/proc/self/exe", argv);
	fprintf(stderr, "sinter: warning: cannot restart with OPENBLAS_CORETYPE=%s: exec failed\n", core);
}

/* Pseudo-random values in [-1, 1), the same on every run. */
static void fill(float *p, int n, unsigned seed)
{
	for (int i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
}

/*
 * cblas_sgemm on shapes that exercise the kernels' edge and tail code
 * (sizes 1, 7, 33, ... and transposes) and one large enough for OpenBLAS
 * to use its threads, against a double-precision naive product; about 1 ms.
 * Returns false with the first wrong shape in msg.
 */
bool blas_selfcheck(char *msg, size_t len)
{
	static const struct {
		int m, n, k;
		bool ta, tb;
		float beta;
	} shapes[] = {
		{ 1, 1, 1, false, false, 0 }, { 7, 33, 5, false, false, 0 }, { 33, 7, 129, true, false, 0 },
		{ 17, 65, 31, false, true, 1 }, { 128, 10, 256, true, true, 0 },
		/* m n k above 2^18: OpenBLAS splits it over its threads */
		{ 67, 65, 63, false, false, 0.5f },
	};
	const char *fail = env("SINTER_BLAS_FAIL");
	if (fail && !strcasecmp(fail, openblas_get_corename())) {
		snprintf(msg, len, "failure forced by SINTER_BLAS_FAIL");
		return false;
	}
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		int m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
		float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
		float *c = malloc(sizeof(float) * (size_t)(m * n)), *c0 = malloc(sizeof(float) * (size_t)(m * n));
		fill(a, m * k, 1 + (unsigned)s);
		fill(b, k * n, 100 + (unsigned)s);
		fill(c0, m * n, 200 + (unsigned)s);
		memcpy(c, c0, sizeof(float) * (size_t)(m * n));
		/* stored [k, m] when transposed, [m, k] otherwise; likewise b */
		int lda = shapes[s].ta ? m : k, ldb = shapes[s].tb ? k : n;
		cblas_sgemm(CblasRowMajor, shapes[s].ta ? CblasTrans : CblasNoTrans, shapes[s].tb ? CblasTrans : CblasNoTrans,
			m, n, k, 1.0f, a, lda, b, ldb, shapes[s].beta, c, n);
		bool ok = true;
		for (int i = 0; i < m && ok; i++)
			for (int j = 0; j < n && ok; j++) {
				double sum = 0, mag = 0;
				for (int p = 0; p < k; p++) {
					double x = shapes[s].ta ? a[p * lda + i] : a[i * lda + p];
					double y = shapes[s].tb ? b[j * ldb + p] : b[p * ldb + j];
					sum += x * y;
					mag += fabs(x * y);
				}
				sum += shapes[s].beta * c0[i * n + j];
				/* float accumulation is off by about k * 6e-8 * mag; broken
				   kernels are off by whole terms */
				if (!(fabs(c[i * n + j] - sum) <= 1e-5 * mag + 1e-5 * k * fabs(shapes[s].beta * c0[i * n + j]) + 1e-6)) {
					snprintf(msg, len, "sgemm %dx%dx%d%s%s: C[%d,%d] = %g, expected %g", m, n, k,
						shapes[s].ta ? " A^T" : "", shapes[s].tb ? " B^T" : "", i, j, c[i * n + j], sum);
					ok = false;
				}
			}
		free(a);
		free(b);
		free(c);
		free(c0);
		if (!ok)
			return false;
	}
	return true;
}

/* OpenBLAS's idle threads: sleep right after a GEMM instead of spinning. */
static const char *quiet_threads(void)
{
	const char *t = env("OPENBLAS_THREAD_TIMEOUT");
	if (t && env("SINTER_BLAS_TIMEOUT") && !strcmp(t, env("SINTER_BLAS_TIMEOUT")))
		return "idle threads sleep after 2^4 cycles"; /* ours, before a re-execution */
	if (t || env("GOTO_THREAD_TIMEOUT"))
		return "thread timeout set in the environment, kept";
	if (!openblas_read_env || !openblas_thread_timeout || !blas_thread_shutdown_ || !blas_thread_init)
		return "this OpenBLAS cannot change its thread timeout; idle threads spin";
	setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
	setenv("SINTER_BLAS_TIMEOUT", "4", 1);
	openblas_read_env();
	/* the threads read the timeout when they start: restart them now,
	   before anything (openblas_set_num_threads included) uses them */
	blas_thread_shutdown_();
	blas_thread_init();
	return openblas_thread_timeout() == 4 ? "idle threads sleep after 2^4 cycles"
		: "the thread timeout did not take; idle threads spin";
}

bool blas_avx512(void)
{
	return core_rank(openblas_get_corename()) == 3;
}

void blas_setup(char **argv, const Options *o)
{
	verbose = o->verbose;
	int nthreads = o->threads > 0 ? o->threads : rt_pool_cores();
	const char *user = env("OPENBLAS_CORETYPE"), *ours = env("SINTER_BLAS_CORE");
	bool by_user = user && !(ours && !strcasecmp(user, ours));
	const char *cur = openblas_get_corename(), *from = env("SINTER_BLAS_FROM"), *bad = env("SINTER_BLAS_BAD");
	char cpu[96];
	const char *best = best_core(bad, cpu, sizeof cpu);
	bool dynamic = strstr(openblas_get_config(), "DYNAMIC_ARCH") != NULL;

	bool better = best && core_rank(best) > core_rank(cur);
	if (by_user)
		snprintf(why, sizeof why, "OPENBLAS_CORETYPE=%s set in the environment, kept%s%s", user,
			better ? "; this CPU could run " : "", better ? best : "");
	else if (ours && bad)
		snprintf(why, sizeof why, "sinter's fallback after %s failed the sgemm self-check", bad);
	else if (ours)
		snprintf(why, sizeof why, "chosen by sinter for this CPU (%s); OpenBLAS had chosen %s", cpu,
			from ? from : "the same");
	else if (better && !dynamic)
		snprintf(why, sizeof why, "OpenBLAS built for one CPU type (no DYNAMIC_ARCH); this CPU could run %s", best);
	else
		snprintf(why, sizeof why, "chosen by OpenBLAS; this CPU (%s) has nothing faster", cpu);

	/* not after a failed self-check (that chain ends on the previous core),
	   nor when OpenBLAS ignored the core sinter asked for */
	if (!by_user && !bad && !(ours && strcasecmp(ours, cur)) && dynamic && better) {
		if (!from)
			setenv("SINTER_BLAS_FROM", cur, 1);
		char reason[160];
		snprintf(reason, sizeof reason, "OpenBLAS chose %s; this CPU (%s) runs %s", cur, cpu, best);
		reexec(argv, best, reason);
		snprintf(why, sizeof why, "chosen by OpenBLAS; restarting with %s failed", best);
	}

	const char *threads = quiet_threads();
	char msg[200];
	if (!blas_selfcheck(msg, sizeof msg)) {
		fprintf(stderr, "sinter: warning: OpenBLAS's %s kernels compute wrong results on this CPU (%s)\n", cur, msg);
		if (!by_user && dynamic) {
			char list[256];
			snprintf(list, sizeof list, "%s%s%s", bad ? bad : "", bad ? "," : "", cur);
			setenv("SINTER_BLAS_BAD", list, 1);
			const char *next = from && !listed(list, from) ? from : best_core(list, cpu, sizeof cpu);
			if (!next && !listed(list, "Prescott"))
				next = "Prescott"; /* the generic kernels, the last resort */
			if (next) {
				char reason[160];
				snprintf(reason, sizeof reason, "%s failed the sgemm self-check", cur);
				reexec(argv, next, reason);
			}
			fprintf(stderr, "sinter: warning: could not switch to other OpenBLAS kernels; results may be wrong\n");
		} else if (by_user)
			fprintf(stderr, "sinter: warning: kept because OPENBLAS_CORETYPE=%s is set in the environment\n", user);
		snprintf(why + strlen(why), sizeof why - strlen(why), "; SELF-CHECK FAILED");
	}
	if (verbose) {
		/* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": name and version */
		const char *cfg = openblas_get_config();
		int n = (int)strcspn(cfg, " ");
		n += cfg[n] ? 1 + (int)strcspn(cfg + n + 1, " ") : 0;
		fprintf(stderr, "sinter: blas: %.*s, %s kernels (%s); sgemm self-check %s; %d thread%s for OpenBLAS "
			"and the pool, %s\n", n, cfg, cur, why, strstr(why, "FAILED") ? "failed" : "passed", nthreads,
			nthreads == 1 ? "" : "s", threads);
	}
	if (o->threads > 0) {
		/* both at once: they take turns, never run together (runtime/pool.c) */
		openblas_set_num_threads(o->threads);
		rt_pool_init(o->threads);
	}
}
