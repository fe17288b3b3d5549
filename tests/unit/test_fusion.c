/*
 * test_fusion.c — the fusion pass and the code of fused kernels.
 *
 * Structure: on small regions (softmax, cross-entropy, layer norm forward
 * and backward, an Adam update, GEMM epilogues, cases that must not fuse)
 * and on the MLP training step, how many kernels fusion makes, that every
 * kernel is one loop nest (kernel_space), contiguous after schedule, that
 * values used only inside a kernel get no arena bytes, and that fusion cuts
 * the bytes a step moves (kernel_traffic).  Kernel counts are the design's
 * targets ("a few kernels each, not one per op"), not recorded outputs.
 *
 * Results: every region, and special cases of the code generator (row and
 * column walks, several passes over a row, row buffers, integer and bool
 * members, keepdims and reshapes between the two forms of a reduced value,
 * dropout, batched GEMM heads, in-place results, unit axes, scalars), runs
 * fused through the JIT and through the reference interpreter, which
 * ignores kernels: results must agree to a relative 1e-5.  So do 200
 * random regions of fusible and unfusible ops (random_region).
 */
/* the kit's helpers for building regions by hand go unused here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tests/unit/cgdiff.h"
#include "kernel/kernel.h"
#include "passes/pipeline.h"

static const char *const SOFTMAX =
	"region softmax(1) {\n"
	"  %0 = input 0 : f32[64,10]\n"
	"  %1 = max %0 {axes=[1], keep=1} : f32[64,1]\n"
	"  %2 = sub %0, %1 : f32[64,10]\n"
	"  %3 = exp %2 : f32[64,10]\n"
	"  %4 = sum %3 {axes=[1], keep=1} : f32[64,1]\n"
	"  %5 = div %3, %4 : f32[64,10]\n"
	"  return %5\n"
	"}\n";

/* forward and backward of softmax cross-entropy against labels */
static const char *const XENT =
	"region xent(2) {\n"
	"  %0 = input 0 : f32[64,10]\n"
	"  %1 = input 1 : i32[64]\n"
	"  %2 = max %0 {axes=[1], keep=1} : f32[64,1]\n"
	"  %3 = sub %0, %2 : f32[64,10]\n"
	"  %4 = exp %3 : f32[64,10]\n"
	"  %5 = sum %4 {axes=[1], keep=1} : f32[64,1]\n"
	"  %6 = log %5 : f32[64,1]\n"
	"  %7 = sub %3, %6 : f32[64,10]\n"
	"  %8 = one_hot %1 : f32[64,10]\n"
	"  %9 = mul %7, %8 : f32[64,10]\n"
	"  %10 = sum %9 {axes=[1], keep=0} : f32[64]\n"
	"  %11 = sum %10 {axes=[0], keep=0} : f32\n"
	"  %12 = const -0.015625 : f32\n"
	"  %13 = mul %11, %12 : f32\n"
	"  %14 = const 0.015625 : f32\n"
	"  %15 = div %4, %5 : f32[64,10]\n"
	"  %16 = sub %15, %8 : f32[64,10]\n"
	"  %17 = mul %16, %14 : f32[64,10]\n"
	"  return %13, %17\n"
	"}\n";

