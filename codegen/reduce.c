/*
 * reduce.c — reductions (SUM, MAX, MIN), ARGMAX and convolutions.
 *
 * A reduction first merges adjacent axes of the same kind (kept or
 * reduced), so [128,10] over axis 1 is one kept and one reduced group.
 * When the only reduced group is innermost, each result is accumulated in a
 * register over one contiguous row; otherwise the operand is walked in
 * memory order and combined into an accumulator array.  SUM accumulates in
 * double (i64 for integers), as the interpreter does, so both agree to the
 * float rounding of the result; MAX and MIN propagate NaN like it does.
 *
 * CONV2D and its gradients (below the reductions) are a call of the
 * runtime's kernel (runtime/conv.c: im2col or col2im into the memory
 * plan's work buffer, the images in parts on the thread pool, and GEMMs),
 * with the geometry as a constant RtConv and the GEMMs it calls.  The
 * runtime lists the distinct products a call makes
 * (rt_conv2d_products: a block of whole output rows and the last, shorter
 * block), and each goes through the rule every MATMUL goes through
 * (cg_gemm_choose, `--gemm=`): chosen for sinter's kernel, the product is
 * emitted into the region's module (cg_gemm_fn, shared with any other
 * product of the same shape) and handed to the runtime as a function
 * pointer in a constant RtConvGemm, so runtime/ calls generated code
 * without knowing codegen/.  The parts of a batch run at the same time, so
 * each packs its panels into its own slice of the region's GEMM workspace
 * (g->gemm_work, sized by cg_conv_setup for the largest call).
 * ATTENTION and its gradient call runtime/attention.c the same way
 * (codegen/attention.c), with the helpers for a node's work buffer and the
 * GEMM workspace below.
 */
#include "codegen/reduce.h"
#include "codegen/gemm.h"
#include "codegen/matmul.h"
#include "ir/attention.h"
#include "ir/conv.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef CgRed Red;

static LLVMValueRef red_init(Cg *g, const Red *R)
{
	if (R->op == OP_SUM)
		return R->in == DT_F32 ? LLVMConstReal(g->f64, 0) : cg_i64(g, 0);
	bool mx = R->op == OP_MAX;
	if (R->in == DT_F32)
		return cg_f32(g, mx ? -INFINITY : INFINITY);
	return cg_i32(g, mx ? INT32_MIN : INT32_MAX);
}

static LLVMValueRef red_combine(Cg *g, const Red *R, LLVMValueRef acc, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef a[2] = { acc, x };
	if (R->op == OP_SUM) {
		if (R->in != DT_F32)
			return LLVMBuildAdd(b, acc, R->in == DT_I32 ? LLVMBuildSExt(b, x, g->i64, "")
				: LLVMBuildZExt(b, x, g->i64, ""), "");
		LLVMValueRef s = LLVMBuildFAdd(b, acc, LLVMBuildFPExt(b, x, g->f64, ""), "");
		/* reassociating a double sum of floats changes the float result by at
		   most its last bit, and lets LLVM vectorize the row */
		LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
		return s;
	}
	bool mx = R->op == OP_MAX;
	if (R->in == DT_F32) /* NaN wins, as in interp.c */
		return cg_intrinsic(g, mx ? "llvm.maximum" : "llvm.minimum", g->f32, a, 2);
	if (R->in == DT_I32)
		return cg_intrinsic(g, mx ? "llvm.smax" : "llvm.smin", g->i32, a, 2);
	die("codegen: %s of bool", op_info[R->op].name);
}

static LLVMValueRef red_final(Cg *g, const Red *R, LLVMValueRef acc)
{
	if (R->op != OP_SUM)
		return acc;
	return R->in == DT_F32 ? LLVMBuildFPTrunc(g->b, acc, g->f32, "") : LLVMBuildTrunc(g->b, acc, g->i32, "");
}

/* Accumulates row x[base .. base+n) onto acc in a register. */
static LLVMValueRef red_row(Cg *g, const Red *R, LLVMValueRef acc, LLVMValueRef x, LLVMValueRef base, int64_t n)
{
	Loop L;
	LLVMValueRef j = cg_loop_begin(g, &L, n);
	LLVMValueRef a = cg_loop_phi(g, &L, R->acc, acc);
	LLVMValueRef next = red_combine(g, R, a, cg_load(g, R->in, x, LLVMBuildAdd(g->b, base, j, "")));
	cg_loop_carry(g, a, next);
	cg_loop_end(g, &L);
	return next;
}

