/*
 * gemm.c — sinter's own sgemm (codegen/gemm.c) against cblas_sgemm
 * (OpenBLAS, as the environment configures it) on the matrix products of
 * one training step of bench/mlp_l.sn and of bench/gpt_step.sn (forward and
 * backward), 1 thread, with the FMA peak of this core measured in the same
 * run by a probe: a loop of 12 independent FMA chains on the widest vectors
 * the CPU has (AVX-512, and AVX2 for reference).
 *
 * With a third argument bf16, the two kernels timed are sinter's bf16
 * product (CgGemmSpec.bf16: operands rounded to bf16 as they are packed,
 * f32 accumulation; vdpbf16ps where the CPU has AVX512-BF16) and sinter's
 * f32 product, and a second probe measures the vdpbf16ps peak (2 bf16
 * multiply-adds per f32 lane: twice the FMA peak on a CPU that issues it
 * at the FMA's rate).
 *
 * Build: make build/bench/gemm   (links the compiler's objects: the JIT)
 * Run:   build/bench/gemm [REPEATS] [mlp|gpt|attn|all] [bf16]   (default: 15 all)
 * Output: the peak lines, then one line per shape: m n k, transposes, how
 *   many times a step runs it, median ms and GFLOP/s of each kernel, their
 *   % of the median probe, and the best time's % of the best probe (what
 *   a kernel reaches when the shared machine leaves it alone), then a
 *   "step" line per model weighting the shapes by their count.
 *   bench/gemm.sh runs it and writes the table.
 */
#include <cblas.h>
#include <immintrin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codegen/codegen.h"

enum { MAXREP = 101 };

typedef struct {
	const char *model, *what;
	int m, n, k;
	bool ta, tb;
	int count; /* times one step runs it */
} Shape;

/* mlp_l: 784-1024-1024-10, batch 256 (bench/sgemm.c lists the same eight).
   GPT: B*T = 1024 rows, C 256, 4 layers, 4 heads of 64, V 65; attention
   runs per (batch, head): 32 products a layer.  Backward of Y = X W is
   dX = dY W^T (tb) and dW = X^T dY (ta). */
static const Shape SHAPES[] = {
	{ "mlp", "fwd x@w1", 256, 1024, 784, 0, 0, 1 },
	{ "mlp", "fwd r1@w2", 256, 1024, 1024, 0, 0, 1 },
	{ "mlp", "fwd r2@w3", 256, 10, 1024, 0, 0, 1 },
	{ "mlp", "bwd dw3", 1024, 10, 256, 1, 0, 1 },
	{ "mlp", "bwd dr2", 256, 1024, 10, 0, 1, 1 },
	{ "mlp", "bwd dw2", 1024, 1024, 256, 1, 0, 1 },
	{ "mlp", "bwd dr1", 256, 1024, 1024, 0, 1, 1 },
	{ "mlp", "bwd dw1", 784, 1024, 256, 1, 0, 1 },
	{ "gpt", "fwd qkv", 1024, 768, 256, 0, 0, 4 },
	{ "gpt", "fwd q@kT", 128, 128, 64, 0, 1, 128 },
	{ "gpt", "fwd p@v", 128, 64, 128, 0, 0, 128 },
	{ "gpt", "fwd proj", 1024, 256, 256, 0, 0, 4 },
	{ "gpt", "fwd fc", 1024, 1024, 256, 0, 0, 4 },
	{ "gpt", "fwd fc proj", 1024, 256, 1024, 0, 0, 4 },
	{ "gpt", "fwd head", 1024, 65, 256, 0, 1, 1 },
	{ "gpt", "bwd head dx", 1024, 256, 65, 0, 0, 1 },
	{ "gpt", "bwd head dw", 65, 256, 1024, 1, 0, 1 },
	{ "gpt", "bwd fc proj dx", 1024, 1024, 256, 0, 1, 4 },
	{ "gpt", "bwd fc proj dw", 1024, 256, 1024, 1, 0, 4 },
	{ "gpt", "bwd fc dx", 1024, 256, 1024, 0, 1, 4 },
	{ "gpt", "bwd fc dw", 256, 1024, 1024, 1, 0, 4 },
	{ "gpt", "bwd proj dx", 1024, 256, 256, 0, 1, 4 },
	{ "gpt", "bwd proj dw", 256, 256, 1024, 1, 0, 4 },
	{ "gpt", "bwd p@v dp", 128, 128, 64, 0, 1, 128 },
	{ "gpt", "bwd p@v dv", 128, 64, 128, 1, 0, 128 },
	{ "gpt", "bwd q@kT dq", 128, 64, 128, 0, 0, 128 },
	{ "gpt", "bwd q@kT dk", 128, 64, 128, 1, 0, 128 },
	{ "gpt", "bwd qkv dx", 1024, 256, 768, 0, 1, 4 },
	{ "gpt", "bwd qkv dw", 256, 768, 1024, 1, 0, 4 },
	/* the fused attention's tiles on the GPT step's shape (runtime/attention.c:
	   64 x 64 blocks, D 64; causal T 128 is 3 tiles per (batch, head), 128
	   pairs a step), and a query block against 128 keys at once */
	{ "attn", "tile s = q kT", 64, 64, 64, 0, 1, 384 },
	{ "attn", "tile acc += p v", 64, 64, 64, 0, 0, 384 },
	{ "attn", "tile dv += pT dy", 64, 64, 64, 1, 0, 384 },
	{ "attn", "tile dp = dy vT", 64, 64, 64, 0, 1, 384 },
	{ "attn", "tile dq += ds k", 64, 64, 64, 0, 0, 384 },
	{ "attn", "tile dk += dsT q", 64, 64, 64, 1, 0, 384 },
	{ "attn", "span s = q kT", 64, 128, 64, 0, 1, 256 },
	{ "attn", "span acc += p v", 64, 64, 128, 0, 0, 256 },
	{ "attn", "rows s = q kT", 128, 64, 64, 0, 1, 256 },
};
enum { NSHAPE = sizeof SHAPES / sizeof SHAPES[0] };

