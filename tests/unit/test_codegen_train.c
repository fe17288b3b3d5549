/*
 * test_codegen_train.c — differential tests of the LLVM code generator on
 * training regions: gradients built by autodiff (matmul, a softmax
 * cross-entropy chain, reductions, take/slice/dropout) with an SGD WRITE,
 * and the regions of real programs: the training step and evaluation of
 * examples/mlp.sn as autodiff leaves them (tests/unit/mlp_step.ir) and as
 * the memory planner places them (mlp_step_planned.ir: values at arena
 * offsets, computed in place), the GPT step of tests/spec/gpt.sn
 * (gpt_step_planned.ir: attention, layer norm, embeddings, AdamW) and the
 * 41 regions of tests/spec/tensors.sn (tensors_planned.ir).  Every region
 * runs a second time fused (fusion, remat, schedule, memplan), so that the code of
 * fused kernels is compared with the interpreter too.  Also: compile
 * times, the LLVM text of the step, and that a GRAD node reaching codegen
 * is an internal error.
 */
#include "tests/unit/cgdiff.h"
#include "kernel/kernel.h"

#include <sys/wait.h>
#include <unistd.h>

/* Fuses r as the pipeline does after simplify (recomputing what the
   backward part reads where that is cheaper); returns its number of kernels. */
static int fuse(Region *r)
{
	fusion_run(r);
	remat_run(r);
	schedule_run(r);
	memplan_run(r);
	char err[256];
	if (!ir_verify(r, err, sizeof err))
		die("test: fused region %s does not verify: %s", r->name, err);
	int nk = 0;
	for (int v = 0; v < r->nnode; v++)
		nk = r->node[v].group + 1 > nk ? r->node[v].group + 1 : nk;
	return nk;
}

/* ---- gradients through autodiff ---- */

typedef int Builder(Region *r, int x, int w);

static int g_matmul(Region *r, int x, int w)
{
	int y = ir_op1(r, OP_TANH, ir_matmul(r, x, w, false, false));
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, y, y), (int[]){ 0, 1 }, 2, false);
}

/* softmax cross-entropy against class 0, as the stdlib writes it */
static int g_softmax(Region *r, int x, int w)
{
	int z = ir_matmul(r, x, w, false, true);
	int mx = ir_op1(r, OP_STOP_GRADIENT, ir_reduce(r, OP_MAX, z, (int[]){ 1 }, 1, true));
	int e = ir_op1(r, OP_EXP, ir_op2(r, OP_SUB, z, mx));
	int lse = ir_op1(r, OP_LOG, ir_reduce(r, OP_SUM, e, (int[]){ 1 }, 1, true));
	int sl = ir_op2(r, OP_SUB, ir_op2(r, OP_SUB, z, mx), lse);
	int lab = ir_const(r, tp(DT_I32, "7"), 0);
	Node oh = ir_proto(OP_ONE_HOT);
	oh.type = r->node[sl].type;
	int hot = emit(r, oh, &lab, 1);
	return ir_op1(r, OP_NEG, ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, sl, hot), (int[]){ 0, 1 }, 2, false));
}

static int g_reduce(Region *r, int x, int w)
{
	int y = ir_op2(r, OP_MUL, x, ir_broadcast(r, ir_reduce(r, OP_MAX, w, (int[]){ 0 }, 1, false), r->node[x].type));
	int s = ir_op1(r, OP_SIGMOID, ir_reduce(r, OP_SUM, y, (int[]){ 1 }, 1, true));
	int m = ir_reduce(r, OP_MIN, ir_op2(r, OP_DIV, s, ir_op1(r, OP_EXP, w)), (int[]){ 0 }, 1, false);
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_POW, ir_op1(r, OP_ABS, m), ir_const(r, tp(DT_F32, ""), 1.5)),
		(int[]){ 0 }, 1, false);
}

static int g_take(Region *r, int x, int w)
{
	int idx = ir_cast(r, ir_op2(r, OP_MOD, ir_cast(r, ir_reduce(r, OP_ARGMAX, x, (int[]){ 1 }, 1, false), DT_I32),
		ir_const(r, tp(DT_I32, ""), 7)), DT_I32);
	int rows = emit(r, ir_proto(OP_TAKE), (int[]){ w, idx }, 2);
	int sl = emit(r, attrs(OP_SLICE, 6, 0, 7, 2, 0, 5, 1), &rows, 1);
	Node dp = ir_proto(OP_DROPOUT);
	dp.f = 0.25;
	dp.nia = 1;
	dp.ia[0] = 9;
	int d = emit(r, dp, &sl, 1);
	int t = ir_transpose(r, ir_op1(r, OP_ERF, d), (int[]){ 1, 0 });
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, t, t), (int[]){ 0, 1 }, 2, false);
}

