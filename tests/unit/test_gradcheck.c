/*
 * test_gradcheck.c — checks every gradient rule against central finite
 * differences.  Each case builds y = op(inputs); the loss is sum(y * W) for
 * a fixed random W, so every element of y matters.  The analytic gradients
 * come from GRAD nodes run through ad_run and the interpreter; the numeric
 * ones from re-running the forward region with one input element nudged by
 * +-h and +-h/2, summing y * W in double, and extrapolating (Richardson) to
 * h = 0; every element of every input is checked.  Inputs stay away from kinks (relu and
 * abs away from 0, max/min and maximum/minimum away from ties, log and sqrt
 * positive).  A last check makes sure no rule in ops.def went untested.
 */
#include "ir/attention.h"
#include "ir/ops.h"
#define RNG_SEED 99
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Store store = { .seed = 11, .step = 2 };

/* ---- cases ---- */

typedef enum {
	M_ANY,   /* uniform in [-1, 1) */
	M_POS,   /* uniform in [0.5, 2) */
	M_AWAY,  /* |x| in [0.2, 1), random sign: away from the kink at 0 */
	M_GRID,  /* distinct values 0.02 apart (a shuffled grid): no near-ties */
	M_GRIDH, /* the same grid shifted by 0.01: never near an M_GRID value */
	M_IDX,   /* i32 row indices in [0, 5), with a repeat */
	M_INT,   /* i32 in [-3, 3] */
	M_BOOL,
} Mode;

typedef struct Case Case;
typedef int BuildFn(Region *r, const int *x, const Case *c);

struct Case {
	const char *name;
	BuildFn *build;
	OpKind op;
	int nin;
	Type in[3];
	Mode mode[3];
	int64_t p[18]; /* op attributes: axes, perm, ranges, flags */
	int np;
	bool keep;
	Type out;      /* result type for ops that take it from the builder */
};

#define SH(dt, r, ...) { dt, r, { __VA_ARGS__ } }
#define F(r, ...) SH(DT_F32, r, __VA_ARGS__)
#define I(r, ...) SH(DT_I32, r, __VA_ARGS__)

/* A prototype of c->op carrying the case's integer attributes and type. */
static Node proto(const Case *c, OpKind op)
{
	Node p = ir_proto(op);
	memcpy(p.ia, c->p, sizeof c->p);
	p.nia = c->np;
	p.keep = c->keep;
	p.type = c->out;
	return p;
}

static int b_unary(Region *r, const int *x, const Case *c) { return ir_op1(r, c->op, x[0]); }
static int b_binary(Region *r, const int *x, const Case *c) { return ir_op2(r, c->op, x[0], x[1]); }
static int b_where(Region *r, const int *x, const Case *c) { (void)c; return ir_op3(r, OP_WHERE, x[0], x[1], x[2]); }
static int b_nary(Region *r, const int *x, const Case *c) { return emit(r, proto(c, c->op), x, c->nin); }
static int b_reshape(Region *r, const int *x, const Case *c) { return ir_reshape(r, x[0], c->out); }
static int b_broadcast(Region *r, const int *x, const Case *c) { return ir_broadcast(r, x[0], c->out); }
static int b_cast(Region *r, const int *x, const Case *c) { (void)c; return ir_cast(r, x[0], DT_F32); }
static int b_matmul(Region *r, const int *x, const Case *c) { return ir_matmul(r, x[0], x[1], c->p[0], c->p[1]); }

static int b_reduce(Region *r, const int *x, const Case *c)
{
	int axes[MAX_RANK];
	for (int k = 0; k < c->np; k++)
		axes[k] = (int)c->p[k];
	return ir_reduce(r, c->op, x[0], axes, c->np, c->keep);
}

static int b_transpose(Region *r, const int *x, const Case *c)
{
	int perm[MAX_RANK];
	for (int k = 0; k < c->np; k++)
		perm[k] = (int)c->p[k];
	return ir_transpose(r, x[0], perm);
}

static int b_dropout(Region *r, const int *x, const Case *c)
{
	Node p = proto(c, OP_DROPOUT);
	p.f = 0.3;
	return emit(r, p, x, 1);
}

/* Segment ids i32[B, T], a new document every third position of the
   flattened rows. */
