/*
 * test_sgemm_pool.c — OpenBLAS's products on the runtime's pool
 * (rt_sgemm, runtime/pool.c): C cut into one block of whole rows, or of
 * whole columns when it has fewer of them, per pool thread, each block a
 * call of OpenBLAS on one thread.
 *
 * Each product runs with the pool at 1 to 5 threads (1: one call; more:
 * as many parts as rows or columns allow).  On one thread it must give the
 * bits of one cblas_sgemm call on one OpenBLAS thread; on more, the
 * product within a K-term f32 dot product's bound of a double-precision
 * one, the same bits when run again, and C's padding columns untouched.
 * (A part's bits need not be the whole call's: OpenBLAS takes products it
 * counts as small, such as a short last part, to other kernels that sum
 * in another order.  That is why the thread count, as with OpenBLAS's own
 * threads before, can change the last bits of a product; the interpreter
 * and generated code both call rt_sgemm, so they agree for every count.)
 * The one call is checked against the double product too.  The shapes are
 * around the size below which rt_sgemm makes one call
 * (RT_GEMM_SERIAL_MAX), tall and wide (the cut along rows and along
 * columns), with both transposes, row and column counts that leave a
 * short last part or fewer parts than threads, padded leading dimensions,
 * alpha and beta; and the one-call cases below the size.
 */
#include <cblas.h>

#include "runtime/runtime.h"
#include "check.h"

typedef struct {
	int64_t m, n, k;
	int ta, tb;
	int64_t pad;  /* extra elements per row of A, B and C */
	float alpha, beta;
	const char *what;
} Case;

static float *rand_f(int64_t n)
{
	float *p = malloc((size_t)n * sizeof *p);
	for (int64_t i = 0; i < n; i++)
		p[i] = (float)(2 * urand() - 1);
	return p;
}

/* |C - ref| within a K-term f32 sum's rounding of sum |a b| (and beta C's). */
static bool near_ref(const Case *c, const float *a, int64_t lda, const float *b, int64_t ldb, const float *c0,
	const float *got, int64_t ldc, double *worst)
{
	double eps = (double)c->k * 1.2e-7 + 1.2e-7;
	*worst = 0;
	for (int64_t i = 0; i < c->m; i++)
		for (int64_t j = 0; j < c->n; j++) {
			double s = 0, mag = 0;
			for (int64_t p = 0; p < c->k; p++) {
				double x = a[c->ta ? p * lda + i : i * lda + p], y = b[c->tb ? j * ldb + p : p * ldb + j];
				s += x * y;
				mag += fabs(x * y);
			}
			double ref = c->alpha * s + c->beta * c0[i * ldc + j];
			double bound = eps * (fabs(c->alpha) * mag + fabs(c->beta * c0[i * ldc + j])) + 1e-30;
			double e = fabs(got[i * ldc + j] - ref) / bound;
			if (!(e <= 1))
				return false;
			*worst = e > *worst ? e : *worst;
		}
	return true;
}

static void run_case(const Case *c)
{
	int64_t ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k, br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
	int64_t lda = ac + c->pad, ldb = bc + c->pad, ldc = c->n + c->pad;
	float *a = rand_f(ar * lda), *b = rand_f(br * ldb), *c0 = rand_f(c->m * ldc);
	float *want = malloc((size_t)(c->m * ldc) * sizeof *want), *got = malloc((size_t)(c->m * ldc) * sizeof *got);
	char name[200];
	snprintf(name, sizeof name, "%s: %lldx%lldx%lld%s%s pad %lld alpha %g beta %g", c->what, (long long)c->m,
		(long long)c->n, (long long)c->k, c->ta ? " ta" : "", c->tb ? " tb" : "", (long long)c->pad,
		(double)c->alpha, (double)c->beta);
	memcpy(want, c0, (size_t)(c->m * ldc) * sizeof *want);
	int saved = rt_gemm_serial_begin();
	cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans, (int)c->m,
		(int)c->n, (int)c->k, c->alpha, a, (int)lda, b, (int)ldb, c->beta, want, (int)ldc);
	rt_gemm_serial_end(saved);
	double worst;
	bool right = near_ref(c, a, lda, b, ldb, c0, want, ldc, &worst);
	char nb[260];
	snprintf(nb, sizeof nb, "%s: one call against the double product", name);
	check(right, nb, "beyond the bound");
	float *again = malloc((size_t)(c->m * ldc) * sizeof *again);
	for (int t = 1; t <= 5; t++) {
		rt_pool_init(t);
		memcpy(got, c0, (size_t)(c->m * ldc) * sizeof *got);
		memcpy(again, c0, (size_t)(c->m * ldc) * sizeof *again);
		rt_sgemm(c->ta, c->tb, c->m, c->n, c->k, c->alpha, a, lda, b, ldb, c->beta, got, ldc);
		rt_sgemm(c->ta, c->tb, c->m, c->n, c->k, c->alpha, a, lda, b, ldb, c->beta, again, ldc);
		bool pad_kept = true;
		for (int64_t i = 0; i < c->m; i++)
			pad_kept = pad_kept && !memcmp(got + i * ldc + c->n, c0 + i * ldc + c->n, (size_t)c->pad * sizeof *got);
		snprintf(nb, sizeof nb, "%s: %d thread%s", name, t, t == 1 ? "" : "s");
		if (t == 1)
			check(!memcmp(got, want, (size_t)(c->m * ldc) * sizeof *got), nb, "not the one call's bits");
		else
			check(near_ref(c, a, lda, b, ldb, c0, got, ldc, &worst) && pad_kept &&
				!memcmp(got, again, (size_t)(c->m * ldc) * sizeof *got), nb,
				"%s", !pad_kept ? "C's padding written" : memcmp(got, again, (size_t)(c->m * ldc) * sizeof *got)
				? "a second run gave other bits" : "beyond the bound");
	}
	free(again);
	free(a), free(b), free(c0), free(want), free(got);
}

int main(void)
{
	/* RT_GEMM_SERIAL_MAX = 2^22 multiply-adds: 128 x 128 x 256 is exactly it */
	const Case cases[] = {
		{ 128, 128, 256, 0, 0, 0, 1, 0, "at the size: cut" },
		{ 128, 128, 255, 0, 0, 0, 1, 0, "just below the size: one call" },
		{ 1024, 96, 64, 0, 0, 0, 1, 0, "tall: rows" },
		{ 96, 1024, 64, 0, 0, 0, 1, 0, "wide: columns" },
		{ 517, 300, 97, 1, 0, 3, 1, 0, "rows, ta, short last part" },
		{ 300, 517, 97, 0, 1, 5, 1, 0, "columns, tb, short last part" },
		{ 333, 211, 129, 1, 1, 0, -0.5f, 1, "ta tb, alpha, accumulate" },
		{ 40, 4000, 33, 0, 0, 7, 2, 0.5f, "two column parts at most 32 wide apart" },
		{ 4000, 33, 40, 0, 1, 1, 1, 0, "rows, 33 columns" },
		{ 70, 70, 1000, 0, 0, 0, 1, 0, "70 rows: a last part of 6" },
		{ 8, 9, 10, 0, 0, 2, 1, 1, "small: one call" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		run_case(&cases[i]);
	rt_pool_shutdown();
	return nfail != 0;
}
