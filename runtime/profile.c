/*
 * profile.c — the profiler of `--profile trace.json` and `--profile-summary`:
 * a Chrome trace (the JSON that chrome://tracing and ui.perfetto.dev open)
 * of complete events, and a table of kernels by total time printed at exit.
 *
 * Cost when off: generated code tests rt_prof_on before each mark (one load
 * and a branch per kernel), the pool workers test it once per job, and the
 * host tests it once per region run and batch; nothing else runs.
 *
 * Events on the main thread tile the time: a gap between two recorded
 * events becomes a "host" event (tracing, host statements), and a step
 * event spans from the end of the previous training step to the end of
 * this one's region, so the events inside a step sum to its duration.
 * Inside a region, generated code marks the end of every kernel
 * (rt_prof_mark with the kernel's node); kernel i runs from mark i-1 (or
 * the region's start) to mark i, so the kernels tile the region too.  The
 * pool's workers record one span per job they took part in; they are named
 * after the kernel running on the main thread meanwhile.
 *
 * The trace streams to PATH.tmp.PID.XXXXXX and is renamed to PATH by
 * rt_prof_close, which an atexit handler calls: a run that ends in an error
 * or an interrupt (exit(130)) still leaves a complete, valid file.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int32_t rt_prof_on;

typedef struct {
	char *name, *region, *args;
	double flop, bytes;  /* per call: multiply-adds x 2 (GEMMs), bytes read and written */
	bool gemm;
	double total;        /* microseconds, all calls */
	int64_t calls;
} Kern;

typedef struct {
	double t0, t1;
} Span;

/* Spans of one pool worker: written by that worker only, during jobs;
   read by the main thread after rt_pool_wait_idle. */
typedef struct {
	Span *s;
	int n, cap;
} Spans;

static struct {
	FILE *f;
	char *path, *tmp;
	bool summary;
	int pid;
	double origin;       /* CLOCK_MONOTONIC microseconds at open */
	double last_end;     /* end of the last event on the main thread */
	double step_start;
	double step_total;   /* microseconds in step events, compiling excluded */
	double compiling;    /* microseconds compiling regions since the last step */
	double compile_total;
	int64_t steps;
	Kern *k;
	int nk, capk;
	int32_t *mnode;      /* marks of the region running: node, time */
	double *mt;
	int nm, capm;
	Spans w[RT_MAX_THREADS];
	int maxtid;          /* highest worker track seen */
	bool comm_named;     /* the all-reduce track has its name */
} Pr;

/* The all-reduce track, past every worker's. */
enum { PROF_COMM_TID = RT_MAX_THREADS + 1 };

static void *grow(void *p, int *cap, int need, size_t size)
{
	if (need <= *cap)
		return p;
	int c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	p = realloc(p, (size_t)c * size);
	if (!p) {
		fputs("sinter: out of memory in the profiler\n", stderr);
		exit(1);
	}
	*cap = c;
	return p;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

double rt_prof_now(void)
{
	return now_us() - Pr.origin;
}

/* s as the inside of a JSON string (names come from the program's source). */
static void put_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

static void event(const char *name, const char *cat, int tid, double t0, double t1, const char *args)
{
	if (!Pr.f)
		return;
	fputs(",\n{\"name\":\"", Pr.f);
	put_str(Pr.f, name);
	fprintf(Pr.f, "\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{%s}}", cat,
		t0, t1 > t0 ? t1 - t0 : 0.0, Pr.pid, tid, args ? args : "");
}

static void thread_name(int tid, const char *name)
{
	if (Pr.f)
		fprintf(Pr.f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}",
			Pr.pid, tid, name);
}

static void at_exit(void)
{
	rt_prof_close();
}

bool rt_prof_open(const char *path, bool summary, char *err, size_t errlen)
{
	Pr.pid = (int)getpid();
	if (path) {
		struct stat st;
		if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "cannot write the profile '%s': it is a directory", path);
			return false;
		}
		size_t n = strlen(path) + 48;
		Pr.tmp = malloc(n);
		Pr.path = strdup(path);
		if (!Pr.tmp || !Pr.path) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		snprintf(Pr.tmp, n, "%s.tmp.%d.XXXXXX", path, Pr.pid);
		int fd = mkstemp(Pr.tmp);
		FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
		if (!f) {
			snprintf(err, errlen, "cannot write the profile '%s': %s", path, strerror(errno));
			if (fd >= 0)
				close(fd), unlink(Pr.tmp);
			return false;
		}
		Pr.f = f;
		setvbuf(f, NULL, _IOFBF, 1 << 20);
		fprintf(f, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n"
			"{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"sinter\"}}", Pr.pid);
		thread_name(0, "main");
	}
	Pr.summary = summary;
	Pr.origin = now_us();
	Pr.last_end = Pr.step_start = 0;
	atexit(at_exit);
	rt_prof_on = 1;
	return true;
}

