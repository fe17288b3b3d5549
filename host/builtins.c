/*
 * builtins.c — operators and primitive functions of the language.
 *
 * Each one computes on the host when all its operands are host numbers
 * (that is how schedules and hyperparameter formulas run) and otherwise
 * emits IR into the region being traced, after NumPy-style dtype promotion:
 * a host number adapts to the tensor's element type, `/` and `mean` give
 * f32, bool operands of arithmetic become i32.
 */
#include "host/eval.h"
#include "ir/opsem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

/* ---- argument matching ---- */

void get_args(Ev *ev, Loc loc, const char *fname, const char *spec, Value *args, const char **names, int nargs, Value *out)
{
	const char *pn[16];
	bool opt[16];
	int np = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
		size_t l = strlen(tok);
		opt[np] = tok[l - 1] == '=';
		if (opt[np])
			tok[l - 1] = 0;
		pn[np++] = arena_strdup(ev->arena, tok);
	}
	for (int i = 0; i < np; i++)
		out[i] = (Value){ .kind = V_NONE };
	int pos = 0;
	for (int i = 0; i < nargs; i++) {
		int k = -1;
		if (names && names[i]) {
			for (int j = 0; j < np; j++)
				if (strcmp(pn[j], names[i]) == 0)
					k = j;
			if (k < 0)
				ev_error(ev, loc, "'%s' has no parameter '%s'%s", fname, names[i], ev_suggest(ev, names[i], pn, np));
		} else {
			k = pos++;
			if (k >= np)
				ev_error(ev, loc, "'%s' takes at most %d argument%s, got %d", fname, np, np == 1 ? "" : "s", nargs);
		}
		if (out[k].kind != V_NONE)
			ev_error(ev, loc, "argument '%s' of '%s' given twice", pn[k], fname);
		out[k] = args[i];
	}
	for (int j = 0; j < np; j++)
		if (!opt[j] && out[j].kind == V_NONE)
			ev_error(ev, loc, "missing argument '%s' in call to '%s'", pn[j], fname);
}

/* ---- turning values into nodes ---- */

static Trace *need_trace(Ev *ev, Loc loc)
{
	if (!ev->tr)
		ev_error(ev, loc, "tensor operations are only allowed in functions, models and train blocks");
	return ev->tr;
}

static int add_input(Ev *ev, Type t, const void *origin, const void *data)
{
	Trace *tr = ev->tr;
	if (origin)
		for (int i = 0; i < tr->ninputs; i++)
			if (tr->origin[i] == origin && type_eq(&tr->inputs[i].type, &t))
				return tr->innode[i]; /* nothing renumbers nodes while tracing */
	if (tr->ninputs == tr->cap) {
		int cap = tr->cap ? 2 * tr->cap : 8;
		tr->inputs = arena_grow(tr->a, tr->inputs, tr->ninputs * sizeof *tr->inputs, cap * sizeof *tr->inputs);
		tr->origin = arena_grow(tr->a, tr->origin, tr->ninputs * sizeof *tr->origin, cap * sizeof *tr->origin);
		tr->innode = arena_grow(tr->a, tr->innode, tr->ninputs * sizeof *tr->innode, cap * sizeof *tr->innode);
		tr->cap = cap;
	}
	size_t bytes = (size_t)type_bytes(&t);
	void *copy = arena_copy(tr->a, data, bytes);
	tr->inputs[tr->ninputs] = (Tensor){ t, copy };
	tr->origin[tr->ninputs] = origin;
	tr->innode[tr->ninputs] = ir_input(tr->r, tr->ninputs, t);
	return tr->innode[tr->ninputs++];
}

static void store_scalar(DType dt, double x, void *out)
{
	if (dt == DT_F32)
		*(float *)out = (float)x;
	else if (dt == DT_I32)
		*(int32_t *)out = (int32_t)x;
	else if (dt == DT_BF16)
		*(uint16_t *)out = rt_bf16_from_f32((float)x);
	else
		*(uint8_t *)out = x != 0;
}

/* A host number becoming an i32 element must fit (PyTorch raises too
   rather than wrap: torch.tensor([2**40], dtype=torch.int32)). */
