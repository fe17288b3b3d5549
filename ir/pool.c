/*
 * pool.c — 2-D pooling over NCHW tensors: the window geometry (pool.h),
 * the shape rules of max_pool, avg_pool (the language's max_pool2d and
 * avg_pool2d) and their backward ops, and their reference kernels.  The kernels are direct loops, window by window
 * in row-major order; codegen/pool.c emits the same loops, in the same
 * order, so both paths round alike.
 */
#include "ir/interp.h"
#include "ir/pool.h"

#include <math.h>
#include <stdio.h>

/* The message into err (when there is room), and false. */
#define POOL_FAIL(...) return (err && errlen ? (void)snprintf(err, errlen, __VA_ARGS__) : (void)0), false

bool ir_pool_geom(const char *op, const Type *x, const int64_t *ia, int nia, PoolGeom *g, char *err, size_t errlen)
{
	char tx[160];
	if (x->rank < 0 || x->rank > MAX_RANK || (unsigned)x->dt >= DT_COUNT)
		POOL_FAIL("%s: bad input type", op);
	type_str(x, tx, sizeof tx);
	if (x->rank != 4 || x->dt != DT_F32)
		POOL_FAIL("%s needs an input f32[N, C, H, W], got %s", op, tx);
	if (x->dim[1] < 1 || x->dim[2] < 1 || x->dim[3] < 1)
		POOL_FAIL("%s needs C, H and W of at least 1, got %s", op, tx);
	if (nia != 6)
		POOL_FAIL("%s: needs a window of 6 ints (kernel, stride, padding), got %d", op, nia);
	*g = (PoolGeom){ .n = x->dim[0], .c = x->dim[1], .h = x->dim[2], .w = x->dim[3],
		.kh = ia[0], .kw = ia[1], .sh = ia[2], .sw = ia[3], .ph = ia[4], .pw = ia[5] };
	if (g->kh < 1 || g->kw < 1)
		POOL_FAIL("%s of %s: kernel [%lld, %lld] must be at least 1", op, tx, (long long)g->kh,
			(long long)g->kw);
	if (g->sh < 1 || g->sw < 1)
		POOL_FAIL("%s of %s: stride [%lld, %lld] must be at least 1", op, tx, (long long)g->sh,
			(long long)g->sw);
	if (g->ph < 0 || g->pw < 0)
		POOL_FAIL("%s of %s: padding [%lld, %lld] must not be negative", op, tx, (long long)g->ph,
			(long long)g->pw);
	if (g->ph > g->kh / 2 || g->pw > g->kw / 2)
		POOL_FAIL("%s of %s: padding [%lld, %lld] must be at most half the kernel [%lld, %lld]", op, tx,
			(long long)g->ph, (long long)g->pw, (long long)g->kh, (long long)g->kw);
	/* 2*ph <= kh here, so neither side overflows */
	if (g->kh - 2 * g->ph > g->h || g->kw - 2 * g->pw > g->w)
		POOL_FAIL("%s of %s: kernel [%lld, %lld] is larger than the input's %lld x %lld padded by [%lld, %lld]", op, tx,
			(long long)g->kh, (long long)g->kw, (long long)g->h, (long long)g->w, (long long)g->ph, (long long)g->pw);
	g->oh = (g->h - (g->kh - 2 * g->ph)) / g->sh + 1;
	g->ow = (g->w - (g->kw - 2 * g->pw)) / g->sw + 1;
	return true;
}

Type ir_pool_out(const PoolGeom *g)
{
	return type_make(DT_F32, 4, (int64_t[]){ g->n, g->c, g->oh, g->ow });
}

/* ---- shape rules ---- */

bool sh_pool(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	PoolGeom g;
	if (!ir_pool_geom(op_info[n->op].name, &r->node[args[0]].type, n->ia, n->nia, &g, err, errlen))
		return false;
	n->type = ir_pool_out(&g);
	return true;
}

/* The backward ops: g must be what pooling x (of type x) by the window gives. */
static bool pool_grad_shape(Node *n, const Type *x, const Type *gt, char *err, size_t errlen)
{
	const char *op = op_info[n->op].name;
	PoolGeom g;
	if (!ir_pool_geom(op, x, n->ia, n->nia, &g, err, errlen))
		return false;
	Type want = ir_pool_out(&g);
	if (!type_eq(&want, gt)) {
		char a[160], b[160], c[160];
		POOL_FAIL("%s: the gradient %s is not the pooled shape %s of %s", op,
			type_str(gt, a, sizeof a), type_str(&want, b, sizeof b), type_str(x, c, sizeof c));
	}
	n->type = *x;
	return true;
}