int32_t rt_prof_kernel(const char *name, const char *region, const char *args, double flop, double bytes, bool gemm)
{
	Pr.k = grow(Pr.k, &Pr.capk, Pr.nk + 1, sizeof *Pr.k);
	Kern *k = &Pr.k[Pr.nk];
	*k = (Kern){ .name = strdup(name), .region = strdup(region), .args = strdup(args ? args : ""), .flop = flop,
		.bytes = bytes, .gemm = gemm };
	if (!k->name || !k->region || !k->args) {
		fputs("sinter: out of memory in the profiler\n", stderr);
		exit(1);
	}
	return Pr.nk++;
}

void rt_prof_mark(int32_t node)
{
	int n = Pr.nm;
	if (n == Pr.capm) {
		int c = Pr.capm;
		Pr.mnode = grow(Pr.mnode, &c, n + 1, sizeof *Pr.mnode);
		Pr.mt = grow(Pr.mt, &Pr.capm, n + 1, sizeof *Pr.mt);
	}
	Pr.mnode[n] = node;
	Pr.mt[n] = now_us() - Pr.origin;
	Pr.nm = n + 1;
}

void rt_prof_pool_span(int worker, double t0, double t1)
{
	if (worker < 0 || worker >= RT_MAX_THREADS - 1)
		return;
	Spans *s = &Pr.w[worker];
	s->s = grow(s->s, &s->cap, s->n + 1, sizeof *s->s);
	s->s[s->n++] = (Span){ t0, t1 };
}

/* Closes the gap on the main thread since the last event as host work. */
static void host_gap(double t0)
{
	if (t0 > Pr.last_end)
		event("host", "host", 0, Pr.last_end, t0, "\"what\":\"tracing and host statements\"");
}

void rt_prof_span(const char *name, const char *cat, double t0, double t1)
{
	if (!rt_prof_on)
		return;
	host_gap(t0);
	event(name, cat, 0, t0, t1, NULL);
	Pr.last_end = t1;
	if (!strcmp(name, "compile"))
		Pr.compiling += t1 - t0;
}

void rt_prof_comm(const char *name, double t0, double t1)
{
	if (!rt_prof_on)
		return;
	if (!Pr.comm_named) {
		thread_name(PROF_COMM_TID, "all-reduce");
		Pr.comm_named = true;
	}
	event(name, "comm", PROF_COMM_TID, t0, t1, NULL);
}

void rt_prof_region_begin(void)
{
	Pr.nm = 0;
}

