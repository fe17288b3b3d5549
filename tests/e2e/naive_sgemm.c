/*
 * naive_sgemm.c — cblas_sgemm as three loops with double accumulation, for
 * tests/e2e/blas_kernels.sh.  Built as a shared library and preloaded
 * (LD_PRELOAD) into sinter, it stands in for OpenBLAS's kernels with a
 * reference no CPU detection can get wrong.  When NAIVE_SGEMM_COUNT names a
 * file, the number of calls is written there at exit (the test checks that
 * the preload took).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

static long calls;

static void report(void) __attribute__((destructor));
static void report(void)
{
	const char *path = getenv("NAIVE_SGEMM_COUNT");
	FILE *f = path ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "%ld\n", calls);
		fclose(f);
	}
}

/* Row-major C[m,n] = alpha op(A) op(B) + beta C. */
static void rowmajor(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	const float *b, int ldb, float beta, float *c, int ldc)
{
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int p = 0; p < k; p++)
				s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
			float r = (float)(alpha * s);
			c[i * ldc + j] = beta == 0 ? r : r + beta * c[i * ldc + j];
		}
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
	OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
	OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a, OPENBLAS_CONST blasint lda,
	OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *c,
	OPENBLAS_CONST blasint ldc)
{
	calls++;
	if (order == CblasRowMajor)
		rowmajor(ta != CblasNoTrans, tb != CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	else /* column-major C is row-major C^T = op(B)^T op(A)^T */
		rowmajor(tb != CblasNoTrans, ta != CblasNoTrans, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}