typedef struct {
	const Red *R;
	int64_t row;  /* > 0: length of an innermost reduced row each point accumulates */
} RedCtx;

/* op[0] is the accumulator array (of R->acc), op[1] the operand. */
static void red_body(Cg *g, const void *ctx, const Opnd *op, const LLVMValueRef *idx)
{
	const RedCtx *c = ctx;
	LLVMValueRef at = idx[0];
	LLVMValueRef p = LLVMBuildInBoundsGEP2(g->b, c->R->acc, op[0].ptr, &at, 1, "");
	LLVMValueRef acc = LLVMBuildLoad2(g->b, c->R->acc, p, "");
	cg_mark(g, acc, true);
	LLVMValueRef next = c->row > 0 ? red_row(g, c->R, acc, op[1].ptr, idx[1], c->row)
		: red_combine(g, c->R, acc, cg_load(g, c->R->in, op[1].ptr, idx[1]));
	cg_mark(g, LLVMBuildStore(g->b, next, p), true);
}

static void fill_acc(Cg *g, const Red *R, LLVMValueRef buf, int64_t n, bool final, LLVMValueRef out)
{
	Loop L;
	LLVMValueRef i = cg_loop_begin(g, &L, n);
	LLVMValueRef p = LLVMBuildInBoundsGEP2(g->b, R->acc, buf, &i, 1, "");
	if (final) {
		LLVMValueRef a = LLVMBuildLoad2(g->b, R->acc, p, "");
		cg_mark(g, a, true);
		cg_store(g, R->out, out, i, red_final(g, R, a));
	} else {
		cg_mark(g, LLVMBuildStore(g->b, red_init(g, R), p), true);
	}
	cg_loop_end(g, &L);
}

void cg_reduce(Cg *g, int v)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	int x = ir_operand(r, v, 0);
	const Type *xt = &r->node[x].type;
	Red R = { nd->op, xt->dt, nd->type.dt, NULL };
	R.acc = nd->op == OP_SUM ? (xt->dt == DT_F32 ? g->f64 : g->i64) : cg_elem_type(g, xt->dt);
	int64_t no = type_numel(&nd->type), nx = type_numel(xt);
	if (no == 0)
		return;
	/* merged groups of axes: len[k], red[k]; unit axes vanish */
	int ng = 0, nred = 0;
	int64_t len[MAX_RANK];
	bool red[MAX_RANK];
	for (int a = 0; a < xt->rank; a++) {
		bool rd = false;
		for (int k = 0; k < nd->nia; k++)
			rd |= nd->ia[k] == a;
		if (xt->dim[a] == 1)
			continue;
		if (ng > 0 && red[ng - 1] == rd) {
			len[ng - 1] *= xt->dim[a];
		} else {
			len[ng] = xt->dim[a];
			red[ng++] = rd;
			nred += rd;
		}
	}
	LLVMValueRef out = g->ptr[v], in = g->ptr[x];
	if (nx == 0) {
		/* empty reductions give the identity */
		Loop L;
		LLVMValueRef i = cg_loop_begin(g, &L, no);
		cg_store(g, R.out, out, i, red_final(g, &R, red_init(g, &R)));
		cg_loop_end(g, &L);
		return;
	}
	if (nred == 0 || (nred == 1 && red[ng - 1])) {
		/* each result is one contiguous row of the operand */
		int64_t n = nx / no;
		Loop L;
		LLVMValueRef p = no > 1 ? cg_loop_begin(g, &L, no) : cg_i64(g, 0);
		LLVMValueRef acc = red_row(g, &R, red_init(g, &R), in, LLVMBuildMul(g->b, p, cg_i64(g, n), ""), n);
		cg_store(g, R.out, out, p, red_final(g, &R, acc));
		if (no > 1)
			cg_loop_end(g, &L);
		return;
	}
	/* walk the operand in memory order; result strides are 0 on reduced groups */
	bool sum = nd->op == OP_SUM;
	LLVMValueRef acc = sum ? cg_scratch(g, no * 8) : out;
	g->own[g->nown++] = acc;
	fill_acc(g, &R, acc, no, false, NULL);
	Type sp = type_make(xt->dt, ng, len);
	Opnd op[2] = { { .ptr = acc, .dt = R.out }, { .ptr = in, .dt = R.in } };
	int64_t mi = 1, mo = 1;
	for (int k = ng - 1; k >= 0; k--) {
		op[1].st[k] = mi;
		op[0].st[k] = red[k] ? 0 : mo;
		mi *= len[k];
		mo *= red[k] ? 1 : len[k];
	}
	RedCtx c = { &R, red[ng - 1] ? len[ng - 1] : 0 };
	if (c.row)
		sp.rank--; /* the innermost reduced group is the body's row */
	cg_map(g, &sp, op, 2, red_body, &c);
	if (sum)
		fill_acc(g, &R, acc, no, true, out);
}