/* layer norm forward, and backward with respect to the input, weight and bias */
static const char *const LAYERNORM =
	"region layernorm(4) {\n"
	"  %0 = input 0 : f32[8,16,32]\n"
	"  %1 = input 1 : f32[32]\n"
	"  %2 = input 2 : f32[32]\n"
	"  %3 = input 3 : f32[8,16,32]\n"
	"  %4 = sum %0 {axes=[2], keep=1} : f32[8,16,1]\n"
	"  %5 = const 0.03125 : f32\n"
	"  %6 = mul %4, %5 : f32[8,16,1]\n"
	"  %7 = sub %0, %6 : f32[8,16,32]\n"
	"  %8 = mul %7, %7 : f32[8,16,32]\n"
	"  %9 = sum %8 {axes=[2], keep=1} : f32[8,16,1]\n"
	"  %10 = mul %9, %5 : f32[8,16,1]\n"
	"  %11 = const 1e-05 : f32\n"
	"  %12 = add %10, %11 : f32[8,16,1]\n"
	"  %13 = rsqrt %12 : f32[8,16,1]\n"
	"  %14 = mul %7, %13 : f32[8,16,32]\n"
	"  %15 = mul %14, %1 : f32[8,16,32]\n"
	"  %16 = add %15, %2 : f32[8,16,32]\n"
	"  %17 = mul %3, %1 : f32[8,16,32]\n"
	"  %18 = mul %17, %13 : f32[8,16,32]\n"
	"  %19 = mul %17, %7 : f32[8,16,32]\n"
	"  %20 = sum %19 {axes=[2], keep=1} : f32[8,16,1]\n"
	"  %21 = mul %13, %13 : f32[8,16,1]\n"
	"  %22 = mul %13, %21 : f32[8,16,1]\n"
	"  %23 = const -0.5 : f32\n"
	"  %24 = mul %23, %22 : f32[8,16,1]\n"
	"  %25 = mul %20, %24 : f32[8,16,1]\n"
	"  %26 = mul %25, %5 : f32[8,16,1]\n"
	"  %27 = broadcast %26 : f32[8,16,32]\n"
	"  %28 = mul %27, %7 : f32[8,16,32]\n"
	"  %29 = add %18, %28 : f32[8,16,32]\n"
	"  %30 = add %29, %28 : f32[8,16,32]\n"
	"  %31 = neg %30 : f32[8,16,32]\n"
	"  %32 = sum %31 {axes=[2], keep=1} : f32[8,16,1]\n"
	"  %33 = mul %32, %5 : f32[8,16,1]\n"
	"  %34 = broadcast %33 : f32[8,16,32]\n"
	"  %35 = add %30, %34 : f32[8,16,32]\n"
	"  %36 = mul %3, %14 : f32[8,16,32]\n"
	"  %37 = sum %36 {axes=[0, 1], keep=0} : f32[32]\n"
	"  %38 = sum %3 {axes=[0, 1], keep=0} : f32[32]\n"
	"  return %16, %35, %37, %38\n"
	"}\n";

/* Adam without bias correction: the gradient GEMM and the update */
static const char *const ADAM =
	"region adam(6) {\n"
	"  %0 = param \"w\" : f32[100,40]\n"
	"  %1 = state \"w\" \"m\" : f32[100,40]\n"
	"  %2 = state \"w\" \"v\" : f32[100,40]\n"
	"  %3 = input 0 : f32[32,100]\n"
	"  %4 = input 1 : f32[32,40]\n"
	"  %5 = matmul %3, %4 {ta=1, tb=0} : f32[100,40]\n"
	"  %6 = input 2 : f32\n"
	"  %7 = input 3 : f32\n"
	"  %8 = input 4 : f32\n"
	"  %9 = input 5 : f32\n"
	"  %10 = const 0.9 : f32\n"
	"  %11 = const 0.1 : f32\n"
	"  %12 = mul %10, %1 : f32[100,40]\n"
	"  %13 = mul %11, %5 : f32[100,40]\n"
	"  %14 = add %12, %13 : f32[100,40]\n"
	"  %15 = const 0.999 : f32\n"
	"  %16 = const 0.001 : f32\n"
	"  %17 = mul %15, %2 : f32[100,40]\n"
	"  %18 = mul %5, %5 : f32[100,40]\n"
	"  %19 = mul %16, %18 : f32[100,40]\n"
	"  %20 = add %17, %19 : f32[100,40]\n"
	"  %21 = div %14, %6 : f32[100,40]\n"
	"  %22 = div %20, %7 : f32[100,40]\n"
	"  %23 = sqrt %22 : f32[100,40]\n"
	"  %24 = add %23, %9 : f32[100,40]\n"
	"  %25 = div %21, %24 : f32[100,40]\n"
	"  %26 = mul %8, %25 : f32[100,40]\n"
	"  %27 = sub %0, %26 : f32[100,40]\n"
	"  write %0, %27\n"
	"  write %1, %14\n"
	"  write %2, %20\n"
	"  return %0\n"
	"}\n";

/* a dense layer: GEMM, bias, ReLU and the mask its gradient needs */
static const char *const DENSE =
	"region dense(1) {\n"
	"  %0 = input 0 : f32[33,70]\n"
	"  %1 = param \"w\" : f32[70,20]\n"
	"  %2 = param \"b\" : f32[20]\n"
	"  %3 = matmul %0, %1 {ta=0, tb=0} : f32[33,20]\n"
	"  %4 = add %3, %2 : f32[33,20]\n"
	"  %5 = relu %4 : f32[33,20]\n"
	"  %6 = const 0 : f32\n"
	"  %7 = gt %4, %6 : bool[33,20]\n"
	"  return %5, %7\n"
	"}\n";