void ev_check_i32(Ev *ev, Loc loc, const Value *v)
{
	if (v->kind == V_INT && (v->i < INT32_MIN || v->i > INT32_MAX))
		ev_error(ev, loc, "integer %lld does not fit in i32", (long long)v->i);
	if (v->kind == V_FLOAT && !(v->f > (double)INT32_MIN - 1 && v->f < (double)INT32_MAX + 1))
		ev_error(ev, loc, "%g does not fit in i32", v->f);
}

/* A nested list of numbers as a constant tensor (NumPy's array()). */
static int list_node(Ev *ev, Value v, Loc loc, DType want)
{
	Type t = { .dt = want == DT_COUNT ? DT_I32 : want };
	Value cur = v;
	while (cur.kind == V_LIST) {
		if (t.rank == MAX_RANK || cur.n == 0)
			ev_error(ev, loc, "list is empty or nested too deeply to be a tensor");
		t.dim[t.rank++] = cur.n;
		cur = cur.items[0];
	}
	int64_t n = type_numel(&t);
	double *vals = arena_alloc(ev->arena, n * sizeof *vals);
	int64_t k = 0;
	bool isfloat = false;
	/* walk the nested list in row-major order, checking it is rectangular */
	for (int64_t i = 0; i < n; i++) {
		Value x = v;
		int64_t rem = i;
		for (int d = 0; d < t.rank; d++) {
			int64_t stride = 1;
			for (int e = d + 1; e < t.rank; e++)
				stride *= t.dim[e];
			if (x.kind != V_LIST || x.n != t.dim[d])
				ev_error(ev, loc, "list is not rectangular, so it cannot be a tensor");
			x = x.items[rem / stride];
			rem %= stride;
		}
		if (!is_number(&x))
			ev_error(ev, loc, "a tensor literal holds numbers, found a %s", value_kind_name(&x));
		isfloat |= x.kind == V_FLOAT;
		if (t.dt == DT_I32)
			ev_check_i32(ev, loc, &x);
		vals[k++] = num(&x);
	}
	if (want == DT_COUNT && isfloat)
		t.dt = DT_F32;
	char *data = arena_alloc(ev->arena, n * dtype_size(t.dt));
	for (int64_t i = 0; i < n; i++)
		store_scalar(t.dt, vals[i], data + i * dtype_size(t.dt));
	return add_input(ev, t, NULL, data);
}

/* ev_node, with a bf16 tensor kept bf16 under want DT_COUNT (region outputs). */
int ev_node_stored(Ev *ev, Value v, Loc loc, DType want)
{
	Trace *tr = need_trace(ev, loc);
	Region *r = tr->r;
	int x;
	switch (v.kind) {
	case V_TENSOR:
		x = v.node;
		break;
	case V_PARAM: {
		/* a buffer is read as a state of no optimizer (host/store.c) */
		OpKind op = slot_is_buffer(v.slot) ? OP_STATE : OP_PARAM;
		x = -1;
		for (int i = 0; i < r->nnode && x < 0; i++)
			if (r->node[i].op == op && strcmp(r->node[i].name, v.slot->name) == 0 &&
			    (op == OP_PARAM || strcmp(r->node[i].sname, SLOT_BUFFER) == 0))
				x = i;
		if (x < 0) {
			x = op == OP_STATE ? ir_state(r, v.slot->name, SLOT_BUFFER, v.slot->t.type)
			                   : ir_param(r, v.slot->name, v.slot->t.type);
			r->node[x].at = v.slot->off;
		}
		break;
	}
	case V_HOST:
		x = add_input(ev, v.ht->t.type, v.ht, v.ht->t.data);
		break;
	case V_INT: case V_FLOAT: case V_BOOL: {
		DType dt = want != DT_COUNT ? want : v.kind == V_FLOAT ? DT_F32 : v.kind == V_INT ? DT_I32 : DT_BOOL;
		Type t = type_scalar(dt);
		if (dt == DT_I32)
			ev_check_i32(ev, loc, &v);
		if (!v.dyn)
			return ir_const(r, t, num(&v));
		char data[8];
		store_scalar(dt, num(&v), data);
		return add_input(ev, t, v.origin, data);
	}
	case V_LIST:
		x = list_node(ev, v, loc, want);
		break;
	default:
		ev_error(ev, loc, "expected a tensor or a number, got a %s", value_kind_name(&v));
	}
	DType dt = r->node[x].type.dt;
	if (want != DT_COUNT && dt != want) {
		/* bf16 converts to and from f32 only (sh_cast) */
		if ((dt == DT_BF16 || want == DT_BF16) && dt != DT_F32 && want != DT_F32)
			x = ir_cast(r, x, DT_F32);
		x = ir_cast(r, x, want);
	}
	return x;
}