/* ---- argmax ---- */

void cg_argmax(Cg *g, int v)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	int x = ir_operand(r, v, 0);
	const Type *xt = &r->node[x].type;
	DType dt = xt->dt;
	int ax = (int)nd->ia[0];
	int64_t outer = 1, inner = 1, n = xt->dim[ax];
	for (int a = 0; a < ax; a++)
		outer *= xt->dim[a];
	for (int a = ax + 1; a < xt->rank; a++)
		inner *= xt->dim[a];
	if (outer == 0 || inner == 0)
		return;
	LLVMBuilderRef b = g->b;
	Loop Lp, Lj, Lk;
	LLVMValueRef p = outer > 1 ? cg_loop_begin(g, &Lp, outer) : cg_i64(g, 0);
	LLVMValueRef j = inner > 1 ? cg_loop_begin(g, &Lj, inner) : cg_i64(g, 0);
	LLVMValueRef base = LLVMBuildAdd(b, LLVMBuildMul(b, p, cg_i64(g, n * inner), ""), j, "");
	LLVMValueRef bv = cg_load(g, dt, g->ptr[x], base), best = cg_i32(g, 0);
	if (n > 1) {
		LLVMValueRef k = cg_loop_begin(g, &Lk, n - 1);
		LLVMValueRef pv = cg_loop_phi(g, &Lk, cg_elem_type(g, dt), bv);
		LLVMValueRef pb = cg_loop_phi(g, &Lk, g->i32, best);
		LLVMValueRef k1 = LLVMBuildAdd(b, k, cg_i64(g, 1), "");
		LLVMValueRef xv = cg_load(g, dt, g->ptr[x], LLVMBuildAdd(b, base, LLVMBuildMul(b, k1, cg_i64(g, inner), ""), ""));
		/* strict > keeps the first maximum; a NaN wins and then stays */
		LLVMValueRef c;
		if (dt == DT_F32) {
			c = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, xv, pv, ""), LLVMBuildFCmp(b, LLVMRealUNO, xv, xv, ""), "");
			c = LLVMBuildAnd(b, c, LLVMBuildFCmp(b, LLVMRealORD, pv, pv, ""), "");
		} else {
			c = LLVMBuildICmp(b, dt == DT_I32 ? LLVMIntSGT : LLVMIntUGT, xv, pv, "");
		}
		bv = LLVMBuildSelect(b, c, xv, pv, "");
		best = LLVMBuildSelect(b, c, LLVMBuildTrunc(b, k1, g->i32, ""), pb, "");
		cg_loop_carry(g, pv, bv);
		cg_loop_carry(g, pb, best);
		cg_loop_end(g, &Lk);
	}
	cg_store(g, DT_I32, g->ptr[v], LLVMBuildAdd(b, LLVMBuildMul(b, p, cg_i64(g, inner), ""), j, ""), best);
	if (inner > 1)
		cg_loop_end(g, &Lj);
	if (outer > 1)
		cg_loop_end(g, &Lp);
}

/* ---- convolution ---- */

LLVMValueRef cg_work_ptr(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	int64_t bytes = ir_work_bytes(g->r, v);
	if (bytes && g->planned && nd->work >= 0) {
		LLVMValueRef off = cg_i64(g, nd->work);
		return LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
	}
	return bytes ? cg_scratch(g, bytes) : LLVMConstNull(g->ptrty);
}

LLVMValueRef cg_const_table(Cg *g, LLVMValueRef init, const char *name)
{
	LLVMValueRef t = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
	LLVMSetInitializer(t, init);
	LLVMSetGlobalConstant(t, 1);
	LLVMSetLinkage(t, LLVMPrivateLinkage);
	return t;
}

