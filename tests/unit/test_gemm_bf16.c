/*
 * test_gemm_bf16.c — sinter's bf16 matrix product (CgGemmSpec.bf16: f32
 * operands rounded to bf16 as they are packed, f32 accumulation),
 * compiled for this machine's CPU through the JIT, on 300 shapes: 1,
 * primes, odd K (the zero-padded last pair), the tile's and the K
 * block's edges, both transposes, wide leading dimensions, alpha and
 * accumulation into C.  The first 240 run the host's kernel (vdpbf16ps
 * where the CPU has AVX512-BF16; cases 210-239 in the 8x32 tile,
 * SINTER_GEMM_TILE, where the host has AVX-512), the last 60 the widening FMA fallback
 * (SINTER_GEMM_BF16=widen), which is what a CPU without it runs: 30 of
 * them the host's tile, 20 AVX2's and 10 SSE's (SINTER_GEMM_ISA, where the
 * host has more), whose packing runs in 8 and 4 lanes.
 *
 * Each product is checked twice:
 * - against a naive double-precision product of the bf16-rounded
 *   operands (rt_bf16_from_f32, the one rounding), within the error bound
 *   of a K-term f32 sum, (K + 2) u sum |a b|; C's padding and the
 *   workspace's end keep their sentinels, C's old contents are not read
 *   unless the product accumulates (C starts as NaN);
 * - bit for bit against the arithmetic docs/ARCHITECTURE.md states for
 *   both kernels: per K block, acc = 0, then for each pair of k
 *   acc += a_odd b_odd, acc += a_even b_even, each rounded to f32 (the
 *   products of two bf16 are exact), then C = alpha acc (+ C).  alpha is
 *   a power of two here so its product is exact whatever the C compiler
 *   contracts.  The data has no denormals, where vdpbf16ps (which flushes
 *   them) and the FMAs would differ.
 * Every second case runs again with A, B or both stored as bf16 bits
 * (CgGemmSpec.a_bf16, b_bf16), rounded once from the same data: the same
 * bits as the f32 operands give, with the same workspace.
 * Then a NaN operand gives NaN (rounding keeps NaN NaN), and the blocks go
 * twice as deep in K as the f32 product's in the same workspace bytes.
 */
#include "codegen/codegen.h"
#include "runtime/runtime.h"
#include "check.h"
#include "gemm_cases.h"

enum { CASES = 300, SQUARE_FROM = 210, WIDEN_FROM = 240, AVX2_FROM = 270, SSE_FROM = 290 };

static float bf(float x)
{
	return rt_bf16_to_f32(rt_bf16_from_f32(x));
}

/* op(A)[i][k] and op(B)[k][j], rounded to bf16 */
static float opa(const CgGemmSpec *s, const float *a, int64_t i, int64_t k)
{
	return bf(a[s->ta ? k * s->lda + i : i * s->lda + k]);
}

static float opb(const CgGemmSpec *s, const float *b, int64_t k, int64_t j)
{
	return bf(b[s->tb ? j * s->ldb + k : k * s->ldb + j]);
}

/* C[i][j] as the documented kernel arithmetic computes it, K blocked by kc. */
static float emulate(const CgGemmSpec *s, const float *a, const float *b, float c0, int64_t kc, int64_t i,
	int64_t j)
{
	float c = c0;
	for (int64_t pc = 0; pc < s->k; pc += kc) {
		int64_t end = pc + kc < s->k ? pc + kc : s->k;
		float acc = 0;
		for (int64_t k = pc; k < end; k += 2) {
			float odd = k + 1 < end ? opa(s, a, i, k + 1) * opb(s, b, k + 1, j) : 0.0f;
			acc = acc + odd;
			acc = acc + opa(s, a, i, k) * opb(s, b, k, j);
		}
		float x = acc * s->alpha;
		c = pc == 0 && !s->accumulate ? x : c + x;
	}
	return c;
}

/* The matrix m (rows x ld floats) as bf16 bits, rounded once. */
static uint16_t *to_bf16(const float *m, size_t n)
{
	uint16_t *h = malloc(n * sizeof *h + 64);
	for (size_t i = 0; i < n; i++)
		h[i] = rt_bf16_from_f32(m[i]);
	return h;
}

/*
 * The product s again with A, B or both stored as bf16 bits (a_bf16,
 * b_bf16: a bf16 value the backward kept, which the product reads in place
 * of its f32 widening): bit for bit the result r->c of the f32 operands,
 * whose packing rounds them to the same bits.  One check.
 */