/* what must not fuse (see tests/lit/fusion_nofuse.ir) */
static const char *const NOFUSE =
	"region nofuse(3) {\n"
	"  %0 = input 0 : f32[64,10]\n"
	"  %1 = input 1 : f32[10]\n"
	"  %2 = exp %1 : f32[10]\n"
	"  %3 = add %0, %2 : f32[64,10]\n"
	"  %4 = transpose %3 {perm=[1, 0]} : f32[10,64]\n"
	"  %5 = neg %4 : f32[10,64]\n"
	"  %6 = sum %3 {axes=[1], keep=0} : f32[64]\n"
	"  %7 = sum %3 {axes=[0], keep=0} : f32[10]\n"
	"  %8 = sum %0 {axes=[0], keep=1} : f32[1,10]\n"
	"  %9 = sub %0, %8 : f32[64,10]\n"
	"  %10 = reshape %0 : f32[640]\n"
	"  %11 = tanh %4 : f32[10,64]\n"
	"  %12 = transpose %11 {perm=[1, 0]} : f32[64,10]\n"
	"  %13 = mul %3, %12 : f32[64,10]\n"
	"  %14 = input 2 : f32[10,64]\n"
	"  %15 = matmul %14, %13 {ta=0, tb=0} : f32[10,10]\n"
	"  %16 = sigmoid %13 : f32[64,10]\n"
	"  return %5, %6, %7, %9, %10, %15, %16\n"
	"}\n";

