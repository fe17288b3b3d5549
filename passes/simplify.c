/*
 * simplify.c — local clean-up of a region after autodiff: constant folding,
 * algebraic identities, shape-op peepholes, transposes folded into matmul
 * flags, common-subexpression elimination and dead-code elimination.
 *
 * The region is rebuilt node by node, in order, into a fresh node array:
 * every node, its operands already replaced by their simplified values, goes
 * through put(), which first tries the rewrite rules (a rule may return an
 * existing value or build new nodes through put() itself) and otherwise
 * looks the node up in a hash table of the nodes built so far (CSE) before
 * appending it.  A final sweep drops the nodes nothing needs and renumbers.
 *
 * Contract.  Requires a verified region.  A region that still holds GRAD
 * nodes is left unchanged: merging two equal values would change what a
 * gradient is taken with respect to.  Guarantees a verified region with the
 * same inputs (every INPUT node and r->ninput are kept: input indices are
 * the calling convention), the same outputs in the same order, every
 * non-redundant WRITE, the remaining nodes in their relative order, and the
 * same results bit for bit, with two exceptions that sinter accepts as C
 * compilers do under -ffinite-math-only -fno-signed-zeros:
 *   - x * 0 becomes the constant 0 (false for x = inf or NaN; training stops
 *     on a non-finite loss anyway, and zero factors such as a momentum or a
 *     decay of 0 are the case that matters);
 *   - the sign of a zero result may change (x * 0 for negative x; x + 0 and
 *     x - (-0) for x = -0, which give +0 but become x).
 * Constant folding evaluates exactly the interpreter's float or integer
 * operation; it folds only correctly rounded operations (not exp, log,
 * tanh, pow, ...), whose result therefore cannot depend on the math library.
 * Kernel groups and arena offsets are reset: the pass runs before fusion
 * and memory planning.
 */
#include "ir/ops.h"
#include "ir/opsem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	Region *r; /* the region being built */
	int *tab;  /* CSE hash table: node indices of r, -1 = empty; cap slots */
	int cap, used;
} Simp;

enum { DROPPED = -2 }; /* put() result for a node that disappears without a value */

static int put(Simp *s, Node p, const int *a, int n);
static int find(const Simp *s, const Node *p, const int *a, int n);

/* ---- constants ---- */

static const Node *nd(const Simp *s, int v)
{
	return &s->r->node[v];
}

static bool same_bits(double x, double y)
{
	return !memcmp(&x, &y, sizeof x);
}

static bool is_const(const Simp *s, int v)
{
	return nd(s, v)->op == OP_CONST;
}

/* The value every element of CONST v holds. */
static double cval(const Simp *s, int v)
{
	return sem_convert(nd(s, v)->type.dt, nd(s, v)->f);
}

static int mk_const(Simp *s, Type t, double x)
{
	Node p = ir_proto(OP_CONST);
	p.type = t;
	p.f = x;
	return put(s, p, NULL, 0);
}

/* x as a value of type t: x itself, a constant of type t, or x broadcast to t. */
static int fit(Simp *s, int x, const Type *t)
{
	if (type_eq(&nd(s, x)->type, t))
		return x;
	if (is_const(s, x))
		return mk_const(s, *t, nd(s, x)->f);
	Node p = ir_proto(OP_BROADCAST);
	p.type = *t;
	return put(s, p, &x, 1);
}

/* ---- constant folding: the interpreter's arithmetic (ir/opsem.h) ---- */

/* op(x, y) on operands of type dt (canonical values); false: not folded,
   among them the math library's functions (pow), not ours to fold. */
static bool fold_binary(OpKind op, DType dt, double x, double y, double *res)
{
	return sem_eval(op, dt, 2, x, y, res) == SEM_EXACT;
}

static bool fold_unary(OpKind op, DType dt, double x, double *res)
{
	return sem_eval(op, dt, 1, x, 0, res) == SEM_EXACT;
}

/*
 * A reduction of a constant.  The interpreter sums in double starting from
 * +0: n copies of an f32 (24-bit significand) add up exactly while n < 2^29,
 * n copies of an i32 while n < 2^22, so the sum is n * c rounded once.
 */
