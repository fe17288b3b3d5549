/*
 * conv.c — the 2-D convolution ops: their geometry, shape rules and
 * reference kernels.
 *
 *   conv2d(x, w)     y[n, o, i, j] = sum over c, a, b of
 *                    x[n, G(o) + c, i*sh - ph + a*dh, j*sw - pw + b*dw] * w[o, c, a, b]
 *                    (c < C / groups, G(o) = the first input channel of o's group,
 *                    taps outside the input read 0)
 *   conv2d_dx(dy, w) the gradient of that with respect to x (x's type given)
 *   conv2d_dw(x, dy) the gradient with respect to w (w's type given)
 *
 * The kernels are direct loops over these definitions, summing in double:
 * the oracle generated code (runtime/conv.c, GEMMs) is compared against.
 * Each visits a tap only when its input index lies in [0, H) x [0, W).
 */
#include "ir/attention.h"
#include "ir/conv.h"
#include "ir/interp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

enum { TS = 160 };

/* "conv2d: <message> (x <type>, w <type>)" into err: every refusal names
   both shapes, whichever number it is about.  Returns false. */
static bool refuse(char *err, size_t errlen, const Type *x, const Type *w, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static bool refuse(char *err, size_t errlen, const Type *x, const Type *w, const char *fmt, ...)
{
	if (!err || !errlen)
		return false;
	char xs[TS], ws[TS];
	int at = snprintf(err, errlen, "conv2d: ");
	va_list ap;
	va_start(ap, fmt);
	if (at >= 0 && (size_t)at < errlen)
		at += vsnprintf(err + at, errlen - (size_t)at, fmt, ap);
	va_end(ap);
	if (at >= 0 && (size_t)at < errlen)
		snprintf(err + at, errlen - (size_t)at, " (x %s, w %s)", type_str(x, xs, TS), type_str(w, ws, TS));
	return false;
}

bool ir_conv_geom(const Type *x, const Type *w, const Node *n, RtConv *g, char *err, size_t errlen)
{
	if (n->nia != CONV_NATTR)
		return refuse(err, errlen, x, w, "needs %d numbers {conv=[stride h, w, padding h, w, dilation h, w, groups]}, "
			"got %d", CONV_NATTR, n->nia);
	const int64_t *a = n->ia;
	if (x->rank != 4)
		return refuse(err, errlen, x, w, "the input must have rank 4 [N, C, H, W], got rank %d", x->rank);
	if (w->rank != 4)
		return refuse(err, errlen, x, w, "the weight must have rank 4 [O, C / groups, KH, KW], got rank %d", w->rank);
	if (x->dt != DT_F32 || w->dt != DT_F32)
		return refuse(err, errlen, x, w, "the input and the weight must be f32");
	if (a[CONV_SH] < 1 || a[CONV_SW] < 1)
		return refuse(err, errlen, x, w, "stride must be at least 1, got (%lld, %lld)", (long long)a[CONV_SH],
			(long long)a[CONV_SW]);
	if (a[CONV_DH] < 1 || a[CONV_DW] < 1)
		return refuse(err, errlen, x, w, "dilation must be at least 1, got (%lld, %lld)", (long long)a[CONV_DH],
			(long long)a[CONV_DW]);
	if (a[CONV_PH] < 0 || a[CONV_PW] < 0)
		return refuse(err, errlen, x, w, "padding must not be negative, got (%lld, %lld)", (long long)a[CONV_PH],
			(long long)a[CONV_PW]);
	int64_t G = a[CONV_GROUPS];
	if (G < 1)
		return refuse(err, errlen, x, w, "groups must be at least 1, got %lld", (long long)G);
	/* bounds that keep every product below far from overflowing int64 */
	for (int k = 0; k < CONV_NATTR; k++)
		if (a[k] > (1 << 20))
			return refuse(err, errlen, x, w, "stride, padding, dilation and groups must be at most %d, got %lld",
				1 << 20, (long long)a[k]);
	for (int k = 0; k < 4; k++)
		if ((k > 0 && x->dim[k] == 0) || w->dim[k] == 0)
			return refuse(err, errlen, x, w, "the %s has an empty axis", k > 0 && x->dim[k] == 0 ? "input" : "weight");
	*g = (RtConv){ .n = x->dim[0], .c = x->dim[1], .h = x->dim[2], .w = x->dim[3], .o = w->dim[0], .kh = w->dim[2],
		.kw = w->dim[3], .sh = a[CONV_SH], .sw = a[CONV_SW], .ph = a[CONV_PH], .pw = a[CONV_PW], .dh = a[CONV_DH],
		.dw = a[CONV_DW], .groups = G };
	if (g->c % G)
		return refuse(err, errlen, x, w, "the input's %lld channels do not divide into %lld groups", (long long)g->c,
			(long long)G);
	if (g->o % G)
		return refuse(err, errlen, x, w, "the weight's %lld output channels do not divide into %lld groups",
			(long long)g->o, (long long)G);
	if (w->dim[1] != g->c / G)
		return refuse(err, errlen, x, w, "the weight takes %lld input channel%s per group, the input has %lld "
			"(%lld channel%s in %lld group%s)", (long long)w->dim[1], w->dim[1] == 1 ? "" : "s",
			(long long)(g->c / G), (long long)g->c, g->c == 1 ? "" : "s", (long long)G, G == 1 ? "" : "s");
	int64_t eh = (g->kh - 1) * g->dh + 1, ew = (g->kw - 1) * g->dw + 1;
	int64_t hp = g->h + 2 * g->ph, wp = g->w + 2 * g->pw;
	if (eh > hp || ew > wp)
		return refuse(err, errlen, x, w, "the kernel (%lld x %lld%s) is larger than the padded input (%lld x %lld)",
			(long long)eh, (long long)ew, g->dh > 1 || g->dw > 1 ? " dilated" : "", (long long)hp, (long long)wp);
	g->oh = (hp - eh) / g->sh + 1;
	g->ow = (wp - ew) / g->sw + 1;
	Type y = type_make(DT_F32, 4, (int64_t[]){ g->n, g->o, g->oh, g->ow });
	int64_t k = g->c / G * g->kh * g->kw;
	/* each factor first, so that the products cannot overflow */
	if (!type_bytes_ok(&y, NULL) || k > INT32_MAX / 2 || g->oh > INT32_MAX / 2 || g->ow > INT32_MAX / 2 ||
		g->oh * g->ow > INT32_MAX / 2 || k * g->oh * g->ow > INT32_MAX)
		return refuse(err, errlen, x, w, "the result or its GEMMs are too large");
	return true;
}

static Type out_type(const RtConv *g)
{
	return type_make(DT_F32, 4, (int64_t[]){ g->n, g->o, g->oh, g->ow });
}

bool sh_conv2d(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	RtConv g;
	if (!ir_conv_geom(&r->node[args[0]].type, &r->node[args[1]].type, n, &g, err, errlen))
		return false;
	n->type = out_type(&g);
	return true;
}

/* A gradient op: its given type and operand x or w make a convolution
   whose output must have dy's type. */
static bool check_grad(const Node *n, const Type *x, const Type *w, const Type *dy, char *err, size_t errlen)
{
	RtConv g;
	if (n->type.dt != DT_F32 || n->type.rank != 4) {
		snprintf(err, err ? errlen : 0, "%s: result must be f32 of rank 4", op_info[n->op].name);
		return false;
	}
	if (!ir_conv_geom(x, w, n, &g, err, errlen))
		return false;
	Type y = out_type(&g);
	if (!type_eq(&y, dy)) {
		char a[TS], b[TS];
		return refuse(err, errlen, x, w, "%s: the gradient %s does not match the output %s", op_info[n->op].name,
			type_str(dy, a, TS), type_str(&y, b, TS));
	}
	return true;
}

bool sh_conv2d_dx(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	return check_grad(n, &n->type, &r->node[args[1]].type, &r->node[args[0]].type, err, errlen);
}

bool sh_conv2d_dw(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	return check_grad(n, &r->node[args[0]].type, &n->type, &r->node[args[1]].type, err, errlen);
}

RtConv ir_conv_of(const Region *r, int v)
{
	const Node *n = &r->node[v];
	const Type *a = &r->node[ir_operand(r, v, 0)].type, *b = &r->node[ir_operand(r, v, 1)].type;
	const Type *x = n->op == OP_CONV2D_DX ? &n->type : a, *w = n->op == OP_CONV2D_DW ? &n->type : b;
	RtConv g;
	char err[512];
	if (!ir_conv_geom(x, w, n, &g, err, sizeof err))
		die("%s: %s", op_info[n->op].name, err);
	return g;
}

int64_t ir_work_bytes(const Region *r, int v)
{
	OpKind op = r->node[v].op;
	if (op == OP_ATTENTION || op == OP_ATTENTION_GRAD) {
		RtAttn g = ir_attention_of(r, v);
		return rt_attention_work(&g);
	}
	if (op != OP_CONV2D && op != OP_CONV2D_DX && op != OP_CONV2D_DW)
		return 0;
	RtConv g = ir_conv_of(r, v);
	return rt_conv2d_work(&g, op == OP_CONV2D ? RT_CONV_Y : op == OP_CONV2D_DX ? RT_CONV_DX : RT_CONV_DW);
}

int ir_conv(Region *r, OpKind op, int a, int b, const Node *like, Type t)
{
	Node p = ir_proto(op);
	memcpy(p.ia, like->ia, sizeof p.ia);
	p.nia = like->nia;
	p.type = t;
	char err[512];
	int v = ir_emit(r, &p, (int[]){ a, b }, 2, err, sizeof err);
	if (v < 0)
		die("region %s: %s", r->name, err);
	return v;
}

/* ---- reference kernels ---- */

/* The flat indices into x, w and y of one (output, tap) pair. */
enum { TAP_X, TAP_W, TAP_Y };

/* The tap (c within the group, a, b) of output (n, o, i, j) into t; false
   when it reads the padding. */
static bool tap(const RtConv *g, int64_t n, int64_t o, int64_t i, int64_t j, int64_t c, int64_t a, int64_t b, int64_t *t)
{
	int64_t ih = i * g->sh - g->ph + a * g->dh, iw = j * g->sw - g->pw + b * g->dw;
	if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
		return false;
	int64_t cg = g->c / g->groups, og = g->o / g->groups, ci = o / og * cg + c;
	t[TAP_X] = ((n * g->c + ci) * g->h + ih) * g->w + iw;
	t[TAP_W] = ((o * cg + c) * g->kh + a) * g->kw + b;
	t[TAP_Y] = ((n * g->o + o) * g->oh + i) * g->ow + j;
	return true;
}

/*
 * All three ops sum x * w * dy products over the same pairs; each reads
 * two of the tensors and writes the third: conv2d(x, w) -> y,
 * conv2d_dx(dy, w) -> x, conv2d_dw(x, dy) -> w.
 */
static void direct(const Region *r, int v, Tensor *out, Tensor *const *in, int ro, int ra, int rb)
{
	RtConv g = ir_conv_of(r, v);
	const float *A = in[0]->data, *B = in[1]->data;
	int64_t n = type_numel(&out->type), t[3];
	double *acc = xcalloc((size_t)n + 1, sizeof *acc);
	for (int64_t b = 0; b < g.n; b++)
		for (int64_t o = 0; o < g.o; o++)
			for (int64_t i = 0; i < g.oh; i++)
				for (int64_t j = 0; j < g.ow; j++)
					for (int64_t c = 0; c < g.c / g.groups; c++)
						for (int64_t ka = 0; ka < g.kh; ka++)
							for (int64_t kb = 0; kb < g.kw; kb++)
								if (tap(&g, b, o, i, j, c, ka, kb, t))
									acc[t[ro]] += (double)A[t[ra]] * B[t[rb]];
	float *res = out->data;
	for (int64_t k = 0; k < n; k++)
		res[k] = (float)acc[k];
	free(acc);
}

KERNEL(ik_conv2d)
{
	direct(r, v, out, in, TAP_Y, TAP_X, TAP_W);
}

KERNEL(ik_conv2d_dx)
{
	direct(r, v, out, in, TAP_X, TAP_Y, TAP_W);
}

KERNEL(ik_conv2d_dw)
{
	direct(r, v, out, in, TAP_W, TAP_X, TAP_Y);
}