/* Code generator corners, one region each. */
static const char *const CORNERS =
	/* a column walk large enough for the pool (2^17 points): blocks of its
	   256 kept columns run in parallel, with a bias gradient, a max and
	   an elementwise result stored on the way */
	"region columns(2) {\n"
	"  %0 = input 0 : f32[4,128,256]\n"
	"  %1 = input 1 : f32[4,128,256]\n"
	"  %2 = tanh %0 : f32[4,128,256]\n"
	"  %3 = mul %2, %1 : f32[4,128,256]\n"
	"  %4 = sum %3 {axes=[0, 1], keep=0} : f32[256]\n"
	"  %5 = max %1 {axes=[0, 1], keep=0} : f32[256]\n"
	"  %6 = add %4, %5 : f32[256]\n"
	"  return %6, %3\n"
	"}\n"
	/* BatchNorm's sums over the images and pixels of 12 channels (a kept
	   loop too narrow for blocks of columns): the walk in 8 blocks of
	   images, each into accumulators of its own, added up afterwards;
	   a MAX, an integer SUM and an elementwise result on the way */
	"region channels(2) {\n"
	"  %0 = input 0 : f32[16,12,30,30]\n"
	"  %1 = input 1 : f32[16,12,30,30]\n"
	"  %2 = mul %0, %1 : f32[16,12,30,30]\n"
	"  %3 = sum %2 {axes=[0, 2, 3], keep=0} : f32[12]\n"
	"  %4 = max %1 {axes=[0, 2, 3], keep=0} : f32[12]\n"
	"  %5 = const 0 : f32\n"
	"  %6 = gt %0, %5 : bool[16,12,30,30]\n"
	"  %7 = cast %6 : i32[16,12,30,30]\n"
	"  %8 = sum %7 {axes=[0, 2, 3], keep=0} : i32[12]\n"
	"  %9 = cast %8 : f32[12]\n"
	"  %10 = add %3, %4 : f32[12]\n"
	"  %11 = add %10, %9 : f32[12]\n"
	"  %12 = relu %2 : f32[16,12,30,30]\n"
	"  return %11, %12\n"
	"}\n"
	/* 6 images: 2 blocks of 3 (8 and 4 do not divide 6) */
	"region channels6(1) {\n"
	"  %0 = input 0 : f32[6,10,48,48]\n"
	"  %1 = sum %0 {axes=[0, 2, 3], keep=0} : f32[10]\n"
	"  %2 = min %0 {axes=[0, 2, 3], keep=0} : f32[10]\n"
	"  %3 = add %1, %2 : f32[10]\n"
	"  return %3\n"
	"}\n"
	/* 5 images: no blocks, one walk */
	"region channels5(1) {\n"
	"  %0 = input 0 : f32[5,8,60,60]\n"
	"  %1 = sum %0 {axes=[0, 2, 3], keep=0} : f32[8]\n"
	"  return %1\n"
	"}\n"
	/* integer and bool members, a column walk with MIN and integer SUM */
	"region ints(2) {\n"
	"  %0 = input 0 : i32[6,7]\n"
	"  %1 = input 1 : f32[6,7]\n"
	"  %2 = const 0.5 : f32\n"
	"  %3 = gt %1, %2 : bool[6,7]\n"
	"  %4 = cast %3 : i32[6,7]\n"
	"  %5 = mul %4, %0 : i32[6,7]\n"
	"  %6 = sum %5 {axes=[0], keep=0} : i32[7]\n"
	"  %7 = min %1 {axes=[0], keep=0} : f32[7]\n"
	"  %8 = cast %6 : f32[7]\n"
	"  %9 = add %8, %7 : f32[7]\n"
	"  %10 = where %3, %1, %2 : f32[6,7]\n"
	"  %11 = max %0 {axes=[1], keep=1} : i32[6,1]\n"
	"  %12 = sub %0, %11 : i32[6,7]\n"
	"  return %9, %10, %12\n"
	"}\n"
	/* a reduction over a middle axis and one over the first and last */
	"region middle(1) {\n"
	"  %0 = input 0 : f32[4,5,6]\n"
	"  %1 = exp %0 : f32[4,5,6]\n"
	"  %2 = sum %1 {axes=[1], keep=1} : f32[4,1,6]\n"
	"  %3 = log %2 : f32[4,1,6]\n"
	"  %4 = neg %0 : f32[4,5,6]\n"
	"  %5 = max %4 {axes=[0, 2], keep=0} : f32[5]\n"
	"  %6 = sqrt %5 : f32[5]\n"
	"  return %3, %6\n"
	"}\n"
	/* keepdims and not, a reshape between the two forms, scalars, unit axes */
	"region forms(2) {\n"
	"  %0 = input 0 : f32[9,1,13]\n"
	"  %1 = input 1 : f32\n"
	"  %2 = mul %0, %1 : f32[9,1,13]\n"
	"  %3 = sum %2 {axes=[2], keep=1} : f32[9,1,1]\n"
	"  %4 = reshape %3 : f32[9,1]\n"
	"  %5 = sum %2 {axes=[2], keep=0} : f32[9,1]\n"
	"  %6 = add %4, %5 : f32[9,1]\n"
	"  %7 = broadcast %3 : f32[9,1,13]\n"
	"  %8 = div %2, %7 : f32[9,1,13]\n"
	"  %9 = sum %8 {axes=[0, 1, 2], keep=0} : f32\n"
	"  %10 = exp %9 : f32\n"
	"  return %6, %8, %10\n"
	"}\n"
	/* dropout inside a kernel, a batched GEMM head with transposed operands */
	"region batched(2) {\n"
	"  %0 = input 0 : f32[3,16,8]\n"
	"  %1 = input 1 : f32[12,16]\n"
	"  %2 = matmul %0, %1 {ta=1, tb=1} : f32[3,8,12]\n"
	"  %3 = tanh %2 : f32[3,8,12]\n"
	"  %4 = dropout %3 {p=0.25, stream=3} : f32[3,8,12]\n"
	"  %5 = sum %4 {axes=[2], keep=1} : f32[3,8,1]\n"
	"  %6 = sub %4, %5 : f32[3,8,12]\n"
	"  %7 = mul %6, %6 : f32[3,8,12]\n"
	"  return %7\n"
	"}\n"
	/* a square row sum read back along the other axis: not at its own points */
	"region crossed(1) {\n"
	"  %0 = input 0 : f32[6,6]\n"
	"  %1 = sum %0 {axes=[1], keep=0} : f32[6]\n"
	"  %2 = add %0, %1 : f32[6,6]\n"
	"  %3 = broadcast %1 : f32[6,6]\n"
	"  %4 = mul %2, %3 : f32[6,6]\n"
	"  return %4\n"
	"}\n"
	/* %6 must not join %2's kernel: that kernel feeds %5's, which feeds
	   %6 through %4, and kernels run as units (found by random_region) */
	"region cycle(2) {\n"
	"  %0 = input 0 : f32[6,7]\n"
	"  %1 = input 1 : f32[1,7]\n"
	"  %2 = sin %1 : f32[1,7]\n"
	"  %3 = exp %0 : f32[6,7]\n"
	"  %4 = max %3 {axes=[0, 1], keep=0} : f32\n"
	"  %5 = maximum %2, %3 : f32[6,7]\n"
	"  %6 = add %2, %4 : f32[1,7]\n"
	"  return %5, %6\n"
	"}\n"
	/* %4 may not take the GEMM's buffer: %5 reads it later, and the
	   interpreter, which runs the same plan, goes node by node */
	"region late(3) {\n"
	"  %0 = input 0 : f32[6,6]\n"
	"  %1 = input 1 : f32[6,7]\n"
	"  %2 = input 2 : f32[6,1]\n"
	"  %3 = matmul %0, %1 {ta=0, tb=0} : f32[6,7]\n"
	"  %4 = tanh %3 : f32[6,7]\n"
	"  %5 = add %3, %2 : f32[6,7]\n"
	"  %6 = transpose %4 {perm=[1, 0]} : f32[7,6]\n"
	"  return %6, %5\n"
	"}\n"
	/* values computed in place over dying operands, read back at once */
	"region inplace(2) {\n"
	"  %0 = input 0 : f32[1000]\n"
	"  %1 = input 1 : f32[1000]\n"
	"  %2 = mul %0, %1 : f32[1000]\n"
	"  %3 = exp %2 : f32[1000]\n"
	"  %4 = add %3, %1 : f32[1000]\n"
	"  %5 = neg %4 : f32[1000]\n"
	"  %6 = sub %5, %3 : f32[1000]\n"
	"  %7 = transpose %6 {perm=[0]} : f32[1000]\n"
	"  %8 = sin %7 : f32[1000]\n"
	"  %9 = mul %8, %6 : f32[1000]\n"
	"  return %9\n"
	"}\n";

