/*
 * gemm_cases.h — what the GEMM generator's tests (test_gemm.c,
 * test_gemm_bf16.c) share: random sizes drawn from edge lists, and 64-byte
 * aligned operands of random values with NaN in their padding (so that a
 * kernel reading past a row's width spreads NaN into C and is caught), one
 * run of a compiled product, and the double reference of an element of C
 * with its tolerance.
 * Include after check.h (it draws from check.h's rng).
 */
#ifndef SINTER_TESTS_GEMM_CASES_H
#define SINTER_TESTS_GEMM_CASES_H

static const float SENTINEL = 12345.0f;

/* Uniform in [0, n): the LCG's high bits (its low bits cycle fast). */
static int64_t irand(int64_t n)
{
	return (int64_t)((rng_next() >> 33) % (uint64_t)n);
}

/* A size from the edge list (half the time) or uniformly in [1, hi]. */
static int64_t pick(const int64_t *edges, int nedge, int64_t hi)
{
	if (irand(2))
		return edges[irand(nedge)];
	return 1 + irand(hi);
}

static float *alloc_f(size_t n)
{
	float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64 + 64);
	if (!p)
		abort();
	return p;
}

/* rows x cols of random values in [-1, 1) at stride ld, NaN in the padding. */
static float *random_matrix(int64_t rows, int64_t cols, int64_t ld)
{
	float *p = alloc_f((size_t)(rows * ld));
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < ld; j++)
			p[i * ld + j] = j < cols ? (float)(2 * urand() - 1) : NAN;
	return p;
}

/* A random product: sizes from the edge lists half the time (else up to
   hi, hi and hik) with m n k at most most, random transposes, a third of
   them with leading dimensions past the width, alpha one of alphas[0..4),
   a quarter accumulating into C. */
static CgGemmSpec random_spec(const int64_t *me, int nme, const int64_t *ne, int nne, const int64_t *ke, int nke,
	int64_t hi, int64_t hik, int64_t most, const float *alphas)
{
	CgGemmSpec s = { 0 };
	do {
		s.m = pick(me, nme, hi);
		s.n = pick(ne, nne, hi);
		s.k = pick(ke, nke, hik);
	} while (s.m * s.n * s.k > most);
	s.ta = irand(2), s.tb = irand(2);
	int64_t pad = irand(3) == 0 ? 1 + irand(9) : 0;
	s.lda = (s.ta ? s.m : s.k) + pad;
	s.ldb = (s.tb ? s.k : s.n) + pad;
	s.ldc = s.n + pad;
	s.alpha = alphas[irand(4)];
	s.accumulate = irand(4) == 0;
	return s;
}

/* The operands of one run of a compiled product s: A and B random, C0
   C's old contents, C the kernel's output (NaN where the product does not
   read it, SENTINEL in its padding), the workspace with 16 SENTINELs past
   its end. */
typedef struct {
	float *a, *b, *c0, *c, *work;
	size_t nc, wfloats; /* floats of C (m * ldc) and of the workspace */
} GemmRun;

static GemmRun gemm_run(const CgGemmSpec *s, const CgGemm *g)
{
	GemmRun r;
	int64_t ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
	int64_t br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
	r.a = random_matrix(ar, ac, s->lda), r.b = random_matrix(br, bc, s->ldb);
	r.c0 = random_matrix(s->m, s->n, s->ldc);
	r.nc = (size_t)(s->m * s->ldc);
	r.c = alloc_f(r.nc);
	for (size_t i = 0; i < r.nc; i++)
		r.c[i] = (int64_t)(i % (size_t)s->ldc) >= s->n ? SENTINEL : s->accumulate ? r.c0[i] : NAN;
	r.wfloats = (size_t)g->workspace / 4;
	r.work = alloc_f(r.wfloats + 16);
	for (int i = 0; i < 16; i++)
		r.work[r.wfloats + (size_t)i] = SENTINEL;
	g->fn(r.a, r.b, r.c, r.work);
	return r;
}

/* The workspace's end kept its sentinels. */
static bool gemm_run_work_kept(const GemmRun *r)
{
	bool ok = true;
	for (int i = 0; i < 16; i++)
		ok = ok && r->work[r->wfloats + (size_t)i] == SENTINEL;
	return ok;
}

/*
 * C[i][j] of the product s in double, each operand passed through round
 * (NULL: as it is; the bf16 tests round to bf16 first, as the kernel's
 * packing does), and in *tol the bound of an f32 sum of its K terms, the
 * old C and the rounding of the result: (K + 2) u sum |terms|.
 */
static double gemm_ref(const CgGemmSpec *s, const float *a, const float *b, const float *c0, int64_t i, int64_t j,
	float (*round)(float), double *tol)
{
	double ref = 0, mag = 0;
	for (int64_t k = 0; k < s->k; k++) {
		float x = a[s->ta ? k * s->lda + i : i * s->lda + k], y = b[s->tb ? j * s->ldb + k : k * s->ldb + j];
		double p = round ? (double)round(x) * round(y) : (double)x * y;
		ref += p;
		mag += fabs(p);
	}
	ref *= s->alpha;
	mag *= fabs(s->alpha);
	if (s->accumulate) {
		ref += c0[i * s->ldc + j];
		mag += fabs(c0[i * s->ldc + j]);
	}
	*tol = (double)(s->k + 2) * 0x1p-24 * mag + 1e-30;
	return ref;
}

static void gemm_run_free(GemmRun *r)
{
	free(r->a), free(r->b), free(r->c0), free(r->c), free(r->work);
}

#endif
