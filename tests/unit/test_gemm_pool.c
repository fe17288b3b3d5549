/*
 * test_gemm_pool.c — sinter's own sgemm on the runtime's thread pool
 * (CgGemmSpec.parallel, codegen/gemm.c): C cut into as many rectangles of
 * whole tiles as the pool has threads (rows and columns of them as
 * cg_gemm_split chooses), each a serial product with packed blocks of its
 * own.
 *
 * The shapes are those where that differs from the serial kernel: several
 * row blocks, several K blocks, partial tiles and panels, both transposes,
 * wide leading dimensions, accumulation and alpha, a bf16 product, a
 * product of one row of tiles and one of one column panel, 12 random
 * products of up to six row blocks; and the GPT step's products
 * (bench/gpt_step.sn).  Each is compiled for PARTS parts (the pool
 * expected to have PARTS threads) and runs serially and on the pool with
 * 1 to PARTS + 1 threads, and every run must give the serial product's
 * bits, C's padding and the workspace's end untouched; the serial product
 * is checked against OpenBLAS within the error bound of a K-term f32 dot
 * product (gemm_ref's), so the bits are those of a right product.  The
 * parts compiled for are the expected threads, at most 8, at most the
 * tiles (CgGemm.groups); the split (cg_gemm_host_split) is checked on shapes whose best cut is
 * known, and an epilogue's column sums must get columns only.
 */
#include <cblas.h>

#include "codegen/codegen.h"
#include "runtime/runtime.h"
#include "check.h"
#include "gemm_cases.h"

enum { PARTS = 4 };

/* The serial product's bits on the pool with 1 to PARTS + 1 threads, its
   parts (one check), and the serial one against OpenBLAS (one). */
static void pool_case(CgModule *jm, const CgGemmSpec *s, const char *what)
{
	char name[200], err[512];
	snprintf(name, sizeof name, "%s: m %lld n %lld k %lld%s%s ld %lld %lld %lld alpha %g%s%s", what,
		(long long)s->m, (long long)s->n, (long long)s->k, s->ta ? " ta" : "", s->tb ? " tb" : "",
		(long long)s->lda, (long long)s->ldb, (long long)s->ldc, s->alpha, s->accumulate ? " acc" : "",
		s->bf16 ? " bf16" : "");
	CgGemmSpec ss = *s, ps = *s;
	ss.parallel = false;
	ps.parallel = true;
	CgGemm g, gp;
	char nb[260];
	rt_pool_init(PARTS);
	bool ok = cg_gemm_compile(jm, &ss, &g, err, sizeof err) && cg_gemm_compile(jm, &ps, &gp, err, sizeof err);
	if (!check(ok, name, "compile: %s", err))
		return;
	rt_pool_init(1);
	GemmRun r = gemm_run(&ss, &g);
	/* the serial product against OpenBLAS (f32 only: OpenBLAS has no bf16) */
	snprintf(nb, sizeof nb, "%s serial vs openblas", name);
	if (s->bf16) {
		check(gemm_run_work_kept(&r), nb, "bf16: workspace overrun");
	} else {
		float *cb = alloc_f(r.nc);
		memcpy(cb, r.c0, r.nc * sizeof(float));
		cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
			(int)s->m, (int)s->n, (int)s->k, s->alpha, r.a, (int)s->lda, r.b, (int)s->ldb,
			s->accumulate ? 1.0f : 0.0f, cb, (int)s->ldc);
		double worst = 0;
		for (int64_t i = 0; i < s->m; i++)
			for (int64_t j = 0; j < s->n; j++) {
				double tol, ref = gemm_ref(s, r.a, r.b, r.c0, i, j, NULL, &tol);
				double e = fabs(r.c[i * s->ldc + j] - cb[i * s->ldc + j]) / (2 * tol);
				(void)ref;
				worst = e > worst ? e : worst;
			}
		check(worst <= 1 && gemm_run_work_kept(&r), nb, "worst difference %.3g of twice the bound%s", worst,
			gemm_run_work_kept(&r) ? "" : "; workspace overrun");
		free(cb);
	}
	/* the parts it was compiled for */
	int64_t tiles = (s->m + g.mr - 1) / g.mr * ((s->n + g.nr - 1) / g.nr), want = tiles < PARTS ? tiles : PARTS;
	snprintf(nb, sizeof nb, "%s parts", name);
	check(gp.groups == want && g.groups == 1, nb, "%lld tiles, parts %lld on the pool (want %lld), %lld serial",
		(long long)tiles, (long long)gp.groups, (long long)want, (long long)g.groups);
	for (int t = 1; t <= PARTS + 1; t++) {
		rt_pool_init(t);
		float *c = alloc_f(r.nc), *w = alloc_f((size_t)gp.workspace / 4 + 16);
		for (size_t i = 0; i < r.nc; i++)
			c[i] = (int64_t)(i % (size_t)s->ldc) >= s->n ? SENTINEL : s->accumulate ? r.c0[i] : NAN;
		for (int i = 0; i < 16; i++)
			w[gp.workspace / 4 + i] = SENTINEL;
		gp.fn(r.a, r.b, c, w);
		size_t diff;
		for (diff = 0; diff < r.nc && !memcmp(&c[diff], &r.c[diff], sizeof(float)); diff++)
			;
		bool kept = true;
		for (int i = 0; i < 16; i++)
			kept = kept && w[gp.workspace / 4 + i] == SENTINEL;
		snprintf(nb, sizeof nb, "%s pool %d threads same bits", name, t);
		check(diff == r.nc && kept, nb, "first difference from the serial product at %zu of %zu%s", diff, r.nc,
			kept ? "" : "; workspace overrun");
		free(c), free(w);
	}
	rt_pool_init(1);
	gemm_run_free(&r);
}