static void run_stored(CgModule *jm, const CgGemmSpec *s, const GemmRun *r, int idx, const char *name)
{
	CgGemmSpec t = *s;
	t.a_bf16 = idx % 6 != 4;
	t.b_bf16 = idx % 6 != 2;
	char what[260], err[512];
	snprintf(what, sizeof what, "%s, %s stored as bf16", name,
		t.a_bf16 && t.b_bf16 ? "A and B" : t.a_bf16 ? "A" : "B");
	CgGemm g;
	if (!check(cg_gemm_compile(jm, &t, &g, err, sizeof err), what, "compile: %s", err))
		return;
	size_t na = (size_t)((s->ta ? s->k : s->m) * s->lda), nb = (size_t)((s->tb ? s->n : s->k) * s->ldb);
	uint16_t *a16 = to_bf16(r->a, na), *b16 = to_bf16(r->b, nb);
	float *c = alloc_f(r->nc), *work = alloc_f((size_t)g.workspace / 4 + 16);
	for (size_t i = 0; i < r->nc; i++)
		c[i] = (int64_t)(i % (size_t)s->ldc) >= s->n ? SENTINEL : s->accumulate ? r->c0[i] : NAN;
	/* the generated function takes the operands' addresses whatever they hold */
	g.fn(t.a_bf16 ? (const float *)(const void *)a16 : r->a, t.b_bf16 ? (const float *)(const void *)b16 : r->b, c,
		work);
	size_t bad = 0;
	for (size_t i = 0; i < r->nc; i++)
		bad += memcmp(&c[i], &r->c[i], sizeof *c) != 0;
	int64_t w32 = (int64_t)r->wfloats * 4;
	check(bad == 0 && g.workspace == w32, what,
		"%zu elements differ from the f32 operands' product; workspace %lld bytes, f32 operands' %lld", bad,
		(long long)g.workspace, (long long)w32);
	free(a16), free(b16), free(c), free(work);
}

/* One case: compiles s, runs it and both references: two checks (three
   for every second case: run_stored). */
static void run_case(CgModule *jm, const CgGemmSpec *s, int idx)
{
	char name[200];
	snprintf(name, sizeof name, "bf16 gemm %d: m %lld n %lld k %lld%s%s ld %lld %lld %lld alpha %g%s%s", idx,
		(long long)s->m, (long long)s->n, (long long)s->k, s->ta ? " ta" : "", s->tb ? " tb" : "",
		(long long)s->lda, (long long)s->ldb, (long long)s->ldc, s->alpha, s->accumulate ? " acc" : "",
		idx >= SSE_FROM ? " widened sse" : idx >= AVX2_FROM ? " widened avx2" : idx >= WIDEN_FROM ? " widened" :
		idx >= SQUARE_FROM ? " 8x32" : "");
	CgGemm g;
	char err[512], nb[240];
	snprintf(nb, sizeof nb, "%s bits", name);
	if (!check(cg_gemm_compile(jm, s, &g, err, sizeof err), name, "compile: %s", err)) {
		check(false, nb, "not run");
		return;
	}
	GemmRun r = gemm_run(s, &g);
	const float *a = r.a, *b = r.b, *c0 = r.c0, *c = r.c;
	double worst = 0;
	int64_t bad_i = -1, bad_j = -1, nbits = 0, first = -1;
	bool pad_ok = true;
	for (int64_t i = 0; i < s->m; i++)
		for (int64_t j = 0; j < s->ldc; j++) {
			float got = c[i * s->ldc + j];
			if (j >= s->n) {
				pad_ok = pad_ok && got == SENTINEL;
				continue;
			}
			double tol, ref = gemm_ref(s, a, b, c0, i, j, bf, &tol);
			double e = fabs(got - ref) / tol;
			if (!(e <= worst)) {
				worst = e;
				bad_i = i, bad_j = j;
			}
			float em = emulate(s, a, b, c0[i * s->ldc + j], g.kc, i, j);
			if (memcmp(&em, &got, sizeof em)) {
				if (first < 0)
					first = i * s->ldc + j;
				nbits++;
			}
		}
	bool work_ok = gemm_run_work_kept(&r);
	check(worst <= 1 && pad_ok && work_ok, name,
		"vs naive double: worst error %.3g of the bound at [%lld,%lld] (got %g); C padding %s; workspace %s",
		worst, (long long)bad_i, (long long)bad_j, bad_i >= 0 ? c[bad_i * s->ldc + bad_j] : 0.0,
		pad_ok ? "kept" : "overwritten", work_ok ? "kept" : "overrun");
	check(nbits == 0, nb, "%lld elements differ from the documented arithmetic, the first at %lld (kc %lld)",
		(long long)nbits, (long long)first, (long long)g.kc);
	if (idx % 2 == 0)
		run_stored(jm, s, &r, idx, name);
	gemm_run_free(&r);
}