/* A value as a node of dtype want (DT_COUNT: its own).  A bf16 tensor is
   read as f32 unless bf16 is asked for: ops compute in f32 (host/bf16.c). */
int ev_node(Ev *ev, Value v, Loc loc, DType want)
{
	int x = ev_node_stored(ev, v, loc, want);
	if (want == DT_COUNT && ev->tr->r->node[x].type.dt == DT_BF16)
		x = ir_cast(ev->tr->r, x, DT_F32);
	return x;
}

static bool is_tensor(const Value *v)
{
	return v->kind == V_TENSOR || v->kind == V_HOST || v->kind == V_PARAM || v->kind == V_LIST;
}

/* The dtype an operator computes v in: bf16 computes in f32 (host/bf16.c). */
static DType value_dtype(Ev *ev, const Value *v)
{
	DType dt;
	switch (v->kind) {
	case V_TENSOR: dt = ev->tr->r->node[v->node].type.dt; break;
	case V_HOST: dt = v->ht->t.type.dt; break;
	case V_PARAM: return v->slot->t.type.dt;
	case V_FLOAT: return DT_F32;
	case V_INT: return DT_I32;
	case V_BOOL: return DT_BOOL;
	case V_LIST:
		for (int i = 0; i < v->n; i++)
			if (value_dtype(ev, &v->items[i]) == DT_F32)
				return DT_F32;
		return DT_I32;
	default: return DT_F32;
	}
	return dt == DT_BF16 ? DT_F32 : dt;
}

/* The element type two operands meet in; host numbers are "weak". */
static DType promote(Ev *ev, const Value *a, const Value *b)
{
	DType da = value_dtype(ev, a), db = value_dtype(ev, b);
	bool wa = !is_tensor(a), wb = !is_tensor(b);
	if (wa && !wb)
		return da == DT_F32 && db != DT_F32 ? DT_F32 : (da == DT_I32 && db == DT_BOOL ? DT_I32 : db);
	if (wb && !wa)
		return db == DT_F32 && da != DT_F32 ? DT_F32 : (db == DT_I32 && da == DT_BOOL ? DT_I32 : da);
	if (da == db)
		return da;
	return da == DT_F32 || db == DT_F32 ? DT_F32 : DT_I32;
}

static int emit(Ev *ev, Loc loc, const Node *p, const int *args, int n, const Loc *locs)
{
	char err[256];
	int v = ir_emit(ev->tr->r, p, args, n, err, sizeof err);
	if (v >= 0)
		return v;
	int depth = ev_error_begin(ev, loc, "%s", err);
	for (int i = 0; locs && i < n; i++)
		diag_note(locs[i], "%s operand %s comes from here", i == 0 ? "left" : "right",
		          TS(&ev->tr->r->node[args[i]].type));
	ev_error_end(ev, depth);
}

/* ---- host arithmetic (Python semantics) ---- */

/*
 * A dyn number computed on the host from others (1 - beta1 ** t) gets an
 * origin of its own: one per operation and operands (their origins, or the
 * values of constant ones), so that the same computation over the same
 * variables becomes one region input, as a variable read twice does.  The
 * update of every parameter then reads the same inputs (passes/pack.c).
 */
typedef struct Derived {
	int op;
	const void *oa, *ob;  /* the operands' origins */
	double ka, kb;        /* constant operands: their values */
	struct Derived *next;
} Derived;