static bool fold_reduce(const Simp *s, const Node *p, int x, double *res)
{
	const Type *xt = &nd(s, x)->type;
	double c = cval(s, x);
	int64_t count = 1;
	for (int k = 0; k < p->nia; k++)
		count *= xt->dim[p->ia[k]];
	switch (p->op) {
	case OP_ARGMAX:
		*res = 0; /* all equal: the first one */
		return true;
	case OP_MAX: case OP_MIN:
		*res = nd(s, x)->f; /* the same fill, spelled as written */
		return count > 0;
	case OP_SUM:
		if (count == 0 || c == 0) {
			*res = 0;
			return true;
		}
		if (count >= (xt->dt == DT_F32 ? (int64_t)1 << 29 : (int64_t)1 << 22))
			return false;
		*res = sem_convert(p->type.dt, (double)count * c);
		return true;
	default:
		return false;
	}
}

/* ---- rewrite rules ---- */

/* Replaces a non-scalar constant operand by a scalar one when the result type stays the same. */
static int shrink_consts(Simp *s, const Node *p, const int *a, int n)
{
	for (int k = 0; k < n; k++) {
		if (!is_const(s, a[k]) || nd(s, a[k])->type.rank == 0)
			continue;
		int b[3];
		memcpy(b, a, (size_t)n * sizeof *b);
		b[k] = mk_const(s, type_scalar(nd(s, a[k])->type.dt), nd(s, a[k])->f);
		Node q = *p;
		char err[8];
		if (op_shape[q.op](s->r, &q, b, err, sizeof err) && type_eq(&q.type, &p->type))
			return put(s, *p, b, n);
	}
	return -1;
}

/* Is c = ±2^k with 2^-k a normal float too (so that it is exact)? */
static bool is_pow2_recip(double c, float *inv)
{
	float f = (float)c;
	int e;
	*inv = 1.0f / f;
	return isnormal(f) && fabs(frexp(f, &e)) == 0.5 && isnormal(*inv);
}

static int rw_binary(Simp *s, const Node *p, const int *a)
{
	const Type *t = &p->type;
	DType dt = nd(s, a[0])->type.dt;
	double res;
	if (is_const(s, a[0]) && is_const(s, a[1]) && fold_binary(p->op, dt, cval(s, a[0]), cval(s, a[1]), &res))
		return mk_const(s, *t, res);
	if ((p->op == OP_MAXIMUM || p->op == OP_MINIMUM) && a[0] == a[1])
		return fit(s, a[0], t);
	int v = shrink_consts(s, p, a, 2);
	if (v >= 0 || dt == DT_BOOL)
		return v;
	/* identities with one constant operand k and the other operand x */
	for (int k = 0; k < 2; k++) {
		if (!is_const(s, a[k]))
			continue;
		int x = a[1 - k];
		double c = cval(s, a[k]);
		switch (p->op) {
		case OP_MUL:
			if (c == 1)
				return fit(s, x, t);
			if (c == -1)
				return fit(s, put(s, ir_proto(OP_NEG), &x, 1), t);
			if (c == 0)
				return mk_const(s, *t, 0.0); /* finite x assumed, see the contract */
			break;
		case OP_ADD:
			if (c == 0)
				return fit(s, x, t);
			break;
		case OP_SUB:
			if (k == 1 && c == 0)
				return fit(s, x, t);
			break;
		case OP_DIV: {
			float inv;
			if (k == 1 && c == 1)
				return fit(s, x, t);
			/* x / 2^k and x * 2^-k round the same exact quotient */
			if (k == 1 && dt == DT_F32 && is_pow2_recip(c, &inv)) {
				int b[2] = { x, mk_const(s, nd(s, a[1])->type, inv) };
				return put(s, ir_proto(OP_MUL), b, 2);
			}
			break;
		}
		default:
			break;
		}
	}
	return -1;
}

static int rw_unary(Simp *s, const Node *p, const int *a)
{
	const Node *x = nd(s, a[0]);
	double res;
	switch (p->op) {
	case OP_STOP_GRADIENT:
		return a[0]; /* after autodiff, a copy */
	case OP_CAST:
		if (x->type.dt == p->type.dt)
			return a[0];
		/* bf16 -> f32 -> bf16 is the identity: widening is exact, and the
		   host rounds what only moved (x.T, x[i]) back this way */
		if (x->op == OP_CAST && p->type.dt == DT_BF16 && nd(s, ir_operand(s->r, a[0], 0))->type.dt == DT_BF16)
			return ir_operand(s->r, a[0], 0);
		if (x->op == OP_CONST)
			return mk_const(s, p->type, sem_convert(p->type.dt, cval(s, a[0])));
		return -1;
	case OP_NEG:
		if (x->op == OP_NEG)
			return ir_operand(s->r, a[0], 0);
		break;
	default:
		break;
	}
	if (x->op == OP_CONST && fold_unary(p->op, x->type.dt, cval(s, a[0]), &res))
		return mk_const(s, p->type, res);
	return -1;
}

