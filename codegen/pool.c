/*
 * pool.c — generated loops of the 2-D pooling ops over NCHW planes: a loop
 * over the planes (on the thread pool when the work is large: planes are
 * independent, forward and backward), the output rows and columns, and
 * the window's real rows and columns, whose bounds are computed at run
 * time so that padding costs nothing and a huge kernel of mostly padding
 * no more than the input it covers.  The order of every sum and of the
 * maximum search is the interpreter's (ir/pool.c), so both agree bit for
 * bit.  Whole windows (no padding) go along the output row 16 at a time
 * in vectors this file builds (pool_vector), the same order lane by lane.
 */
#include "codegen/pool.h"
#include "codegen/parallel.h"
#include "ir/pool.h"

enum {
	DYN_MAXPHI = 2,
	/* windows of at most this many elements are unrolled when they are
	   always whole (no padding): LeNet's and ResNet's 2x2 and 3x3 */
	POOL_UNROLL_MAX = 25,
	/* output columns per vector of the vector walk (pool_lanes), and the
	   most floats one of its row loads may span */
	POOL_LANES = 16,
	POOL_SPAN_MAX = 64,
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

/*
 * The vector walk: when the windows are whole (pool_unrolled), the
 * columns of an output row go POOL_LANES (or fewer: pool_lanes) at a time.
 * Each window row is one masked load of the input row's span under the
 * vectors' windows; element (r, c) of every lane's window is one shuffle
 * of it (lane l takes l * SW + c).  The maximum, its window index and the
 * sums are then the scalar walk's selects and adds, lane by lane, in the
 * same order: the same bits.  max_pool_grad over tiling windows spreads
 * its kw vectors of a row back into the span with one shuffle and stores
 * it masked.  The last vector of a row is masked to the columns left, so
 * no lane reads or writes outside the row's windows.  The scalar walk
 * leaves LLVM a chain of compares and selects per window that its loop
 * vectorizer does not take (LeNet's 2x2 pool backward: 5.5 ns a window).
 */
typedef struct {
	int64_t lanes, span; /* output columns per vector; floats of a row load (a power of 2) */
	LLVMTypeRef vf, vi, sf; /* <lanes x float>, <lanes x i32>, <span x float> */
} PoolVec;

/* Lanes per vector for p (0: the scalar walk): POOL_LANES, or fewer when
   wide strides would make a row's span exceed POOL_SPAN_MAX. */
static int64_t pool_lanes(const PoolGeom *p)
{
	if (!pool_unrolled(p) || p->ow < 2)
		return 0;
	for (int64_t l = POOL_LANES; l >= 4; l /= 2)
		if ((l - 1) * p->sw + (p->kw > p->sw ? p->kw : p->sw) <= POOL_SPAN_MAX)
			return l;
	return 0;
}

/* The <n x i32> constant e * step + first, e = 0 .. n - 1: lane masks and
   shuffles. */
static LLVMValueRef lane_consts(Cg *g, int64_t n, int64_t step, int64_t first)
{
	LLVMValueRef c[2 * POOL_SPAN_MAX];
	for (int64_t e = 0; e < n; e++)
		c[e] = cg_i32(g, (int32_t)(e * step + first));
	return LLVMConstVector(c, (unsigned)n);
}

/* The lanes e < count (an i64) of an n-lane vector. */
static LLVMValueRef lane_mask(Cg *g, int64_t n, LLVMValueRef count)
{
	LLVMTypeRef vi = LLVMVectorType(g->i32, (unsigned)n);
	LLVMValueRef c = cg_vec_splat(g->b, vi, LLVMBuildTrunc(g->b, count, g->i32, ""));
	return LLVMBuildICmp(g->b, LLVMIntSLT, lane_consts(g, n, 1, 0), c, "");
}

static LLVMValueRef masked_load(Cg *g, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef at, LLVMValueRef mask)
{
	LLVMTypeRef over[2] = { vt, g->ptrty };
	LLVMValueRef args[4] = { cg_elem_ptr(g, DT_F32, base, at), cg_i32(g, 4), mask, LLVMConstNull(vt) };
	return cg_intrinsic_n(g, "llvm.masked.load", over, 2, args, 4);
}

static void masked_store(Cg *g, LLVMValueRef val, LLVMValueRef base, LLVMValueRef at, LLVMValueRef mask)
{
	LLVMTypeRef over[2] = { LLVMTypeOf(val), g->ptrty };
	LLVMValueRef args[4] = { val, cg_elem_ptr(g, DT_F32, base, at), cg_i32(g, 4), mask };
	cg_intrinsic_n(g, "llvm.masked.store", over, 2, args, 4);
}

/* Vector lanes of window element (r, c) of the vector of windows whose
   first is output column ox0 of output row oy, left the columns cols (at
   most lanes), each lane its window's element; rows[r] caches the loads. */
static LLVMValueRef vec_elem(Cg *g, const PoolGeom *p, const PoolVec *pv, LLVMValueRef x, LLVMValueRef rowat,
	LLVMValueRef cols, LLVMValueRef *rows, int64_t r, int64_t c)
{
	if (!rows[r]) {
		/* the span the lanes' windows cover: (cols - 1) * SW + KW floats */
		LLVMValueRef n = add(g, mul(g, LLVMBuildSub(g->b, cols, cg_i64(g, 1), ""), p->sw), cg_i64(g, p->kw));
		rows[r] = masked_load(g, pv->sf, x, add(g, rowat, cg_i64(g, r * p->w)), lane_mask(g, pv->span, n));
	}
	return LLVMBuildShuffleVector(g->b, rows[r], LLVMGetPoison(pv->sf), lane_consts(g, pv->lanes, p->sw, c),
		"");
}

/* vals[0..kw) (<lanes x float> each) interleaved into one span vector,
   lane l * KW + c from vals[c]: the tiling windows' elements of one row in
   input order.  The vectors are first concatenated pairwise (poison pads
   to a power of 2), then permuted once. */
static LLVMValueRef vec_interleave(Cg *g, const PoolVec *pv, LLVMValueRef *vals, int64_t kw)
{
	LLVMValueRef cat[2 * POOL_SPAN_MAX];
	int64_t n = 1, w = pv->lanes;
	while (n < kw)
		n *= 2;
	for (int64_t c = 0; c < n; c++)
		cat[c] = c < kw ? vals[c] : LLVMGetPoison(pv->vf);
	for (; n > 1; n /= 2, w *= 2)
		for (int64_t c = 0; c < n / 2; c++)
			cat[c] = LLVMBuildShuffleVector(g->b, cat[2 * c], cat[2 * c + 1], lane_consts(g, 2 * w, 1, 0), "");
	/* lane e of the span: element e mod KW of window e / KW */
	LLVMValueRef m[POOL_SPAN_MAX];
	for (int64_t e = 0; e < pv->span; e++)
		m[e] = cg_i32(g, (int32_t)(e < pv->lanes * kw ? (e % kw) * pv->lanes + e / kw : 0));
	return LLVMBuildShuffleVector(g->b, cat[0], LLVMGetPoison(LLVMTypeOf(cat[0])), LLVMConstVector(m, (unsigned)pv->span),
		"");
}

/* One vector of output columns [ox0, ox0 + cols) of output row oy of the
   plane at base (input) and obase (output): op's work for its windows. */
static void pool_vector(Cg *g, const PoolGeom *p, const PoolVec *pv, OpKind op, LLVMValueRef x, LLVMValueRef gy,
	LLVMValueRef out, LLVMValueRef base, LLVMValueRef obase, LLVMValueRef oy, LLVMValueRef ox0, LLVMValueRef cols)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef rows[POOL_UNROLL_MAX] = { 0 };
	LLVMValueRef rowat = add(g, base, add(g, mul(g, oy, p->sh * p->w), mul(g, ox0, p->sw)));
	LLVMValueRef o = add(g, obase, add(g, mul(g, oy, p->ow), ox0));
	LLVMValueRef lanes = lane_mask(g, pv->lanes, cols);
	if (op == OP_AVG_POOL) {
		LLVMValueRef s = LLVMConstNull(pv->vf);
		for (int64_t r = 0; r < p->kh; r++)
			for (int64_t c = 0; c < p->kw; c++)
				s = LLVMBuildFAdd(b, s, vec_elem(g, p, pv, x, rowat, cols, rows, r, c), "");
		LLVMValueRef div = LLVMBuildFMul(b, cg_f32(g, (float)p->kh), cg_f32(g, (float)p->kw), "");
		masked_store(g, LLVMBuildFDiv(b, s, cg_vec_splat(g->b, pv->vf, div), ""), out, o, lanes);
		return;
	}
	/* the maximum and its row-major index in the window, the first of
	   equals, a NaN winning: window_argmax's selects */
	LLVMValueRef m = vec_elem(g, p, pv, x, rowat, cols, rows, 0, 0), at = LLVMConstNull(pv->vi);
	for (int64_t r = 0; r < p->kh; r++)
		for (int64_t c = 0; c < p->kw; c++) {
			LLVMValueRef val = vec_elem(g, p, pv, x, rowat, cols, rows, r, c);
			LLVMValueRef take = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, val, m, ""),
				LLVMBuildFCmp(b, LLVMRealUNO, val, val, ""), "");
			m = LLVMBuildSelect(b, take, val, m, "");
			at = LLVMBuildSelect(b, take, cg_vec_splat(g->b, pv->vi, cg_i32(g, (int32_t)(r * p->kw + c))), at, "");
		}
	if (op == OP_MAX_POOL) {
		masked_store(g, m, out, o, lanes);
		return;
	}
	/* max_pool_grad over tiling windows: window_route's +0 + d at the
	   argmax, 0 elsewhere, every element of the row's windows written */
	LLVMValueRef d = LLVMBuildFAdd(b, LLVMConstNull(pv->vf), masked_load(g, pv->vf, gy, o, lanes), "");
	LLVMValueRef span = lane_mask(g, pv->span, mul(g, cols, p->kw));
	for (int64_t r = 0; r < p->kh; r++) {
		LLVMValueRef vals[POOL_UNROLL_MAX];
		for (int64_t c = 0; c < p->kw; c++) {
			LLVMValueRef hit = LLVMBuildICmp(b, LLVMIntEQ, at,
				cg_vec_splat(g->b, pv->vi, cg_i32(g, (int32_t)(r * p->kw + c))), "");
			vals[c] = LLVMBuildSelect(b, hit, d, LLVMConstNull(pv->vf), "");
		}
		masked_store(g, vec_interleave(g, pv, vals, p->kw), out, add(g, rowat, cg_i64(g, r * p->w)), span);
	}
}