static const void *derived_origin(Ev *ev, int op, const Value *a, const Value *b)
{
	Trace *tr = ev->tr;
	if (!tr || (a->dyn && !a->origin) || (b->dyn && !b->origin))
		return NULL;
	const void *oa = a->dyn ? a->origin : NULL, *ob = b->dyn ? b->origin : NULL;
	double ka = a->dyn ? 0 : num(a), kb = b->dyn ? 0 : num(b);
	for (Derived *d = tr->derived; d; d = d->next)
		if (d->op == op && d->oa == oa && d->ob == ob && !memcmp(&d->ka, &ka, sizeof ka) &&
		    !memcmp(&d->kb, &kb, sizeof kb))
			return d;
	Derived *d = arena_alloc(tr->a, sizeof *d);
	*d = (Derived){ op, oa, ob, ka, kb, tr->derived };
	tr->derived = d;
	return d;
}

static const void *remap(const void *p, const void *const *from, Derived *const *to, int m)
{
	for (int j = 0; j < m; j++)
		if (p == from[j])
			return to[j];
	return p;
}

/* A copy of a trace's list of derived origins into arena a (in the same
   order), with the origins of its n inputs, old[], rewritten into new[]
   where they name an entry: the copy of a trace must not point into the
   arena of the trace it was copied from. */
struct Derived *host_derived_copy(Arena *a, struct Derived *list, const void *const *old, const void **new, int n)
{
	int m = 0;
	for (const Derived *d = list; d; d = d->next)
		m++;
	const void **from = xmalloc(((size_t)m + 1) * sizeof *from);
	Derived **to = xmalloc(((size_t)m + 1) * sizeof *to), *head = NULL, **tail = &head;
	m = 0;
	for (const Derived *d = list; d; d = d->next) {
		Derived *c = arena_alloc(a, sizeof *c);
		*c = *d;
		c->next = NULL;
		*tail = c;
		tail = &c->next;
		from[m] = d;
		to[m++] = c;
	}
	for (int i = 0; i < m; i++) {
		to[i]->oa = remap(to[i]->oa, from, to, m);
		to[i]->ob = remap(to[i]->ob, from, to, m);
	}
	for (int i = 0; i < n; i++)
		new[i] = remap(old[i], from, to, m);
	free(from);
	free(to);
	return head;
}

static const char *const bin_spelling[] = {
	[BIN_ADD] = "+", [BIN_SUB] = "-", [BIN_MUL] = "*", [BIN_FLOORDIV] = "//", [BIN_MOD] = "%",
	[BIN_POW] = "**",
};

static _Noreturn void int_overflow(Ev *ev, Loc loc, int op, int64_t i, int64_t j)
{
	/* operands as Python would need them written: (-2) ** 64 */
	ev_error(ev, loc, "integer overflow: %s%lld%s %s %s%lld%s does not fit in a 64-bit int", i < 0 ? "(" : "",
	         (long long)i, i < 0 ? ")" : "", bin_spelling[op], j < 0 ? "(" : "", (long long)j, j < 0 ? ")" : "");
}

/* i ** j for j >= 0 by repeated squaring; false when it leaves int64. */
static bool int_pow(int64_t i, int64_t j, int64_t *out)
{
	int64_t r = 1, b = i;
	while (j > 0) {
		if ((j & 1) && __builtin_mul_overflow(r, b, &r))
			return false;
		j >>= 1;
		if (j > 0 && __builtin_mul_overflow(b, b, &b))
			return false;
	}
	*out = r;
	return true;
}

int64_t ev_float_to_int(Ev *ev, Loc loc, double x)
{
	/* -2^63 and 2^63 are exact doubles; NaN fails both tests */
	if (isnan(x))
		ev_error(ev, loc, "cannot convert nan to int");
	if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0))
		ev_error(ev, loc, "cannot convert %g to int: it does not fit in a 64-bit int", x);
	return (int64_t)x;
}