static Region **parse_all(Arena *a, const char *text, int *n)
{
	Region **rs;
	char err[512];
	*n = ir_parse(a, text, "test", &rs, err, sizeof err);
	if (*n < 0)
		die("test: %s", err);
	return rs;
}

static int kernels(const Region *r)
{
	int nk = 0;
	for (int v = 0; v < r->nnode; v++)
		nk = r->node[v].group + 1 > nk ? r->node[v].group + 1 : nk;
	return nk;
}

static void run_passes(Region *r, const char *passes)
{
	char err[256];
	PipeOpts o = { .only = passes, .out = stdout };
	if (!pipeline_run(r, &o, err, sizeof err))
		die("test: %s", err);
}

/* Every kernel is legal, contiguous, and (after memplan) only materialized values have bytes. */
static void check_kernels(const char *name, const Region *r, bool planned)
{
	char what[300] = "";
	int nk = kernels(r);
	bool *internal = xmalloc(((size_t)r->nnode + 1) * sizeof *internal);
	bool *through = xmalloc(((size_t)r->nnode + 1) * sizeof *through);
	kernel_internal(r, internal);
	kernel_through(r, through);
	int *mem = xmalloc(((size_t)r->nnode + 1) * sizeof *mem);
	for (int k = 0; k < nk && !*what; k++) {
		int n = kernel_members(r, k, mem);
		KernelSpace s;
		if (n == 0)
			snprintf(what, sizeof what, "kernel k%d is empty", k);
		else if (!kernel_space(r, mem, n, &s, NULL))
			snprintf(what, sizeof what, "kernel k%d is not one loop nest", k);
		else if (mem[n - 1] - mem[0] != n - 1)
			snprintf(what, sizeof what, "kernel k%d is not contiguous", k);
	}
	for (int v = 0; v < r->nnode && !*what && planned; v++) {
		const Node *nd = &r->node[v];
		bool arena = nd->op != OP_INPUT && nd->op != OP_PARAM && nd->op != OP_STATE && nd->op != OP_WRITE;
		if ((internal[v] || through[v]) && nd->offset >= 0)
			snprintf(what, sizeof what, "%%%d lives inside its kernel or its slot but has arena bytes", v);
		if (!internal[v] && !through[v] && arena && nd->offset < 0)
			snprintf(what, sizeof what, "%%%d leaves its kernel but has no arena bytes", v);
	}
	check(!*what, name, "%s", what);
	free(mem);
	free(internal);
	free(through);
}

/* ---- structure ---- */

