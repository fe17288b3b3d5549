/*
 * test_gemm.c — sinter's own sgemm (codegen/gemm.c), compiled for this
 * machine's CPU through the JIT, on 540 shapes (the last 60 in the 8x32
 * tile where the host has AVX-512): every edge of the tile and
 * of the cache blocking (1, the tile's MR and NR and one either side, KC,
 * MC, NC and one either side), primes, random sizes, both transposes,
 * leading dimensions wider than the matrix, alpha != 1 and accumulation
 * into C.  Each product is checked against a naive double-precision
 * product and against cblas_sgemm (OpenBLAS), within the error bound of a
 * K-term f32 dot product, K u sum |a b|, so a tolerance that scales with K
 * and with the terms' magnitude, not with their cancelling sum.
 *
 * What else each case proves: C's old contents are not read when the
 * product does not accumulate (C starts as NaN), the padding of A, B and C
 * beyond their widths is neither read (NaN there would spread) nor written
 * (it must keep its sentinel), and the workspace is not overrun; every
 * fifth product runs again split over the runtime's thread pool and must
 * give the serial product's bits.  Then 60 tapped products (B read in
 * place from an image's taps, half of them in strided phase planes)
 * against their plain products, each image ending where an unreadable page
 * begins: a product that read past it (the in-place B's edge tiles) would
 * fault.  The first
 * line says which ISA and tile ran (the FileCheck test tests/lit/gemm_isa.sh
 * checks the instructions of the others).
 */
#include <cblas.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codegen/codegen.h"
#include "check.h"
#include "gemm_cases.h"

enum { CASES = 540 };

typedef struct {
	int mr, nr;
	int64_t kc, mc, nc;
} Blocking;

/* One case: compiles s, runs it and both references: two checks. */
static void run_case(CgModule *jm, const CgGemmSpec *s, int idx)
{
	char name[160];
	snprintf(name, sizeof name, "gemm %d: m %lld n %lld k %lld%s%s ld %lld %lld %lld alpha %g%s", idx,
		(long long)s->m, (long long)s->n, (long long)s->k, s->ta ? " ta" : "", s->tb ? " tb" : "",
		(long long)s->lda, (long long)s->ldb, (long long)s->ldc, s->alpha, s->accumulate ? " acc" : "");
	CgGemm g;
	char err[512];
	if (!check(cg_gemm_compile(jm, s, &g, err, sizeof err), name, "compile: %s", err)) {
		check(false, name, "not run");
		return;
	}
	GemmRun r = gemm_run(s, &g);
	float *a = r.a, *b = r.b, *c0 = r.c0, *c = r.c;
	size_t nc = r.nc;
	float *cb = alloc_f(nc);
	for (size_t i = 0; i < nc; i++)
		cb[i] = (int64_t)(i % (size_t)s->ldc) >= s->n ? SENTINEL : c0[i];
	cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, (int)s->m,
		(int)s->n, (int)s->k, s->alpha, a, (int)s->lda, b, (int)s->ldb, s->accumulate ? 1.0f : 0.0f, cb,
		(int)s->ldc);
	double worst = 0, worst_blas = 0;
	int64_t bad_i = -1, bad_j = -1;
	bool pad_ok = true, blas_ok = true;
	for (int64_t i = 0; i < s->m; i++) {
		for (int64_t j = 0; j < s->ldc; j++) {
			float got = c[i * s->ldc + j];
			if (j >= s->n) {
				pad_ok = pad_ok && got == SENTINEL;
				continue;
			}
			double tol, ref = gemm_ref(s, a, b, c0, i, j, NULL, &tol);
			double e = fabs(got - ref) / tol, eb = fabs(got - cb[i * s->ldc + j]) / (2 * tol);
			if (!(e <= worst)) {
				worst = e;
				bad_i = i, bad_j = j;
			}
			if (!(eb <= 1))
				blas_ok = false;
			if (eb > worst_blas)
				worst_blas = eb;
		}
	}
	bool work_ok = gemm_run_work_kept(&r);
	check(worst <= 1 && pad_ok && work_ok, name,
		"vs naive double: worst error %.3g of the bound at [%lld,%lld] (got %g); C padding %s; workspace %s",
		worst, (long long)bad_i, (long long)bad_j, bad_i >= 0 ? c[bad_i * s->ldc + bad_j] : 0.0,
		pad_ok ? "kept" : "overwritten", work_ok ? "kept" : "overrun");
	char nb[200];
	snprintf(nb, sizeof nb, "%s vs openblas", name);
	check(blas_ok, nb, "worst difference %.3g of twice the bound", worst_blas);
	/* every fifth product again on the thread pool: the same tiles computed
	   the same way, so the same bits, padding included */
	if (idx % 5 == 0) {
		CgGemmSpec ps = *s;
		ps.parallel = true;
		CgGemm gp;
		snprintf(nb, sizeof nb, "%s parallel", name);
		bool ok = cg_gemm_compile(jm, &ps, &gp, err, sizeof err);
		size_t diff = nc;
		if (ok) {
			float *cp = alloc_f(nc), *wp = alloc_f((size_t)gp.workspace / 4);
			for (size_t i = 0; i < nc; i++)
				cp[i] = (int64_t)(i % (size_t)s->ldc) >= s->n ? SENTINEL : s->accumulate ? c0[i] : NAN;
			gp.fn(a, b, cp, wp);
			for (diff = 0; diff < nc && !memcmp(&cp[diff], &c[diff], sizeof(float)); diff++)
				;
			free(cp), free(wp);
		}
		check(ok && diff == nc, nb, "%s; first difference from the serial product at %zu", ok ? "compiled" : err,
			diff);
	}
	free(cb);
	gemm_run_free(&r);
}