static Value host_binary(Ev *ev, int op, Value a, Value b, Loc loc)
{
	bool fl = a.kind == V_FLOAT || b.kind == V_FLOAT;
	double x = num(&a), y = num(&b);
	int64_t i = a.i, j = b.i, k;
	Value r;
	switch (op) {
	case BIN_ADD:
	case BIN_SUB:
	case BIN_MUL:
		if (fl)
			r = v_float(op == BIN_ADD ? x + y : op == BIN_SUB ? x - y : x * y);
		else if (op == BIN_ADD ? __builtin_add_overflow(i, j, &k)
		         : op == BIN_SUB ? __builtin_sub_overflow(i, j, &k) : __builtin_mul_overflow(i, j, &k))
			int_overflow(ev, loc, op, i, j);
		else
			r = v_int(k);
		break;
	case BIN_DIV:
		if (y == 0)
			ev_error(ev, loc, "division by zero");
		r = v_float(x / y);
		break;
	case BIN_FLOORDIV:
	case BIN_MOD:
		if (y == 0)
			ev_error(ev, loc, "division by zero");
		if (fl) {
			double q = floor(x / y);
			r = v_float(op == BIN_FLOORDIV ? q : x - q * y);
		} else if (j == -1) {
			/* INT64_MIN / -1 traps in C; Python's answer is -i and 0 */
			if (op == BIN_FLOORDIV && i == INT64_MIN)
				int_overflow(ev, loc, op, i, j);
			r = v_int(op == BIN_FLOORDIV ? -i : 0);
		} else {
			int64_t q = i / j - ((i % j != 0) && ((i < 0) != (j < 0)));
			r = v_int(op == BIN_FLOORDIV ? q : i - q * j);
		}
		break;
	case BIN_POW:
		if (fl || j < 0)
			r = v_float(pow(x, y));
		else if (!int_pow(i, j, &k))
			int_overflow(ev, loc, op, i, j);
		else
			r = v_int(k);
		break;
	/* ints compare exactly: as doubles, 2^63 - 1 == 2^63 - 2 */
	case BIN_EQ: r = v_bool(fl ? x == y : i == j); break;
	case BIN_NE: r = v_bool(fl ? x != y : i != j); break;
	case BIN_LT: r = v_bool(fl ? x < y : i < j); break;
	case BIN_LE: r = v_bool(fl ? x <= y : i <= j); break;
	case BIN_GT: r = v_bool(fl ? x > y : i > j); break;
	case BIN_GE: r = v_bool(fl ? x >= y : i >= j); break;
	case BIN_AND: r = v_bool(x != 0 && y != 0); break;
	case BIN_OR: r = v_bool(x != 0 || y != 0); break;
	default: ev_error(ev, loc, "'@' needs tensors");
	}
	r.dyn = a.dyn || b.dyn;
	if (r.dyn)
		r.origin = derived_origin(ev, op, &a, &b);
	return r;
}

static int matmul(Ev *ev, Value a, Value b, Loc loc, const Loc *locs)
{
	Region *r = ev->tr->r;
	int x = ev_node(ev, a, loc, DT_F32), y = ev_node(ev, b, loc, DT_F32);
	Type tx = r->node[x].type, ty = r->node[y].type;
	if (tx.rank == 0 || ty.rank == 0)
		ev_error(ev, loc, "'@' needs tensors of rank >= 1, got %s @ %s", TS(&tx), TS(&ty));
	/* NumPy: a vector operand becomes a matrix, and that axis is dropped again */
	Type out;
	bool vx = tx.rank == 1, vy = ty.rank == 1;
	if (vx)
		x = ir_reshape(r, x, type_make(DT_F32, 2, (int64_t[]){ 1, tx.dim[0] }));
	if (vy)
		y = ir_reshape(r, y, type_make(DT_F32, 2, (int64_t[]){ ty.dim[0], 1 }));
	Node p = ir_proto(OP_MATMUL);
	p.nia = 2;
	int v = emit(ev, loc, &p, (int[]){ x, y }, 2, locs);
	out = r->node[v].type;
	if (vx || vy) {
		Type t = { .dt = DT_F32 };
		for (int i = 0; i < out.rank; i++)
			if (!((vx && i == out.rank - 2) || (vy && i == out.rank - 1)))
				t.dim[t.rank++] = out.dim[i];
		v = ir_reshape(r, v, t);
	}
	return v;
}