static void test_structure(void)
{
	static const struct {
		const char *name, *text;
		int max_kernels; /* per region: the design's target */
	} cases[] = {
		{ "softmax_is_one_kernel", SOFTMAX, 1 },
		{ "cross_entropy_fwd_bwd_is_two_kernels", XENT, 2 },
		{ "layernorm_fwd_bwd_is_three_kernels", LAYERNORM, 3 },
		{ "adam_update_is_one_kernel", ADAM, 1 },
		{ "dense_epilogue_is_one_kernel", DENSE, 1 },
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Arena *a = arena_new();
		int n;
		Region **rs = parse_all(a, cases[c].text, &n);
		run_passes(rs[0], "fusion");
		int nk = kernels(rs[0]), ops = 0;
		for (int v = 0; v < rs[0]->nnode; v++)
			ops += rs[0]->node[v].group >= 0;
		check(nk >= 1 && nk <= cases[c].max_kernels, cases[c].name, "%d kernels of %d ops", nk, ops);
		arena_free(a);
	}
	/* what must not fuse */
	Arena *a = arena_new();
	int n;
	Region *r = parse_all(a, NOFUSE, &n)[0];
	run_passes(r, "fusion");
	int add = -1, mul = -1, exp10 = -1, tr = -1, sum0 = -1, sum1 = -1, sub = -1, csum = -1, rs = -1, mm = -1;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		int rank = nd->type.rank;
		if (nd->op == OP_ADD) add = v;
		if (nd->op == OP_MUL) mul = v;
		if (nd->op == OP_EXP) exp10 = v;
		if (nd->op == OP_TRANSPOSE && tr < 0) tr = v;
		if (nd->op == OP_SUM && nd->ia[0] == 1) sum1 = v;
		if (nd->op == OP_SUM && nd->ia[0] == 0 && rank == 1) sum0 = v;
		if (nd->op == OP_SUM && rank == 2) csum = v;
		if (nd->op == OP_SUB) sub = v;
		if (nd->op == OP_RESHAPE) rs = v;
		if (nd->op == OP_MATMUL) mm = v;
	}
	const Node *N = r->node;
	check(N[exp10].group >= 0 && N[exp10].group != N[add].group, "nofuse_small_operand_not_recomputed",
		"exp of f32[10] in the kernel of f32[64,10]");
	check(N[tr].group < 0, "nofuse_transpose_outside_kernels", "transpose in k%d", N[tr].group);
	check(N[sum1].group == N[add].group && N[sum0].group != N[add].group, "nofuse_other_reduction_axes",
		"sum over axis 0 fused with a sum over axis 1");
	check(N[sub].group != N[csum].group, "nofuse_column_result_read_in_its_walk", "sub fused with the column sum");
	check(N[rs].group < 0, "nofuse_lone_reshape_stays_shared", "reshape in k%d", N[rs].group);
	check(N[mul].group != N[add].group, "nofuse_no_cycle_through_transposes", "mul fused with add");
	check(N[mm].group != N[mul].group, "nofuse_gemm_after_its_operand", "matmul fused with its operand's kernel");
	arena_free(a);
	/* the update computes the moments straight into their slots; not the
	   weight, which the region also returns as it was before the step */
	a = arena_new();
	r = parse_all(a, ADAM, &n)[0];
	run_passes(r, "fusion,schedule,memplan");
	bool *through = xmalloc(((size_t)r->nnode + 1) * sizeof *through);
	kernel_through(r, through);
	int nw = 0, nt = 0;
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].op == OP_WRITE) {
			nw++;
			nt += through[ir_operand(r, v, 1)] != (r->node[ir_operand(r, v, 0)].op == OP_PARAM);
		}
	check(nw == 3 && nt == 3, "adam_update_writes_through_but_not_an_output", "%d of %d writes as expected", nt, nw);
	free(through);
	arena_free(a);
}

/* The first region of a fixture of test_codegen_train, in an arena of its
   own (r->arena); NULL, after a FAIL line for name, if the file cannot be
   read. */
static Region *fixture(const char *name, const char *path)
{
	char *text = slurp(path, NULL);
	if (!check(text != NULL, name, "%s", path))
		return NULL;
	int n;
	Region *r = parse_all(arena_new(), text, &n)[0];
	free(text);
	return r;
}

/* The MLP step of examples/mlp.sn. */
static void test_mlp_step(void)
{
	Region *r = fixture("mlp_fixture_opens", "tests/unit/mlp_step.ir");
	if (!r)
		return;
	Arena *a = r->arena;
	run_passes(r, "simplify");
	KernelTraffic before, after;
	kernel_traffic(r, false, &before);
	run_passes(r, "fusion,schedule,memplan");
	kernel_traffic(r, true, &after);
	check_kernels("mlp_step_kernels_legal_contiguous_planned", r, true);
	int nk = kernels(r);
	/* forward + loss, loss sum, and one update per parameter (4) */
	check(nk <= 8, "mlp_step_is_at_most_8_kernels", "%d kernels", nk);
	check(after.ops == before.ops && after.kernels == nk + (after.kernels - nk) && after.kernels < before.kernels / 4,
		"mlp_step_traffic_counts_kernels", "%lld ops, %lld kernels fused, %lld unfused", (long long)after.ops,
		(long long)after.kernels, (long long)before.kernels);
	check(after.read + after.written < (before.read + before.written) / 2, "mlp_step_moves_under_half_the_bytes",
		"%lld bytes fused, %lld unfused", (long long)(after.read + after.written),
		(long long)(before.read + before.written));
	printf("# mlp step: %lld ops; kernels %lld -> %lld; bytes read %lld -> %lld, written %lld -> %lld\n",
		(long long)before.ops, (long long)before.kernels, (long long)after.kernels, (long long)before.read,
		(long long)after.read, (long long)before.written, (long long)after.written);
	arena_free(a);
}

