/*
 * test_epilogue.c — a fused kernel's members run on the tiles of its GEMM
 * head (codegen/epilogue.c): a bias with activations and a constant, a
 * residual add, dropout, column sums (a bias gradient, a sum over the middle
 * axis of a folded batch), optimizer steps after a weight gradient and after
 * a bias gradient (scalar inputs read at every point), after products on sinter's own GEMM with edge
 * tiles (M, N not multiples of the tile), two K blocks, several M blocks, a
 * transposed operand, a batch folded into the rows, and a product large
 * enough for the pool.
 *
 * For each region, after fusion, remat, schedule and memplan, with
 * --gemm=sinter: its kernel runs its epilogue on the GEMM's tiles
 * (CgGemmStats.epilogues), or none does for the kernels it must not take
 * (a row-wise softmax after the product, one GEMM per batch matrix,
 * --gemm=openblas); the JIT matches the interpreter (relative 1e-5: the
 * products' rounding differs); and with SINTER_GEMM_EPILOGUE=off (the walk
 * after the product) the results are the same bits, with 1 thread and
 * with 2.
 */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/unit/cgdiff.h"
#include "passes/pipeline.h"

#include <stdlib.h>

static const struct {
	const char *text;
	bool tiled; /* an epilogue on the GEMM's tiles is expected */
} cases[] = {
	/* edge tiles in M (37) and N (45); an output read before the activation */
	{ "region bias_tanh(3) {\n"
	  "  %0 = input 0 : f32[37,29]\n"
	  "  %1 = input 1 : f32[29,45]\n"
	  "  %2 = input 2 : f32[45]\n"
	  "  %3 = matmul %0, %1 {ta=0, tb=0} : f32[37,45]\n"
	  "  %4 = add %3, %2 : f32[37,45]\n"
	  "  %5 = const 0.01 : f32\n"
	  "  %6 = mul %4, %5 : f32[37,45]\n"
	  "  %7 = tanh %6 : f32[37,45]\n"
	  "  %8 = mul %7, %4 : f32[37,45]\n"
	  "  return %8, %4\n"
	  "}\n", true },
	/* a batch folded into the rows, K = 300 in two blocks, a residual */
	{ "region residual_relu(3) {\n"
	  "  %0 = input 0 : f32[3,40,300]\n"
	  "  %1 = input 1 : f32[300,50]\n"
	  "  %2 = input 2 : f32[3,40,50]\n"
	  "  %3 = matmul %0, %1 {ta=0, tb=0} : f32[3,40,50]\n"
	  "  %4 = const -150 : f32\n"
	  "  %5 = add %3, %4 : f32[3,40,50]\n"
	  "  %6 = add %5, %2 : f32[3,40,50]\n"
	  "  %7 = relu %6 : f32[3,40,50]\n"
	  "  return %7\n"
	  "}\n", true },
	/* a bias gradient: the column sum of the masked product, B transposed */
	{ "region bias_grad(3) {\n"
	  "  %0 = input 0 : f32[200,96]\n"
	  "  %1 = input 1 : f32[70,96]\n"
	  "  %2 = input 2 : f32[200,70]\n"
	  "  %3 = matmul %0, %1 {ta=0, tb=1} : f32[200,70]\n"
	  "  %4 = mul %3, %2 : f32[200,70]\n"
	  "  %5 = sum %4 {axes=[0], keep=0} : f32[70]\n"
	  "  return %4, %5\n"
	  "}\n", true },
	/* a sum over the middle axis of a folded batch: kept points (b, j) */
	{ "region mid_sum(2) {\n"
	  "  %0 = input 0 : f32[4,30,64]\n"
	  "  %1 = input 1 : f32[64,40]\n"
	  "  %2 = matmul %0, %1 {ta=0, tb=0} : f32[4,30,40]\n"
	  "  %3 = const 0.02 : f32\n"
	  "  %4 = mul %2, %3 : f32[4,30,40]\n"
	  "  %5 = sigmoid %4 : f32[4,30,40]\n"
	  "  %6 = sum %5 {axes=[1], keep=0} : f32[4,40]\n"
	  "  return %6\n"
	  "}\n", true },
	/* on the pool, several M blocks, dropout (indexed by the point) and a
	   kept-dims column sum */
	{ "region big(3) {\n"
	  "  %0 = input 0 : f32[1500,256]\n"
	  "  %1 = input 1 : f32[256,100]\n"
	  "  %2 = input 2 : f32[100]\n"
	  "  %3 = matmul %0, %1 {ta=0, tb=0} : f32[1500,100]\n"
	  "  %4 = add %3, %2 : f32[1500,100]\n"
	  "  %5 = dropout %4 {p=0.25, stream=3} : f32[1500,100]\n"
	  "  %6 = sum %5 {axes=[0], keep=1} : f32[1,100]\n"
	  "  return %5, %6\n"
	  "}\n", true },
	/* an optimizer update after a weight gradient (ta): scalar inputs (the
	   step sizes) read at every point, state written back */
	{ "region adam(6) {\n"
	  "  %0 = input 0 : f32[100,40]\n"
	  "  %1 = input 1 : f32[100,40]\n"
	  "  %2 = input 2 : f32[64,100]\n"
	  "  %3 = input 3 : f32[64,40]\n"
	  "  %4 = input 4 : f32\n"
	  "  %5 = input 5 : f32\n"
	  "  %6 = matmul %2, %3 {ta=1, tb=0} : f32[100,40]\n"
	  "  %7 = const 0.9 : f32\n"
	  "  %8 = const 0.1 : f32\n"
	  "  %9 = mul %7, %0 : f32[100,40]\n"
	  "  %10 = mul %8, %6 : f32[100,40]\n"
	  "  %11 = add %9, %10 : f32[100,40]\n"
	  "  %12 = mul %6, %6 : f32[100,40]\n"
	  "  %13 = add %1, %12 : f32[100,40]\n"
	  "  %14 = div %4, %5 : f32\n"
	  "  %15 = sqrt %13 : f32[100,40]\n"
	  "  %16 = div %11, %15 : f32[100,40]\n"
	  "  %17 = mul %14, %16 : f32[100,40]\n"
	  "  return %11, %13, %17\n"
	  "}\n", true },
	/* a bias gradient and the bias's SGD step after it: a scalar step size
	   read at every point by the walk after the product, and once per call
	   in the kernel (a load the tile must not take over) */
	{ "region bias_step(6) {\n"
	  "  %0 = input 0 : f32[64,48]\n"
	  "  %1 = input 1 : f32[48,32]\n"
	  "  %2 = input 2 : f32[32]\n"
	  "  %3 = input 3 : f32\n"
	  "  %4 = input 4 : f32\n"
	  "  %5 = input 5 : f32[64,32]\n"
	  "  %6 = matmul %0, %1 {ta=0, tb=0} : f32[64,32]\n"
	  "  %7 = mul %6, %5 : f32[64,32]\n"
	  "  %8 = add %7, %2 : f32[64,32]\n"
	  "  %9 = mul %8, %4 : f32[64,32]\n"
	  "  %10 = sum %9 {axes=[0], keep=0} : f32[32]\n"
	  "  %11 = mul %10, %3 : f32[32]\n"
	  "  %12 = mul %11, %4 : f32[32]\n"
	  "  %13 = sub %2, %12 : f32[32]\n"
	  "  return %9, %13\n"
	  "}\n", true },
	/* a softmax over the product's rows: its reductions need whole rows */
	{ "region softmax_rows(2) {\n"
	  "  %0 = input 0 : f32[33,40]\n"
	  "  %1 = input 1 : f32[40,64]\n"
	  "  %2 = matmul %0, %1 {ta=0, tb=0} : f32[33,64]\n"
	  "  %3 = const 0.05 : f32\n"
	  "  %4 = mul %2, %3 : f32[33,64]\n"
	  "  %5 = max %4 {axes=[1], keep=1} : f32[33,1]\n"
	  "  %6 = sub %4, %5 : f32[33,64]\n"
	  "  %7 = exp %6 : f32[33,64]\n"
	  "  %8 = sum %7 {axes=[1], keep=1} : f32[33,1]\n"
	  "  %9 = div %7, %8 : f32[33,64]\n"
	  "  return %9\n"
	  "}\n", false },
	/* one GEMM per batch matrix */
	{ "region per_batch(2) {\n"
	  "  %0 = input 0 : f32[3,40,48]\n"
	  "  %1 = input 1 : f32[3,48,64]\n"
	  "  %2 = matmul %0, %1 {ta=0, tb=0} : f32[3,40,64]\n"
	  "  %3 = tanh %2 : f32[3,40,64]\n"
	  "  return %3\n"
	  "}\n", false },
};
enum { NCASE = sizeof cases / sizeof *cases };

