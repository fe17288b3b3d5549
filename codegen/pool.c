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

enum { DYN_MAXPHI = 2 };

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

/* One window's real rows [y0, y1) and columns [x0, x1), as ir/pool.c's window(). */
typedef struct {
	LLVMValueRef y0, y1, x0, x1;
} Win;

static Win window(Cg *g, const PoolGeom *p, LLVMValueRef oy, LLVMValueRef ox)
{
	LLVMValueRef ty = LLVMBuildSub(g->b, mul(g, oy, p->sh), cg_i64(g, p->ph), "");
	LLVMValueRef tx = LLVMBuildSub(g->b, mul(g, ox, p->sw), cg_i64(g, p->pw), "");
	LLVMValueRef zero = cg_i64(g, 0);
	return (Win){ smax(g, ty, zero), smin(g, add(g, ty, cg_i64(g, p->kh)), cg_i64(g, p->h)),
		smax(g, tx, zero), smin(g, add(g, tx, cg_i64(g, p->kw)), cg_i64(g, p->w)) };
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
	DynLoop Ly, Lx;
	LLVMValueRef iy = dyn_begin(g, &Ly, w.y0, w.y1);
	LLVMValueRef row = add(g, base, mul(g, iy, p->w));
	LLVMValueRef ix = dyn_begin(g, &Lx, w.x0, w.x1);
	LLVMValueRef at = add(g, row, ix);
	cg_store(g, DT_F32, dx, at, LLVMBuildFAdd(g->b, cg_load(g, DT_F32, dx, at), d, ""));
	dyn_end(g, &Lx, NULL);
	dyn_end(g, &Ly, NULL);
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
	if (back)
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
