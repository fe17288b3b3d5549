/*
 * sgemm.c — the ceiling for bench/mlp_l.sn: times cblas_sgemm (OpenBLAS)
 * alone on the eight GEMMs of one training step of the 784-1024-1024-10 MLP
 * at batch 256, with 1 and 2 threads, and prints the sgemm time and GFLOP
 * per step.  A step of sinter or PyTorch cannot beat the sum of its GEMMs,
 * so bench/run.sh sets the step's achieved GFLOP/s against this number.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -O2 -o bench/sgemm bench/sgemm.c -lopenblas
 * Run:   bench/sgemm [REPEATS] [THREADS...]     (default: 30 1 2)
 * Output: one line per shape and thread count, then lines
 *   "total threads=T ms=X gflop=Y gflops=Z" that bench/run.sh reads.
 */
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BATCH = 256, IN = 784, HID = 1024, OUT = 10, MAXREP = 1000 };

/* One GEMM of the step in row-major cblas terms: C[m,n] = op(A) op(B),
 * op(A) is [m,k] and op(B) is [k,n]; a stored transposed operand is the
 * layout the step really has (weights are [in, out] as in sinter, so the
 * backward pass reads activations and weights transposed). */
typedef struct {
	const char *what;       /* the product, in the model's names */
	int m, n, k;            /* C is [m, n], the contraction has length k */
	CBLAS_TRANSPOSE ta, tb; /* CblasTrans: the operand is stored [k, m] / [n, k] */
} Gemm;

static const Gemm STEP[] = {
	/* forward: h1 = x @ w1, h2 = r1 @ w2, logits = r2 @ w3 */
	{ "fwd x@w1      ", BATCH, HID, IN, CblasNoTrans, CblasNoTrans },
	{ "fwd r1@w2     ", BATCH, HID, HID, CblasNoTrans, CblasNoTrans },
	{ "fwd r2@w3     ", BATCH, OUT, HID, CblasNoTrans, CblasNoTrans },
	/* backward: dW = input^T @ dout; dX = dout @ W^T (none for the first
	 * layer, whose input is data and needs no gradient) */
	{ "bwd dw3=r2T@dz", HID, OUT, BATCH, CblasTrans, CblasNoTrans },
	{ "bwd dr2=dz@w3T", BATCH, HID, OUT, CblasNoTrans, CblasTrans },
	{ "bwd dw2=r1T@dz", HID, HID, BATCH, CblasTrans, CblasNoTrans },
	{ "bwd dr1=dz@w2T", BATCH, HID, HID, CblasNoTrans, CblasTrans },
	{ "bwd dw1=xT@dz ", IN, HID, BATCH, CblasTrans, CblasNoTrans },
};
enum { NGEMM = sizeof STEP / sizeof STEP[0] };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Values in [-0.5, 0.5): denormals or zeros would flatter no kernel, but
 * exact data does not matter for timing. */
static float *random_matrix(size_t count, unsigned *state)
{
	float *p = aligned_alloc(64, ((count * sizeof *p + 63) / 64) * 64);
	if (!p) {
		fprintf(stderr, "sgemm: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < count; i++) {
		*state = *state * 1664525u + 1013904223u;
		p[i] = (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
	}
	return p;
}

static double gemm_flop(const Gemm *g)
{
	return 2.0 * g->m * g->n * g->k;
}

/* Runs g once on a, b, c; the leading dimensions follow from the stored
 * shapes (row-major: the row length). */
static void run_gemm(const Gemm *g, const float *a, const float *b, float *c)
{
	int lda = g->ta == CblasTrans ? g->m : g->k;
	int ldb = g->tb == CblasTrans ? g->k : g->n;
	cblas_sgemm(CblasRowMajor, g->ta, g->tb, g->m, g->n, g->k, 1.0f, a, lda, b, ldb, 0.0f, c, g->n);
}

/* Median seconds of each GEMM over reps repeats of the whole step (the
 * GEMMs run in step order, so caches hold what they would in a real step),
 * written to sec[NGEMM]. */
static void time_step(int reps, float **a, float **b, float **c, double *sec)
{
	static double t[NGEMM][MAXREP];
	for (int w = 0; w < 3; w++) /* warm-up: thread start, page faults */
		for (int i = 0; i < NGEMM; i++)
			run_gemm(&STEP[i], a[i], b[i], c[i]);
	for (int r = 0; r < reps; r++)
		for (int i = 0; i < NGEMM; i++) {
			double t0 = now();
			run_gemm(&STEP[i], a[i], b[i], c[i]);
			t[i][r] = now() - t0;
		}
	for (int i = 0; i < NGEMM; i++)
		sec[i] = median(t[i], reps);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 30;
	if (reps < 1 || reps > MAXREP) {
		fprintf(stderr, "usage: sgemm [REPEATS (1..%d)] [THREADS...]\n", MAXREP);
		return 2;
	}
	int threads[16], nthreads = 0;
	for (int i = 2; i < argc && nthreads < 16; i++)
		threads[nthreads++] = atoi(argv[i]);
	if (nthreads == 0) {
		threads[nthreads++] = 1;
		threads[nthreads++] = 2;
	}

	float *a[NGEMM], *b[NGEMM], *c[NGEMM];
	unsigned state = 12345;
	double flop = 0;
	for (int i = 0; i < NGEMM; i++) {
		const Gemm *g = &STEP[i];
		a[i] = random_matrix((size_t)g->m * g->k, &state);
		b[i] = random_matrix((size_t)g->k * g->n, &state);
		c[i] = random_matrix((size_t)g->m * g->n, &state);
		flop += gemm_flop(g);
	}

	printf("openblas: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
	printf("%d GEMMs per mlp_l step, %.4f GFLOP; median of %d repeats\n", NGEMM, flop * 1e-9, reps);
	for (int ti = 0; ti < nthreads; ti++) {
		double sec[NGEMM], total = 0;
		openblas_set_num_threads(threads[ti]);
		time_step(reps, a, b, c, sec);
		printf("\nthreads=%d\n%-16s %5s %5s %5s %9s %8s\n", threads[ti], "gemm", "m", "n", "k", "ms", "GFLOP/s");
		for (int i = 0; i < NGEMM; i++) {
			const Gemm *g = &STEP[i];
			total += sec[i];
			printf("%-16s %5d %5d %5d %9.3f %8.1f\n", g->what, g->m, g->n, g->k, sec[i] * 1e3,
			       gemm_flop(g) / sec[i] * 1e-9);
		}
		printf("total threads=%d ms=%.3f gflop=%.4f gflops=%.1f\n", threads[ti], total * 1e3, flop * 1e-9,
		       flop / total * 1e-9);
	}
	for (int i = 0; i < NGEMM; i++) {
		free(a[i]);
		free(b[i]);
		free(c[i]);
	}
	return 0;
}
