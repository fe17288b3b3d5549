/*
 * pool.c — generated loops of the 2-D pooling ops over NCHW planes: a loop
 * over the planes (on the thread pool when the work is large: planes are
 * independent, forward and backward), the output rows and columns, and
 * the window's real rows and columns, whose bounds are computed at run
 * time so that padding costs nothing and a huge kernel of mostly padding
 * no more than the input it covers.  The order of every sum and of the
 * maximum search is the interpreter's (ir/pool.c), so both agree bit for
 * bit.
 */
#include "codegen/pool.h"
#include "codegen/parallel.h"
#include "ir/pool.h"

enum {
	DYN_MAXPHI = 2,
	/* windows of at most this many elements are unrolled when they are
	   always whole (no padding): LeNet's and ResNet's 2x2 and 3x3 */
	POOL_UNROLL_MAX = 25,
};

/* A loop lo <= i < hi whose bounds are run-time values, tested at the top
   (the window may be empty of real rows only in theory: the shape rule
   keeps one, but a zero-trip loop costs nothing to allow). */
typedef struct {
	LLVMBasicBlockRef pre, head, exit;
	LLVMValueRef i, cmp;
	LLVMValueRef phi[DYN_MAXPHI], next[DYN_MAXPHI];
	int nphi;
} DynLoop;

static LLVMValueRef dyn_begin(Cg *g, DynLoop *L, LLVMValueRef lo, LLVMValueRef hi)
{
	L->nphi = 0;
	L->pre = LLVMGetInsertBlock(g->b);
	L->head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "win");
	LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "winbody");
	L->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "windone");
	LLVMBuildBr(g->b, L->head);
	LLVMPositionBuilderAtEnd(g->b, L->head);
	L->i = LLVMBuildPhi(g->b, g->i64, "w");
	LLVMAddIncoming(L->i, &lo, &L->pre, 1);
	L->cmp = LLVMBuildICmp(g->b, LLVMIntSLT, L->i, hi, "");
	LLVMBuildCondBr(g->b, L->cmp, body, L->exit);
	LLVMPositionBuilderAtEnd(g->b, body);
	return L->i;
}

/* A value carried by the loop, init on entry; after the loop it is the
   final value.  Call right after dyn_begin. */
static LLVMValueRef dyn_phi(Cg *g, DynLoop *L, LLVMTypeRef t, LLVMValueRef init)
{
	LLVMBasicBlockRef at = LLVMGetInsertBlock(g->b);
	LLVMPositionBuilderBefore(g->b, L->cmp);
	LLVMValueRef p = LLVMBuildPhi(g->b, t, "acc");
	LLVMAddIncoming(p, &init, &L->pre, 1);
	LLVMPositionBuilderAtEnd(g->b, at);
	L->phi[L->nphi++] = p;
	return p;
}

/* Ends the loop; next[k] is phi k's value for the next iteration. */
static void dyn_end(Cg *g, DynLoop *L, const LLVMValueRef *next)
{
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
	LLVMValueRef n = LLVMBuildAdd(g->b, L->i, cg_i64(g, 1), "");
	LLVMAddIncoming(L->i, &n, &latch, 1);
	for (int k = 0; k < L->nphi; k++)
		LLVMAddIncoming(L->phi[k], (LLVMValueRef *)&next[k], &latch, 1);
	LLVMBuildBr(g->b, L->head);
	LLVMPositionBuilderAtEnd(g->b, L->exit);
}

static LLVMValueRef smax(Cg *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSGT, a, b, ""), a, b, "");
}

