/*
 * grad.c — the gradient rule of every differentiable primitive, named in
 * ops.def.  A rule receives g = d L / d %v and hands each operand its
 * contribution through ad_accum, emitting ordinary IR through the builder,
 * so the backward graph goes through the same passes as the forward one.
 *
 * Rules may emit nodes for operands that need no gradient (ad_accum then
 * drops the contribution); autodiff removes such dead nodes afterwards, so
 * rules stay simple.  Rules never hold a Node pointer across an emit: the
 * node array may move.
 */
#include "ir/attention.h"
#include "ir/conv.h"
#include "ir/ops.h"

#include <string.h>

static Type ty(AdCtx *ad, int v)
{
	return ad_region(ad)->node[v].type;
}

static int arg(AdCtx *ad, int v, int k)
{
	return ir_operand(ad_region(ad), v, k);
}

static int scalar(AdCtx *ad, double x)
{
	return ir_const(ad_region(ad), type_scalar(DT_F32), x);
}

static int op1(AdCtx *ad, OpKind op, int a)
{
	return ir_op1(ad_region(ad), op, a);
}

static int op2(AdCtx *ad, OpKind op, int a, int b)
{
	return ir_op2(ad_region(ad), op, a, b);
}

/* Contribution c has the broadcast result's shape; sum it down to x's type. */
static void give(AdCtx *ad, int x, int c)
{
	ad_accum(ad, x, ir_sum_to(ad_region(ad), c, ty(ad, x)));
}

void gr_none(AdCtx *ad, int v, int g)
{
	(void)ad, (void)v, (void)g;
}

/* ---- elementwise, one operand (y = %v, x = its operand) ---- */

void gr_neg(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), op1(ad, OP_NEG, g));
}

void gr_exp(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), op2(ad, OP_MUL, g, v));
}

void gr_log(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	give(ad, x, op2(ad, OP_DIV, g, x));
}

void gr_sqrt(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), op2(ad, OP_MUL, g, op2(ad, OP_DIV, scalar(ad, 0.5), v)));
}

void gr_rsqrt(AdCtx *ad, int v, int g)
{
	/* d x^-1/2 = -1/2 x^-3/2 = -1/2 y^3 */
	int y3 = op2(ad, OP_MUL, v, op2(ad, OP_MUL, v, v));
	give(ad, arg(ad, v, 0), op2(ad, OP_MUL, g, op2(ad, OP_MUL, scalar(ad, -0.5), y3)));
}

void gr_tanh(AdCtx *ad, int v, int g)
{
	int d = op2(ad, OP_SUB, scalar(ad, 1.0), op2(ad, OP_MUL, v, v));
	give(ad, arg(ad, v, 0), op2(ad, OP_MUL, g, d));
}

void gr_sigmoid(AdCtx *ad, int v, int g)
{
	int d = op2(ad, OP_MUL, v, op2(ad, OP_SUB, scalar(ad, 1.0), v));
	give(ad, arg(ad, v, 0), op2(ad, OP_MUL, g, d));
}

void gr_relu(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0), zero = scalar(ad, 0.0);
	give(ad, x, ir_op3(ad_region(ad), OP_WHERE, op2(ad, OP_GT, x, zero), g, zero));
}

void gr_abs(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	give(ad, x, op2(ad, OP_MUL, g, op1(ad, OP_SIGN, x)));
}

void gr_sin(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	give(ad, x, op2(ad, OP_MUL, g, op1(ad, OP_COS, x)));
}

void gr_cos(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	give(ad, x, op1(ad, OP_NEG, op2(ad, OP_MUL, g, op1(ad, OP_SIN, x))));
}

void gr_erf(AdCtx *ad, int v, int g)
{
	/* erf'(x) = 2/sqrt(pi) exp(-x^2) */
	int x = arg(ad, v, 0);
	int e = op1(ad, OP_EXP, op1(ad, OP_NEG, op2(ad, OP_MUL, x, x)));
	give(ad, x, op2(ad, OP_MUL, g, op2(ad, OP_MUL, scalar(ad, 1.1283791670955126), e)));
}

void gr_cast(AdCtx *ad, int v, int g)
{
	/* only floats carry a gradient (integers are constant here); through a
	   cast between f32 and bf16 it passes unchanged, in f32 (ad_accum) */
	int x = arg(ad, v, 0);
	DType from = ty(ad, x).dt;
	if (from == DT_F32 || from == DT_BF16)
		ad_accum(ad, x, g);
}

/* ---- elementwise, two or three operands (broadcasting) ---- */

void gr_add(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), g);
	give(ad, arg(ad, v, 1), g);
}

void gr_sub(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), g);
	give(ad, arg(ad, v, 1), op1(ad, OP_NEG, g));
}

