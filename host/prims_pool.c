/*
 * prims_pool.c — the primitives that trace one op with a geometry of its
 * own: those of convolutional networks, conv2d (ir/conv.h) and the ones
 * that move or summarize windows of NCHW tensors without weights,
 * max_pool2d and avg_pool2d (the pooling ops of ir/pool.h), and pad (constant padding, traced as unslice, whose
 * gradient is the slice back); and fused attention (ir/attention.h).
 * Their rows are in the builtin table, host/prims.c; LANGUAGE.md §12 and
 * §13 describe them.
 */
#include "host/host.h"
#include "ir/conv.h"
#include "ir/pool.h"

#include <math.h>
#include <string.h>

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

/* A window size, stride, padding or dilation: an int for both spatial axes
   or a list [height, width], into out[0..2); absent, def.  Their ranges are
   the shape rule's to check, which names both shapes. */
static void want_pair(Ev *ev, Value v, Loc loc, const char *fname, const char *what, int64_t def, int64_t *out)
{
	if (v.kind == V_NONE) {
		out[0] = out[1] = def;
		return;
	}
	if (v.kind == V_INT) {
		out[0] = out[1] = v.i;
		return;
	}
	if (v.kind != V_LIST || v.n != 2 || v.items[0].kind != V_INT || v.items[1].kind != V_INT)
		ev_error(ev, loc, "%s: %s must be an int or a pair of ints [height, width], got %s", fname, what,
			v.kind == V_LIST && v.n != 2 ? "a list of another length"
			: v.kind == V_LIST         ? "a list of something else"
			                           : arena_printf(ev->arena, "a %s", value_kind_name(&v)));
	out[0] = v.items[0].i;
	out[1] = v.items[1].i;
}

/* conv2d(x, w, stride = 1, padding = 0, dilation = 1, groups = 1): what the
   shape rule rejects (ir/conv.c) is the user's error here. */
Value prim_conv2d(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[6];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int ops[2] = { ev_node(ev, v[0], loc, DT_COUNT), ev_node(ev, v[1], loc, DT_COUNT) };
	Node p = ir_proto(OP_CONV2D);
	want_pair(ev, v[2], loc, b->name, "stride", 1, &p.ia[CONV_SH]);
	want_pair(ev, v[3], loc, b->name, "padding", 0, &p.ia[CONV_PH]);
	want_pair(ev, v[4], loc, b->name, "dilation", 1, &p.ia[CONV_DH]);
	if (v[5].kind != V_NONE && v[5].kind != V_INT)
		ev_error(ev, loc, "conv2d: groups must be an int, got a %s", value_kind_name(&v[5]));
	p.ia[CONV_GROUPS] = v[5].kind == V_NONE ? 1 : v[5].i;
	p.nia = CONV_NATTR;
	char err[256];
	int o = ir_emit(ev->tr->r, &p, ops, 2, err, sizeof err);
	if (o < 0)
		ev_error(ev, loc, "%s", err);
	return v_tensor(o);
}

/* max_pool2d(x, kernel, stride = kernel, padding = 0) and avg_pool2d(...):
   the window is judged by the shape rule's own check (ir/pool.c), under
   the name the user wrote. */
Value prim_pool(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[4];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	Node p = ir_proto(b->op);
	want_pair(ev, v[1], loc, b->name, "kernel", 0, &p.ia[0]);
	if (v[2].kind == V_NONE)
		p.ia[2] = p.ia[0], p.ia[3] = p.ia[1];
	else
		want_pair(ev, v[2], loc, b->name, "stride", 0, &p.ia[2]);
	want_pair(ev, v[3], loc, b->name, "padding", 0, &p.ia[4]);
	p.nia = 6;
	int x = ev_node(ev, v[0], loc, DT_COUNT);
	PoolGeom g;
	char err[400];
	if (!ir_pool_geom(b->name, &ev->tr->r->node[x].type, p.ia, p.nia, &g, err, sizeof err))
		ev_error(ev, loc, "%s", err);
	return v_tensor(ir_emit(ev->tr->r, &p, &x, 1, NULL, 0));
}

/*
 * pad(x, widths, value = 0): widths is a list of [before, after] pairs for
 * the last len(widths) axes, in axis order (one pair alone may be written
 * [before, after]).  The padded tensor is unslice(x) into the larger
 * shape; a value other than 0 fills the border through where() on the
 * unsliced mask of x, so that x's elements stay bit for bit.
 */
