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

/* q, k, v and the optional segment (operand seg, -1: none) of node n. */
static bool check_qkv(const Region *r, const Node *n, const int *args, int seg, char *err, size_t errlen)
{
	const char *name = op_info[n->op].name;
	char a[TS], b[TS];
	const Type *q = &r->node[args[0]].type;
	if (q->dt != DT_F32 || q->rank != 4)
		return refuse(err, errlen, "%s: q must be f32[B, H, T, D], got %s", name, type_str(q, a, TS));
	if (q->dim[2] < 1 || q->dim[3] < 1)
		return refuse(err, errlen, "%s: q %s has no positions or features", name, type_str(q, a, TS));
	for (int k = 1; k < 3; k++) {
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
	if (s->dt != DT_I32 || s->rank != 2 || s->dim[0] != q->dim[0] || s->dim[1] != q->dim[2])
		return refuse(err, errlen, "%s: segment must be i32[%lld,%lld] (q is %s), got %s", name,
			(long long)q->dim[0], (long long)q->dim[2], type_str(q, a, TS), type_str(s, b, TS));
	return true;
}

bool sh_attention(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	if (n->narg != 3 && n->narg != 4)
		return refuse(err, errlen, "attention: expected 3 or 4 operands (q, k, v, segment), got %d", n->narg);
	if (!check_qkv(r, n, args, n->narg == 4 ? 3 : -1, err, errlen))
		return false;
	n->type = r->node[args[0]].type;
	n->type.dim[3]++;
	return true;
}

bool sh_attention_grad(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	if (n->narg != 5 && n->narg != 6)
		return refuse(err, errlen, "attention_grad: expected 5 or 6 operands (q, k, v, o, do, segment), got %d",
			n->narg);
	if (!check_qkv(r, n, args, n->narg == 6 ? 5 : -1, err, errlen))
		return false;
	Type o = r->node[args[0]].type;
	o.dim[3]++;
	char a[TS], b[TS];
	for (int k = 3; k < 5; k++)
		if (!type_eq(&r->node[args[k]].type, &o))
			return refuse(err, errlen, "attention_grad: %s must be %s, got %s", k == 3 ? "o" : "do",
				type_str(&o, a, TS), type_str(&r->node[args[k]].type, b, TS));
	Type t = r->node[args[0]].type;
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
	RtAttn g = { q->dim[0], q->dim[1], q->dim[2], q->dim[3], n->ia[0] != 0, n->f };
	return g;
}

/* The segment operand of attention node v, -1 for none. */
static int seg_operand(const Region *r, int v)
{
	const Node *n = &r->node[v];
	return n->narg == (n->op == OP_ATTENTION ? 4 : 6) ? ir_operand(r, v, n->narg - 1) : -1;
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

int ir_attention_grad_emit(Region *r, int v, int g)
{
	const Node *n = &r->node[v];
	Node p = ir_proto(OP_ATTENTION_GRAD);
	p.ia[0] = n->ia[0];
	p.nia = 1;
	p.f = n->f;
	int seg = seg_operand(r, v);
	int args[6] = { ir_operand(r, v, 0), ir_operand(r, v, 1), ir_operand(r, v, 2), v, g, seg };
	char err[512];
	int a = ir_emit(r, &p, args, seg >= 0 ? 6 : 5, err, sizeof err);
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
   log-sum-exp, in double. */
static void probs(const RtAttn *g, const int32_t *seg, int64_t b, const float *q, const float *k, double *p,
	double *lse)
{
	int64_t T = g->t, D = g->d;
	for (int64_t i = 0; i < T; i++) {
		double *row = p + i * T, mx = -INFINITY, sum = 0;
		for (int64_t j = 0; j < T; j++) {
			double s = 0;
			for (int64_t d = 0; d < D; d++)
				s += (double)q[i * D + d] * k[j * D + d];
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

KERNEL(ik_attention)
{
	RtAttn g = ir_attention_of(r, v);
	int64_t T = g.t, D = g.d, td = T * D;
	const int32_t *seg = r->node[v].narg == 4 ? in[3]->data : NULL;
	double *p = xmalloc((size_t)(T * T + T) * sizeof *p), *lse = p + T * T;
	float *o = out->data;
	for (int64_t bh = 0; bh < g.b * g.h; bh++) {
		const float *q = (const float *)in[0]->data + bh * td, *k = (const float *)in[1]->data + bh * td;
		const float *vv = (const float *)in[2]->data + bh * td;
		probs(&g, seg, bh / g.h, q, k, p, lse);
		for (int64_t i = 0; i < T; i++) {
			float *y = o + (bh * T + i) * (D + 1);
			for (int64_t d = 0; d < D; d++) {
				double acc = 0;
				for (int64_t j = 0; j < T; j++)
					acc += p[i * T + j] * vv[j * D + d];
				y[d] = (float)acc;
			}
			y[D] = (float)lse[i];
		}
	}
	free(p);
}

KERNEL(ik_attention_grad)
{
	RtAttn g = ir_attention_of(r, v);
	int64_t T = g.t, D = g.d, td = T * D, n = g.b * g.h;
	const int32_t *seg = r->node[v].narg == 6 ? in[5]->data : NULL;
	double *p = xmalloc((size_t)(2 * T * T + T) * sizeof *p), *ds = p + T * T, *lse = ds + T * T;
	float *dq = out->data, *dk = dq + n * td, *dv = dk + n * td;
	for (int64_t bh = 0; bh < n; bh++) {
		const float *q = (const float *)in[0]->data + bh * td, *k = (const float *)in[1]->data + bh * td;
		const float *vv = (const float *)in[2]->data + bh * td;
		const float *o = (const float *)in[3]->data + bh * T * (D + 1), *dout = (const float *)in[4]->data + bh * T * (D + 1);
		probs(&g, seg, bh / g.h, q, k, p, lse);
		/* ds_ij = p_ij (dy_i . v_j - (dy_i . y_i - dlse_i)) */
		for (int64_t i = 0; i < T; i++) {
			const float *y = o + i * (D + 1), *dy = dout + i * (D + 1);
			double di = -(double)dy[D];
			for (int64_t d = 0; d < D; d++)
				di += (double)dy[d] * y[d];
			for (int64_t j = 0; j < T; j++) {
				double dp = 0;
				for (int64_t d = 0; d < D; d++)
					dp += (double)dy[d] * vv[j * D + d];
				ds[i * T + j] = p[i * T + j] * (dp - di);
			}
		}
		for (int64_t i = 0; i < T; i++)
			for (int64_t d = 0; d < D; d++) {
				double aq = 0, ak = 0, av = 0;
				for (int64_t j = 0; j < T; j++) {
					aq += ds[i * T + j] * k[j * D + d];
					ak += ds[j * T + i] * q[j * D + d];
					av += p[j * T + i] * dout[j * (D + 1) + d];
				}
				dq[bh * td + i * D + d] = (float)(aq * g.scale);
				dk[bh * td + i * D + d] = (float)(ak * g.scale);
				dv[bh * td + i * D + d] = (float)av;
			}
	}
	free(p);
}