static int rw_where(Simp *s, const Node *p, const int *a)
{
	if (is_const(s, a[0]))
		return fit(s, cval(s, a[0]) ? a[1] : a[2], &p->type);
	if (a[1] == a[2])
		return fit(s, a[1], &p->type);
	return shrink_consts(s, p, a, 3);
}

static bool is_identity(const int64_t *perm, int rank)
{
	for (int i = 0; i < rank; i++)
		if (perm[i] != i)
			return false;
	return true;
}

/* A slice (or unslice) whose ranges cover every axis of full entirely. */
static bool full_range(const Node *p, const Type *full)
{
	for (int k = 0; k < full->rank; k++)
		if (p->ia[3 * k] != 0 || p->ia[3 * k + 1] != full->dim[k] || p->ia[3 * k + 2] != 1)
			return false;
	return true;
}

/* Reshape, broadcast, transpose, slice, unslice, concat; -1 for any other op. */
static int rw_shape(Simp *s, const Node *p, const int *a, int n)
{
	if (n == 0)
		return -1; /* sources */
	const Node *x = nd(s, a[0]);
	const Type *t = &p->type;
	switch (p->op) {
	case OP_RESHAPE:
	case OP_BROADCAST:
		if (type_eq(&x->type, t))
			return a[0];
		if (x->op == p->op) {
			int inner = ir_operand(s->r, a[0], 0);
			return put(s, *p, &inner, 1); /* reshapes compose, and so do broadcasts */
		}
		break;
	case OP_TRANSPOSE:
		if (is_identity(p->ia, t->rank))
			return a[0];
		if (x->op == OP_TRANSPOSE) {
			/* output axis k reads axis p[k] of x, which reads axis x.perm[p[k]] */
			Node q = *p;
			for (int k = 0; k < t->rank; k++)
				q.ia[k] = x->ia[p->ia[k]];
			int inner = ir_operand(s->r, a[0], 0);
			return put(s, q, &inner, 1);
		}
		break;
	case OP_SLICE:
		if (full_range(p, &x->type))
			return a[0];
		break;
	case OP_UNSLICE:
		if (full_range(p, t))
			return a[0];
		return -1; /* zeros around a constant are no constant */
	case OP_CONCAT:
		if (n == 1)
			return a[0];
		for (int k = 0; k < n; k++)
			if (!is_const(s, a[k]) || !same_bits(cval(s, a[k]), cval(s, a[0])))
				return -1;
		break;
	default:
		return -1;
	}
	/* moving or repeating the elements of a fill gives the same fill */
	return x->op == OP_CONST ? mk_const(s, *t, x->f) : -1;
}

/*
 * matmul(transpose(x, p), b) with flag t computes what matmul(transpose(x,
 * r), b) with flag !t does, for r = p followed by a swap of the last two
 * axes.  Use the second form when r is the identity (no transpose at all)
 * or when transpose(x, r) exists already and, unlike transpose(x, p), keeps
 * the innermost axis in place: q @ k^T in attention, where k is itself a
 * transpose that the transpose rule merged with the ^T.
 */
static int rw_matmul(Simp *s, const Node *p, const int *a)
{
	Node q = *p;
	int b[2] = { a[0], a[1] };
	bool changed = false;
	q.nia = 2;
	for (int k = 0; k < 2; k++) {
		const Node *x = nd(s, a[k]);
		if (x->op != OP_TRANSPOSE)
			continue;
		int rank = x->type.rank, src = ir_operand(s->r, a[k], 0), y = src;
		Node t = ir_proto(OP_TRANSPOSE);
		t.nia = rank;
		for (int j = 0; j < rank; j++)
			t.ia[j] = x->ia[j < rank - 2 ? j : 2 * rank - 3 - j];
		if (!is_identity(t.ia, rank)) {
			char err[8];
			/* only towards a transpose that keeps the innermost axis: never back */
			if (t.ia[rank - 1] != rank - 1 || x->ia[rank - 1] == rank - 1)
				continue;
			if (!sh_transpose(s->r, &t, &src, err, sizeof err))
				die("simplify: matmul operand transpose");
			y = find(s, &t, &src, 1);
		}
		if (y >= 0) {
			b[k] = y;
			q.ia[k] = !q.ia[k];
			changed = true;
		}
	}
	return changed ? put(s, q, b, 2) : -1;
}