/* A copy of the n floats at p that ends where a page no access may touch
   begins; *base and *len are the mapping to unmap. */
static float *guarded_copy(const float *p, size_t n, void **base, size_t *len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (n * sizeof *p + page - 1) / page * page;
	*len = bytes + page;
	*base = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*base == MAP_FAILED || mprotect((char *)*base + bytes, page, PROT_NONE) != 0) {
		perror("test_gemm: mmap");
		exit(1);
	}
	float *q = (float *)((char *)*base + bytes) - n;
	memcpy(q, p, n * sizeof *p);
	return q;
}

/*
 * A tapped product (CgGemmSpec.taps: B read in place from a padded image,
 * as runtime/conv_taps.c's convolutions do): its B materialized as a
 * plain matrix, row (c * kh + ki) * kw + kj of the image's taps, is the
 * reference's B.  Both orientations: B's rows are k (a convolution's
 * forward and data gradient) or, transposed, n (its weight gradient); on
 * one thread and on the pool (the same bits).
 */
static void taps_case(CgModule *jm, int idx)
{
	int64_t ch = 1 + irand(5), kh = 1 + irand(5), kw = 1 + irand(5), dh = 1 + irand(2), dw = 1 + irand(2);
	int64_t sh = idx % 4 < 2 ? 1 : 1 + irand(3), sw = idx % 4 < 2 ? 1 : 1 + irand(3);
	/* phase planes of hph x wph: a tap reads rows (ki dh) / sh on, so oh rows of outputs fit */
	int64_t hph = (kh - 1) * dh / sh + 1 + irand(12), wph = (kw - 1) * dw / sw + 1 + irand(40);
	int64_t pplane = hph * wph, plane = sh * sw * pplane + irand(3);
	int64_t oh = hph - (kh - 1) * dh / sh, ow = wph - (kw - 1) * dw / sw, grid = (oh - 1) * wph + ow;
	int64_t rows = ch * kh * kw;
	bool tb = idx % 2;
	CgGemmSpec s = { .m = 1 + irand(40), .n = tb ? rows : grid, .k = tb ? grid : rows, .tb = tb, .alpha = 1,
		.accumulate = idx % 3 == 0 };
	s.lda = s.k, s.ldb = tb ? s.k : s.n, s.ldc = s.n;
	s.taps = (CgGemmTaps){ kh, kw, dh, dw, sh, sw, wph, pplane, plane };
	char name[160];
	snprintf(name, sizeof name, "gemm taps %d: m %lld, %lld channels of phase planes %lldx%lld, %lldx%lld of them (plane %lld), taps %lldx%lld dilated %lldx%lld%s%s",
		idx, (long long)s.m, (long long)ch, (long long)hph, (long long)wph, (long long)sh, (long long)sw,
		(long long)plane, (long long)kh, (long long)kw, (long long)dh, (long long)dw, tb ? ", tb" : "",
		s.accumulate ? ", acc" : "");
	float *img = random_matrix(ch, plane, plane), *a = random_matrix(s.m, s.k, s.lda);
	float *bm = alloc_f((size_t)(rows * grid)), *c0 = random_matrix(s.m, s.n, s.ldc);
	/* the plain B: [rows][grid] for tb (B stored [n, k]), [rows][grid] as [k, n] otherwise */
	for (int64_t r = 0; r < rows; r++) {
		int64_t c = r / (kh * kw), u = r / kw % kh * dh, v = r % kw * dw;
		int64_t at = c * plane + (u % sh * sw + v % sw) * pplane + u / sh * wph + v / sw;
		for (int64_t q = 0; q < grid; q++)
			bm[r * grid + q] = img[at + q];
	}
	CgGemmSpec plain = s;
	plain.taps = (CgGemmTaps){ 0 };
	double worst = 0;
	for (int par = 0; par < 2; par++) {
		CgGemmSpec ps = s;
		ps.parallel = par;
		CgGemm g;
		char err[512], what[200];
		snprintf(what, sizeof what, "%s%s", name, par ? " parallel" : "");
		if (!check(cg_gemm_compile(jm, &ps, &g, err, sizeof err), what, "compile: %s", err))
			continue;
		float *c = alloc_f((size_t)(s.m * s.ldc)), *work = alloc_f((size_t)g.workspace / 4 + 16);
		memcpy(c, c0, (size_t)(s.m * s.ldc) * sizeof *c);
		void *map;
		size_t maplen;
		g.fn(a, guarded_copy(img, (size_t)(ch * plane), &map, &maplen), c, work);
		munmap(map, maplen);
		worst = 0;
		for (int64_t i = 0; i < s.m; i++)
			for (int64_t j = 0; j < s.n; j++) {
				double tol, ref = gemm_ref(&plain, a, bm, c0, i, j, NULL, &tol), e = fabs(c[i * s.ldc + j] - ref) / tol;
				worst = e > worst || e != e ? e : worst;
			}
		check(worst <= 1, what, "vs the plain product of its taps: worst error %.3g of the bound", worst);
		free(c), free(work);
	}
	free(img), free(a), free(bm), free(c0);
}