static void test_gradients(void)
{
	static const struct {
		const char *name;
		Builder *fn;
		const char *x, *w;
	} cases[] = {
		{ "grad_matmul_tanh", g_matmul, "7,33", "33,5" },
		{ "grad_softmax_cross_entropy", g_softmax, "7,33", "10,33" },
		{ "grad_reductions", g_reduce, "7,5", "7,5" },
		{ "grad_take_slice_dropout", g_take, "7,5", "7,5" },
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Region *r = region();
		int x = ir_input(r, 0, tp(DT_F32, cases[c].x));
		int w = ir_param(r, "w", tp(DT_F32, cases[c].w));
		int loss = cases[c].fn(r, x, w);
		int gw = ir_op2(r, OP_GRAD, loss, w), gx = ir_op2(r, OP_GRAD, loss, x);
		/* an SGD step writes the parameter, as minimize does */
		emit(r, ir_proto(OP_WRITE), (int[]){ w, ir_op2(r, OP_SUB, w, ir_op2(r, OP_MUL, gw,
			ir_const(r, tp(DT_F32, ""), 0.1))) }, 2);
		ir_output(r, loss);
		ir_output(r, gx);
		ir_output(r, gw);
		ad_run(r);
		char err[256];
		if (!ir_verify(r, err, sizeof err))
			die("test: %s does not verify: %s", cases[c].name, err);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		Tensor in = trand(r->node[x].type, -1, 1);
		diff_run(cases[c].name, r, &in, 1, mem, 1e-5);
		char name[96];
		snprintf(name, sizeof name, "%s_fused", cases[c].name);
		int nk = fuse(r);
		if (nk > 0)
			diff_run(name, r, &in, 1, mem, 1e-5);
		else
			check(false, name, "fusion made no kernel");
		free(in.data);
		mem_free(mem);
		arena_free(r->arena);
	}
}

/* ---- the MLP training step and evaluation of examples/mlp.sn ---- */

/* The LLVM text of r defines want (a function name or part of one), calls
   OpenBLAS (rt_sgemm) and has vector code. */
static void check_llvm_text(const Region *r, const char *name, const char *want)
{
	char err[512];
	char *ll = cg_llvm_text(r, err, sizeof err);
	check(ll && strstr(ll, want) && strstr(ll, "call void @rt_sgemm(") && strstr(ll, "x float>"), name, "%s",
		ll ? "no vector code, no sgemm call, or no function of that name" : err);
	free(ll);
}

/*
 * Every region of a fixture written by `sinter ir FILE.sn --after PASS`
 * (after memplan the values carry arena offsets).  Inputs: floats in
 * [0.5, 1.5) (positive for logs, divisors and Adam's square roots), ints in
 * [0, 2] (valid token ids and labels).  The compile time of the first
 * region is printed, not checked: tests hold no wall-clock limits.
 */
static void test_fixture(const char *path, const char *tag, int nregions, bool llvm_text)
{
	char *text = slurp(path, NULL), err[512], name[96];
	Region **rs;
	Arena *a = arena_new();
	int n = text ? ir_parse(a, text, path, &rs, err, sizeof err) : -1;
	snprintf(name, sizeof name, "%s_fixture_parses", tag);
	check(n == nregions, name, "%s", text ? (n < 0 ? err : "wrong region count") : "cannot read the fixture");
	for (int k = 0; k < n; k++) {
		const Region *r = rs[k];
		Tensor *in = region_inputs(r, 2);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		snprintf(name, sizeof name, "%s_region_%s", tag, r->name);
		CgRegion *cr = diff_run(name, r, in, r->ninput, mem, 1e-5);
		if (cr && k == 0)
			printf("# %s %s: cg_compile %.1f ms, scratch %zu bytes\n", tag, r->name, cr->ms, cr->scratch);
		if (k == 0 && llvm_text) {
			snprintf(name, sizeof name, "%s_llvm_text_is_vectorized_ir", tag);
			check_llvm_text(r, name, "define");
		}
		/* the same region with fused kernels */
		Region *fr = ir_copy(a, r);
		int nk = fuse(fr);
		snprintf(name, sizeof name, "%s_fused_region_%s", tag, r->name);
		cr = diff_run(name, fr, in, r->ninput, mem, 1e-5);
		if (cr && k == 0) {
			printf("# %s %s fused: %d kernels, cg_compile %.1f ms, scratch %zu bytes\n", tag, r->name, nk, cr->ms,
				cr->scratch);
			snprintf(name, sizeof name, "%s_%s_fused_has_kernels", tag, r->name);
			check(nk > 0, name, "no kernel");
		}
		if (k == 0 && llvm_text) {
			snprintf(name, sizeof name, "%s_fused_llvm_text_is_vectorized_ir", tag);
			check_llvm_text(fr, name, "_fused");
		}
		inputs_free(in, r->ninput);
		mem_free(mem);
	}
	free(text);
	arena_free(a);
}