bool sh_max_pool_grad(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	return pool_grad_shape(n, &r->node[args[0]].type, &r->node[args[1]].type, err, errlen);
}

bool sh_avg_pool_grad(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	Type x = n->type; /* given: the input's type */
	return pool_grad_shape(n, &x, &r->node[args[0]].type, err, errlen);
}

/* ---- reference kernels ---- */

/* The geometry of pooling node v, whose shape rule accepted it. */
static PoolGeom node_geom(const Region *r, int v, const Type *x)
{
	PoolGeom g;
	if (!ir_pool_geom("pool", x, r->node[v].ia, r->node[v].nia, &g, NULL, 0))
		die("interp: bad pooling window at %%%d", v);
	return g;
}

/* The real rows [*y0, *y1) and columns [*x0, *x1) of window (oy, ox):
   clamped first, so a huge kernel of mostly padding costs no more than
   the input it covers. */
static void window(const PoolGeom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1, int64_t *x0, int64_t *x1)
{
	int64_t ty = oy * g->sh - g->ph, tx = ox * g->sw - g->pw;
	*y0 = ty < 0 ? 0 : ty;
	*y1 = ty + g->kh < g->h ? ty + g->kh : g->h;
	*x0 = tx < 0 ? 0 : tx;
	*x1 = tx + g->kw < g->w ? tx + g->kw : g->w;
}

/*
 * The offset in plane p of window (oy, ox)'s maximum: the first in
 * row-major window order, except that a NaN wins (PyTorch's CPU rule:
 * `val > max || isnan(val)`).  Windows always hold a real element
 * (padding is at most half the kernel).
 */
static int64_t window_argmax(const PoolGeom *g, const float *p, int64_t oy, int64_t ox)
{
	int64_t y0, y1, x0, x1;
	window(g, oy, ox, &y0, &y1, &x0, &x1);
	int64_t best = y0 * g->w + x0;
	float m = p[best];
	for (int64_t iy = y0; iy < y1; iy++)
		for (int64_t ix = x0; ix < x1; ix++) {
			float x = p[iy * g->w + ix];
			if (x > m || isnan(x)) {
				best = iy * g->w + ix;
				m = x;
			}
		}
	return best;
}

KERNEL(ik_max_pool)
{
	PoolGeom g = node_geom(r, v, &in[0]->type);
	const float *x = in[0]->data;
	float *y = out->data;
	for (int64_t p = 0; p < g.n * g.c; p++, x += g.h * g.w)
		for (int64_t oy = 0; oy < g.oh; oy++)
			for (int64_t ox = 0; ox < g.ow; ox++)
				*y++ = x[window_argmax(&g, x, oy, ox)];
}

KERNEL(ik_max_pool_grad)
{
	PoolGeom g = node_geom(r, v, &in[0]->type);
	const float *x = in[0]->data, *gy = in[1]->data;
	float *dx = out->data;
	memset(dx, 0, tbytes(&out->type));
	for (int64_t p = 0; p < g.n * g.c; p++, x += g.h * g.w, dx += g.h * g.w)
		for (int64_t oy = 0; oy < g.oh; oy++)
			for (int64_t ox = 0; ox < g.ow; ox++)
				dx[window_argmax(&g, x, oy, ox)] += *gy++;
}

/* The padded zeros count: every window divides by kh * kw (PyTorch's
   count_include_pad = True). */
KERNEL(ik_avg_pool)
{
	PoolGeom g = node_geom(r, v, &in[0]->type);
	const float *x = in[0]->data;
	float *y = out->data, div = (float)g.kh * (float)g.kw;
	for (int64_t p = 0; p < g.n * g.c; p++, x += g.h * g.w)
		for (int64_t oy = 0; oy < g.oh; oy++)
			for (int64_t ox = 0; ox < g.ow; ox++) {
				int64_t y0, y1, x0, x1;
				window(&g, oy, ox, &y0, &y1, &x0, &x1);
				float s = 0;
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						s += x[iy * g.w + ix];
				*y++ = s / div;
			}
}

KERNEL(ik_avg_pool_grad)
{
	PoolGeom g = node_geom(r, v, &out->type);
	const float *gy = in[0]->data;
	float *dx = out->data, div = (float)g.kh * (float)g.kw;
	memset(dx, 0, tbytes(&out->type));
	for (int64_t p = 0; p < g.n * g.c; p++, dx += g.h * g.w)
		for (int64_t oy = 0; oy < g.oh; oy++)
			for (int64_t ox = 0; ox < g.ow; ox++) {
				int64_t y0, y1, x0, x1;
				window(&g, oy, ox, &y0, &y1, &x0, &x1);
				float d = *gy++ / div;
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						dx[iy * g.w + ix] += d;
			}
}