void gr_mul(AdCtx *ad, int v, int g)
{
	int a = arg(ad, v, 0), b = arg(ad, v, 1);
	give(ad, a, op2(ad, OP_MUL, g, b));
	give(ad, b, op2(ad, OP_MUL, g, a));
}

void gr_div(AdCtx *ad, int v, int g)
{
	/* d(a/b)/db = -a/b^2 = -y/b */
	int a = arg(ad, v, 0), b = arg(ad, v, 1);
	give(ad, a, op2(ad, OP_DIV, g, b));
	give(ad, b, op1(ad, OP_NEG, op2(ad, OP_DIV, op2(ad, OP_MUL, g, v), b)));
}

void gr_pow(AdCtx *ad, int v, int g)
{
	int a = arg(ad, v, 0), b = arg(ad, v, 1), zero = scalar(ad, 0.0);
	/* b * a^(b-1) rather than b*y/a, which breaks at a = 0 */
	int da = op2(ad, OP_MUL, b, op2(ad, OP_POW, a, op2(ad, OP_SUB, b, scalar(ad, 1.0))));
	give(ad, a, op2(ad, OP_MUL, g, da));
	/* log(a) * y, with log taken as 0 where a <= 0 (integer powers of negatives) */
	int la = ir_op3(ad_region(ad), OP_WHERE, op2(ad, OP_GT, a, zero), op1(ad, OP_LOG, a), zero);
	give(ad, b, op2(ad, OP_MUL, g, op2(ad, OP_MUL, la, v)));
}

/* maximum/minimum: a gets the gradient where it was chosen (ties go to a), b elsewhere */
static void pick(AdCtx *ad, int v, int g, OpKind cmp)
{
	int a = arg(ad, v, 0), b = arg(ad, v, 1), zero = scalar(ad, 0.0);
	int m = op2(ad, cmp, a, b);
	give(ad, a, ir_op3(ad_region(ad), OP_WHERE, m, g, zero));
	give(ad, b, ir_op3(ad_region(ad), OP_WHERE, m, zero, g));
}

void gr_maximum(AdCtx *ad, int v, int g)
{
	pick(ad, v, g, OP_GE);
}

void gr_minimum(AdCtx *ad, int v, int g)
{
	pick(ad, v, g, OP_LE);
}

void gr_where(AdCtx *ad, int v, int g)
{
	int c = arg(ad, v, 0), zero = scalar(ad, 0.0);
	give(ad, arg(ad, v, 1), ir_op3(ad_region(ad), OP_WHERE, c, g, zero));
	give(ad, arg(ad, v, 2), ir_op3(ad_region(ad), OP_WHERE, c, zero, g));
}

/* ---- reductions ---- */

/* The reduction's result with its reduced axes kept as size 1. */
static Type keep_type(AdCtx *ad, int v)
{
	const Node *n = &ad_region(ad)->node[v];
	Type t = ty(ad, arg(ad, v, 0));
	for (int k = 0; k < n->nia; k++)
		t.dim[n->ia[k]] = 1;
	return t;
}

static int keep_shape(AdCtx *ad, int v, int x)
{
	Type t = keep_type(ad, v), xt = ty(ad, x);
	return type_eq(&xt, &t) ? x : ir_reshape(ad_region(ad), x, t);
}

void gr_sum(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	Type xt = ty(ad, x);
	int gk = keep_shape(ad, v, g);
	Type gt = ty(ad, gk);
	give(ad, x, type_eq(&gt, &xt) ? gk : ir_broadcast(ad_region(ad), gk, xt));
}

void gr_maxmin(AdCtx *ad, int v, int g)
{
	/* the gradient is shared equally among the elements that tie for the extremum */
	Region *r = ad_region(ad);
	const Node *n = &r->node[v];
	int axes[MAX_RANK], nax = n->nia, x = arg(ad, v, 0);
	for (int k = 0; k < nax; k++)
		axes[k] = (int)n->ia[k];
	int mask = ir_cast(r, op2(ad, OP_EQ, x, keep_shape(ad, v, v)), DT_F32);
	int count = ir_reduce(r, OP_SUM, mask, axes, nax, true);
	give(ad, x, op2(ad, OP_MUL, mask, op2(ad, OP_DIV, keep_shape(ad, v, g), count)));
}

/* ---- shape ---- */

void gr_reshape(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	ad_accum(ad, x, ir_reshape(ad_region(ad), g, ty(ad, x)));
}

void gr_broadcast(AdCtx *ad, int v, int g)
{
	give(ad, arg(ad, v, 0), g);
}