/*
 * A region placed by hand the way memplan places one: elementwise ops
 * computed in place over their dying operand, a reshape the plan copies,
 * one it shares, a reshape of a parameter (always copied) and an input as
 * an output.  The interpreter runs the same plan.
 */
static void test_planned(void)
{
	Region *r = region();
	Type t = tp(DT_F32, "64"), sq = tp(DT_F32, "8,8");
	int x = ir_input(r, 0, t), p = ir_param(r, "p", t);
	int a = ir_op1(r, OP_EXP, x);
	int b = ir_op2(r, OP_MUL, a, a);
	int c = ir_reshape(r, b, sq);
	int d = ir_reshape(r, c, t);
	int e = ir_op2(r, OP_ADD, d, p);
	int f = ir_reshape(r, p, sq);
	int g = ir_reduce(r, OP_SUM, f, (int[]){ 0 }, 1, false);
	int h = ir_op1(r, OP_NEG, e);
	/* e reuses b's bytes once b is dead: sharing c with b would clobber c */
	const int vs[] = { a, b, c, d, e, f, g, h };
	const int64_t off[] = { 0, 0, 256, 256, 0, 512, 768, 0 }; /* bytes */
	for (int k = 0; k < 8; k++)
		r->node[vs[k]].offset = off[k];
	ir_output(r, h);
	ir_output(r, g);
	ir_output(r, c);
	ir_output(r, x);
	Mem *mem = xcalloc(1, sizeof *mem);
	mem_fill(mem, r);
	Tensor in = trand(t, -1, 1);
	CgRegion *cr = diff_run("planned_in_place_shared_and_copied_reshapes", r, &in, 1, mem, 1e-6);
	check(cr && cr->scratch >= 800 && cr->scratch < 1024, "planned_scratch_is_the_arena",
		"scratch %zu bytes for an 800-byte plan", cr ? cr->scratch : 0);
	free(in.data);
	mem_free(mem);
	arena_free(r->arena);
}

/* Compiles a region holding a grad node (in the child of stderr_of). */
static void compile_grad(const void *unused)
{
	(void)unused;
	Region *r = region();
	int w = ir_param(r, "w", tp(DT_F32, "3"));
	int l = ir_reduce(r, OP_SUM, w, (int[]){ 0 }, 1, false);
	ir_output(r, ir_op2(r, OP_GRAD, l, w));
	char err[256];
	cg_compile(jit, r, err, sizeof err);
}

/* grad must never reach codegen: an internal error, in a child process */
static void test_grad_dies(void)
{
	int st;
	stderr_of(compile_grad, NULL, &st);
	check(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "grad_node_is_an_internal_error", "cg_compile accepted a grad node");
}

static void test_fixtures(void)
{
	test_fixture("tests/unit/mlp_step.ir", "mlp", 2, false);
	test_fixture("tests/unit/mlp_step_planned.ir", "mlp_planned", 2, true);
	test_fixture("tests/unit/gpt_step_planned.ir", "gpt_planned", 1, false);
	test_fixture("tests/unit/tensors_planned.ir", "spec_tensors", 41, false);
}

int main(void)
{
	/* whole steps compared per element to 1e-5 relative, gradients that
	   cancel included: the JIT's products must be the interpreter's
	   OpenBLAS products, rt_sgemm (sinter's own GEMM in a step: tests/e2e/gemm_choice.sh) */
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_OPENBLAS });
	return jit_run((const CheckTest[]){ test_gradients, test_fixtures, test_planned, test_grad_dies, NULL });
}