static CgGemmSpec spec(int64_t m, int64_t n, int64_t k, bool ta, bool tb, int64_t pad);

/* cg_gemm_host_split where the best cut is plain: a tall product splits rows,
   a wide one columns, 6 x 6 tiles both ways for 4 parts; an epilogue
   summing columns always gets columns only. */
static void test_split(int64_t mr, int64_t nr)
{
	static const struct {
		int64_t mt, nt, parts, want; /* tiles of rows and columns */
		bool cols;
		const char *what;
	} cases[] = {
		{ 64, 2, 2, 2, false, "tall, 2 parts: rows" },
		{ 2, 64, 2, 1, false, "wide, 2 parts: columns" },
		{ 6, 6, 4, 2, false, "6 x 6 tiles, 4 parts: 2 x 2" },
		{ 64, 3, 4, 4, false, "tall, 4 parts: rows" },
		{ 64, 2, 2, 1, true, "tall with column sums: columns" },
		{ 64, 64, 4, 1, true, "square with column sums: columns" },
		{ 64, 64, 1, 1, false, "one part" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		CgGemmSpec s = spec(cases[i].mt * mr, cases[i].nt * nr, 512, false, false, 0);
		s.parallel = true;
		s.epi = s.epi_cols = cases[i].cols;
		int64_t tr = cg_gemm_host_split(&s, cases[i].parts);
		check(tr == cases[i].want, cases[i].what, "%lld x %lld tiles, %lld parts: %lld rows of parts (want %lld)",
			(long long)cases[i].mt, (long long)cases[i].nt, (long long)cases[i].parts, (long long)tr,
			(long long)cases[i].want);
	}
}

static CgGemmSpec spec(int64_t m, int64_t n, int64_t k, bool ta, bool tb, int64_t pad)
{
	CgGemmSpec s = { .m = m, .n = n, .k = k, .ta = ta, .tb = tb, .alpha = 1 };
	s.lda = (ta ? m : k) + pad;
	s.ldb = (tb ? k : n) + pad;
	s.ldc = n + pad;
	return s;
}

int main(void)
{
	char err[512];
	CgModule *jm = cg_jit_new(err, sizeof err);
	if (!check(jm != NULL, "jit", "%s", err))
		return 1;
	/* this machine's blocking (a probe too large for evening out) */
	CgGemmSpec probe = spec(1 << 20, 1 << 20, 1 << 20, false, false, 0);
	CgGemm g;
	if (!check(cg_gemm_compile(jm, &probe, &g, err, sizeof err), "gemm probe", "%s", err))
		return 1;
	int64_t mc = g.mc, kc = g.kc, nr = g.nr, mr = g.mr;
	printf("# isa %s, tile %dx%d, kc %lld mc %lld, %d cores\n", g.isa, g.mr, g.nr, (long long)kc, (long long)mc,
		rt_pool_cores());
	/* row blocks: 2 (one group on 2 cores), 3 and 5 (a partial last group),
	   each with partial tiles, panels and K blocks */
	CgGemmSpec s;
	s = spec(2 * mc - 3, 2 * nr + 5, kc + 7, false, false, 0);
	pool_case(jm, &s, "two row blocks");
	s = spec(3 * mc + mr + 1, 3 * nr - 1, 2 * kc + 1, true, false, 3);
	pool_case(jm, &s, "three row blocks, ta");
	s = spec(5 * mc - 1, nr + 1, 3 * kc, false, true, 0);
	s.accumulate = true;
	pool_case(jm, &s, "five row blocks, tb, accumulate");
	s = spec(4 * mc + 2, 7 * nr + 3, kc - 1, true, true, 5);
	s.alpha = -0.5f;
	pool_case(jm, &s, "four row blocks, ta tb, alpha");
	s = spec(2 * mc + 5, 40, 2 * kc + 3, false, false, 0);
	s.bf16 = true;
	pool_case(jm, &s, "bf16, three row blocks");
	/* one row of tiles: only columns split; one column panel: only rows */
	s = spec(mr - 3, 9 * nr + 7, 2 * kc + 5, false, false, 2);
	pool_case(jm, &s, "one row of tiles");
	s = spec(3 * mc + 1, nr - 5, kc + 9, true, false, 1);
	pool_case(jm, &s, "one column panel");
	/* random products of up to six row blocks, sizes often at the edges
	   of the blocking */
	const int64_t me[] = { 1, mr + 1, mc - 1, mc, mc + 1, 2 * mc, 2 * mc + 1, 3 * mc - mr, 5 * mc + 3 };
	const int64_t ne[] = { 1, nr - 1, nr, nr + 1, 3 * nr + 2 };
	const int64_t ke[] = { 1, kc - 1, kc, kc + 1, 2 * kc + 1 };
	static const float alphas[] = { 1.0f, 1.0f, 0.5f, -1.5f };
	for (int i = 0; i < 12; i++) {
		s = random_spec(me, sizeof me / sizeof *me, ne, sizeof ne / sizeof *ne, ke, sizeof ke / sizeof *ke,
			6 * mc, 3 * kc, 120000000, alphas);
		pool_case(jm, &s, "random");
	}
	/* the GPT step's products (bench/gpt_step.sn: B*T = 1024, C = 256,
	   4C = 1024, 3C = 768): forward, data and weight gradients */
	static const int gpt[][5] = { { 1024, 768, 256, 0, 0 }, { 1024, 1024, 256, 0, 0 }, { 1024, 256, 1024, 0, 0 },
		{ 1024, 256, 1024, 0, 1 }, { 1024, 256, 256, 0, 1 }, { 256, 1024, 1024, 1, 0 }, { 1024, 256, 1024, 1, 0 },
		{ 256, 768, 1024, 1, 0 } };
	for (size_t i = 0; i < sizeof gpt / sizeof *gpt; i++) {
		s = spec(gpt[i][0], gpt[i][1], gpt[i][2], gpt[i][3], gpt[i][4], 0);
		pool_case(jm, &s, "gpt step");
	}
	test_split(mr, nr);
	cg_jit_free(jm);
	return nfail != 0;
}