void gr_transpose(AdCtx *ad, int v, int g)
{
	const Node *n = &ad_region(ad)->node[v];
	int inv[MAX_RANK];
	for (int k = 0; k < n->nia; k++)
		inv[n->ia[k]] = k;
	ad_accum(ad, arg(ad, v, 0), ir_transpose(ad_region(ad), g, inv));
}

/* Emits the one-operand node described by p on g. */
static int emit1(AdCtx *ad, Node *p, int g)
{
	char err[400];
	int s = ir_emit(ad_region(ad), p, &g, 1, err, sizeof err);
	if (s < 0)
		die("autodiff: %s", err);
	return s;
}

void gr_concat(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	int ax = (int)r->node[v].ia[0], narg = r->node[v].narg;
	Type t = ty(ad, v);
	int64_t at = 0;
	for (int k = 0; k < narg; k++) {
		int x = arg(ad, v, k);
		int64_t d = ty(ad, x).dim[ax];
		Node p = ir_proto(OP_SLICE);
		for (int a = 0; a < t.rank; a++) {
			p.ia[3 * a] = a == ax ? at : 0;
			p.ia[3 * a + 1] = a == ax ? at + d : t.dim[a];
			p.ia[3 * a + 2] = 1;
		}
		p.nia = 3 * t.rank;
		ad_accum(ad, x, emit1(ad, &p, g));
		at += d;
	}
}

/* pack: operand k's part of the gradient, sliced out and reshaped */
void gr_pack(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	for (int k = 0; k < r->node[v].narg; k++) {
		int x = arg(ad, v, k);
		Type t = ty(ad, x);
		int64_t at = ir_pack_start(r, v, k) / 4;
		Node p = ir_proto(OP_SLICE);
		p.ia[0] = at;
		p.ia[1] = at + type_numel(&t);
		p.ia[2] = 1;
		p.nia = 3;
		ad_accum(ad, x, ir_reshape(r, emit1(ad, &p, g), t));
	}
}

void gr_slice(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	Node p = ir_proto(OP_UNSLICE);
	p.type = ty(ad, x);
	memcpy(p.ia, ad_region(ad)->node[v].ia, sizeof p.ia);
	p.nia = ad_region(ad)->node[v].nia;
	ad_accum(ad, x, emit1(ad, &p, g));
}

void gr_unslice(AdCtx *ad, int v, int g)
{
	Node p = ir_proto(OP_SLICE);
	memcpy(p.ia, ad_region(ad)->node[v].ia, sizeof p.ia);
	p.nia = ad_region(ad)->node[v].nia;
	ad_accum(ad, arg(ad, v, 0), emit1(ad, &p, g));
}

/* ---- data ---- */

void gr_take(AdCtx *ad, int v, int g)
{
	/* rows gathered k times receive k contributions; indices get nothing */
	int tab = arg(ad, v, 0), idx = arg(ad, v, 1);
	Node p = ir_proto(OP_SCATTER_ROWS);
	p.type = ty(ad, tab);
	p.loc = ad_region(ad)->node[v].loc; /* the same indices, the same statement */
	int args[2] = { idx, g };
	char err[400];
	int s = ir_emit(ad_region(ad), &p, args, 2, err, sizeof err);
	if (s < 0)
		die("autodiff: %s", err);
	ad_accum(ad, tab, s);
}

void gr_scatter_rows(AdCtx *ad, int v, int g)
{
	int t = op2(ad, OP_TAKE, g, arg(ad, v, 0));
	ad_region(ad)->node[t].loc = ad_region(ad)->node[v].loc;
	ad_accum(ad, arg(ad, v, 1), t);
}

void gr_dropout(AdCtx *ad, int v, int g)
{
	/* same stream and p, hence the same mask and scale (see ik_dropout) */
	const Node *n = &ad_region(ad)->node[v];
	Node p = ir_proto(OP_DROPOUT);
	p.f = n->f;
	p.ia[0] = n->ia[0];
	p.nia = n->nia;
	ad_accum(ad, arg(ad, v, 0), emit1(ad, &p, g));
}

/* ---- linear algebra ---- */

/* ---- pooling: the backward ops carry the window ---- */

/* The backward op `op` of pooling node v, on operands args[0..n). */
static int pool_grad(AdCtx *ad, int v, OpKind op, const int *args, int n)
{
	Region *r = ad_region(ad);
	Node p = ir_proto(op);
	memcpy(p.ia, r->node[v].ia, sizeof p.ia);
	p.nia = r->node[v].nia;
	p.type = ty(ad, arg(ad, v, 0)); /* avg_pool_grad's given type */
	char err[400];
	int s = ir_emit(r, &p, args, n, err, sizeof err);
	if (s < 0)
		die("autodiff: %s", err);
	return s;
}