/* The kernel running on the main thread at time t: index of its mark. */
static int kernel_at(double t, double t0)
{
	int lo = 0, hi = Pr.nm; /* first mark ending after t */
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (Pr.mt[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < Pr.nm && t >= t0 ? lo : -1;
}

void rt_prof_region_end(const char *region, int64_t step, double t0, double t1, const int32_t *kid, int32_t nkid)
{
	if (!rt_prof_on)
		return;
	rt_pool_wait_idle();
	host_gap(t0);
	int nk = 0;
	for (int i = 0; i < Pr.nm; i++)
		nk += Pr.mnode[i] >= 0;
	char args[96];
	snprintf(args, sizeof args, "\"step\":%lld,\"kernels\":%d", (long long)step, nk);
	event(region, "region", 0, t0, t1, args);
	Pr.last_end = t1;
	int *km = malloc(((size_t)Pr.nm + 1) * sizeof *km);
	if (!km)
		exit(1);
	double prev = t0;
	for (int i = 0; i < Pr.nm; i++) {
		int32_t v = Pr.mnode[i] < 0 ? nkid - 1 : Pr.mnode[i];
		km[i] = v >= 0 && v < nkid ? kid[v] : -1;
		if (km[i] >= 0) {
			Kern *k = &Pr.k[km[i]];
			event(k->name, k->gemm ? "gemm" : Pr.mnode[i] < 0 ? "copy" : "kernel", 0, prev, Pr.mt[i], k->args);
			k->total += Pr.mt[i] - prev;
			k->calls++;
		}
		prev = Pr.mt[i];
	}
	for (int w = 0; w < RT_MAX_THREADS - 1; w++) {
		Spans *s = &Pr.w[w];
		if (s->n && w + 1 > Pr.maxtid) {
			for (int t = Pr.maxtid + 1; t <= w + 1; t++) {
				char nm[32];
				snprintf(nm, sizeof nm, "pool %d", t);
				thread_name(t, nm);
			}
			Pr.maxtid = w + 1;
		}
		for (int j = 0; j < s->n; j++) {
			int i = kernel_at((s->s[j].t0 + s->s[j].t1) / 2, t0);
			const char *kn = i >= 0 && km[i] >= 0 ? Pr.k[km[i]].name : "job";
			char name[256];
			snprintf(name, sizeof name, "pool: %s", kn);
			event(name, "pool", w + 1, s->s[j].t0, s->s[j].t1, NULL);
		}
		s->n = 0;
	}
	free(km);
	Pr.nm = 0;
}

void rt_prof_step(int64_t step, double t1)
{
	if (!rt_prof_on)
		return;
	char args[48];
	snprintf(args, sizeof args, "\"step\":%lld", (long long)step);
	char name[48];
	snprintf(name, sizeof name, "step %lld", (long long)step);
	event(name, "step", 0, Pr.step_start, t1, args);
	Pr.step_total += t1 - Pr.step_start - Pr.compiling;
	Pr.compile_total += Pr.compiling;
	Pr.compiling = 0;
	Pr.steps++;
	Pr.step_start = t1;
}

static int by_total(const void *a, const void *b)
{
	const Kern *x = a, *y = b;
	return (x->total < y->total) - (x->total > y->total);
}

/* The table of --profile-summary, on stderr: stdout is the program's. */
static void summary(void)
{
	Kern *k = malloc(((size_t)Pr.nk + 1) * sizeof *k);
	if (!k)
		return;
	int n = 0;
	double all = 0;
	for (int i = 0; i < Pr.nk; i++)
		if (Pr.k[i].calls) {
			k[n++] = Pr.k[i];
			all += Pr.k[i].total;
		}
	qsort(k, (size_t)n, sizeof *k, by_total);
	fprintf(stderr, "profile: %lld steps, %.2f ms per step (%.0f ms compiling in them left out); "
		"%d kernels ran for %.1f ms in all\n", (long long)Pr.steps, Pr.steps ? Pr.step_total / Pr.steps / 1e3 : 0.0,
		Pr.compile_total / 1e3, n, all / 1e3);
	fprintf(stderr, "%-56s %-8s %7s %10s %9s %6s %9s %8s %8s\n", "kernel", "region", "calls", "total ms", "mean ms",
		"% step", "MB/call", "GFLOP/s", "GB/s");
	for (int i = 0; i < n; i++) {
		double mean = k[i].total / (double)k[i].calls, sec = mean * 1e-6;
		char pct[16] = "-", gf[16] = "-", gb[16] = "-";
		if (Pr.step_total > 0)
			snprintf(pct, sizeof pct, "%.1f", 100 * k[i].total / Pr.step_total);
		if (k[i].gemm && sec > 0)
			snprintf(gf, sizeof gf, "%.1f", k[i].flop / sec * 1e-9);
		if (sec > 0 && k[i].bytes > 0)
			snprintf(gb, sizeof gb, "%.2f", k[i].bytes / sec * 1e-9);
		fprintf(stderr, "%-56.56s %-8.8s %7lld %10.3f %9.4f %6s %9.3f %8s %8s\n", k[i].name, k[i].region,
			(long long)k[i].calls, k[i].total / 1e3, mean / 1e3, pct, k[i].bytes / 1e6, gf, gb);
	}
	free(k);
}

void rt_prof_close(void)
{
	if (!rt_prof_on)
		return;
	rt_prof_on = 0;
	if (Pr.summary)
		summary();
	if (!Pr.f)
		return;
	fputs("\n]}\n", Pr.f);
	bool ok = fflush(Pr.f) == 0 && !ferror(Pr.f);
	ok &= fclose(Pr.f) == 0;
	Pr.f = NULL;
	if (!ok || rename(Pr.tmp, Pr.path)) {
		/* at exit: the status must still say that the run failed */
		fprintf(stderr, "sinter: error: cannot write the profile '%s': %s\n", Pr.path, strerror(errno));
		unlink(Pr.tmp);
		fflush(NULL);
		_exit(1);
	}
}
