/*
 * test_matmul.c — the matrix products of regions through sinter's own
 * GEMM (codegen/gemm.c, emitted into the region's module by
 * codegen/matmul.c) against the interpreter's OpenBLAS products: plain and
 * transposed operands, batches with broadcast batch axes, a batch folded
 * into the rows, attention's batched shapes, empty products and K = 0,
 * products large enough for the thread pool, all in one region so that
 * they share its one workspace.  The two may differ by rounding only:
 * every element within 2 (K + 2) u sum_k |a b| (u = 2^-24, the bound of
 * each product's error), sum_k |a b| being the interpreter's product of
 * |A| and |B|.  Also: --gemm=openblas computes exactly what the
 * interpreter computes, CgRegion.gemm counts the products by kernel, the
 * LLVM text holds the GEMM function or the call of OpenBLAS (rt_sgemm), and auto's
 * rule picks as documented on the shapes it was measured on.
 */
#include "tests/unit/cgdiff.h"

static const struct {
	const char *a, *b;
	int ta, tb;
} cases[] = {
	{ "7,33", "33,5", 0, 0 }, { "33,7", "33,5", 1, 0 }, { "7,33", "5,33", 0, 1 }, { "33,7", "5,33", 1, 1 },
	{ "1,1", "1,1", 0, 0 }, { "37,29", "29,45", 0, 0 }, { "29,37", "45,29", 1, 1 },
	/* batches: folded into rows, one GEMM per matrix, broadcast on either side */
	{ "3,4,5", "5,6", 0, 0 }, { "8,16,32", "32,100", 0, 0 }, { "3,4,5", "3,5,6", 0, 0 }, { "3,5,4", "5,6", 1, 0 },
	{ "2,1,4,5", "3,5,6", 0, 0 }, { "4,5", "3,5,6", 0, 0 }, { "2,3,4,5", "2,3,6,5", 0, 1 },
	/* attention's products per (batch, head): q k^T and p v */
	{ "2,3,128,64", "2,3,128,64", 0, 1 }, { "2,3,128,128", "2,3,128,64", 0, 0 },
	/* on the thread pool: at least 2^22 multiply-adds */
	{ "128,784", "784,256", 0, 0 }, { "300,256", "300,1000", 1, 0 }, { "200,300", "333,300", 0, 1 },
	/* nothing to multiply: zeros, and an empty result */
	{ "4,0", "0,3", 0, 0 }, { "0,5", "5,3", 0, 0 },
};
enum { NCASE = sizeof cases / sizeof *cases };

/* One region holding every case twice: A B, and |A| |B| (the bound). */
static Region *cases_region(Tensor *in)
{
	Region *r = region();
	for (int c = 0; c < NCASE; c++) {
		in[2 * c] = trand(tp(DT_F32, cases[c].a), -1, 1);
		in[2 * c + 1] = trand(tp(DT_F32, cases[c].b), -1, 1);
		int a = ir_input(r, 2 * c, in[2 * c].type), b = ir_input(r, 2 * c + 1, in[2 * c + 1].type);
		Node mm = attrs(OP_MATMUL, 2, cases[c].ta, cases[c].tb);
		ir_output(r, emit(r, mm, (int[]){ a, b }, 2));
		int pa = emit(r, ir_proto(OP_ABS), &a, 1), pb = emit(r, ir_proto(OP_ABS), &b, 1);
		ir_output(r, emit(r, mm, (int[]){ pa, pb }, 2));
	}
	return r;
}

static int64_t case_k(int c)
{
	Type t = tp(DT_F32, cases[c].a);
	return t.dim[t.rank - 1 - cases[c].ta];
}

/* Products that need a GEMM (K > 0, a result not empty): two per case. */
static int gemm_products(void)
{
	int n = 0;
	for (int c = 0; c < NCASE; c++) {
		Type a = tp(DT_F32, cases[c].a);
		n += 2 * (case_k(c) > 0 && type_numel(&a) > 0);
	}
	return n;
}

/* Compiles r under choice, runs it and the interpreter; for each case,
   the first element outside the bound (exact: bitwise) names the FAIL. */