static Value binary(Ev *ev, int op, Value a, Value b, Loc loc, const Loc *locs)
{
	if (a.kind == V_STR && b.kind == V_STR && op == BIN_ADD) {
		size_t la = strlen(a.s), lb = strlen(b.s);
		char *s = arena_alloc(ev->arena, la + lb + 1);
		memcpy(s, a.s, la);
		memcpy(s + la, b.s, lb + 1);
		return v_str(s);
	}
	if (a.kind == V_STR && b.kind == V_STR && (op == BIN_EQ || op == BIN_NE))
		return v_bool((strcmp(a.s, b.s) == 0) == (op == BIN_EQ));
	/* `x == none` asks whether an optional argument was given; none equals
	   only none, and takes part in no other operator */
	if ((a.kind == V_NONE || b.kind == V_NONE) && (op == BIN_EQ || op == BIN_NE))
		return v_bool((a.kind == b.kind) == (op == BIN_EQ));
	if (is_number(&a) && is_number(&b))
		return host_binary(ev, op, a, b, loc);
	bool ta = is_tensor(&a) || is_number(&a), tb = is_tensor(&b) || is_number(&b);
	if (!ta || !tb) {
		const Value *bad = ta ? &b : &a;
		ev_error(ev, loc, "operator needs numbers or tensors, got a %s", value_kind_name(bad));
	}
	need_trace(ev, loc);
	if (op == BIN_MATMUL)
		return v_tensor(matmul(ev, a, b, loc, locs));
	static const OpKind ops[] = {
		[BIN_ADD] = OP_ADD, [BIN_SUB] = OP_SUB, [BIN_MUL] = OP_MUL, [BIN_DIV] = OP_DIV,
		[BIN_FLOORDIV] = OP_FLOORDIV, [BIN_MOD] = OP_MOD, [BIN_POW] = OP_POW,
		[BIN_EQ] = OP_EQ, [BIN_NE] = OP_NE, [BIN_LT] = OP_LT, [BIN_LE] = OP_LE,
		[BIN_GT] = OP_GT, [BIN_GE] = OP_GE, [BIN_AND] = OP_AND, [BIN_OR] = OP_OR,
	};
	DType dt = promote(ev, &a, &b);
	bool arith = op <= BIN_POW;
	if (op == BIN_DIV || op == BIN_POW)
		dt = DT_F32;
	if (arith && dt == DT_BOOL)
		dt = DT_I32;
	if (op == BIN_AND || op == BIN_OR)
		dt = DT_BOOL;
	/* x ** 2 is common (variance, GELU's cube): multiply, for exact gradients */
	if (op == BIN_POW && !is_tensor(&b) && !b.dyn && (num(&b) == 2 || num(&b) == 3)) {
		int x = ev_node(ev, a, loc, DT_F32);
		int sq = ir_op2(ev->tr->r, OP_MUL, x, x);
		return v_tensor(num(&b) == 2 ? sq : ir_op2(ev->tr->r, OP_MUL, sq, x));
	}
	int x = ev_node(ev, a, loc, dt), y = ev_node(ev, b, loc, dt);
	Node p = ir_proto(ops[op]);
	return v_tensor(emit(ev, loc, &p, (int[]){ x, y }, 2, locs));
}

Value ev_binary(Ev *ev, int op, Value a, Value b, Loc loc, const Loc *locs)
{
	return ev_bf16_result(ev, NULL, (Value[]){ a, b }, 2, binary(ev, op, a, b, loc, locs));
}

static Value unary(Ev *ev, OpKind op, Value a, Loc loc)
{
	need_trace(ev, loc);
	DType dt = op == OP_NOT ? DT_BOOL : value_dtype(ev, &a);
	int32_t o;
	if (op != OP_NOT && op != OP_STOP_GRADIENT && !sem_i32_unary(op, 0, &o))
		dt = DT_F32; /* ops without an integer element function (ir/opsem.h) compute in f32 */
	if (dt == DT_BOOL && op != OP_NOT)
		dt = DT_I32;
	int x = ev_node(ev, a, loc, dt);
	Node p = ir_proto(op);
	return v_tensor(emit(ev, loc, &p, &x, 1, NULL));
}

Value ev_unary_op(Ev *ev, OpKind op, Value a, Loc loc)
{
	return ev_bf16_result(ev, NULL, &a, 1, unary(ev, op, a, loc));
}