static int seg_ids(Region *r, int64_t B, int64_t T)
{
	Node a = ir_proto(OP_ARANGE);
	a.type = type_make(DT_I32, 1, (int64_t[]){ B * T });
	int n = emit(r, a, NULL, 0);
	int f = ir_op2(r, OP_FLOORDIV, n, ir_const(r, type_scalar(DT_I32), 3));
	return ir_reshape(r, f, type_make(DT_I32, 2, (int64_t[]){ B, T }));
}

/* attention(q, k, v) {causal = p[0], scale = 0.6}, with p[1] a segment
   i32[B, T] of runs of three positions across the rows' ends; the loss
   reads the log-sum-exp column as well */
static int b_attention(Region *r, const int *x, const Case *c)
{
	const Type *q = &r->node[x[0]].type;
	int seg = c->p[1] ? seg_ids(r, q->dim[0], q->dim[2]) : -1;
	return ir_attention_emit(r, x[0], x[1], x[2], seg, c->p[0] != 0, 0.6);
}

/* The packed form on x [B, T, 3 H D] with p[2] = H heads: the whole of o
   (the heads' outputs and their log-sum-exps) read, as above. */
static int b_attention_packed(Region *r, const int *x, const Case *c)
{
	const Type *t = &r->node[x[0]].type;
	int seg = c->p[1] ? seg_ids(r, t->dim[0], t->dim[1]) : -1;
	return ir_attention_packed_emit(r, x[0], c->p[2], seg, c->p[0] != 0, 0.6);
}

/* x * f32(n) with n an i32 input: only x gets a gradient */
static int b_cast_int(Region *r, const int *x, const Case *c)
{
	(void)c;
	return ir_op2(r, OP_MUL, x[0], ir_cast(r, x[1], DT_F32));
}

/* softmax over axis 1: x is used three times, so contributions must add up */
static int b_softmax(Region *r, const int *x, const Case *c)
{
	(void)c;
	int ax = 1;
	int e = ir_op1(r, OP_EXP, ir_op2(r, OP_SUB, x[0], ir_reduce(r, OP_MAX, x[0], &ax, 1, true)));
	int y = ir_op2(r, OP_DIV, e, ir_reduce(r, OP_SUM, e, &ax, 1, true));
	return ir_op2(r, OP_MUL, y, ir_op1(r, OP_TANH, x[0]));
}

/* input 1 does not reach the loss: its gradient must be zero */
static int b_unused(Region *r, const int *x, const Case *c)
{
	(void)c;
	return ir_op1(r, OP_SIGMOID, x[0]);
}

/* name, build, op, number of inputs, then designated attributes */
#define CASE(nm, fn, o, n, ...) { .name = nm, .build = fn, .op = o, .nin = n, __VA_ARGS__ }