/* CPU time of this thread, not wall time: the machine is shared by more
   runnable processes than cores, and wall time would count the slices
   other processes ran in.  All three measurements (sinter, OpenBLAS, the
   probe) use the same clock, so their ratios are like for like. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the FMA peak probe ---- */

/* 12 independent chains: more than the 4-cycle latency times 2 pipes, so
   the loop runs at the FMA throughput.  Written out as twelve variables:
   an array of vectors is not always kept in registers at -O2.  Returns
   GFLOP/s. */
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(j) V a##j = SET1((float)j);
#define STEP(j) a##j = FMA(a##j, x, y);
#define SUM(j) s = ADD(s, a##j);
/* The probe for vector type V of LANES floats; the sum is stored so that
   the chains are not dead code. */
#define PROBE(NAME, TARGET, LANES)                                                  \
	__attribute__((target(TARGET))) static double NAME(long iters)              \
	{                                                                           \
		V x = SET1(0.999999f), y = SET1(1e-7f), s = SET1(0.0f);             \
		CHAINS(DECL)                                                        \
		double t0 = now();                                                  \
		for (long i = 0; i < iters; i++) {                                  \
			CHAINS(STEP)                                                \
		}                                                                   \
		double t = now() - t0;                                              \
		CHAINS(SUM)                                                         \
		float out[LANES];                                                   \
		STORE(out, s);                                                      \
		volatile float sink = out[0];                                       \
		(void)sink;                                                         \
		return (double)iters * 12 * LANES * 2 / t * 1e-9;                   \
	}

#define V __m512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
PROBE(probe_avx512, "avx512f", 16)
#undef V
#undef SET1
#undef FMA
#undef ADD
#undef STORE
#define V __m256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
PROBE(probe_avx2, "avx2,fma", 8)

/* The same 12 chains of vdpbf16ps: 4 flops per f32 lane (two products,
   two sums).  GFLOP/s. */
__attribute__((target("avx512f,avx512bf16"))) static double probe_dpbf16(long iters)
{
	__m512bh x = (__m512bh)_mm512_set1_epi32(0x3F803F80), y = (__m512bh)_mm512_set1_epi32(0x33D633D6);
	__m512 s = _mm512_setzero_ps();
#define DP(j) a##j = _mm512_dpbf16_ps(a##j, x, y);
#define DDECL(j) __m512 a##j = _mm512_set1_ps((float)j);
	CHAINS(DDECL)
	double t0 = now();
	for (long i = 0; i < iters; i++) {
		CHAINS(DP)
	}
	double t = now() - t0;
#define DSUM(j) s = _mm512_add_ps(s, a##j);
	CHAINS(DSUM)
	float out[16];
	_mm512_storeu_ps(out, s);
	volatile float sink = out[0];
	(void)sink;
	return (double)iters * 12 * 16 * 4 / t * 1e-9;
}