/*
 * remat on the GPT step of tests/spec/gpt.sn (a fixture of
 * test_codegen_train, which also runs it through the JIT and the
 * interpreter): the activation arena shrinks, the kernels stay legal and
 * contiguous, and the recomputed chains are inside the backward kernels,
 * so only a few kernels are added.
 */
static void test_remat(void)
{
	Region *keep = fixture("gpt_fixture_opens", "tests/unit/gpt_step_planned.ir");
	if (!keep)
		return;
	Arena *a = keep->arena;
	Region *re = ir_copy(a, keep);
	run_passes(keep, "fusion,schedule,memplan");
	run_passes(re, "fusion,remat,schedule,memplan");
	check_kernels("remat_gpt_step_kernels_legal_contiguous_planned", re, true);
	int nclone = re->nnode - keep->nnode, nk0 = kernels(keep), nk1 = kernels(re);
	check(re->arena_bytes * 10 < keep->arena_bytes * 7, "remat_gpt_step_arena_shrinks_by_30pct",
		"%lld bytes with remat, %lld without", (long long)re->arena_bytes, (long long)keep->arena_bytes);
	check(nclone > 0 && nk1 - nk0 < nk0 / 4, "remat_gpt_step_recomputes_inside_kernels",
		"%d more nodes, %d -> %d kernels", nclone, nk0, nk1);
	printf("# gpt step: activation arena %lld -> %lld bytes with remat; %d more nodes; kernels %d -> %d\n",
		(long long)keep->arena_bytes, (long long)re->arena_bytes, nclone, nk0, nk1);
	arena_free(a);
}

/* ---- results ---- */

static void diff_text(const char *tag, const char *text)
{
	Arena *a = arena_new();
	int n;
	Region **rs = parse_all(a, text, &n);
	char name[128];
	for (int k = 0; k < n; k++) {
		Region *r = rs[k];
		run_passes(r, "fusion,remat,schedule,memplan");
		snprintf(name, sizeof name, "%s_%s_kernels_legal_contiguous_planned", tag, r->name);
		check_kernels(name, r, true);
		Tensor *in = region_inputs(r, 9);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		snprintf(name, sizeof name, "%s_%s_fused_matches_interp", tag, r->name);
		diff_run(name, r, in, r->ninput, mem, 1e-5);
		inputs_free(in, r->ninput);
		for (int i = 0; i < mem->n; i++)
			free(mem->s[i].t.data);
		free(mem);
	}
	arena_free(a);
}

/* ---- random regions ---- */

static unsigned frand(unsigned n)
{
	return (unsigned)(urand() * n);
}

/* A value of r of type t among vals[0..n) (recent ones first), or -1. */
static int pick(const Region *r, const int *vals, int n, const Type *t)
{
	int start = (int)frand((unsigned)n);
	for (int i = 0; i < n; i++) {
		int v = vals[(start + i) % n];
		if (type_eq(&r->node[v].type, t))
			return v;
	}
	return -1;
}

/*
 * A random region of elementwise ops, broadcasts, reductions with and
 * without keepdims, reshapes, transposes and GEMMs over shapes built from 6
 * and 7, with a parameter that is read and written: what fusion may or may
 * not group, mixed at random.
 */