static const Case cases[] = {
	CASE("neg", b_unary, OP_NEG, 1, .in = { F(2, 3, 5) }, .mode = { M_ANY }),
	CASE("exp_size1", b_unary, OP_EXP, 1, .in = { F(1, 1) }, .mode = { M_ANY }),
	CASE("log", b_unary, OP_LOG, 1, .in = { F(2, 3, 5) }, .mode = { M_POS }),
	CASE("sqrt", b_unary, OP_SQRT, 1, .in = { F(1, 7) }, .mode = { M_POS }),
	CASE("rsqrt", b_unary, OP_RSQRT, 1, .in = { F(1, 7) }, .mode = { M_POS }),
	CASE("tanh_size33", b_unary, OP_TANH, 1, .in = { F(1, 33) }, .mode = { M_ANY }),
	CASE("sigmoid", b_unary, OP_SIGMOID, 1, .in = { F(2, 3, 5) }, .mode = { M_ANY }),
	CASE("relu", b_unary, OP_RELU, 1, .in = { F(2, 3, 5) }, .mode = { M_AWAY }),
	CASE("abs", b_unary, OP_ABS, 1, .in = { F(2, 3, 5) }, .mode = { M_AWAY }),
	CASE("sin", b_unary, OP_SIN, 1, .in = { F(1, 7) }, .mode = { M_ANY }),
	CASE("cos", b_unary, OP_COS, 1, .in = { F(1, 7) }, .mode = { M_ANY }),
	CASE("erf", b_unary, OP_ERF, 1, .in = { F(1, 7) }, .mode = { M_ANY }),
	CASE("cast_f32", b_cast, OP_CAST, 1, .in = { F(2, 2, 3) }, .mode = { M_ANY }),
	CASE("cast_from_i32", b_cast_int, OP_CAST, 2, .in = { F(2, 2, 3), I(1, 3) }, .mode = { M_ANY, M_INT }),
	CASE("add_3x1x5_4x5", b_binary, OP_ADD, 2, .in = { F(3, 3, 1, 5), F(2, 4, 5) }, .mode = { M_ANY, M_ANY }),
	CASE("sub_scalar_left", b_binary, OP_SUB, 2, .in = { F(0, 0), F(2, 3, 4) }, .mode = { M_ANY, M_ANY }),
	CASE("mul_scalar_right", b_binary, OP_MUL, 2, .in = { F(2, 3, 4), F(0, 0) }, .mode = { M_ANY, M_ANY }),
	CASE("mul_col_row", b_binary, OP_MUL, 2, .in = { F(2, 4, 1), F(2, 1, 5) }, .mode = { M_ANY, M_ANY }),
	CASE("div_broadcast", b_binary, OP_DIV, 2, .in = { F(2, 4, 1), F(1, 5) }, .mode = { M_ANY, M_AWAY }),
	CASE("pow", b_binary, OP_POW, 2, .in = { F(2, 2, 3), F(1, 3) }, .mode = { M_POS, M_ANY }),
	CASE("maximum_3x1x5_4x5", b_binary, OP_MAXIMUM, 2, .in = { F(3, 3, 1, 5), F(2, 4, 5) }, .mode = { M_GRID, M_GRIDH }),
	CASE("minimum_scalar", b_binary, OP_MINIMUM, 2, .in = { F(1, 7), F(0, 0) }, .mode = { M_GRID, M_GRIDH }),
	CASE("where_broadcast", b_where, OP_WHERE, 3, .in = { SH(DT_BOOL, 2, 3, 1), F(2, 3, 4), F(1, 4) }, .mode = { M_BOOL, M_ANY, M_ANY }),
	CASE("sum_axis0", b_reduce, OP_SUM, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_ANY }, .p = { 0 }, .np = 1),
	CASE("sum_axis1_keep", b_reduce, OP_SUM, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_ANY }, .p = { 1 }, .np = 1, .keep = true),
	CASE("sum_axes02", b_reduce, OP_SUM, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_ANY }, .p = { 0, 2 }, .np = 2),
	CASE("sum_all_keep", b_reduce, OP_SUM, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_ANY }, .p = { 0, 1, 2 }, .np = 3, .keep = true),
	CASE("max_axis1", b_reduce, OP_MAX, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_GRID }, .p = { 1 }, .np = 1),
	CASE("max_axes02_keep", b_reduce, OP_MAX, 1, .in = { F(3, 3, 4, 5) }, .mode = { M_GRID }, .p = { 0, 2 }, .np = 2, .keep = true),
	CASE("min_all", b_reduce, OP_MIN, 1, .in = { F(2, 3, 7) }, .mode = { M_GRID }, .p = { 0, 1 }, .np = 2),
	CASE("min_axis1_keep", b_reduce, OP_MIN, 1, .in = { F(2, 3, 7) }, .mode = { M_GRID }, .p = { 1 }, .np = 1, .keep = true),
	CASE("reshape", b_reshape, OP_RESHAPE, 1, .in = { F(2, 3, 4) }, .mode = { M_ANY }, .out = F(3, 2, 3, 2)),
	CASE("broadcast_3x1_to_2x3x4", b_broadcast, OP_BROADCAST, 1, .in = { F(2, 3, 1) }, .mode = { M_ANY }, .out = F(3, 2, 3, 4)),
	CASE("transpose_201", b_transpose, OP_TRANSPOSE, 1, .in = { F(3, 2, 3, 4) }, .mode = { M_ANY }, .p = { 2, 0, 1 }, .np = 3),
	CASE("concat_three", b_nary, OP_CONCAT, 3, .in = { F(2, 2, 1), F(2, 2, 3), F(2, 2, 2) }, .mode = { M_ANY, M_ANY, M_ANY }, .p = { 1 }, .np = 1),
	CASE("pack_padded", b_nary, OP_PACK, 3, .in = { F(2, 3, 5), F(1, 7), F(0, 0) }, .mode = { M_ANY, M_ANY, M_ANY }),
	CASE("slice_steps", b_nary, OP_SLICE, 1, .in = { F(2, 7, 6) }, .mode = { M_ANY }, .p = { 1, 7, 2, 0, 6, 3 }, .np = 6),
	CASE("unslice_steps", b_nary, OP_UNSLICE, 1, .in = { F(2, 3, 2) }, .mode = { M_ANY }, .p = { 1, 7, 2, 0, 6, 3 }, .np = 6, .out = F(2, 7, 6)),
	CASE("take_repeated", b_nary, OP_TAKE, 2, .in = { F(2, 5, 3), I(2, 2, 4) }, .mode = { M_ANY, M_IDX }),
	CASE("scatter_rows_repeated", b_nary, OP_SCATTER_ROWS, 2, .in = { I(1, 7), F(2, 7, 3) }, .mode = { M_IDX, M_ANY }, .out = F(2, 5, 3)),
	CASE("dropout_p0.3", b_dropout, OP_DROPOUT, 1, .in = { F(2, 6, 7) }, .mode = { M_ANY }, .p = { 9 }, .np = 1),
	CASE("max_pool_k2", b_nary, OP_MAX_POOL, 1, .in = { F(4, 2, 3, 5, 4) }, .mode = { M_GRID }, .p = { 2, 2, 2, 2, 0, 0 }, .np = 6),
	CASE("max_pool_k3_s2_p1_odd", b_nary, OP_MAX_POOL, 1, .in = { F(4, 1, 2, 7, 5) }, .mode = { M_GRID }, .p = { 3, 3, 2, 2, 1, 1 }, .np = 6),
	CASE("max_pool_k3x2_s1x2_p1x0", b_nary, OP_MAX_POOL, 1, .in = { F(4, 2, 1, 5, 6) }, .mode = { M_GRID }, .p = { 3, 2, 1, 2, 1, 0 }, .np = 6),
	CASE("avg_pool_k2", b_nary, OP_AVG_POOL, 1, .in = { F(4, 2, 3, 5, 4) }, .mode = { M_ANY }, .p = { 2, 2, 2, 2, 0, 0 }, .np = 6),
	CASE("avg_pool_k3_s2_p1_odd", b_nary, OP_AVG_POOL, 1, .in = { F(4, 1, 2, 7, 5) }, .mode = { M_ANY }, .p = { 3, 3, 2, 2, 1, 1 }, .np = 6),
	CASE("avg_pool_k2x3_s1_p1", b_nary, OP_AVG_POOL, 1, .in = { F(4, 1, 2, 4, 5) }, .mode = { M_ANY }, .p = { 2, 3, 1, 1, 1, 1 }, .np = 6),
	CASE("matmul_nn", b_matmul, OP_MATMUL, 2, .in = { F(2, 3, 4), F(2, 4, 5) }, .mode = { M_ANY, M_ANY }, .p = { 0, 0 }, .np = 2),
	CASE("matmul_tn", b_matmul, OP_MATMUL, 2, .in = { F(2, 4, 3), F(2, 4, 5) }, .mode = { M_ANY, M_ANY }, .p = { 1, 0 }, .np = 2),
	CASE("matmul_nt", b_matmul, OP_MATMUL, 2, .in = { F(2, 3, 4), F(2, 5, 4) }, .mode = { M_ANY, M_ANY }, .p = { 0, 1 }, .np = 2),
	CASE("matmul_tt", b_matmul, OP_MATMUL, 2, .in = { F(2, 4, 3), F(2, 5, 4) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1 }, .np = 2),
	CASE("matmul_1x33_33x7", b_matmul, OP_MATMUL, 2, .in = { F(2, 1, 33), F(2, 33, 7) }, .mode = { M_ANY, M_ANY }, .p = { 0, 0 }, .np = 2),
	CASE("matmul_batch_broadcast", b_matmul, OP_MATMUL, 2, .in = { F(4, 2, 1, 3, 4), F(3, 3, 4, 2) }, .mode = { M_ANY, M_ANY }, .p = { 0, 0 }, .np = 2),
	CASE("matmul_batch_broadcast_tt", b_matmul, OP_MATMUL, 2, .in = { F(3, 2, 4, 3), F(2, 2, 4) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1 }, .np = 2),
	CASE("conv2d_3x3", b_nary, OP_CONV2D, 2, .in = { F(4, 2, 3, 5, 6), F(4, 4, 3, 3, 3) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1, 0, 0, 1, 1, 1 }, .np = 7),
	CASE("conv2d_stride_pad", b_nary, OP_CONV2D, 2, .in = { F(4, 1, 2, 7, 6), F(4, 3, 2, 3, 2) }, .mode = { M_ANY, M_ANY }, .p = { 2, 3, 1, 2, 1, 1, 1 }, .np = 7),
	CASE("conv2d_dilated_groups", b_nary, OP_CONV2D, 2, .in = { F(4, 2, 4, 7, 7), F(4, 6, 2, 3, 3) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1, 1, 1, 2, 2, 2 }, .np = 7),
	CASE("conv2d_depthwise", b_nary, OP_CONV2D, 2, .in = { F(4, 1, 3, 5, 5), F(4, 3, 1, 3, 3) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1, 1, 1, 1, 1, 3 }, .np = 7),
	CASE("conv2d_dx_strided", b_nary, OP_CONV2D_DX, 2, .in = { F(4, 1, 3, 3, 2), F(4, 3, 2, 2, 3) }, .mode = { M_ANY, M_ANY }, .p = { 2, 2, 1, 0, 1, 1, 1 }, .np = 7, .out = F(4, 1, 2, 5, 6)),
	CASE("conv2d_dw_strided", b_nary, OP_CONV2D_DW, 2, .in = { F(4, 1, 2, 5, 6), F(4, 1, 3, 3, 2) }, .mode = { M_ANY, M_ANY }, .p = { 2, 2, 1, 0, 1, 1, 1 }, .np = 7, .out = F(4, 3, 2, 2, 3)),
	CASE("conv2d_dx_groups", b_nary, OP_CONV2D_DX, 2, .in = { F(4, 2, 4, 5, 5), F(4, 4, 2, 3, 3) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1, 1, 1, 1, 1, 2 }, .np = 7, .out = F(4, 2, 4, 5, 5)),
	CASE("conv2d_dw_groups", b_nary, OP_CONV2D_DW, 2, .in = { F(4, 2, 4, 5, 5), F(4, 2, 4, 5, 5) }, .mode = { M_ANY, M_ANY }, .p = { 1, 1, 1, 1, 1, 1, 2 }, .np = 7, .out = F(4, 4, 2, 3, 3)),
	CASE("attention_causal", b_attention, OP_ATTENTION, 3, .in = { F(4, 2, 2, 5, 3), F(4, 2, 2, 5, 3), F(4, 2, 2, 5, 3) }, .mode = { M_ANY, M_ANY, M_ANY }, .p = { 1, 0 }),
	CASE("attention_full_segment", b_attention, OP_ATTENTION, 3, .in = { F(4, 2, 1, 4, 2), F(4, 2, 1, 4, 2), F(4, 2, 1, 4, 2) }, .mode = { M_ANY, M_ANY, M_ANY }, .p = { 0, 1 }),
	CASE("attention_causal_segment", b_attention, OP_ATTENTION, 3, .in = { F(4, 2, 2, 7, 3), F(4, 2, 2, 7, 3), F(4, 2, 2, 7, 3) }, .mode = { M_ANY, M_ANY, M_ANY }, .p = { 1, 1 }),
	CASE("attention_packed_causal", b_attention_packed, OP_ATTENTION, 1, .in = { F(3, 2, 5, 18) }, .mode = { M_ANY }, .p = { 1, 0, 2 }),
	CASE("attention_packed_full_segment", b_attention_packed, OP_ATTENTION, 1, .in = { F(3, 1, 4, 6) }, .mode = { M_ANY }, .p = { 0, 1, 1 }),
	CASE("attention_packed_causal_segment", b_attention_packed, OP_ATTENTION, 1, .in = { F(3, 2, 7, 12) }, .mode = { M_ANY }, .p = { 1, 1, 2 }),
	CASE("softmax_tanh_chain", b_softmax, OP_EXP, 1, .in = { F(2, 3, 5) }, .mode = { M_ANY }),
	CASE("unused_input_zero", b_unused, OP_SIGMOID, 2, .in = { F(1, 4), F(2, 2, 2) }, .mode = { M_ANY, M_ANY }),
};