static void compare(Region *r, Tensor *in, CgGemmChoice choice, bool exact)
{
	const char *kind = choice == CG_GEMM_SINTER ? "sinter" : "openblas";
	cg_gemm_configure(&(CgGemmConfig){ .choice = choice });
	char err[512], name[128];
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	if (!check(cr != NULL, "compile", "%s", err))
		return;
	int own = choice == CG_GEMM_SINTER ? gemm_products() : 0;
	check(cr->gemm.products[0] == own && cr->gemm.products[1] == gemm_products() - own, kind,
		"products: %d on sinter's kernel, %d on OpenBLAS; want %d and %d", cr->gemm.products[0],
		cr->gemm.products[1], own, gemm_products() - own);
	Tensor *ptr[2 * NCASE], o1[2 * NCASE], o2[2 * NCASE];
	for (int i = 0; i < 2 * NCASE; i++)
		ptr[i] = &in[i];
	Mem mem = { .n = 0 };
	Store s1 = store_of(&mem, 1, 1), s2 = store_of(&mem, 1, 1);
	interp_run(r, &s1, ptr, o1);
	host_run_compiled(cr, &s2, ptr, o2);
	for (int c = 0; c < NCASE; c++) {
		const float *x = o2[2 * c].data, *y = o1[2 * c].data, *bound = o1[2 * c + 1].data;
		int64_t n = type_numel(&o1[2 * c].type), bad = -1;
		double tol = exact ? 0 : 2.0 * (double)(case_k(c) + 2) * 0x1p-24;
		for (int64_t i = 0; i < n && bad < 0; i++)
			if (!(fabs((double)x[i] - y[i]) <= tol * bound[i]) || (exact && memcmp(&x[i], &y[i], 4)))
				bad = i;
		snprintf(name, sizeof name, "%s_matmul_[%s]%s_[%s]%s", kind, cases[c].a, cases[c].ta ? "T" : "",
			cases[c].b, cases[c].tb ? "T" : "");
		check(bad < 0 && type_eq(&o1[2 * c].type, &o2[2 * c].type), name, "element %lld: jit %.9g, interp %.9g, bound %.3g",
			(long long)bad, bad >= 0 ? x[bad] : 0, bad >= 0 ? y[bad] : 0, bad >= 0 ? tol * bound[bad] : 0);
	}
	for (int i = 0; i < 2 * NCASE; i++) {
		free(o1[i].data);
		free(o2[i].data);
	}
	char *ll = cg_llvm_text(r, err, sizeof err);
	bool has_own = ll && strstr(ll, "sinter_gemm_"), has_blas = ll && strstr(ll, "call void @rt_sgemm(");
	check(ll && has_own == (choice == CG_GEMM_SINTER) && has_blas == (choice != CG_GEMM_SINTER), kind,
		"LLVM text: %s a sinter_gemm_ function, %s rt_sgemm%s%s", has_own ? "has" : "no",
		has_blas ? "calls" : "no", ll ? "" : ": ", ll ? "" : err);
	free(ll);
}

static void test_cases(void)
{
	Tensor in[2 * NCASE];
	Region *r = cases_region(in);
	compare(r, in, CG_GEMM_SINTER, false);
	compare(r, in, CG_GEMM_OPENBLAS, true);
	for (int i = 0; i < 2 * NCASE; i++)
		free(in[i].data);
	arena_free(r->arena);
}

/* auto on products of the mlp_l step: sinter's kernel for 256x1024x784
   on an AVX-512 CPU whose OpenBLAS runs other kernels; OpenBLAS for
   N = 10, K = 10 and M = 4 (tiles under 3/4 full: half of the 8 x 48
   tile M = 4 takes, cg_gemm_tile), and for everything
   when OpenBLAS has its AVX-512 kernels or the CPU lacks AVX-512. */
static void test_auto(void)
{
	static const struct {
		const char *a, *b;
		int tb;
	} shapes[] = { { "256,784", "784,1024", 0 }, { "256,1024", "1024,10", 0 }, { "256,10", "1024,10", 1 },
		{ "4,512", "512,512", 0 } };
	Region *r = region();
	for (int i = 0; i < 4; i++) {
		int a = ir_input(r, 2 * i, tp(DT_F32, shapes[i].a)), b = ir_input(r, 2 * i + 1, tp(DT_F32, shapes[i].b));
		ir_output(r, emit(r, attrs(OP_MATMUL, 2, 0, shapes[i].tb), (int[]){ a, b }, 2));
	}
	/* the host's ISA, as sinter's GEMM compiles for it */
	CgGemm one;
	char err[512], name[64];
	CgGemmSpec s1 = { .m = 1, .n = 1, .k = 1, .lda = 1, .ldb = 1, .ldc = 1, .alpha = 1 };
	if (!check(cg_gemm_compile(jit, &s1, &one, err, sizeof err), "auto_host_isa", "%s", err))
		return;
	bool avx512 = !strcmp(one.isa, "avx512");
	for (int blas512 = 0; blas512 < 2; blas512++) {
		cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO, .blas_avx512 = blas512 });
		CgRegion *cr = cg_compile(jit, r, err, sizeof err);
		int own = avx512 && !blas512;
		snprintf(name, sizeof name, "auto_rule_%s", blas512 ? "openblas_avx512" : "openblas_other");
		check(cr && cr->gemm.products[0] == own && cr->gemm.products[1] == 4 - own && cr->gemm.calls[0] == own,
			name, "%s: %d products on sinter's kernel, %d on OpenBLAS; want %d and %d (host ISA %s)",
			cr ? "" : err, cr ? cr->gemm.products[0] : -1, cr ? cr->gemm.products[1] : -1, own, 4 - own,
			one.isa);
	}
	/* a convolution's products follow the rule whoever runs OpenBLAS's
	   kernels: sinter's with AVX-512 for a 3x3 forward of 32 channels,
	   one read in place too */
	CgGemmSpec conv = { .m = 32, .n = 196, .k = 144, .lda = 144, .ldb = 196, .ldc = 196, .alpha = 1 };
	char why[160];
	for (int blas512 = 0; blas512 < 2; blas512++) {
		cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO, .blas_avx512 = blas512 });
		bool y = cg_gemm_choose(&conv, CG_GEMM_FOR_CONV_Y, why, sizeof why);
		bool mm = cg_gemm_choose(&conv, CG_GEMM_FOR_MATMUL, why, sizeof why);
		snprintf(name, sizeof name, "auto_rule_conv_%s", blas512 ? "openblas_avx512" : "openblas_other");
		check(y == avx512 && mm == (avx512 && !blas512), name,
			"32x196x144: a convolution's forward on %s, a matrix product on %s (host ISA %s)",
			y ? "sinter's kernel" : "OpenBLAS", mm ? "sinter's kernel" : "OpenBLAS", one.isa);
	}
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO });
	arena_free(r->arena);
}

int main(void)
{
	return jit_run((const CheckTest[]){ test_cases, test_auto, NULL });
}