/* One probe of about 1 ms on the widest vectors (avx512) or AVX2. */
static double probe(bool avx512)
{
	return avx512 ? probe_avx512(20000) : probe_avx2(40000);
}

/* ---- the products ---- */

static float *random_matrix(size_t count, unsigned *state)
{
	float *p = aligned_alloc(64, ((count * sizeof *p + 63) / 64) * 64);
	if (!p) {
		fprintf(stderr, "gemm: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < count; i++) {
		*state = *state * 1664525u + 1013904223u;
		p[i] = (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
	}
	return p;
}

static void run_blas(const Shape *s, const float *a, const float *b, float *c)
{
	int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
	cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->m, s->n,
		s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
}

/* Times the product s with sinter's kernel and OpenBLAS, alternating,
   reps medians into *ms and *mb (seconds); runs a peak probe after every
   round into probes[*nprobe...].  Prints the kernel's blocking first when
   *head is false. */
static void time_shape(CgModule *jm, const Shape *s, int reps, bool has512, bool bf16, double *probes,
	int *nprobe, double *ms, double *mb, double *bs, double *bb, bool *head)
{
	static unsigned state = 12345;
	char err[512];
	CgGemmSpec spec = { .m = s->m, .n = s->n, .k = s->k, .ta = s->ta, .tb = s->tb, .alpha = 1, .bf16 = bf16 };
	spec.lda = s->ta ? s->m : s->k, spec.ldb = s->tb ? s->k : s->n, spec.ldc = s->n;
	CgGemmSpec spec32 = spec;
	spec32.bf16 = false;
	CgGemm g, g32;
	if (!cg_gemm_compile(jm, &spec, &g, err, sizeof err) || !cg_gemm_compile(jm, &spec32, &g32, err, sizeof err)) {
		fprintf(stderr, "gemm: %s\n", err);
		exit(1);
	}
	if (!*head) {
		printf("sinter: isa %s%s, tile %dx%d (blocks evened out per shape: kc %lld mc %lld nc %lld for the first); "
		       "medians of %d\n", g.isa, !bf16 ? "" : g.dpbf16 ? " bf16 by vdpbf16ps" : " bf16 widened to FMAs",
			g.mr, g.nr, (long long)g.kc, (long long)g.mc, (long long)g.nc, reps);
		*head = true;
	}
	float *a = random_matrix((size_t)s->m * s->k, &state), *b = random_matrix((size_t)s->k * s->n, &state);
	float *c = random_matrix((size_t)s->m * s->n, &state);
	void *w = aligned_alloc(64, ((size_t)g32.workspace + 63) / 64 * 64);
	double f = 2.0 * s->m * s->n * s->k;
	/* small products repeat within one timing: at least 20 MFLOP */
	int inner = f >= 2e7 ? 1 : (int)(2e7 / f) + 1;
	double sec_s[MAXREP], sec_b[MAXREP];
	for (int r = -2; r < reps; r++) { /* two warm-up rounds */
		double t0 = now();
		for (int j = 0; j < inner; j++)
			g.fn(a, b, c, w);
		double t1 = now();
		for (int j = 0; j < inner; j++)
			if (bf16)
				g32.fn(a, b, c, w);
			else
				run_blas(s, a, b, c);
		double t2 = now();
		if (r >= 0) {
			sec_s[r] = (t1 - t0) / inner, sec_b[r] = (t2 - t1) / inner;
			probes[(*nprobe)++] = probe(has512);
		}
	}
	*ms = median(sec_s, reps), *mb = median(sec_b, reps); /* sorts them: [0] is the best */
	*bs = sec_s[0], *bb = sec_b[0];
	free(a), free(b), free(c), free(w);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 15;
	const char *which = argc > 2 ? argv[2] : "all";
	bool bf16 = argc > 3 && !strcmp(argv[3], "bf16");
	if (reps < 1 || reps > MAXREP || (argc > 3 && !bf16)) {
		fprintf(stderr, "usage: gemm [REPEATS (1..%d)] [mlp|gpt|attn|all] [bf16]\n", MAXREP);
		return 2;
	}
	openblas_set_num_threads(1);
	char err[512];
	CgModule *jm = cg_jit_new(err, sizeof err);
	if (!jm) {
		fprintf(stderr, "gemm: %s\n", err);
		return 1;
	}
	__builtin_cpu_init();
	bool has512 = __builtin_cpu_supports("avx512f");
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
		fprintf(stderr, "gemm: the FMA probe needs AVX2 and FMA\n");
		return 1;
	}
	printf("openblas: %s (core %s), 1 thread\n", openblas_get_config(), openblas_get_corename());
	/* The peak is the median of probes run between the rounds of every
	   shape: the machine is shared, so it is measured under the load the
	   products met. */
	static double probes[NSHAPE * MAXREP];
	double ms[NSHAPE], mb[NSHAPE], bs[NSHAPE], bb[NSHAPE];
	int nprobe = 0;
	bool head = false, on[NSHAPE];
	for (int i = 0; i < NSHAPE; i++) {
		on[i] = !strcmp(which, "all") || !strcmp(which, SHAPES[i].model);
		if (on[i])
			time_shape(jm, &SHAPES[i], reps, has512, bf16, probes, &nprobe, &ms[i], &mb[i], &bs[i], &bb[i], &head);
	}
	double pk = median(probes, nprobe);
	double pmax = probes[nprobe - 1]; /* median() sorted them */
	for (int r = 0; r < 9; r++)
		probes[r] = probe(false);
	printf("peak: %.1f GFLOP/s (%s: 12 FMA chains, median of %d probes between the timings; best %.1f); "
	       "avx2 %.1f\n", pk, has512 ? "avx512" : "avx2", nprobe, pmax, median(probes, 9));
	if (bf16 && __builtin_cpu_supports("avx512bf16")) {
		for (int r = 0; r < 9; r++)
			probes[r] = probe_dpbf16(20000);
		printf("bf16 peak: %.1f GFLOP/s (12 vdpbf16ps chains, median of 9 after the timings); %%pk below is of "
		       "the f32 FMA peak for both kernels\n", median(probes, 9));
	}
	printf("%%pk: the median time against the median probe; best%%: the best time against the best probe\n");
	const char *k1 = bf16 ? "bf16 ms" : "sinter ms", *k2 = bf16 ? "f32 ms" : "blas ms";
	const char *ratio = bf16 ? "f32/bf" : "blas/s";
	const char *models[] = { "mlp", "gpt", "attn" };
	for (int mi = 0; mi < 3; mi++) {
		double ts = 0, tb = 0, flop = 0;
		for (int i = 0; i < NSHAPE; i++) {
			const Shape *s = &SHAPES[i];
			if (!on[i] || strcmp(s->model, models[mi]))
				continue;
			if (flop == 0)
				printf("\n%-16s %5s %5s %5s %2s %4s %9s %7s %5s %5s %9s %7s %5s %5s %6s\n", models[mi], "m", "n", "k",
					"t", "x", k1, "GFLOP/s", "%pk", "best%", k2, "GFLOP/s", "%pk", "best%", ratio);
			double f = 2.0 * s->m * s->n * s->k;
			printf("%-16s %5d %5d %5d %c%c %4d %9.4f %7.1f %5.1f %5.1f %9.4f %7.1f %5.1f %5.1f %6.2f\n", s->what,
				s->m, s->n, s->k, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->count, ms[i] * 1e3, f / ms[i] * 1e-9,
				100 * f / ms[i] * 1e-9 / pk, 100 * f / bs[i] * 1e-9 / pmax, mb[i] * 1e3, f / mb[i] * 1e-9,
				100 * f / mb[i] * 1e-9 / pk, 100 * f / bb[i] * 1e-9 / pmax, mb[i] / ms[i]);
			ts += ms[i] * s->count, tb += mb[i] * s->count, flop += f * s->count;
		}
		if (flop > 0)
			printf("%-16s %23s %4s %9.3f %7.1f %5.1f %5s %9.3f %7.1f %5.1f %5s %6.2f\n", "step", "", "", ts * 1e3,
				flop / ts * 1e-9, 100 * flop / ts * 1e-9 / pk, "", tb * 1e3, flop / tb * 1e-9,
				100 * flop / tb * 1e-9 / pk, "", tb / ts);
	}
	cg_jit_free(jm);
	return 0;
}