/* ---- the check ---- */

static Tensor make_input(Type t, Mode m)
{
	int64_t n = type_numel(&t);
	Tensor x = { t, xcalloc((size_t)n + 1, 4) };
	int64_t *perm = xmalloc(((size_t)n + 1) * sizeof *perm);
	for (int64_t i = 0; i < n; i++) {
		int64_t j = (int64_t)(urand() * (double)(i + 1));
		perm[i] = perm[j];
		perm[j] = i;
	}
	for (int64_t i = 0; i < n; i++) {
		double u = urand();
		float *f = x.data;
		switch (m) {
		case M_ANY: f[i] = (float)(2 * u - 1); break;
		case M_POS: f[i] = (float)(0.5 + 1.5 * u); break;
		case M_AWAY: f[i] = (float)((u < 0.5 ? -1 : 1) * (0.2 + 0.8 * urand())); break;
		case M_GRID: f[i] = (float)(0.02 * (double)(perm[i] - n / 2)); break;
		case M_GRIDH: f[i] = (float)(0.02 * (double)(perm[i] - n / 2) + 0.01); break;
		case M_IDX: ((int32_t *)x.data)[i] = i == n - 1 && n > 1 ? ((int32_t *)x.data)[0] : (int32_t)(u * 5); break;
		case M_INT: ((int32_t *)x.data)[i] = (int32_t)(u * 7) - 3; break;
		case M_BOOL: ((uint8_t *)x.data)[i] = u < 0.5; break;
		}
	}
	free(perm);
	return x;
}