static Region *random_region(int nops)
{
	static const char *const shapes[] = { "6,7", "6,1", "1,7", "7", "6", "", "42", "7,6", "6,6" };
	enum { NSH = sizeof shapes / sizeof shapes[0] };
	Type ty[NSH];
	for (int i = 0; i < NSH; i++)
		ty[i] = tp(DT_F32, shapes[i]);
	Region *r = region();
	int *vals = xmalloc(((size_t)nops + 16) * sizeof *vals), n = 0;
	vals[n++] = ir_input(r, 0, ty[0]);
	vals[n++] = ir_input(r, 1, ty[1]);
	vals[n++] = ir_input(r, 2, ty[3]);
	int w = ir_param(r, "p", ty[0]);
	vals[n++] = w;
	vals[n++] = ir_const(r, ty[5], 0.5);
	static const OpKind un[] = { OP_TANH, OP_SIGMOID, OP_NEG, OP_ABS, OP_RELU, OP_SIN, OP_EXP };
	static const OpKind bin[] = { OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM, OP_MINIMUM };
	while (n < nops) {
		int a = vals[n - 1 - (int)frand((unsigned)(n < 6 ? n : 6))], v = -1;
		const Type *ta = &r->node[a].type;
		switch (frand(9)) {
		case 0:
		case 1: {
			OpKind op = un[frand(sizeof un / sizeof *un)];
			/* keep exp from growing without bound */
			v = ir_op1(r, op, op == OP_EXP ? ir_op1(r, OP_TANH, a) : a);
			break;
		}
		case 2:
		case 3: {
			int b = vals[frand((unsigned)n)];
			Type out;
			if (type_broadcast(ta, &r->node[b].type, &out))
				v = ir_op2(r, bin[frand(sizeof bin / sizeof *bin)], a, b);
			break;
		}
		case 4:
			if (ta->rank > 0) {
				int axes[MAX_RANK], na = 0;
				for (int k = 0; k < ta->rank; k++)
					if (frand(2))
						axes[na++] = k;
				if (na == 0)
					axes[na++] = (int)frand((unsigned)ta->rank);
				static const OpKind red[] = { OP_SUM, OP_MAX, OP_MIN };
				v = ir_reduce(r, red[frand(3)], a, axes, na, frand(2));
			}
			break;
		case 5: {
			Type out;
			const Type *t = &ty[frand(NSH)];
			if (type_broadcast(ta, t, &out) && type_eq(&out, t) && !type_eq(ta, t))
				v = ir_broadcast(r, a, *t);
			break;
		}
		case 6: {
			const Type *t = &ty[frand(NSH)];
			if (type_numel(t) == type_numel(ta) && !type_eq(t, ta))
				v = ir_reshape(r, a, *t);
			break;
		}
		case 7:
			if (ta->rank == 2)
				v = ir_transpose(r, a, (int[]){ 1, 0 });
			break;
		case 8: {
			/* [6,7] @ [7,6] and [6,6] @ [6,7] */
			int b = -1;
			if (type_eq(ta, &ty[0]))
				b = pick(r, vals, n, &ty[7]);
			else if (type_eq(ta, &ty[8]))
				b = pick(r, vals, n, &ty[0]);
			if (b >= 0)
				v = ir_matmul(r, a, b, false, false);
			break;
		}
		}
		if (v >= 0)
			vals[n++] = v;
	}
	/* the parameter's new value, and a few outputs */
	int nv = pick(r, vals + n / 2, n - n / 2, &ty[0]);
	emit(r, ir_proto(OP_WRITE), (int[]){ w, nv >= 0 ? nv : vals[0] }, 2);
	for (int k = 0; k < 3; k++)
		ir_output(r, vals[n - 1 - (int)frand(8)]);
	free(vals);
	return r;
}

/* 200 random regions through fusion, the JIT and the interpreter */
static void test_random(void)
{
	const int count = 200;
	int grouped = 0;
	for (int c = 0; c < count; c++) {
		Region *r = random_region(12 + c % 40);
		char err[256], name[64];
		if (!ir_verify(r, err, sizeof err))
			die("test: random region %d does not verify: %s", c, err);
		Tensor in[3] = { trand(r->node[0].type, -1, 1), trand(r->node[1].type, -1, 1), trand(r->node[2].type, -1, 1) };
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		run_passes(r, "simplify,fusion,remat,schedule,memplan");
		for (int v = 0; v < r->nnode; v++)
			grouped += r->node[v].group >= 0;
		snprintf(name, sizeof name, "random_region_%d_fused_matches_interp", c);
		int before = nfail;
		diff_run(name, r, in, 3, mem, 1e-5);
		if (nfail != before)
			ir_print_with(stdout, r, kernel_print_comments);
		for (int i = 0; i < 3; i++)
			free(in[i].data);
		for (int i = 0; i < mem->n; i++)
			free(mem->s[i].t.data);
		free(mem);
		arena_free(r->arena);
	}
	check(grouped > count, "random_regions_have_kernels", "%d nodes in kernels", grouped);
}

static void test_texts(void)
{
	diff_text("softmax", SOFTMAX);
	diff_text("xent", XENT);
	diff_text("layernorm", LAYERNORM);
	diff_text("adam", ADAM);
	diff_text("dense", DENSE);
	diff_text("nofuse", NOFUSE);
	diff_text("corner", CORNERS);
}

int main(void)
{
	return jit_run((const CheckTest[]){ test_structure, test_mlp_step, test_remat, test_texts, test_random, NULL });
}