/* The simplified value of node p over operands a, or -1 when no rule applies. */
static int rewrite(Simp *s, const Node *p, const int *a, int n)
{
	unsigned fl = op_info[p->op].flags;
	double res;
	if (fl & F_UNARY)
		return rw_unary(s, p, a);
	if (fl & F_BINARY)
		return rw_binary(s, p, a);
	if (fl & F_REDUCE)
		return is_const(s, a[0]) && fold_reduce(s, p, a[0], &res) ? mk_const(s, p->type, res) : -1;
	switch (p->op) {
	case OP_WHERE:
		return rw_where(s, p, a);
	case OP_DROPOUT:
		return (float)p->f <= 0 ? a[0] : -1; /* the interpreter copies for p <= 0 */
	case OP_MATMUL:
		return rw_matmul(s, p, a);
	case OP_WRITE:
		return a[0] == a[1] ? DROPPED : -1; /* storing a slot's own value */
	default:
		return rw_shape(s, p, a, n);
	}
}

/* ---- CSE ---- */

static uint64_t mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x100000001b3ull;
}

static uint64_t hash_str(uint64_t h, const char *p)
{
	for (; p && *p; p++)
		h = mix(h, (unsigned char)*p);
	return mix(h, 0xff);
}

/* The float attribute as compared: a constant by the value it fills in. */
static double fattr(const Node *p)
{
	return p->op == OP_CONST ? sem_convert(p->type.dt, p->f) : p->f;
}

static int nia_cmp(const Node *p)
{
	return p->nia > 2 ? p->nia : 2; /* matmul flags and other ia[0] attributes may come with nia = 0 */
}

static uint64_t node_hash(const Node *p, const int *a, int n)
{
	uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)p->op);
	h = mix(mix(h, (uint64_t)p->type.dt), (uint64_t)p->type.rank);
	for (int i = 0; i < p->type.rank; i++)
		h = mix(h, (uint64_t)p->type.dim[i]);
	for (int k = 0; k < n; k++)
		h = mix(h, (uint64_t)a[k]);
	for (int i = 0; i < nia_cmp(p); i++)
		h = mix(h, (uint64_t)p->ia[i]);
	double f = fattr(p);
	uint64_t fb;
	memcpy(&fb, &f, sizeof fb);
	h = mix(mix(h, fb), p->keep);
	return hash_str(hash_str(h, p->name), p->sname);
}