static bool seen[OP_COUNT];

/* inputs 0..nin-1 as the case says; returns y */
static int build(Region *r, const Case *c)
{
	int x[3];
	for (int k = 0; k < c->nin; k++)
		x[k] = ir_input(r, k, c->in[k]);
	return c->build(r, x, c);
}

/* sum(y * W) in double, from one forward run */
static double loss_of(Region *fwd, Tensor **in, const float *w)
{
	Tensor y;
	interp_run(fwd, &store, in, &y);
	double L = 0;
	for (int64_t i = 0; i < type_numel(&y.type); i++)
		L += (double)((float *)y.data)[i] * w[i];
	free(y.data);
	return L;
}

/*
 * The numeric derivative of the loss along *x: central differences at steps
 * H and H/2 combined by Richardson extrapolation, (4 D(H/2) - D(H)) / 3,
 * which cancels the h^2 term and leaves an O(h^4) error.  H = 1/128 keeps
 * every perturbation below the 0.01 that separates M_GRID from M_GRIDH
 * values (no tie is crossed) while the f32 rounding of y, amplified by
 * 1/h, stays near 1e-5.  The steps actually taken (x +- h rounded to f32)
 * divide the differences.
 */
enum { H_INV = 128 };

static double numeric_grad(Region *fwd, Tensor **in, const float *w, float *x)
{
	float x0 = *x;
	double d[2];
	for (int s = 0; s < 2; s++) {
		float h = 1.0f / (float)(H_INV << s), xp = x0 + h, xm = x0 - h;
		*x = xp;
		double Lp = loss_of(fwd, in, w);
		*x = xm;
		double Lm = loss_of(fwd, in, w);
		d[s] = (Lp - Lm) / ((double)xp - xm);
	}
	*x = x0;
	return (4 * d[1] - d[0]) / 3;
}

