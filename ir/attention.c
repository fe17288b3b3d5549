/*
 * attention.c — the fused attention ops: shape rules, geometry and
 * reference kernels.
 *
 *   attention(q, k, v [, segment]) {causal, scale}
 *       q, k, v f32[B, H, T, D], segment i32[B, T]; result o f32[B, H, T, D + 1]:
 *       o[..., i, 0:D] = sum_j p_ij v_j and o[..., i, D] = log sum_j e^(s_ij),
 *       s_ij = scale q_i . k_j over the keys j the row may see (j <= i when
 *       causal, segment[j] == segment[i] when given), p_ij = e^(s_ij - o[i, D]).
 *   attention_grad(q, k, v, o, do [, segment]) {causal, scale}
 *       f32[3, B, H, T, D]: the gradients of q, k and v given o and do
 *       (d loss / d o, whose last column is the log-sum-exp's gradient).
 *
 * The packed form, {heads = H}, is the same computation on the layout a
 * GPT's qkv product gives, so that no slice or transpose surrounds it:
 *
 *   attention(x [, segment]) {causal, scale, heads}
 *       x f32[B, T, 3C] with C = H D: q, k, v side by side, head j of each
 *       its features j D .. (j + 1) D; result o f32[B, T, C + H]: the heads'
 *       outputs side by side (y, what the proj product reads), then the H
 *       log-sum-exps of the row.
 *   attention_grad(x, o, do [, segment]) {causal, scale, heads}
 *       f32[B, T, 3C]: dq, dk, dv laid out as x (what x's producer's
 *       gradient reads).
 *
 * Both forms are one geometry with strides (RtAttn), which the kernels here
 * and in runtime/attention.c walk.
 *
 * Row i always sees key i, so no row is empty whatever the mask.  The
 * kernels here write the definitions out a row at a time, summing in
 * double, with the T x T matrix of a (batch, head) in memory: the oracle
 * the tiled kernel of generated code (runtime/attention.c) is tested
 * against.
 */
#include "ir/attention.h"
#include "ir/interp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { TS = 160 };