void gr_max_pool(AdCtx *ad, int v, int g)
{
	int x = arg(ad, v, 0);
	ad_accum(ad, x, pool_grad(ad, v, OP_MAX_POOL_GRAD, (int[]){ x, g }, 2));
}

void gr_avg_pool(AdCtx *ad, int v, int g)
{
	ad_accum(ad, arg(ad, v, 0), pool_grad(ad, v, OP_AVG_POOL_GRAD, &g, 1));
}

void gr_matmul(AdCtx *ad, int v, int g)
{
	/*
	 * With y = op(a) @ op(b): d op(a) = g @ op(b)^T and d op(b) = op(a)^T @ g.
	 * When an operand enters transposed, its gradient is the transpose of
	 * that, which (A B)^T = B^T A^T turns into flags: no TRANSPOSE nodes.
	 */
	Region *r = ad_region(ad);
	int a = arg(ad, v, 0), b = arg(ad, v, 1);
	bool ta = r->node[v].ia[0], tb = r->node[v].ia[1];
	int da = ta ? ir_matmul(r, b, g, tb, true) : ir_matmul(r, g, b, false, !tb);
	give(ad, a, da);
	const Type *at = &r->node[a].type, *gt = &r->node[g].type;
	if (r->node[b].type.rank == 2 && at->rank > 2 && !ta) {
		/*
		 * A weight shared by a batch (x[..., M, K] @ w[K, N]): its gradient
		 * sums x_i^T g_i over the batch, which is one GEMM over the batch's
		 * rows, x and g seen as [P*M, K] and [P*M, N]: no batch of small
		 * products and no sum over their results.
		 */
		int64_t rows = type_numel(at) / at->dim[at->rank - 1];
		int64_t da2[2] = { rows, at->dim[at->rank - 1] }, dg2[2] = { rows, gt->dim[gt->rank - 1] };
		int a2 = ir_reshape(r, a, type_make(at->dt, 2, da2)), g2 = ir_reshape(r, g, type_make(gt->dt, 2, dg2));
		give(ad, b, tb ? ir_matmul(r, g2, a2, true, false) : ir_matmul(r, a2, g2, true, false));
		return;
	}
	int db = tb ? ir_matmul(r, g, a, true, ta) : ir_matmul(r, a, g, !ta, false);
	give(ad, b, db);
}

/* ---- convolution ----
 * All three ops are bilinear sums over the same (output, tap) pairs,
 * sum x[t.x] * w[t.w] * dy[t.y]: each one's gradient with respect to an
 * operand is another of the three, with the same attribute. */

void gr_conv2d(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	int x = arg(ad, v, 0), w = arg(ad, v, 1);
	ad_accum(ad, x, ir_conv(r, OP_CONV2D_DX, g, w, &r->node[v], ty(ad, x)));
	ad_accum(ad, w, ir_conv(r, OP_CONV2D_DW, x, g, &r->node[v], ty(ad, w)));
}

void gr_conv2d_dx(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	int dy = arg(ad, v, 0), w = arg(ad, v, 1);
	ad_accum(ad, dy, ir_conv(r, OP_CONV2D, g, w, &r->node[v], ty(ad, dy)));
	ad_accum(ad, w, ir_conv(r, OP_CONV2D_DW, g, dy, &r->node[v], ty(ad, w)));
}

void gr_conv2d_dw(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	int x = arg(ad, v, 0), dy = arg(ad, v, 1);
	ad_accum(ad, x, ir_conv(r, OP_CONV2D_DX, dy, g, &r->node[v], ty(ad, x)));
	ad_accum(ad, dy, ir_conv(r, OP_CONV2D, x, g, &r->node[v], ty(ad, dy)));
}

/* ---- attention ----
 * One attention_grad node gives the three gradients stacked on a new first
 * axis; each is a slice of it.  The packed form's is x's gradient whole,
 * laid out as x.  The segment carries none. */

void gr_attention(AdCtx *ad, int v, int g)
{
	Region *r = ad_region(ad);
	int d = ir_attention_grad_emit(r, v, g);
	if (ir_attention_packed(r, v)) {
		ad_accum(ad, arg(ad, v, 0), d);
		return;
	}
	Type t = ty(ad, arg(ad, v, 0));
	for (int k = 0; k < 3; k++) {
		Node p = ir_proto(OP_SLICE);
		p.ia[0] = k, p.ia[1] = k + 1, p.ia[2] = 1;
		for (int a = 0; a < 4; a++)
			p.ia[3 * a + 3] = 0, p.ia[3 * a + 4] = t.dim[a], p.ia[3 * a + 5] = 1;
		p.nia = 15;
		ad_accum(ad, arg(ad, v, k), ir_reshape(r, emit1(ad, &p, d), t));
	}
}