static bool same_str(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

static bool same_node(const Region *r, const Node *p, const int *a, int n, int v)
{
	const Node *q = &r->node[v];
	if (q->op != p->op || q->narg != n || q->nia != p->nia || q->keep != p->keep || !type_eq(&q->type, &p->type))
		return false;
	/* a is NULL for an op without operands, and memcmp(NULL, .., 0) is undefined */
	if (n && memcmp(a, r->arg + q->arg, (size_t)n * sizeof *a))
		return false;
	if (memcmp(q->ia, p->ia, (size_t)nia_cmp(p) * sizeof *p->ia))
		return false;
	return same_bits(fattr(p), fattr(q)) && same_str(p->name, q->name) && same_str(p->sname, q->sname);
}

/* Effects and inputs are never merged (two inputs never share an index anyway). */
static bool unique_op(OpKind op)
{
	return (op_info[op].flags & F_EFFECT) || op == OP_INPUT;
}

static void tab_insert(Simp *s, int v)
{
	const Node *q = &s->r->node[v];
	unsigned i = (unsigned)node_hash(q, s->r->arg + q->arg, q->narg) & (unsigned)(s->cap - 1);
	while (s->tab[i] >= 0)
		i = (i + 1) & (unsigned)(s->cap - 1);
	s->tab[i] = v;
	s->used++;
}

static void tab_grow(Simp *s)
{
	free(s->tab);
	s->cap = s->cap ? 2 * s->cap : 256;
	s->tab = xmalloc((size_t)s->cap * sizeof *s->tab);
	memset(s->tab, 0xff, (size_t)s->cap * sizeof *s->tab);
	s->used = 0;
	for (int v = 0; v < s->r->nnode; v++)
		if (!unique_op(s->r->node[v].op))
			tab_insert(s, v);
}

/* The node built before that equals p over operands a, or -1. */
static int find(const Simp *s, const Node *p, const int *a, int n)
{
	unsigned i = (unsigned)node_hash(p, a, n) & (unsigned)(s->cap - 1);
	for (; s->tab[i] >= 0; i = (i + 1) & (unsigned)(s->cap - 1))
		if (same_node(s->r, p, a, n, s->tab[i]))
			return s->tab[i];
	return -1;
}

/* Appends p, or returns the equal node built before. */
static int intern(Simp *s, const Node *p, const int *a, int n)
{
	char err[512];
	bool unique = unique_op(p->op);
	int v = unique ? -1 : find(s, p, a, n);
	if (v >= 0)
		return v;
	v = ir_emit(s->r, p, a, n, err, sizeof err);
	if (v < 0)
		die("simplify: region %s: %s", s->r->name, err);
	if (!unique) {
		if (2 * (s->used + 1) > s->cap)
			tab_grow(s); /* inserts v too */
		else
			tab_insert(s, v);
	}
	return v;
}

static int put(Simp *s, Node p, const int *a, int n)
{
	char err[512];
	if (p.op == OP_MATMUL)
		p.nia = 2; /* flags spelled out, so that a bare matmul equals one with zero flags */
	if (!op_shape[p.op](s->r, &p, a, err, sizeof err))
		die("simplify: region %s: %s: %s", s->r->name, op_info[p.op].name, err);
	int v = rewrite(s, &p, a, n);
	return v != -1 ? v : intern(s, &p, a, n);
}

/* ---- dead code ---- */

/*
 * Moves the nodes of b that outputs, inputs and effects need into r, in
 * order, renumbered densely; r->out holds b's value numbers on entry.
 */
static void sweep(Region *r, const Region *b)
{
	int n = b->nnode, nn = 0, na = 0;
	bool *live = xcalloc((size_t)n + 1, sizeof *live);
	int *map = xmalloc(((size_t)n + 1) * sizeof *map);
	for (int i = 0; i < r->nout; i++)
		live[r->out[i]] = true;
	for (int v = n - 1; v >= 0; v--) {
		const Node *q = &b->node[v];
		live[v] |= (op_info[q->op].flags & F_EFFECT) || q->op == OP_INPUT;
		for (int k = 0; live[v] && k < q->narg; k++)
			live[ir_operand(b, v, k)] = true; /* operands come earlier: one backward sweep */
	}
	r->node = arena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof *r->node);
	r->arg = arena_alloc(r->arena, (size_t)(b->narg ? b->narg : 1) * sizeof *r->arg);
	for (int v = 0; v < n; v++) {
		const Node *q = &b->node[v];
		map[v] = live[v] ? nn : -1;
		if (!live[v])
			continue;
		r->node[nn] = *q;
		r->node[nn++].arg = na;
		for (int k = 0; k < q->narg; k++)
			r->arg[na++] = map[b->arg[q->arg + k]];
	}
	for (int i = 0; i < r->nout; i++)
		r->out[i] = map[r->out[i]];
	r->nnode = r->capnode = nn;
	r->narg = r->caparg = na;
	free(live);
	free(map);
}

void simplify_run(Region *r)
{
	int n = r->nnode, maxarg = 1;
	for (int v = 0; v < n; v++) {
		if (r->node[v].op == OP_GRAD)
			return;
		maxarg = r->node[v].narg > maxarg ? r->node[v].narg : maxarg;
	}
	Simp s = { ir_region_new(r->arena, r->name), NULL, 0, 0 };
	tab_grow(&s);
	int *map = xmalloc(((size_t)n + 1) * sizeof *map), *a = xmalloc((size_t)maxarg * sizeof *a);
	for (int v = 0; v < n; v++) {
		const Node *q = &r->node[v];
		for (int k = 0; k < q->narg; k++) {
			a[k] = map[ir_operand(r, v, k)];
			if (a[k] < 0)
				die("simplify: %%%d uses %%%d, which has no value", v, ir_operand(r, v, k));
		}
		map[v] = put(&s, *q, a, q->narg);
	}
	for (int i = 0; i < r->nout; i++)
		r->out[i] = map[r->out[i]];
	sweep(r, s.r);
	free(map);
	free(a);
	free(s.tab);
}