/* A NaN in A reaches C's row through the bf16 rounding. */
static void run_nan(CgModule *jm)
{
	CgGemmSpec s = { .m = 17, .n = 40, .k = 33, .lda = 33, .ldb = 40, .ldc = 40, .alpha = 1, .bf16 = true };
	CgGemm g;
	char err[512];
	if (!check(cg_gemm_compile(jm, &s, &g, err, sizeof err), "bf16 gemm nan compiled", "%s", err))
		return;
	float *a = random_matrix(17, 33, 33), *b = random_matrix(33, 40, 40), *c = alloc_f(17 * 40);
	float *work = alloc_f((size_t)g.workspace / 4 + 16);
	a[5 * 33 + 32] = NAN; /* the last k: the odd K's half-filled pair */
	g.fn(a, b, c, work);
	bool nan_row = true, others = true;
	for (int i = 0; i < 17; i++)
		for (int j = 0; j < 40; j++)
			if (i == 5)
				nan_row = nan_row && isnan(c[i * 40 + j]);
			else
				others = others && isfinite(c[i * 40 + j]);
	check(nan_row && others, "bf16 gemm nan stays nan", "row 5 all NaN: %d, the other rows finite: %d", nan_row,
		others);
	free(a), free(b), free(c), free(work);
}

int main(void)
{
	char err[512];
	CgModule *jm = cg_jit_new(err, sizeof err);
	if (!check(jm != NULL, "jit", "%s", err))
		return 1;
	CgGemmSpec probe = { .m = 1 << 20, .n = 1 << 20, .k = 1 << 20, .alpha = 1, .bf16 = true };
	probe.lda = probe.ldb = probe.ldc = 1 << 20;
	CgGemmSpec probe32 = probe;
	probe32.bf16 = false;
	CgGemm g, g32;
	if (!check(cg_gemm_compile(jm, &probe, &g, err, sizeof err) && cg_gemm_compile(jm, &probe32, &g32, err,
			   sizeof err), "bf16 gemm probe", "%s", err))
		return 1;
	/* panels of half the bytes: blocks twice as deep in K, the same workspace */
	check(g.workspace == g32.workspace && g.kc == 2 * g32.kc, "bf16 gemm blocks twice as deep",
		"bf16 workspace %lld bytes, kc %lld; f32 %lld bytes, kc %lld", (long long)g.workspace, (long long)g.kc,
		(long long)g32.workspace, (long long)g32.kc);
	printf("# isa %s, tile %dx%d, kc %lld, bf16 %s\n", g.isa, g.mr, g.nr, (long long)g.kc,
		g.dpbf16 ? "by vdpbf16ps (then widened from case 240)" : "widened to f32 FMAs");
	const int64_t medge[] = { 1, 2, 3, 5, 7, 13, g.mr - 1, g.mr, g.mr + 1, 2 * g.mr + 1, 97 };
	const int64_t nedge[] = { 1, 2, 3, 11, 31, g.nr - 1, g.nr, g.nr + 1, 2 * g.nr + 3, 127 };
	const int64_t kedge[] = { 1, 2, 3, 17, 61, g.kc - 1, g.kc, g.kc + 1, 2 * g.kc + 1 };
	for (int idx = 0; idx < CASES; idx++) {
		if (idx == SQUARE_FROM)
			setenv("SINTER_GEMM_TILE", "8x32", 1);
		if (idx == WIDEN_FROM) {
			unsetenv("SINTER_GEMM_TILE");
			setenv("SINTER_GEMM_BF16", "widen", 1);
		}
		if (idx == AVX2_FROM || idx == SSE_FROM)
			setenv("SINTER_GEMM_ISA", idx == AVX2_FROM ? "avx2" : "sse", 1);
		/* powers of two: alpha's product is exact (see emulate) */
		static const float alphas[] = { 1.0f, 1.0f, 0.5f, -2.0f };
		CgGemmSpec s = random_spec(medge, sizeof medge / sizeof *medge, nedge, sizeof nedge / sizeof *nedge, kedge,
			sizeof kedge / sizeof *kedge, 120, 300, 2000000, alphas);
		s.bf16 = true;
		s.parallel = irand(5) == 0;
		run_case(jm, &s, idx);
	}
	unsetenv("SINTER_GEMM_BF16");
	unsetenv("SINTER_GEMM_ISA");
	run_nan(jm);
	cg_jit_free(jm);
	return nfail != 0;
}