static bool refuse(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

/* Operands q, k, v stand in: 1 in the packed form, 3 in the other. */
static int n_qkv(const Node *n)
{
	return n->ia[1] > 0 ? 1 : 3;
}

/* The packed operand x f32[B, T, 3 H D] of node n. */
static bool check_packed(const Node *n, const Type *x, char *err, size_t errlen)
{
	const char *name = op_info[n->op].name;
	char a[TS];
	int64_t H = n->ia[1];
	if (x->dt != DT_F32 || x->rank != 3)
		return refuse(err, errlen, "%s: x must be f32[B, T, 3C], got %s", name, type_str(x, a, TS));
	if (x->dim[1] < 1 || x->dim[2] < 1 || x->dim[2] % (3 * H) != 0)
		return refuse(err, errlen, "%s: x %s must have positions and 3 x %lld heads x D features", name,
			type_str(x, a, TS), (long long)H);
	return true;
}

/* q, k, v (or the packed x) and the optional segment (operand seg, -1:
   none) of node n. */
static bool check_qkv(const Region *r, const Node *n, const int *args, int seg, char *err, size_t errlen)
{
	const char *name = op_info[n->op].name;
	char a[TS], b[TS];
	const Type *q = &r->node[args[0]].type;
	if (n->ia[1] < 0)
		return refuse(err, errlen, "%s: heads must be positive, got %lld", name, (long long)n->ia[1]);
	if (n->ia[1] > 0) { /* k and v are in x */
		if (!check_packed(n, q, err, errlen))
			return false;
	} else if (q->dt != DT_F32 || q->rank != 4) {
		return refuse(err, errlen, "%s: q must be f32[B, H, T, D], got %s", name, type_str(q, a, TS));
	} else if (q->dim[2] < 1 || q->dim[3] < 1) {
		return refuse(err, errlen, "%s: q %s has no positions or features", name, type_str(q, a, TS));
	}
	for (int k = 1; k < n_qkv(n); k++) {
		const Type *t = &r->node[args[k]].type;
		if (!type_eq(t, q))
			return refuse(err, errlen, "%s: %s must have q's type %s, got %s", name, k == 1 ? "k" : "v",
				type_str(q, a, TS), type_str(t, b, TS));
	}
	if (!isfinite(n->f) || n->f <= 0)
		return refuse(err, errlen, "%s: scale must be a positive number, got %g", name, n->f);
	if (n->ia[0] != 0 && n->ia[0] != 1)
		return refuse(err, errlen, "%s: causal must be 0 or 1, got %lld", name, (long long)n->ia[0]);
	if (seg < 0)
		return true;
	const Type *s = &r->node[args[seg]].type;
	int64_t T = q->dim[n->ia[1] > 0 ? 1 : 2];
	if (s->dt != DT_I32 || s->rank != 2 || s->dim[0] != q->dim[0] || s->dim[1] != T)
		return refuse(err, errlen, "%s: segment must be i32[%lld,%lld] (%s is %s), got %s", name,
			(long long)q->dim[0], (long long)T, n->ia[1] > 0 ? "x" : "q", type_str(q, a, TS), type_str(s, b, TS));
	return true;
}

/* The type of o given q (or x). */
static Type o_type(const Node *n, const Type *q)
{
	Type o = *q;
	if (n->ia[1] > 0)
		o.dim[2] = o.dim[2] / 3 + n->ia[1];
	else
		o.dim[3]++;
	return o;
}

bool sh_attention(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	int nx = n_qkv(n);
	if (n->narg != nx && n->narg != nx + 1)
		return refuse(err, errlen, "attention: expected %s, got %d operands",
			nx == 1 ? "1 or 2 operands (x, segment)" : "3 or 4 operands (q, k, v, segment)", n->narg);
	if (!check_qkv(r, n, args, n->narg == nx + 1 ? nx : -1, err, errlen))
		return false;
	n->type = o_type(n, &r->node[args[0]].type);
	return true;
}

bool sh_attention_grad(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	int nx = n_qkv(n);
	if (n->narg != nx + 2 && n->narg != nx + 3)
		return refuse(err, errlen, "attention_grad: expected %s, got %d operands",
			nx == 1 ? "3 or 4 operands (x, o, do, segment)" : "5 or 6 operands (q, k, v, o, do, segment)", n->narg);
	if (!check_qkv(r, n, args, n->narg == nx + 3 ? nx + 2 : -1, err, errlen))
		return false;
	Type o = o_type(n, &r->node[args[0]].type);
	char a[TS], b[TS];
	for (int k = nx; k < nx + 2; k++)
		if (!type_eq(&r->node[args[k]].type, &o))
			return refuse(err, errlen, "attention_grad: %s must be %s, got %s", k == nx ? "o" : "do",
				type_str(&o, a, TS), type_str(&r->node[args[k]].type, b, TS));
	Type t = r->node[args[0]].type;
	if (nx == 1) { /* dx: x's type */
		n->type = t;
		return true;
	}
	t.rank = 5;
	for (int k = 4; k > 0; k--)
		t.dim[k] = t.dim[k - 1];
	t.dim[0] = 3;
	n->type = t;
	return true;
}

RtAttn ir_attention_of(const Region *r, int v)
{
	const Node *n = &r->node[v];
	const Type *q = &r->node[ir_operand(r, v, 0)].type;
	int64_t H = n->ia[1], bf16 = attr_int(n, AS_IA2) != 0;
	if (H > 0) { /* x [B, T, 3C], o [B, T, C + H] */
		int64_t B = q->dim[0], T = q->dim[1], C = q->dim[2] / 3, D = C / H;
		RtAttn g = { B, H, T, D, n->ia[0] != 0, n->f, .x_b = T * 3 * C, .x_h = D, .x_row = 3 * C, .dx_part = C,
			.o_b = T * (C + H), .o_h = D, .o_row = C + H, .l_h = 1, .l_off = C, .bf16 = bf16 };
		return g;
	}
	/* q, k, v [B, H, T, D]; o [B, H, T, D + 1]; the gradient [3, B, H, T, D] */
	int64_t B = q->dim[0], T = q->dim[2], D = q->dim[3];
	H = q->dim[1];
	RtAttn g = { B, H, T, D, n->ia[0] != 0, n->f, .x_b = H * T * D, .x_h = T * D, .x_row = D,
		.dx_part = B * H * T * D, .o_b = H * T * (D + 1), .o_h = T * (D + 1), .o_row = D + 1, .l_h = T * (D + 1),
		.l_off = D, .bf16 = bf16 };
	return g;
}

/* The segment operand of attention node v, -1 for none. */
static int seg_operand(const Region *r, int v)
{
	const Node *n = &r->node[v];
	int nx = n_qkv(n);
	return n->narg == (n->op == OP_ATTENTION ? nx + 1 : nx + 3) ? ir_operand(r, v, n->narg - 1) : -1;
}

bool ir_attention_packed(const Region *r, int v)
{
	return r->node[v].ia[1] > 0;
}

int ir_attention_emit(Region *r, int q, int k, int v, int seg, bool causal, double scale)
{
	Node p = ir_proto(OP_ATTENTION);
	p.ia[0] = causal;
	p.nia = 1;
	p.f = scale;
	char err[512];
	int a = ir_emit(r, &p, (int[]){ q, k, v, seg }, seg >= 0 ? 4 : 3, err, sizeof err);
	if (a < 0)
		die("region %s: %s", r->name, err);
	return a;
}

int ir_attention_packed_emit(Region *r, int x, int heads, int seg, bool causal, double scale)
{
	Node p = ir_proto(OP_ATTENTION);
	p.ia[0] = causal;
	p.ia[1] = heads;
	p.nia = 2;
	p.f = scale;
	char err[512];
	int a = ir_emit(r, &p, (int[]){ x, seg }, seg >= 0 ? 2 : 1, err, sizeof err);
	if (a < 0)
		die("region %s: %s", r->name, err);
	return a;
}

int ir_attention_grad_emit(Region *r, int v, int g)
{
	const Node *n = &r->node[v];
	Node p = ir_proto(OP_ATTENTION_GRAD);
	p.ia[0] = n->ia[0];
	p.ia[1] = n->ia[1];
	p.nia = n->nia;
	p.f = n->f;
	int seg = seg_operand(r, v), nx = n_qkv(n), args[6];
	for (int k = 0; k < nx; k++)
		args[k] = ir_operand(r, v, k);
	args[nx] = v, args[nx + 1] = g, args[nx + 2] = seg;
	char err[512];
	int a = ir_emit(r, &p, args, seg >= 0 ? nx + 3 : nx + 2, err, sizeof err);
	if (a < 0)
		die("region %s: %s", r->name, err);
	return a;
}

/* ---- reference kernels ---- */

/* Whether row i of (batch b) sees key j. */
static bool sees(const RtAttn *g, const int32_t *seg, int64_t b, int64_t i, int64_t j)
{
	return (!g->causal || j <= i) && (!seg || seg[b * g->t + j] == seg[b * g->t + i]);
}

/* The probabilities p[T][T] of one (batch b, head) and each row's
   log-sum-exp, in double; q and k rows x_row apart. */
static void probs(const RtAttn *g, const int32_t *seg, int64_t b, const float *q, const float *k, double *p,
	double *lse)
{
	int64_t T = g->t, D = g->d, lx = g->x_row;
	for (int64_t i = 0; i < T; i++) {
		double *row = p + i * T, mx = -INFINITY, sum = 0;
		for (int64_t j = 0; j < T; j++) {
			double s = 0;
			for (int64_t d = 0; d < D; d++)
				s += (double)q[i * lx + d] * k[j * lx + d];
			row[j] = sees(g, seg, b, i, j) ? s * g->scale : -INFINITY;
			mx = row[j] > mx ? row[j] : mx;
		}
		for (int64_t j = 0; j < T; j++)
			sum += row[j] == -INFINITY ? 0 : exp(row[j] - mx);
		lse[i] = mx + log(sum);
		for (int64_t j = 0; j < T; j++)
			row[j] = row[j] == -INFINITY ? 0 : exp(row[j] - lse[i]);
	}
}

/* The q, k, v of node v's (batch b, head h), from its operands in[]: three
   of them, or k and v dx_part after q in the packed x. */
static void qkv_of(const Region *r, int v, const RtAttn *g, Tensor *const *in, int64_t b, int64_t h, const float *x[3])
{
	int64_t off = b * g->x_b + h * g->x_h;
	for (int k = 0; k < 3; k++)
		x[k] = ir_attention_packed(r, v) ? (const float *)in[0]->data + k * g->dx_part + off
						 : (const float *)in[k]->data + off;
}

/*
 * --precision=bf16's attention (A_BF16, passes/precision.c): the runtime's
 * kernel itself, which rounds each tile product's operands to bf16 where
 * the generated code does (runtime/attention.c; the rounded values of an
 * online softmax's unnormalized probabilities are not those of the
 * normalized ones this file's reference computes).
 */
static void runtime_call(const Region *r, int v, const RtAttn *g, Tensor *const *in, Tensor *out)
{
	const Node *n = &r->node[v];
	int nx = n_qkv(n);
	bool grad = n->op == OP_ATTENTION_GRAD;
	const float *x[3];
	qkv_of(r, v, g, in, 0, 0, x); /* (batch 0, head 0): where q, k, v start */
	const int32_t *seg = seg_operand(r, v) >= 0 ? in[n->narg - 1]->data : NULL;
	float *work = xmalloc((size_t)rt_attention_work(g));
	if (grad)
		rt_attention_grad(g, x[0], x[1], x[2], in[nx]->data, in[nx + 1]->data, seg, out->data, work, NULL, NULL);
	else
		rt_attention(g, x[0], x[1], x[2], seg, out->data, work, NULL, NULL);
	free(work);
}

KERNEL(ik_attention)
{
	RtAttn g = ir_attention_of(r, v);
	if (g.bf16) {
		runtime_call(r, v, &g, in, out);
		return;
	}
	int64_t T = g.t, D = g.d, lo = g.o_row;
	const int32_t *seg = r->node[v].narg == n_qkv(&r->node[v]) + 1 ? in[r->node[v].narg - 1]->data : NULL;
	double *p = xmalloc((size_t)(T * T + T) * sizeof *p), *lse = p + T * T;
	float *o = out->data;
	for (int64_t bh = 0; bh < g.b * g.h; bh++) {
		int64_t b = bh / g.h, h = bh % g.h;
		const float *x[3];
		qkv_of(r, v, &g, in, b, h, x);
		probs(&g, seg, b, x[0], x[1], p, lse);
		float *y = o + b * g.o_b + h * g.o_h, *l = o + b * g.o_b + h * g.l_h + g.l_off;
		for (int64_t i = 0; i < T; i++) {
			for (int64_t d = 0; d < D; d++) {
				double acc = 0;
				for (int64_t j = 0; j < T; j++)
					acc += p[i * T + j] * x[2][j * g.x_row + d];
				y[i * lo + d] = (float)acc;
			}
			l[i * lo] = (float)lse[i];
		}
	}
	free(p);
}

KERNEL(ik_attention_grad)
{
	RtAttn g = ir_attention_of(r, v);
	if (g.bf16) {
		runtime_call(r, v, &g, in, out);
		return;
	}
	int64_t T = g.t, D = g.d, lx = g.x_row, lo = g.o_row, nx = n_qkv(&r->node[v]);
	const int32_t *seg = r->node[v].narg == nx + 3 ? in[nx + 2]->data : NULL;
	double *p = xmalloc((size_t)(2 * T * T + T) * sizeof *p), *ds = p + T * T, *lse = ds + T * T;
	for (int64_t bh = 0; bh < g.b * g.h; bh++) {
		int64_t b = bh / g.h, h = bh % g.h, oo = b * g.o_b + h * g.o_h, loff = b * g.o_b + h * g.l_h + g.l_off;
		const float *x[3];
		qkv_of(r, v, &g, in, b, h, x);
		const float *q = x[0], *k = x[1], *vv = x[2];
		const float *y = (const float *)in[nx]->data + oo, *dy = (const float *)in[nx + 1]->data + oo;
		const float *dlse = (const float *)in[nx + 1]->data + loff;
		float *dq = (float *)out->data + b * g.x_b + h * g.x_h, *dk = dq + g.dx_part, *dv = dk + g.dx_part;
		probs(&g, seg, b, q, k, p, lse);
		/* ds_ij = p_ij (dy_i . v_j - (dy_i . y_i - dlse_i)) */
		for (int64_t i = 0; i < T; i++) {
			double di = -(double)dlse[i * lo];
			for (int64_t d = 0; d < D; d++)
				di += (double)dy[i * lo + d] * y[i * lo + d];
			for (int64_t j = 0; j < T; j++) {
				double dp = 0;
				for (int64_t d = 0; d < D; d++)
					dp += (double)dy[i * lo + d] * vv[j * lx + d];
				ds[i * T + j] = p[i * T + j] * (dp - di);
			}
		}
		for (int64_t i = 0; i < T; i++)
			for (int64_t d = 0; d < D; d++) {
				double aq = 0, ak = 0, av = 0;
				for (int64_t j = 0; j < T; j++) {
					aq += ds[i * T + j] * k[j * lx + d];
					ak += ds[j * T + i] * q[j * lx + d];
					av += p[j * T + i] * dy[j * lo + d];
				}
				dq[i * lx + d] = (float)(aq * g.scale);
				dk[i * lx + d] = (float)(ak * g.scale);
				dv[i * lx + d] = (float)av;
			}
	}
	free(p);
}