/* Kernels of r whose epilogue runs on its GEMM's tiles, compiled now, or -1. */
static int epilogues(const Region *r)
{
	char err[512];
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	return cr ? cr->gemm.epilogues : -1;
}

/* Outputs of r compiled now (the current configuration and environment) on
   in, with `threads` threads, into out. */
static bool run_jit(const Region *r, Tensor *in, const Mem *mem, int threads, Tensor *out, char *err, size_t len)
{
	CgRegion *cr = cg_compile(jit, r, err, len);
	if (!cr)
		return false;
	Mem *m = mem_clone(mem);
	Tensor **ptr = xcalloc((size_t)r->ninput + 1, sizeof *ptr);
	for (int i = 0; i < r->ninput; i++)
		ptr[i] = &in[i];
	Store s = store_of(m, 42, 3);
	rt_pool_init(threads);
	host_run_compiled(cr, &s, ptr, out);
	rt_pool_init(1);
	mem_free(m);
	free(ptr);
	return true;
}

static void test_case(int c)
{
	Arena *a = arena_new();
	Region **rs;
	char err[512], name[160];
	if (ir_parse(a, cases[c].text, "test", &rs, err, sizeof err) != 1)
		die("test: %s", err);
	Region *r = rs[0];
	PipeOpts o = { .only = "fusion,remat,schedule,memplan", .out = stdout };
	if (!pipeline_run(r, &o, err, sizeof err))
		die("test: %s", err);
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_SINTER });
	int ne = epilogues(r);
	snprintf(name, sizeof name, "%s_%s", r->name, cases[c].tiled ? "epilogue_on_tiles" : "no_tile_epilogue");
	check(cases[c].tiled ? ne == 1 : ne == 0, name, "%d kernels with epilogues on the tiles", ne);

	Tensor *in = region_inputs(r, 9);
	Mem *mem = xcalloc(1, sizeof *mem);
	snprintf(name, sizeof name, "%s_jit_matches_interp", r->name);
	diff_run(name, r, in, r->ninput, mem, 1e-5);

	/* the same bits as the walk after the product, on 1 and 2 threads */
	Tensor *on1 = xcalloc((size_t)r->nout, sizeof *on1), *on2 = xcalloc((size_t)r->nout, sizeof *on2);
	Tensor *off = xcalloc((size_t)r->nout, sizeof *off);
	snprintf(name, sizeof name, "%s_same_bits_as_walk_after", r->name);
	bool ok = run_jit(r, in, mem, 1, on1, err, sizeof err) && run_jit(r, in, mem, 2, on2, err, sizeof err);
	setenv("SINTER_GEMM_EPILOGUE", "off", 1);
	ok = ok && run_jit(r, in, mem, 1, off, err, sizeof err);
	int ne_off = epilogues(r);
	unsetenv("SINTER_GEMM_EPILOGUE");
	if (ok) {
		char msg[200] = "";
		double x = 0, y = 0;
		for (int k = 0; k < r->nout && !*msg; k++) {
			int64_t i = differ(&on1[k], &off[k], 0, &x, &y), j = differ(&on2[k], &off[k], 0, &x, &y);
			if (i >= 0 || j >= 0)
				snprintf(msg, sizeof msg, "output %d element %lld (%s): %.9g, off %.9g", k,
					(long long)(i >= 0 ? i : j), i >= 0 ? "1 thread" : "2 threads", x, y);
		}
		check(!*msg && ne_off == 0, name, "%s%s", msg, ne_off ? " (epilogues with SINTER_GEMM_EPILOGUE=off)" : "");
		for (int k = 0; k < r->nout; k++) {
			free(on1[k].data);
			free(on2[k].data);
			free(off[k].data);
		}
	} else {
		check(false, name, "cg_compile: %s", err);
	}
	free(on1);
	free(on2);
	free(off);

	/* OpenBLAS's products take no epilogue */
	if (cases[c].tiled) {
		cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_OPENBLAS });
		ne = epilogues(r);
		snprintf(name, sizeof name, "%s_openblas_no_tile_epilogue", r->name);
		check(ne == 0, name, "%d kernels with epilogues on the tiles", ne);
	}
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO });
	inputs_free(in, r->ninput);
	free(mem);
	arena_free(a);
}

static void test_epilogues(void)
{
	for (int c = 0; c < NCASE; c++)
		test_case(c);
}

int main(void)
{
	return jit_run((const CheckTest[]){ test_epilogues, NULL });
}