/* Output row oy of the plane at base (input) and obase (output), column
   by column: the scalar walk (windows with padding, the other ops). */
static void pool_row(Cg *g, const PoolGeom *p, OpKind op, bool tiles, LLVMValueRef x, LLVMValueRef gy,
	LLVMValueRef out, LLVMValueRef base, LLVMValueRef obase, LLVMValueRef oy)
{
	Loop Lx;
	LLVMValueRef ox = cg_loop_begin(g, &Lx, p->ow);
	LLVMValueRef o = add(g, obase, add(g, mul(g, oy, p->ow), ox));
	LLVMValueRef div = LLVMBuildFMul(g->b, cg_f32(g, (float)p->kh), cg_f32(g, (float)p->kw), "");
	Win w = window(g, p, oy, ox);
	switch (op) {
	case OP_MAX_POOL: {
		LLVMValueRef m;
		window_argmax(g, p, x, base, w, &m);
		cg_store(g, DT_F32, out, o, m);
		break;
	}
	case OP_MAX_POOL_GRAD: {
		if (tiles) {
			window_route(g, p, out, base, w, window_argmax(g, p, x, base, w, &(LLVMValueRef){ 0 }),
				cg_load(g, DT_F32, gy, o));
			break;
		}
		LLVMValueRef m, at = add(g, base, window_argmax(g, p, x, base, w, &m));
		LLVMValueRef sum = LLVMBuildFAdd(g->b, cg_load(g, DT_F32, out, at), cg_load(g, DT_F32, gy, o), "");
		cg_store(g, DT_F32, out, at, sum);
		break;
	}
	case OP_AVG_POOL:
		cg_store(g, DT_F32, out, o, LLVMBuildFDiv(g->b, window_sum(g, p, x, base, w), div, ""));
		break;
	default: /* OP_AVG_POOL_GRAD */
		window_spread(g, p, out, base, w, LLVMBuildFDiv(g->b, cg_load(g, DT_F32, gy, o), div, ""));
		break;
	}
	cg_loop_end(g, &Lx);
}