/* Agreement required of analytic and numeric gradients: a 0.5% error in a
   rule (tests/mutations/grad_erf_scale.patch scales erf's derivative by
   1.005) exceeds it wherever |gradient| > 0.025. */
#define TOL_ABS 1e-4
#define TOL_REL 1e-3

static void gradcheck(const Case *c)
{
	Region *fwd = ir_region_new(arena_new(), c->name);
	int y = build(fwd, c);
	ir_output(fwd, y);
	for (int v = 0; v < fwd->nnode; v++)
		seen[fwd->node[v].op] = true;
	Type yt = fwd->node[y].type;
	Tensor in[4], *ptr[4];
	for (int k = 0; k < c->nin; k++) {
		in[k] = make_input(c->in[k], c->mode[k]);
		ptr[k] = &in[k];
	}
	in[c->nin] = make_input(yt, M_ANY);
	ptr[c->nin] = &in[c->nin];
	const float *w = in[c->nin].data;

	/* the analytic side: loss = sum(y * W), one GRAD per f32 input */
	Region *r = ir_region_new(arena_new(), c->name);
	int ya = build(r, c), axes[MAX_RANK];
	for (int a = 0; a < yt.rank; a++)
		axes[a] = a;
	int L = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, ya, ir_input(r, c->nin, yt)), axes, yt.rank, false);
	ir_output(r, L);
	for (int k = 0; k < c->nin; k++)
		if (c->in[k].dt == DT_F32) {
			int args[2] = { L, k };
			ir_output(r, emit(r, ir_proto(OP_GRAD), args, 2));
		}
	ad_run(r);
	char err[400] = "", name[120];
	bool ok = ir_verify(r, err, sizeof err);
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].op == OP_GRAD)
			ok = false, snprintf(err, sizeof err, "GRAD node %%%d survived", v);
	if (!ok) {
		check(false, c->name, "after ad_run: %s", err);
		return;
	}
	Tensor out[4];
	interp_run(r, &store, ptr, out);

	double L0 = loss_of(fwd, ptr, w), worst = 0;
	char where[120] = "";
	float La = ((float *)out[0].data)[0];
	bool same_loss = fabs(La - L0) <= 1e-4 * (1 + fabs(L0));
	for (int k = 0, o = 1; k < c->nin; k++) {
		if (c->in[k].dt != DT_F32)
			continue;
		float *x = in[k].data, *g = out[o++].data;
		for (int64_t i = 0; i < type_numel(&c->in[k]); i++) {
			double gn = numeric_grad(fwd, ptr, w, &x[i]);
			double e = fabs(g[i] - gn) / (TOL_ABS + TOL_REL * fmax(fabs(gn), fabs(g[i])));
			if (e > worst) {
				worst = e;
				snprintf(where, sizeof where, "input %d element %lld: analytic %g, numeric %g", k, (long long)i, g[i], gn);
			}
		}
	}
	snprintf(name, sizeof name, "grad_%s (worst %.2f of tolerance)", c->name, worst);
	if (!same_loss)
		snprintf(where, sizeof where, "loss %g differs from the forward region's %g", La, L0);
	check(worst <= 1 && same_loss, name, "%s", where);

	if (c->build == b_dropout) {
		/* the gradient is W * mask / (1 - p), with the mask the forward run drew */
		Tensor yv;
		interp_run(fwd, &store, ptr, &yv);
		int bad = 0, kept = 0;
		for (int64_t i = 0; i < type_numel(&yt); i++) {
			bool keep = ((float *)yv.data)[i] != 0;
			float want = keep ? w[i] / 0.7f : 0.0f;
			kept += keep;
			bad += fabsf(((float *)out[1].data)[i] - want) > 1e-5f;
		}
		check(bad == 0 && kept > 0 && kept < type_numel(&yt), "grad_dropout_mask_pattern", "%d wrong, %d kept", bad, kept);
		free(yv.data);
	}
	for (int k = 0; k < r->nout; k++)
		free(out[k].data);
	for (int k = 0; k <= c->nin; k++)
		free(in[k].data);
	arena_free(fwd->arena);
	arena_free(r->arena);
}