static LLVMValueRef smin(Cg *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

static LLVMValueRef mul(Cg *g, LLVMValueRef a, int64_t b)
{
	return LLVMBuildMul(g->b, a, cg_i64(g, b), "");
}

static LLVMValueRef add(Cg *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildAdd(g->b, a, b, "");
}

/* One window's real rows [y0, y1) and columns [x0, x1), as ir/pool.c's
   window().  whole: no padding, so every window is kh x kw real elements
   (the shape rule puts the last one inside the input) and its loops have
   constant trip counts: they are emitted unrolled, a straight line of
   loads at constant offsets from the window's first element, in the same
   row-major order as the run-time loops (the same bits). */
typedef struct {
	LLVMValueRef y0, y1, x0, x1;
	bool whole;
} Win;

/* Whether cg_pool unrolls its windows (Win.whole): no padding, and a
   window small enough that the straight line stays short. */
static bool pool_unrolled(const PoolGeom *p)
{
	return p->ph == 0 && p->pw == 0 && p->kh * p->kw <= POOL_UNROLL_MAX;
}

static Win window(Cg *g, const PoolGeom *p, LLVMValueRef oy, LLVMValueRef ox)
{
	LLVMValueRef ty = LLVMBuildSub(g->b, mul(g, oy, p->sh), cg_i64(g, p->ph), "");
	LLVMValueRef tx = LLVMBuildSub(g->b, mul(g, ox, p->sw), cg_i64(g, p->pw), "");
	LLVMValueRef zero = cg_i64(g, 0);
	if (pool_unrolled(p))
		return (Win){ ty, NULL, tx, NULL, true };
	return (Win){ smax(g, ty, zero), smin(g, add(g, ty, cg_i64(g, p->kh)), cg_i64(g, p->h)),
		smax(g, tx, zero), smin(g, add(g, tx, cg_i64(g, p->kw)), cg_i64(g, p->w)), false };
}

/* The plane offset of element (r, c) of a whole window starting at first. */
static LLVMValueRef whole_at(Cg *g, const PoolGeom *p, LLVMValueRef first, int64_t r, int64_t c)
{
	return add(g, first, cg_i64(g, r * p->w + c));
}

/*
 * The offset within the plane at base of the window's maximum: the first
 * in row-major order, a NaN winning (val > max || isnan(val)), starting
 * from the window's first real element, as the interpreter.
 */
static LLVMValueRef window_argmax(Cg *g, const PoolGeom *p, LLVMValueRef x, LLVMValueRef base, Win w, LLVMValueRef *max)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef first = add(g, mul(g, w.y0, p->w), w.x0);
	LLVMValueRef m0 = cg_load(g, DT_F32, x, add(g, base, first));
	if (w.whole) {
		LLVMValueRef m = m0, at0 = first;
		for (int64_t r = 0; r < p->kh; r++)
			for (int64_t c = 0; c < p->kw; c++) {
				LLVMValueRef at = whole_at(g, p, first, r, c);
				LLVMValueRef val = cg_load(g, DT_F32, x, add(g, base, at));
				LLVMValueRef take = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, val, m, ""),
					LLVMBuildFCmp(b, LLVMRealUNO, val, val, ""), "");
				m = LLVMBuildSelect(b, take, val, m, "");
				at0 = LLVMBuildSelect(b, take, at, at0, "");
			}
		*max = m;
		return at0;
	}
	DynLoop Ly, Lx;
	LLVMValueRef iy = dyn_begin(g, &Ly, w.y0, w.y1);
	LLVMValueRef my = dyn_phi(g, &Ly, g->f32, m0), by = dyn_phi(g, &Ly, g->i64, first);
	LLVMValueRef row = mul(g, iy, p->w);
	LLVMValueRef ix = dyn_begin(g, &Lx, w.x0, w.x1);
	LLVMValueRef mx = dyn_phi(g, &Lx, g->f32, my), bx = dyn_phi(g, &Lx, g->i64, by);
	LLVMValueRef at = add(g, row, ix);
	LLVMValueRef val = cg_load(g, DT_F32, x, add(g, base, at));
	LLVMValueRef take = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, val, mx, ""),
		LLVMBuildFCmp(b, LLVMRealUNO, val, val, ""), "");
	LLVMValueRef nx[2] = { LLVMBuildSelect(b, take, val, mx, ""), LLVMBuildSelect(b, take, at, bx, "") };
	dyn_end(g, &Lx, nx);
	LLVMValueRef ny[2] = { mx, bx };
	dyn_end(g, &Ly, ny);
	*max = my;
	return by;
}