Value prim_pad(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[3];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int x = ev_node(ev, v[0], loc, DT_COUNT);
	Region *r = ev->tr->r;
	Type t = r->node[x].type;
	Value w = v[1], one = v[1];
	if (w.kind == V_LIST && w.n == 2 && w.items[0].kind == V_INT && w.items[1].kind == V_INT)
		w = (Value){ .kind = V_LIST, .n = 1, .items = &one };
	if (w.kind != V_LIST)
		ev_error(ev, loc, "pad: widths must be a list of [before, after] pairs, got a %s", value_kind_name(&w));
	if (w.n > t.rank)
		ev_error(ev, loc, "pad: %d pairs of widths for %s, which has %d axes", w.n, TS(&t), t.rank);
	Node p = ir_proto(OP_UNSLICE);
	Type to = t;
	for (int k = 0; k < t.rank; k++) {
		int64_t lo = 0, hi = 0;
		int i = k - (t.rank - w.n);
		if (i >= 0) {
			Value q = w.items[i];
			if (q.kind != V_LIST || q.n != 2 || q.items[0].kind != V_INT || q.items[1].kind != V_INT)
				ev_error(ev, loc, "pad: widths must be a list of [before, after] pairs of ints; item %d is not", i);
			lo = q.items[0].i;
			hi = q.items[1].i;
			if (lo < 0 || hi < 0)
				ev_error(ev, loc, "pad: widths must not be negative, got [%lld, %lld] for axis %d of %s", (long long)lo,
					(long long)hi, k, TS(&t));
			if (lo > TYPE_MAX_BYTES || hi > TYPE_MAX_BYTES - lo - t.dim[k])
				ev_error(ev, loc, "pad: padding %s by [%lld, %lld] on axis %d is too large", TS(&t), (long long)lo,
					(long long)hi, k);
		}
		to.dim[k] = lo + t.dim[k] + hi;
		p.ia[3 * k] = lo;
		p.ia[3 * k + 1] = lo + t.dim[k];
		p.ia[3 * k + 2] = 1;
	}
	if (!type_bytes_ok(&to, NULL))
		ev_error(ev, loc, "pad: the result %s is too large: a tensor holds at most 2^48 bytes", TS(&to));
	if (type_eq(&to, &t))
		return v_tensor(x);
	p.nia = 3 * t.rank;
	p.type = to;
	int val = v[2].kind == V_NONE ? -1 : ev_node(ev, v[2], loc, t.dt);
	int px = ir_emit(r, &p, &x, 1, NULL, 0);
	if (val < 0 || (r->node[val].op == OP_CONST && r->node[val].f == 0 && !signbit(r->node[val].f)))
		return v_tensor(px);
	p.type.dt = DT_BOOL;
	int inside = ir_const(r, type_make(DT_BOOL, t.rank, t.dim), 1);
	int mask = ir_emit(r, &p, &inside, 1, NULL, 0);
	return v_tensor(ir_op3(r, OP_WHERE, mask, px, val));
}

/*
 * attention(q, k, v, causal = true, scale = 1 / sqrt(D), segment = none):
 * softmax(scale q k^T, masked) v over q, k, v f32[B, H, T, D], as one fused
 * attention node (ir/attention.c) whose result carries each row's
 * log-sum-exp in a last column; the value returned is the slice without
 * it.  segment i32[B, T] (or a list of lists of ints) keeps each position
 * to the keys of its own segment.
 */
/* The attention node of nx operands (q, k, v or the packed x) in ops[],
   heads (0: not packed), and the options causal, scale and segment in
   opt[0..3); D is the head size, for the default scale (0: the shape rule
   will refuse).  Returns y, o without the log-sum-exps of its last axis. */
static Value attention_call(Ev *ev, Loc loc, int *ops, int nx, int64_t heads, int64_t D, const Value *opt)
{
	Node p = ir_proto(OP_ATTENTION);
	if (opt[0].kind != V_NONE && opt[0].kind != V_BOOL)
		ev_error(ev, loc, "attention: causal must be a bool, got a %s", value_kind_name(&opt[0]));
	p.ia[0] = opt[0].kind == V_NONE || opt[0].i != 0;
	p.ia[1] = heads;
	p.nia = heads ? 2 : 1;
	if (opt[1].kind != V_NONE && !is_number(&opt[1]))
		ev_error(ev, loc, "attention: scale must be a number, got a %s", value_kind_name(&opt[1]));
	p.f = opt[1].kind != V_NONE ? num(&opt[1]) : D > 0 ? 1 / sqrt((double)D) : 1;
	int nops = nx;
	if (opt[2].kind != V_NONE)
		ops[nops++] = ev_node(ev, opt[2], loc, DT_COUNT);
	char err[400];
	int o = ir_emit(ev->tr->r, &p, ops, nops, err, sizeof err);
	if (o < 0)
		ev_error(ev, loc, "%s", err);
	/* y = o[..., 0:D] (0:C packed) */
	Type t = ev->tr->r->node[o].type;
	Node s = ir_proto(OP_SLICE);
	for (int k = 0; k < t.rank; k++)
		s.ia[3 * k] = 0, s.ia[3 * k + 1] = t.dim[k] - (k == t.rank - 1 ? heads ? heads : 1 : 0), s.ia[3 * k + 2] = 1;
	s.nia = 3 * t.rank;
	return v_tensor(ir_emit(ev->tr->r, &s, &o, 1, NULL, 0));
}

Value prim_attention(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[6];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int ops[4];
	for (int k = 0; k < 3; k++)
		ops[k] = ev_node(ev, v[k], loc, DT_COUNT);
	const Type *q = &ev->tr->r->node[ops[0]].type;
	return attention_call(ev, loc, ops, 3, 0, q->rank == 4 ? q->dim[3] : 0, v + 3);
}

/*
 * attention_qkv(x, heads, causal = true, scale = 1 / sqrt(D), segment =
 * none): the same over x f32[B, T, 3C] as a GPT's qkv product gives it,
 * q, k, v side by side and in each the heads of D = C / heads features;
 * returns y f32[B, T, C], the heads side by side.  One packed attention
 * node ({heads}, ir/attention.c), which reads x and writes y in place of
 * the slices and transposes that would make q, k, v [B, H, T, D].
 */
Value prim_attention_qkv(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[5];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int ops[2] = { ev_node(ev, v[0], loc, DT_COUNT) };
	if (v[1].kind != V_INT)
		ev_error(ev, loc, "attention_qkv: heads must be an int, got a %s", value_kind_name(&v[1]));
	if (v[1].i < 1)
		ev_error(ev, loc, "attention_qkv: heads must be positive, got %lld", (long long)v[1].i);
	const Type *x = &ev->tr->r->node[ops[0]].type;
	int64_t H = v[1].i, D = x->rank == 3 && x->dim[2] % (3 * H) == 0 ? x->dim[2] / (3 * H) : 0;
	return attention_call(ev, loc, ops, 1, H, D, v + 2);
}