/*
 * Gradients used downstream and a loss built from a gradient: the second
 * loss can only be differentiated after the first GRAD is gone.  With
 * L1 = sum(x*x*x), g1 = 3x^2; L2 = sum(g1 * c) gives dL2/dx = 6 x c; and the
 * SGD-like update u = x - 0.1 * g1 must come after the backward nodes.
 */
static void test_second_order(void)
{
	Region *r = ir_region_new(arena_new(), "second_order");
	Type t = type_make(DT_F32, 1, (int64_t[]){ 6 });
	int x = ir_input(r, 0, t), c = ir_input(r, 1, t), ax = 0;
	int L1 = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, ir_op2(r, OP_MUL, x, x), x), &ax, 1, false);
	int a1[2] = { L1, x };
	int g1 = emit(r, ir_proto(OP_GRAD), a1, 2);
	int u = ir_op2(r, OP_SUB, x, ir_op2(r, OP_MUL, ir_const(r, type_scalar(DT_F32), 0.1), g1));
	int L2 = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, g1, c), &ax, 1, false);
	int a2[2] = { L2, x };
	ir_output(r, emit(r, ir_proto(OP_GRAD), a2, 2));
	ir_output(r, u);
	ad_run(r);
	char err[400] = "";
	bool ok = ir_verify(r, err, sizeof err);
	check(ok, "second_order_verifies", "%s", err);
	if (!ok)
		return;
	Tensor in[2] = { make_input(t, M_ANY), make_input(t, M_ANY) }, *ptr[2] = { &in[0], &in[1] }, out[2];
	interp_run(r, &store, ptr, out);
	int bad = 0;
	for (int i = 0; i < 6; i++) {
		double xi = ((float *)in[0].data)[i], ci = ((float *)in[1].data)[i];
		bad += fabs(((float *)out[0].data)[i] - 6 * xi * ci) > 1e-5;
		bad += fabs(((float *)out[1].data)[i] - (xi - 0.3 * xi * xi)) > 1e-5;
	}
	check(bad == 0, "second_order_and_grad_users", "%d wrong elements", bad);
	for (int k = 0; k < 2; k++) {
		free(in[k].data);
		free(out[k].data);
	}
	arena_free(r->arena);
}