int main(void)
{
	char err[512];
	CgModule *jm = cg_jit_new(err, sizeof err);
	if (!check(jm != NULL, "jit", "%s", err))
		return 1;
	/* the blocking this machine gets, from a first compile (never run) of
	   sizes so large that evening the blocks out changes nothing */
	CgGemmSpec probe = { .m = 1 << 20, .n = 1 << 20, .k = 1 << 20, .alpha = 1 };
	probe.lda = probe.ldb = probe.ldc = 1 << 20;
	CgGemm g;
	if (!check(cg_gemm_compile(jm, &probe, &g, err, sizeof err), "gemm probe", "%s", err))
		return 1;
	Blocking bl = { g.mr, g.nr, g.kc, g.mc, g.nc };
	printf("# isa %s, tile %dx%d, kc %lld mc %lld nc %lld\n", g.isa, bl.mr, bl.nr, (long long)bl.kc,
		(long long)bl.mc, (long long)bl.nc);
	const int64_t medge[] = { 1, 2, 3, 5, 7, 13, bl.mr - 1, bl.mr, bl.mr + 1, 2 * bl.mr + 1, 97, bl.mc - 1, bl.mc,
		bl.mc + 1 };
	const int64_t nedge[] = { 1, 2, 3, 11, 31, bl.nr - 1, bl.nr, bl.nr + 1, 2 * bl.nr - 1, 2 * bl.nr + 3, 127, 257 };
	const int64_t kedge[] = { 1, 2, 3, 17, 61, bl.kc - 1, bl.kc, bl.kc + 1, 2 * bl.kc + 1 };
	int idx = 0;
	/* the blocks' far edges once each: NC and MC with one more */
	int64_t far[][3] = { { 3, bl.nc + 1, 5 }, { 2, bl.nc, 3 }, { bl.mc + 1, 19, bl.kc + 1 },
		{ 2 * bl.mc + 5, 7, 9 } };
	for (int i = 0; i < 4; i++) {
		CgGemmSpec s = { .m = far[i][0], .n = far[i][1], .k = far[i][2], .tb = i % 2, .alpha = 1 };
		s.lda = s.k, s.ldb = s.tb ? s.k : s.n, s.ldc = s.n;
		run_case(jm, &s, idx++);
	}
	while (idx < CASES) {
		/* the last 60 in the 8x32 tile (where the host has AVX-512; auto
		   takes it for 64-row products, which few cases have) */
		if (idx == CASES - 60)
			setenv("SINTER_GEMM_TILE", "8x32", 1);
		static const float alphas[] = { 1.0f, 1.0f, 0.5f, -1.5f };
		CgGemmSpec s = random_spec(medge, sizeof medge / sizeof *medge, nedge, sizeof nedge / sizeof *nedge, kedge,
			sizeof kedge / sizeof *kedge, 150, 300, 4000000, alphas);
		run_case(jm, &s, idx++);
	}
	unsetenv("SINTER_GEMM_TILE");
	for (int i = 0; i < 60; i++)
		taps_case(jm, i);
	/* a bad spec is refused, not compiled */
	CgGemmSpec bad = { .m = 4, .n = 4, .k = 4, .lda = 3, .ldb = 4, .ldc = 4, .alpha = 1 };
	check(!cg_gemm_compile(jm, &bad, &g, err, sizeof err) && strstr(err, "lda 3"), "gemm bad lda refused", "%s",
		err);
	cg_jit_free(jm);
	return nfail != 0;
}