/* The sum of the window's real elements, row-major, from +0. */
static LLVMValueRef window_sum(Cg *g, const PoolGeom *p, LLVMValueRef x, LLVMValueRef base, Win w)
{
	if (w.whole) {
		LLVMValueRef first = add(g, base, add(g, mul(g, w.y0, p->w), w.x0)), s = cg_f32(g, 0);
		for (int64_t r = 0; r < p->kh; r++)
			for (int64_t c = 0; c < p->kw; c++)
				s = LLVMBuildFAdd(g->b, s, cg_load(g, DT_F32, x, whole_at(g, p, first, r, c)), "");
		return s;
	}
	DynLoop Ly, Lx;
	LLVMValueRef iy = dyn_begin(g, &Ly, w.y0, w.y1);
	LLVMValueRef sy = dyn_phi(g, &Ly, g->f32, cg_f32(g, 0));
	LLVMValueRef row = add(g, base, mul(g, iy, p->w));
	LLVMValueRef ix = dyn_begin(g, &Lx, w.x0, w.x1);
	LLVMValueRef sx = dyn_phi(g, &Lx, g->f32, sy);
	LLVMValueRef nx = LLVMBuildFAdd(g->b, sx, cg_load(g, DT_F32, x, add(g, row, ix)), "");
	dyn_end(g, &Lx, &nx);
	dyn_end(g, &Ly, &sx);
	return sy;
}

/* dx[base + every real element of the window] += d, row-major. */
static void window_spread(Cg *g, const PoolGeom *p, LLVMValueRef dx, LLVMValueRef base, Win w, LLVMValueRef d)
{
	if (w.whole) {
		LLVMValueRef first = add(g, base, add(g, mul(g, w.y0, p->w), w.x0));
		for (int64_t r = 0; r < p->kh; r++)
			for (int64_t c = 0; c < p->kw; c++) {
				LLVMValueRef at = whole_at(g, p, first, r, c);
				cg_store(g, DT_F32, dx, at, LLVMBuildFAdd(g->b, cg_load(g, DT_F32, dx, at), d, ""));
			}
		return;
	}
	DynLoop Ly, Lx;
	LLVMValueRef iy = dyn_begin(g, &Ly, w.y0, w.y1);
	LLVMValueRef row = add(g, base, mul(g, iy, p->w));
	LLVMValueRef ix = dyn_begin(g, &Lx, w.x0, w.x1);
	LLVMValueRef at = add(g, row, ix);
	cg_store(g, DT_F32, dx, at, LLVMBuildFAdd(g->b, cg_load(g, DT_F32, dx, at), d, ""));
	dyn_end(g, &Lx, NULL);
	dyn_end(g, &Ly, NULL);
}

/* The whole window's elements of dx written once: d at the argmax (the
   plane offset am), 0 elsewhere; d as +0 + d, the bits of the add into a
   zeroed dx that the other paths and the interpreter make (-0 becomes +0). */
static void window_route(Cg *g, const PoolGeom *p, LLVMValueRef dx, LLVMValueRef base, Win w, LLVMValueRef am,
	LLVMValueRef d)
{
	LLVMValueRef first = add(g, mul(g, w.y0, p->w), w.x0), zero = cg_f32(g, 0);
	LLVMValueRef val = LLVMBuildFAdd(g->b, zero, d, "");
	for (int64_t r = 0; r < p->kh; r++)
		for (int64_t c = 0; c < p->kw; c++) {
			LLVMValueRef at = whole_at(g, p, first, r, c);
			LLVMValueRef hit = LLVMBuildICmp(g->b, LLVMIntEQ, at, am, "");
			cg_store(g, DT_F32, dx, add(g, base, at), LLVMBuildSelect(g->b, hit, val, zero, ""));
		}
}