LLVMValueRef cg_gemm_work_ptr(Cg *g)
{
	if (g->gemm_work < 0)
		return LLVMConstNull(g->ptrty);
	LLVMValueRef off = cg_i64(g, g->gemm_work);
	return LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
}

static bool is_conv(OpKind op)
{
	return op == OP_CONV2D || op == OP_CONV2D_DX || op == OP_CONV2D_DW;
}

static RtConvOp conv_op(OpKind op)
{
	return op == OP_CONV2D ? RT_CONV_Y : op == OP_CONV2D_DX ? RT_CONV_DX : RT_CONV_DW;
}

/* What a product of the runtime's op computes, for auto's rule. */
static CgGemmFor conv_use(RtConvOp op)
{
	return op == RT_CONV_Y ? CG_GEMM_FOR_CONV_Y : op == RT_CONV_DX ? CG_GEMM_FOR_CONV_DX : CG_GEMM_FOR_CONV_DW;
}

/* Node v's products as sinter's GEMM specs, the choice of each in own[]
   (why[] the reasons); their number. */
typedef struct {
	int n;
	bool taps; /* the one product reads the image in place (runtime/conv_taps.c) */
	RtConvProduct q[RT_CONV_PRODUCTS];
	CgGemmSpec s[RT_CONV_PRODUCTS];
	bool own[RT_CONV_PRODUCTS];
	char why[RT_CONV_PRODUCTS][112];
} Products;

static CgGemmSpec spec_of(const RtConvProduct *q)
{
	const RtConvTaps *t = &q->taps;
	return (CgGemmSpec){ .m = q->m, .n = q->n, .k = q->k, .ta = q->ta, .tb = q->tb, .lda = q->lda,
		.ldb = q->ldb, .ldc = q->ldc, .alpha = 1.0f, .accumulate = q->acc, .parallel = q->parallel,
		.taps = { t->kh, t->kw, t->dh, t->dw, t->sh, t->sw, t->rs, t->pplane, t->plane } };
}

/* SINTER_CONV_TAPS: 0 never reads images in place, 1 wherever the
   geometry allows however many junk columns its grid computes (the tests
   use it to cover every geometry), unset: where rt_conv2d_taps finds the
   grid tight.  Only sinter's kernel reads taps: where the rule of --gemm
   does not give it the tapped product, the convolution keeps im2col. */
static int taps_mode(void)
{
	const char *e = getenv("SINTER_CONV_TAPS");
	return e && *e == '0' ? 0 : e && *e == '1' ? 1 : 2;
}

static void products(const Region *r, int v, Products *p)
{
	RtConv cv = ir_conv_of(r, v);
	RtConvOp op = conv_op(r->node[v].op);
	int mode = taps_mode();
	p->taps = false;
	if (mode > 0 && rt_conv2d_taps(&cv, op, mode == 1)) {
		p->n = rt_conv2d_products(&cv, op, true, p->q);
		p->s[0] = spec_of(&p->q[0]);
		p->own[0] = p->taps = cg_gemm_choose(&p->s[0], CG_GEMM_FOR_CONV_TAPS, p->why[0], sizeof p->why[0]);
		if (p->taps)
			return;
	}
	p->n = rt_conv2d_products(&cv, op, false, p->q);
	for (int i = 0; i < p->n; i++) {
		const RtConvProduct *q = &p->q[i];
		p->s[i] = spec_of(q);
		/* K = 0 (no channels) never reaches a GEMM of sinter's: its sizes are at least 1 */
		p->own[i] = q->k > 0 && cg_gemm_choose(&p->s[i], conv_use(op), p->why[i], sizeof p->why[i]);
		if (q->k == 0)
			snprintf(p->why[i], sizeof p->why[i], "K = 0");
	}
}

/* Bytes of workspace each part packs into: the largest of its own
   products', 64-byte aligned (0: none of sinter's). */
static int64_t part_bytes(const Products *p)
{
	CgGemmIsa host = cg_gemm_host_isa();
	int64_t stride = 0;
	for (int i = 0; i < p->n; i++) {
		if (!p->own[i])
			continue;
		CgGemmIsa isa = cg_gemm_tile(host, &p->s[i]);
		CgGemmBlocking blk = cg_gemm_blocking(&isa, &p->s[i]);
		int64_t w = align_up(cg_gemm_workspace(&p->s[i], &isa, &blk), 64);
		stride = w > stride ? w : stride;
	}
	return stride;
}