/* Output row oy in vectors of lanes columns (pool_vector), the last one
   masked to the columns left. */
static void pool_row_vectors(Cg *g, const PoolGeom *p, int64_t lanes, OpKind op, LLVMValueRef x, LLVMValueRef gy,
	LLVMValueRef out, LLVMValueRef base, LLVMValueRef obase, LLVMValueRef oy)
{
	PoolVec pv = { lanes, 1, LLVMVectorType(g->f32, (unsigned)lanes), LLVMVectorType(g->i32, (unsigned)lanes), NULL };
	while (pv.span < (lanes - 1) * p->sw + (p->kw > p->sw ? p->kw : p->sw))
		pv.span *= 2;
	pv.sf = LLVMVectorType(g->f32, (unsigned)pv.span);
	Loop Lx;
	LLVMValueRef ox0 = mul(g, cg_loop_begin(g, &Lx, (p->ow + lanes - 1) / lanes), lanes);
	LLVMValueRef left = LLVMBuildSub(g->b, cg_i64(g, p->ow), ox0, "");
	pool_vector(g, p, &pv, op, x, gy, out, base, obase, oy, ox0, smin(g, left, cg_i64(g, lanes)));
	cg_loop_end(g, &Lx);
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
	/* overlapping windows' gradients add into shared elements: only the
	   ops that write each output element once go in vectors */
	int64_t lanes = op == OP_AVG_POOL_GRAD || (op == OP_MAX_POOL_GRAD && !tiles) ? 0 : pool_lanes(&p);
	/* the planes are independent: large work goes to the pool */
	int64_t work = planes * (plane > oplane ? plane : oplane);
	bool par = planes > 1 && work >= cg_par_min();
	Loop Lp, Ly;
	ParLoop P;
	LLVMValueRef pi = par ? cg_par_begin(g, &P, planes) : cg_loop_begin(g, &Lp, planes);
	LLVMValueRef base = mul(g, pi, plane), obase = mul(g, pi, oplane);
	LLVMValueRef oy = cg_loop_begin(g, &Ly, p.oh);
	if (lanes)
		pool_row_vectors(g, &p, lanes, op, x, gy, g->ptr[v], base, obase, oy);
	else
		pool_row(g, &p, op, tiles, x, gy, g->ptr[v], base, obase, oy);
	cg_loop_end(g, &Ly);
	if (par)
		cg_par_end(g, &P);
	else
		cg_loop_end(g, &Lp);
}