void cg_pool(Cg *g, int v)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	OpKind op = nd->op;
	/* the input's type: the first operand's, or avg_pool_grad's own */
	const Type *xt = op == OP_AVG_POOL_GRAD ? &nd->type : &r->node[ir_operand(r, v, 0)].type;
	PoolGeom p;
	char err[256];
	if (!ir_pool_geom(op_info[op].name, xt, nd->ia, nd->nia, &p, err, sizeof err))
		die("codegen: %s", err);
	bool back = op == OP_MAX_POOL_GRAD || op == OP_AVG_POOL_GRAD;
	/* max_pool_grad over windows that tile the input (whole, stride =
	   kernel) writes every element of each window once, the gradient at
	   the argmax and 0 elsewhere, instead of zeroing dx first and adding
	   into it; only the rows and columns no window covers are zeroed
	   first (all of dx, which is cheap beside the walk, when any is). */
	bool tiles = op == OP_MAX_POOL_GRAD && pool_unrolled(&p) && p.sh == p.kh && p.sw == p.kw;
	bool covered = tiles && p.oh * p.kh == p.h && p.ow * p.kw == p.w;
	if (back && !covered)
		cg_memset0(g, g->ptr[v], type_bytes(&nd->type));
	int64_t planes = p.n * p.c, plane = p.h * p.w, oplane = p.oh * p.ow;
	if (planes == 0)
		return;
	LLVMValueRef x = g->ptr[ir_operand(r, v, 0)]; /* the input, or the gradient g */
	LLVMValueRef gy = op == OP_MAX_POOL_GRAD ? g->ptr[ir_operand(r, v, 1)] : x;
	LLVMValueRef div = LLVMBuildFMul(g->b, cg_f32(g, (float)p.kh), cg_f32(g, (float)p.kw), "");
	/* the planes are independent: large work goes to the pool */
	int64_t work = planes * (plane > oplane ? plane : oplane);
	bool par = planes > 1 && work >= cg_par_min();
	Loop Lp, Ly, Lx;
	ParLoop P;
	LLVMValueRef pi = par ? cg_par_begin(g, &P, planes) : cg_loop_begin(g, &Lp, planes);
	LLVMValueRef base = mul(g, pi, plane), obase = mul(g, pi, oplane);
	LLVMValueRef oy = cg_loop_begin(g, &Ly, p.oh);
	LLVMValueRef ox = cg_loop_begin(g, &Lx, p.ow);
	LLVMValueRef o = add(g, obase, add(g, mul(g, oy, p.ow), ox));
	Win w = window(g, &p, oy, ox);
	switch (op) {
	case OP_MAX_POOL: {
		LLVMValueRef m;
		window_argmax(g, &p, x, base, w, &m);
		cg_store(g, DT_F32, g->ptr[v], o, m);
		break;
	}
	case OP_MAX_POOL_GRAD: {
		if (tiles) {
			window_route(g, &p, g->ptr[v], base, w, window_argmax(g, &p, x, base, w, &(LLVMValueRef){ 0 }),
				cg_load(g, DT_F32, gy, o));
			break;
		}
		LLVMValueRef m, at = add(g, base, window_argmax(g, &p, x, base, w, &m));
		LLVMValueRef sum = LLVMBuildFAdd(g->b, cg_load(g, DT_F32, g->ptr[v], at), cg_load(g, DT_F32, gy, o), "");
		cg_store(g, DT_F32, g->ptr[v], at, sum);
		break;
	}
	case OP_AVG_POOL:
		cg_store(g, DT_F32, g->ptr[v], o, LLVMBuildFDiv(g->b, window_sum(g, &p, x, base, w), div, ""));
		break;
	default: /* OP_AVG_POOL_GRAD */
		window_spread(g, &p, g->ptr[v], base, w, LLVMBuildFDiv(g->b, cg_load(g, DT_F32, gy, o), div, ""));
		break;
	}
	cg_loop_end(g, &Lx);
	cg_loop_end(g, &Ly);
	if (par)
		cg_par_end(g, &P);
	else
		cg_loop_end(g, &Lp);
}