/* Ties have no derivative, so no finite difference: max/min share g equally among them. */
static void test_ties(void)
{
	for (int mx = 0; mx < 2; mx++) {
		Region *r = ir_region_new(arena_new(), "ties");
		Type t = type_make(DT_F32, 2, (int64_t[]){ 5, 6 }), tw = type_make(DT_F32, 1, (int64_t[]){ 5 });
		int ax = 1, x = ir_input(r, 0, t), w = ir_input(r, 1, tw), zero = 0;
		int y = ir_reduce(r, mx ? OP_MAX : OP_MIN, x, &ax, 1, false);
		int L = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, y, w), &zero, 1, false);
		int args[2] = { L, x };
		ir_output(r, emit(r, ir_proto(OP_GRAD), args, 2));
		ad_run(r);
		Tensor in[2] = { make_input(t, M_ANY), make_input(tw, M_ANY) }, *ptr[2] = { &in[0], &in[1] }, out[1];
		float *xv = in[0].data, *wv = in[1].data;
		for (int i = 0; i < 5; i++) {
			/* few distinct values, and the extremum copied next door: every row ties */
			int e = 0;
			for (int j = 0; j < 6; j++) {
				xv[i * 6 + j] = floorf(3 * xv[i * 6 + j]);
				if (mx ? xv[i * 6 + j] > xv[i * 6 + e] : xv[i * 6 + j] < xv[i * 6 + e])
					e = j;
			}
			xv[i * 6 + (e + 1) % 6] = xv[i * 6 + e];
		}
		interp_run(r, &store, ptr, out);
		int bad = 0, tied = 0;
		for (int i = 0; i < 5; i++) {
			float m = xv[i * 6];
			int c = 0;
			for (int j = 1; j < 6; j++)
				m = mx ? fmaxf(m, xv[i * 6 + j]) : fminf(m, xv[i * 6 + j]);
			for (int j = 0; j < 6; j++)
				c += xv[i * 6 + j] == m;
			tied += c > 1;
			for (int j = 0; j < 6; j++) {
				float want = xv[i * 6 + j] == m ? wv[i] / (float)c : 0.0f;
				bad += fabsf(((float *)out[0].data)[i * 6 + j] - want) > 1e-6f;
			}
		}
		check(bad == 0 && tied == 5, mx ? "grad_max_ties_split" : "grad_min_ties_split", "%d wrong, %d tied rows", bad, tied);
		free(in[0].data);
		free(in[1].data);
		free(out[0].data);
		arena_free(r->arena);
	}
}

int main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		gradcheck(&cases[i]);
	test_second_order();
	test_ties();
	char missing[400] = "";
	for (int op = 0; op < OP_COUNT; op++)
		if (op_grad[op] != gr_none && !seen[op] && strlen(missing) < 300) {
			strcat(missing, " ");
			strcat(missing, op_info[op].name);
		}
	check(!missing[0], "grad_rule_coverage", "no gradient check for%s", missing);
	return nfail ? 1 : 0;
}