int64_t cg_conv_setup(Cg *g, CgGemmStats *stats, int v)
{
	if (!is_conv(g->r->node[v].op))
		return 0;
	Products p;
	products(g->r, v, &p);
	RtConv cv = ir_conv_of(g->r, v);
	for (int i = 0; i < p.n; i++) {
		char what[48];
		snprintf(what, sizeof what, " x %lld, %s%s", (long long)p.q[i].calls, op_info[g->r->node[v].op].name,
			p.taps ? " read in place" : "");
		cg_gemm_account(g, stats, v, &p.s[i], p.q[i].calls, p.s[i].m, what, p.own[i], p.why[i]);
	}
	return part_bytes(&p) * rt_conv2d_parts(&cv);
}

/* The RtConvGemm of node v as a private constant, or a null pointer when
   every product is OpenBLAS's. */
static LLVMValueRef kernels(Cg *g, int v, const RtConv *cv)
{
	Products p;
	products(g->r, v, &p);
	LLVMValueRef fn[RT_CONV_PRODUCTS];
	int64_t stride = part_bytes(&p);
	for (int i = 0; i < RT_CONV_PRODUCTS; i++)
		fn[i] = i < p.n && p.own[i] ? cg_gemm_fn(g, &p.s[i]) : LLVMConstNull(g->ptrty);
	if (stride == 0)
		return LLVMConstNull(g->ptrty);
	if (g->gemm_work < 0 || stride * rt_conv2d_parts(cv) <= 0)
		die("codegen: a convolution's GEMMs of sinter's without their workspace");
	LLVMValueRef f[4] = { fn[0], fn[1], cg_i64(g, stride), cg_i64(g, p.taps) };
	return cg_const_table(g, LLVMConstStructInContext(g->ctx, f, 4, false), "conv_gemm");
}

void cg_conv(Cg *g, int v)
{
	const Region *r = g->r;
	RtConv cv = ir_conv_of(r, v);
	const int64_t *f = (const int64_t *)&cv;
	LLVMValueRef num[RT_CONV_FIELDS];
	for (int k = 0; k < RT_CONV_FIELDS; k++)
		num[k] = cg_i64(g, f[k]);
	/* the geometry as a constant the runtime reads as its RtConv */
	LLVMValueRef geom = cg_const_table(g, LLVMConstArray2(g->i64, num, RT_CONV_FIELDS), "conv");
	const Node *nd = &r->node[v];
	LLVMValueRef colp = cg_work_ptr(g, v);
	LLVMValueRef k = kernels(g, v, &cv), gw = cg_gemm_work_ptr(g);
	const char *fn = nd->op == OP_CONV2D ? "rt_conv2d" : nd->op == OP_CONV2D_DX ? "rt_conv2d_dx" : "rt_conv2d_dw";
	LLVMTypeRef pt[7] = { g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty, g->ptrty };
	LLVMValueRef a[7] = { geom, g->ptr[ir_operand(r, v, 0)], g->ptr[ir_operand(r, v, 1)], g->ptr[v], colp, k, gw };
	cg_call(g, fn, g->voidty, pt, a, 7);
}

/* ---- accumulators for fused kernels (fused.c) ---- */

CgRed cg_red(Cg *g, OpKind op, DType in, DType out)
{
	CgRed R = { op, in, out, NULL };
	R.acc = op == OP_SUM ? (in == DT_F32 ? g->f64 : g->i64) : cg_elem_type(g, in);
	return R;
}

LLVMValueRef cg_red_init(Cg *g, const CgRed *R)
{
	return red_init(g, R);
}

LLVMValueRef cg_red_combine(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef x)
{
	return red_combine(g, R, acc, x);
}

LLVMValueRef cg_red_merge(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef other)
{
	if (R->op != OP_SUM)
		return red_combine(g, R, acc, other);
	return R->in == DT_F32 ? LLVMBuildFAdd(g->b, acc, other, "") : LLVMBuildAdd(g->b, acc, other, "");
}

LLVMValueRef cg_red_final(Cg *g, const CgRed *R, LLVMValueRef acc)
{
	return red_final(g, R, acc);
}
