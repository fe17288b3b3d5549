/*
 * prims.c — the primitive functions callable from sinter code (LANGUAGE.md,
 * "Primitives"), each mapped onto IR ops, and the builtin table that lists
 * them with the host builtins (host/hostlib.c): the one place that says
 * which names are builtins and how each is called.  Elementwise functions
 * also accept host numbers and then compute on the host in double
 * precision.
 */
#include "host/generate.h"
#include "host/host.h"
#include "ir/conv.h"
#include "ir/opsem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

static Type type_of(Ev *ev, Value v, Loc loc, int *node)
{
	*node = ev_node(ev, v, loc, DT_COUNT);
	return ev->tr->r->node[*node].type;
}

/* The arguments into v (get_args, by the row's spec), and the first one
   as a traced tensor: its node into *x, its type returned. */
static Type tensor_args(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n, Value *v, int *x)
{
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	return type_of(ev, v[0], loc, x);
}

static int64_t want_int(Ev *ev, Value v, Loc loc, const char *what)
{
	if (v.kind != V_INT)
		ev_error(ev, loc, "%s must be an int, got a %s", what, value_kind_name(&v));
	return v.i;
}

/* Sizes come from user code here, so their overflow is the user's error. */
static void check_size(Ev *ev, const Type *t, Loc loc)
{
	if (!type_bytes_ok(t, NULL))
		ev_error(ev, loc, "%s is too large: a tensor holds at most 2^48 bytes", TS(t));
}

/* A shape argument: a list of ints (or one int); infer allows -1 (reshape). */
static Type want_shape(Ev *ev, Value v, Loc loc, DType dt, const char *what, bool infer)
{
	Type t = { .dt = dt };
	Value one = v;
	if (v.kind == V_INT)
		v = (Value){ .kind = V_LIST, .n = 1, .items = &one };
	if (v.kind != V_LIST)
		ev_error(ev, loc, "%s must be a list of ints, got a %s", what, value_kind_name(&v));
	if (v.n > MAX_RANK)
		ev_error(ev, loc, "%s has %d axes; at most %d are supported", what, v.n, MAX_RANK);
	for (int i = 0; i < v.n; i++) {
		t.dim[t.rank++] = want_int(ev, v.items[i], loc, what);
		if (t.dim[i] < (infer ? -1 : 0))
			ev_error(ev, loc, "%s has a negative size", what);
	}
	/* reshape's -1 stands for a size the known ones divide, so the known
	   ones alone must fit */
	Type known = t;
	for (int i = 0; i < known.rank; i++)
		if (known.dim[i] < 0)
			known.dim[i] = 1;
	check_size(ev, &known, loc);
	return t;
}

/* The op p on operands ins, traced; what the IR rejects (shapes, types)
   is the user's error at loc. */
static Value trace_op(Ev *ev, Loc loc, const Node *p, const int *ins, int n)
{
	char err[256];
	int out = ir_emit(ev->tr->r, p, ins, n, err, sizeof err);
	if (out < 0)
		ev_error(ev, loc, "%s", err);
	return v_tensor(out);
}

static int want_axis(Ev *ev, int64_t a, int rank, Loc loc)
{
	if (a < -rank || a >= rank)
		ev_error(ev, loc, "axis %lld is out of range for a tensor of rank %d", (long long)a, rank);
	return (int)(a < 0 ? a + rank : a);
}

/* axis = int | list | absent (all axes): sorted, distinct axes into ax. */
static int want_axes(Ev *ev, Value v, int rank, Loc loc, int *ax)
{
	int n = 0;
	if (v.kind == V_NONE) {
		for (int i = 0; i < rank; i++)
			ax[n++] = i;
		return n;
	}
	Value one = v;
	Value *items = v.kind == V_LIST ? v.items : &one;
	int cnt = v.kind == V_LIST ? v.n : 1;
	bool seen[MAX_RANK] = { 0 };
	for (int i = 0; i < cnt; i++) {
		int a = want_axis(ev, want_int(ev, items[i], loc, "axis"), rank, loc);
		if (seen[a])
			ev_error(ev, loc, "axis %d given twice", a);
		seen[a] = true;
	}
	for (int i = 0; i < rank; i++)
		if (seen[i])
			ax[n++] = i;
	return n;
}

/* An optional bool argument (absent: false). */
static bool want_flag(Ev *ev, Value v, Loc loc, const char *what)
{
	if (v.kind == V_NONE)
		return false;
	if (v.kind != V_BOOL && v.kind != V_INT)
		ev_error(ev, loc, "%s must be a bool, got a %s", what, value_kind_name(&v));
	return v.i != 0;
}

static Value p_unary(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, a, names, n, &x);
	OpKind op = b->op;
	if (is_number(&x)) {
		/* a host number is a Python float: the op's element function in double (ir/opsem.h) */
		double y = num(&x);
		if (op != OP_STOP_GRADIENT && sem_f64_unary(op, num(&x), &y) == SEM_NONE)
			die("unary %s on a number", b->name);
		Value r = v_float(y);
		int32_t o;
		if ((x.kind == V_INT || x.kind == V_BOOL) && sem_i32_unary(op, 0, &o)) {
			/* exactly, in int64: through a double, abs(2**62 + 1) would round */
			if (op == OP_ABS && x.i == INT64_MIN)
				ev_error(ev, loc, "integer overflow: abs(%lld) does not fit in a 64-bit int", (long long)x.i);
			r = v_int(op == OP_ABS ? (x.i < 0 ? -x.i : x.i)
				  : op == OP_SIGN ? (x.i > 0) - (x.i < 0)
				  : op == OP_RELU ? (x.i > 0 ? x.i : 0)
				  : (int64_t)r.f);
		}
		r.dyn = x.dyn;
		return r;
	}
	return ev_unary_op(ev, op, x, loc);
}

/* Orders two host numbers; ints exactly (as doubles, 2^63 - 1 == 2^63 - 2). */
static int host_cmp(const Value *a, const Value *b)
{
	if (a->kind == V_FLOAT || b->kind == V_FLOAT)
		return (num(a) > num(b)) - (num(a) < num(b));
	return (a->i > b->i) - (a->i < b->i);
}

static Value p_maxmin2(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	bool mx = b->op == OP_MAXIMUM;
	if (is_number(&v[0]) && is_number(&v[1])) {
		Value r = (host_cmp(&v[0], &v[1]) >= 0) == mx ? v[0] : v[1];
		r.dyn = v[0].dyn || v[1].dyn;
		r.origin = NULL;
		return r;
	}
	int x = ev_node(ev, v[0], loc, DT_COUNT), y = ev_node(ev, v[1], loc, DT_COUNT);
	Region *r = ev->tr->r;
	DType dt = r->node[x].type.dt == DT_F32 || r->node[y].type.dt == DT_F32 || v[0].kind == V_FLOAT || v[1].kind == V_FLOAT ? DT_F32 : DT_I32;
	x = ev_node(ev, v[0], loc, dt);
	y = ev_node(ev, v[1], loc, dt);
	Node p = ir_proto(b->op);
	return trace_op(ev, loc, &p, (int[]){ x, y }, 2);
}

static Value p_where(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[3];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	if (is_number(&v[0]) && is_number(&v[1]) && is_number(&v[2]))
		return v[0].i || (v[0].kind == V_FLOAT && v[0].f != 0) ? v[1] : v[2];
	int c = ev_node(ev, v[0], loc, DT_BOOL);
	int x = ev_node(ev, v[1], loc, DT_COUNT), y = ev_node(ev, v[2], loc, DT_COUNT);
	Region *r = ev->tr->r;
	DType dt = r->node[x].type.dt == DT_F32 || r->node[y].type.dt == DT_F32 ? DT_F32 : r->node[x].type.dt;
	x = ev_node(ev, v[1], loc, dt);
	y = ev_node(ev, v[2], loc, dt);
	Node p = ir_proto(OP_WHERE);
	return trace_op(ev, loc, &p, (int[]){ c, x, y }, 3);
}

static Value p_cast(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, a, names, n, &x);
	bool tof = b->name[0] == 'f';
	if (is_number(&x)) {
		Value r = tof ? v_float(num(&x)) : v_int(x.kind == V_FLOAT ? ev_float_to_int(ev, loc, x.f) : x.i);
		r.dyn = x.dyn;
		return r;
	}
	return v_tensor(ev_node(ev, x, loc, tof ? DT_F32 : DT_I32));
}

static Value p_reduce(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	bool plain = n >= 2;
	for (int i = 0; i < n; i++)
		plain &= !(names && names[i]) && is_number(&a[i]);
	if (plain && (b->op == OP_MAX || b->op == OP_MIN)) {
		/* max(a, b, ...) of host numbers, as in Python */
		Value best = a[0];
		for (int i = 1; i < n; i++)
			if ((host_cmp(&a[i], &best) > 0) == (b->op == OP_MAX) && host_cmp(&a[i], &best) != 0)
				best = a[i];
		return best;
	}
	Value v[3];
	int x;
	Type t = tensor_args(ev, b, loc, a, names, n, v, &x);
	Region *r = ev->tr->r;
	int ax[MAX_RANK];
	int nax = want_axes(ev, v[1], t.rank, loc, ax);
	bool keep = want_flag(ev, v[2], loc, "keepdims");
	if (b->op == OP_ARGMAX) {
		if (v[1].kind == V_NONE) {
			x = ir_reshape(r, x, type_make(t.dt, 1, (int64_t[]){ type_numel(&t) }));
			ax[0] = 0;
			nax = 1;
		} else if (nax != 1)
			ev_error(ev, loc, "argmax takes one axis");
		if (r->node[x].type.dim[ax[0]] == 0)
			ev_error(ev, loc, "argmax of an empty axis (%s)", TS(&t));
		return v_tensor(ir_reduce(r, OP_ARGMAX, x, ax, 1, keep));
	}
	if (t.dt == DT_BOOL)
		x = ir_cast(r, x, DT_I32); /* sum of bools counts the true elements */
	if (!strcmp(b->name, "mean")) {
		int64_t cnt = 1;
		for (int i = 0; i < nax; i++)
			cnt *= t.dim[ax[i]];
		if (t.dt != DT_F32)
			x = ir_cast(r, x, DT_F32);
		int s = ir_reduce(r, OP_SUM, x, ax, nax, keep);
		return v_tensor(ir_op2(r, OP_MUL, s, ir_const(r, type_scalar(DT_F32), 1.0 / (double)cnt)));
	}
	return v_tensor(ir_reduce(r, b->op, x, ax, nax, keep));
}

static Value p_reshape(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	int x;
	Type t = tensor_args(ev, b, loc, a, names, n, v, &x);
	Type to = want_shape(ev, v[1], loc, t.dt, "shape", true);
	int infer = -1;
	int64_t known = 1;
	for (int i = 0; i < to.rank; i++) {
		if (to.dim[i] == -1) {
			if (infer >= 0)
				ev_error(ev, loc, "reshape allows only one -1");
			infer = i;
		} else
			known *= to.dim[i];
	}
	/* a -1 the known sizes do not divide stays -1: no type to measure */
	int64_t numel = type_numel(&t);
	bool fits = infer < 0 || (known > 0 && numel % known == 0);
	if (fits && infer >= 0)
		to.dim[infer] = numel / known;
	if (!fits || type_numel(&to) != numel)
		ev_error(ev, loc, "cannot reshape %s (%lld elements) to %s", TS(&t), (long long)numel, TS(&to));
	return v_tensor(ir_reshape(ev->tr->r, x, to));
}

static Value p_transpose(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	int x;
	Type t = tensor_args(ev, b, loc, a, names, n, v, &x);
	int perm[MAX_RANK];
	bool seen[MAX_RANK] = { 0 };
	if (v[1].kind == V_NONE) {
		for (int i = 0; i < t.rank; i++)
			perm[i] = t.rank - 1 - i;
	} else {
		if (v[1].kind != V_LIST || v[1].n != t.rank)
			ev_error(ev, loc, "transpose of %s needs a permutation of %d axes", TS(&t), t.rank);
		for (int i = 0; i < t.rank; i++) {
			perm[i] = want_axis(ev, want_int(ev, v[1].items[i], loc, "perm"), t.rank, loc);
			if (seen[perm[i]])
				ev_error(ev, loc, "perm is not a permutation: axis %d repeats", perm[i]);
			seen[perm[i]] = true;
		}
	}
	return v_tensor(ir_transpose(ev->tr->r, x, perm));
}

static Value p_broadcast(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	int x;
	Type t = tensor_args(ev, b, loc, a, names, n, v, &x);
	Type to = want_shape(ev, v[1], loc, t.dt, "shape", false);
	Node p = ir_proto(OP_BROADCAST);
	p.type = to;
	char err[256];
	int out = ir_emit(ev->tr->r, &p, &x, 1, err, sizeof err);
	if (out < 0)
		ev_error(ev, loc, "cannot broadcast %s to %s", TS(&t), TS(&to));
	return v_tensor(out);
}

static Value p_concat(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	if (v[0].kind != V_LIST || v[0].n == 0)
		ev_error(ev, loc, "concat takes a non-empty list of tensors");
	int *xs = arena_alloc(ev->arena, v[0].n * sizeof *xs);
	DType dt = DT_I32;
	for (int i = 0; i < v[0].n; i++) {
		int x;
		Type t = type_of(ev, v[0].items[i], loc, &x);
		if (t.dt == DT_F32)
			dt = DT_F32;
	}
	for (int i = 0; i < v[0].n; i++)
		xs[i] = ev_node(ev, v[0].items[i], loc, dt);
	Node p = ir_proto(OP_CONCAT);
	Type t0 = ev->tr->r->node[xs[0]].type;
	p.ia[0] = want_axis(ev, v[1].kind == V_NONE ? 0 : want_int(ev, v[1], loc, "axis"), t0.rank, loc);
	p.nia = 1;
	return trace_op(ev, loc, &p, xs, v[0].n);
}

/* Indices the host holds (a batch, a literal) are checked when traced,
   where the message can point at the call; the compiled code cannot.  fmt
   gets the bad index and n. */
static void check_known_indices(Ev *ev, int node, int64_t n, Loc loc, const char *fmt)
{
	const Node *nd = &ev->tr->r->node[node];
	if (nd->op != OP_INPUT || nd->type.dt != DT_I32)
		return;
	const Tensor *t = &ev->tr->inputs[nd->ia[0]];
	for (int64_t k = 0; k < type_numel(&t->type); k++) {
		int32_t x = ((const int32_t *)t->data)[k];
		if (x < 0 || x >= n)
			ev_error(ev, loc, fmt, x, (long long)n);
	}
}

/*
 * The innermost place in the user's files on the way to loc: loc itself
 * when the user wrote it, else the call (`self.emb(x)`, `cross_entropy(
 * logits, y)`, `GroupNorm(3, 4)`) that reached the standard library.
 * *depth is the number of frames that call is inside (for the notes);
 * *via (if not NULL) that call's description ('cross_entropy'), NULL
 * when loc is the user's.
 */
Loc ev_user_loc(Ev *ev, Loc loc, int *depth, const char **via)
{
	if (via)
		*via = NULL;
	for (int i = ev->depth;; i--) {
		/* a file is the standard library's when its declarations are (a
		   built binary knows its files only through them) */
		bool std = false;
		for (int k = 0; loc.file && k < ev->prog->ndecls; k++) {
			const Decl *d = ev->prog->decls[k];
			if (d->loc.file && (d->loc.file == loc.file || !strcmp(d->loc.file, loc.file))) {
				std = d->from_stdlib;
				break;
			}
		}
		if (!std || i == 0) {
			*depth = i;
			return loc;
		}
		loc = ev->stack[i - 1].loc;
		if (via)
			*via = ev->stack[i - 1].what;
	}
}

/* The location a range-checked op reports at run time, as a Node.loc of
   the traced region: where the user's code reached it. */
static int index_loc(Ev *ev, Loc loc)
{
	int depth;
	loc = ev_user_loc(ev, loc, &depth, NULL);
	return ir_add_loc(ev->tr->r, loc.file, loc.line, loc.col);
}

/* Indices and class labels are i32: a float one is an error where the
   user's code passed it (a cast would truncate 2.7 to class 2 silently). */
static void check_index_dtype(Ev *ev, int node, Loc loc, const char *fname, const char *what)
{
	const Type *t = &ev->tr->r->node[node].type;
	if (t->dt != DT_F32 && t->dt != DT_BF16)
		return;
	const char *via;
	int depth;
	Loc at = ev_user_loc(ev, loc, &depth, &via);
	ev_error(ev, at, "%s needs %s as i32, got %s; a float would be truncated (convert with i32(...) if that is meant)",
	         via ? via : fname, what, TS(t));
}

static Value p_take(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int t = ev_node(ev, v[0], loc, DT_COUNT);
	int i = ev_node_stored(ev, v[1], loc, DT_COUNT);
	Region *r = ev->tr->r;
	check_index_dtype(ev, i, loc, "take", "its indices");
	if (r->node[i].type.dt != DT_I32)
		ev_error(ev, loc, "take needs i32 indices, got %s", TS(&r->node[i].type));
	if (r->node[t].type.rank > 0)
		check_known_indices(ev, i, r->node[t].type.dim[0], loc, "take: index %d is out of range for a table of %lld rows");
	Node p = ir_proto(OP_TAKE);
	p.loc = index_loc(ev, loc);
	return trace_op(ev, loc, &p, (int[]){ t, i }, 2);
}

static Value p_one_hot(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int i = ev_node_stored(ev, v[0], loc, DT_COUNT);
	check_index_dtype(ev, i, loc, "one_hot", "class indices");
	if (ev->tr->r->node[i].type.dt != DT_I32)
		i = ir_cast(ev->tr->r, i, DT_I32);
	Type t = ev->tr->r->node[i].type;
	if (t.rank == MAX_RANK)
		ev_error(ev, loc, "one_hot: too many axes");
	t.dt = DT_F32;
	t.dim[t.rank++] = want_int(ev, v[1], loc, "n");
	if (t.dim[t.rank - 1] < 1)
		ev_error(ev, loc, "one_hot needs at least one class, got n = %lld", (long long)t.dim[t.rank - 1]);
	check_size(ev, &t, loc);
	check_known_indices(ev, i, t.dim[t.rank - 1], loc, "one_hot: index %d is out of range for %lld classes");
	Node p = ir_proto(OP_ONE_HOT);
	p.type = t;
	p.loc = index_loc(ev, loc);
	return v_tensor(ir_emit(ev->tr->r, &p, &i, 1, NULL, 0));
}

static Value p_fill(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	bool full = !strcmp(b->name, "full");
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	double x = full ? (is_number(&v[1]) ? num(&v[1]) : (ev_error(ev, loc, "full needs a number"), 0)) : b->name[0] == 'o';
	DType dt = full && v[1].kind == V_INT ? DT_I32 : DT_F32;
	if (dt == DT_I32)
		ev_check_i32(ev, loc, &v[1]);
	Type t = want_shape(ev, v[0], loc, dt, "shape", false);
	if (!ev->tr)
		ev_error(ev, loc, "tensor constructors are only allowed in functions, models and train blocks");
	if (full && v[1].dyn) /* a host variable: an input, so changes do not recompile */
		return v_tensor(ir_broadcast(ev->tr->r, ev_node(ev, v[1], loc, dt), t));
	return v_tensor(ir_const(ev->tr->r, t, x));
}

static Value p_arange(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int64_t lo = 0, hi = want_int(ev, v[0], loc, "n");
	if (v[1].kind != V_NONE) {
		lo = hi;
		hi = want_int(ev, v[1], loc, "stop");
	}
	int64_t len;
	if (hi < lo)
		ev_error(ev, loc, "arange: empty range %lld..%lld", (long long)lo, (long long)hi);
	/* the elements are i32: lo .. hi - 1 must fit (hi itself may be 2^31) */
	if (lo < INT32_MIN || hi - 1 > INT32_MAX)
		ev_error(ev, loc, "arange: the range %lld..%lld does not fit in i32", (long long)lo, (long long)hi);
	if (__builtin_sub_overflow(hi, lo, &len))
		len = INT64_MAX;
	check_size(ev, &(Type){ .dt = DT_I32, .rank = 1, .dim = { len } }, loc);
	if (!ev->tr)
		ev_error(ev, loc, "arange is only allowed in functions, models and train blocks");
	Node p = ir_proto(OP_ARANGE);
	p.type = type_make(DT_I32, 1, (int64_t[]){ len });
	int x = ir_emit(ev->tr->r, &p, NULL, 0, NULL, 0);
	if (lo)
		x = ir_op2(ev->tr->r, OP_ADD, x, ir_const(ev->tr->r, type_scalar(DT_I32), (double)lo));
	return v_tensor(x);
}

static Value p_tril(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[3];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	int64_t rows = want_int(ev, v[0], loc, "n");
	int64_t cols = v[1].kind == V_NONE ? rows : want_int(ev, v[1], loc, "m");
	Node p = ir_proto(OP_TRIL);
	p.type = type_make(DT_F32, 2, (int64_t[]){ rows, cols });
	p.ia[0] = v[2].kind == V_NONE ? 0 : want_int(ev, v[2], loc, "k");
	p.nia = 1;
	if (rows < 0 || cols < 0)
		ev_error(ev, loc, "tril needs non-negative sizes, got %lld x %lld", (long long)rows, (long long)cols);
	check_size(ev, &p.type, loc);
	if (!ev->tr)
		ev_error(ev, loc, "tril is only allowed in functions, models and train blocks");
	return v_tensor(ir_emit(ev->tr->r, &p, NULL, 0, NULL, 0));
}

static int next_stream(Ev *ev)
{
	int s = 0;
	for (int i = 0; i < ev->tr->r->nnode; i++) {
		OpKind op = ev->tr->r->node[i].op;
		s += op_has(op, F_RANDOM);
	}
	return s;
}

static Value p_rand(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v;
	get_args(ev, loc, b->name, b->spec, a, names, n, &v);
	if (!ev->tr)
		ev_error(ev, loc, "%s is only allowed in functions, models and train blocks", b->name);
	Node p = ir_proto(b->op);
	p.type = want_shape(ev, v, loc, DT_F32, "shape", false);
	p.ia[0] = next_stream(ev);
	p.nia = 1;
	return v_tensor(ir_emit(ev->tr->r, &p, NULL, 0, NULL, 0));
}

static Value p_dropout(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	if (!is_number(&v[1]) || num(&v[1]) < 0 || num(&v[1]) >= 1)
		ev_error(ev, loc, "dropout probability must be a number in [0, 1)");
	int x = ev_node(ev, v[0], loc, DT_F32);
	if (!ev_training(ev) || num(&v[1]) == 0)
		return v_tensor(x); /* evaluation mode: dropout is the identity */
	Node p = ir_proto(OP_DROPOUT);
	p.f = num(&v[1]);
	p.ia[0] = next_stream(ev);
	p.nia = 1;
	return v_tensor(ir_emit(ev->tr->r, &p, &x, 1, NULL, 0));
}

/* Initializers are values until a parameter is created from them. */
static Value p_init(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value v[2] = { 0 };
	get_args(ev, loc, b->name, b->spec, a, names, n, v);
	Value init = { .kind = V_INIT, .s = b->name, .n = 2 };
	init.items = arena_alloc(ev->arena, 2 * sizeof *init.items);
	double def[2] = { !strcmp(b->name, "normal") ? 1 : !strcmp(b->name, "uniform") ? 0 : 0, !strcmp(b->name, "uniform") ? 1 : 0 };
	for (int i = 0; i < 2; i++) {
		if (v[i].kind != V_NONE && !is_number(&v[i]))
			ev_error(ev, loc, "%s takes numbers", b->name);
		init.items[i] = v_float(v[i].kind == V_NONE ? def[i] : num(&v[i]));
	}
	return init;
}

/* ---- the builtin table ---- */

#define TENSOR(name, spec, fn, op) { name, BUILTIN_TENSOR, spec, fn, op }
#define HOST(kind, name, spec, fn) { name, BUILTIN_##kind, spec, fn, OP_COUNT }

/* Every function the language predefines.  Rows of one name are tried in
   order (log: the logarithm, then the run log). */
const Builtin builtin_table[] = {
	TENSOR("exp", "x", p_unary, OP_EXP), TENSOR("log", "x", p_unary, OP_LOG),
	HOST(IO, "log", NULL, hostlib_log),
	TENSOR("sqrt", "x", p_unary, OP_SQRT), TENSOR("rsqrt", "x", p_unary, OP_RSQRT),
	TENSOR("tanh", "x", p_unary, OP_TANH), TENSOR("sigmoid", "x", p_unary, OP_SIGMOID),
	TENSOR("relu", "x", p_unary, OP_RELU), TENSOR("abs", "x", p_unary, OP_ABS),
	TENSOR("sign", "x", p_unary, OP_SIGN), TENSOR("sin", "x", p_unary, OP_SIN),
	TENSOR("cos", "x", p_unary, OP_COS), TENSOR("erf", "x", p_unary, OP_ERF),
	TENSOR("stop_gradient", "x", p_unary, OP_STOP_GRADIENT),
	TENSOR("maximum", "a, b", p_maxmin2, OP_MAXIMUM), TENSOR("minimum", "a, b", p_maxmin2, OP_MINIMUM),
	TENSOR("where", "cond, a, b", p_where, OP_WHERE),
	TENSOR("f32", "x", p_cast, OP_CAST), TENSOR("i32", "x", p_cast, OP_CAST), TENSOR("bf16", "x", prim_bf16, OP_CAST),
	TENSOR("sum", "x, axis=, keepdims=", p_reduce, OP_SUM),
	TENSOR("mean", "x, axis=, keepdims=", p_reduce, OP_SUM),
	TENSOR("max", "x, axis=, keepdims=", p_reduce, OP_MAX),
	TENSOR("min", "x, axis=, keepdims=", p_reduce, OP_MIN),
	TENSOR("argmax", "x, axis=, keepdims=", p_reduce, OP_ARGMAX),
	TENSOR("max_pool2d", "x, kernel, stride=, padding=", prim_pool, OP_MAX_POOL),
	TENSOR("avg_pool2d", "x, kernel, stride=, padding=", prim_pool, OP_AVG_POOL),
	TENSOR("pad", "x, widths, value=", prim_pad, OP_UNSLICE),
	TENSOR("reshape", "x, shape", p_reshape, OP_RESHAPE),
	TENSOR("transpose", "x, perm=", p_transpose, OP_TRANSPOSE),
	TENSOR("broadcast", "x, shape", p_broadcast, OP_BROADCAST),
	TENSOR("concat", "xs, axis=", p_concat, OP_CONCAT),
	TENSOR("take", "table, idx", p_take, OP_TAKE),
	TENSOR("one_hot", "idx, n", p_one_hot, OP_ONE_HOT),
	TENSOR("zeros", "shape", p_fill, OP_CONST), TENSOR("ones", "shape", p_fill, OP_CONST),
	TENSOR("full", "shape, value", p_fill, OP_CONST),
	TENSOR("arange", "n, stop=", p_arange, OP_ARANGE),
	TENSOR("tril", "n, m=, k=", p_tril, OP_TRIL),
	TENSOR("rand", "shape", p_rand, OP_RAND), TENSOR("randn", "shape", p_rand, OP_RANDN),
	TENSOR("dropout", "x, p", p_dropout, OP_DROPOUT),
	TENSOR("conv2d", "x, w, stride=, padding=, dilation=, groups=", prim_conv2d, OP_CONV2D),
	TENSOR("attention", "q, k, v, causal=, scale=, segment=", prim_attention, OP_ATTENTION),
	TENSOR("attention_qkv", "x, heads, causal=, scale=, segment=", prim_attention_qkv, OP_ATTENTION),
	HOST(INIT, "normal", "std=, mean=", p_init), HOST(INIT, "uniform", "lo=, hi=", p_init),
	HOST(INIT, "constant", "value", p_init),
	/* named in parameter declarations only: not callable */
	HOST(INIT, "xavier_uniform", NULL, NULL), HOST(INIT, "he_normal", NULL, NULL),
	HOST(STEP, "minimize", "opt, loss, clip_norm=, accumulate=", hostlib_minimize),
	HOST(IO, "print", NULL, hostlib_print),
	HOST(IO, "save", "model, path, dtype=", hostlib_params), HOST(IO, "load", "model, path", hostlib_params),
	HOST(IO, "checkpoint", "path, model, opt", hostlib_checkpoint),
	HOST(IO, "resume", "path, model, opt", hostlib_checkpoint),
	HOST(DATA, "idx", "images, labels, flatten=", hostlib_data),
	HOST(DATA, "text", "path, context", hostlib_data),
	HOST(DATA, "tokens", "path, context=, vocab=, eot=", hostlib_data),
	HOST(DATA, "csv", "path, target=, header=", hostlib_csv),
	HOST(DATA, "tensors", NULL, hostlib_tensors),
	HOST(DATA, "split", "data, frac", hostlib_split),
	HOST(DATA, "batches", "data, size, shuffle=, drop_last=, seed=, shard=", hostlib_batches),
	HOST(DATA, "documents", "path, sep=", hostlib_documents),
	HOST(DATA, "packed_batches", "data, size, context, shuffle=, strategy=, seed=", hostlib_packed_batches),
	HOST(DATA, "pack_stats", "data, context, strategy=", hostlib_pack_stats),
	HOST(HOST, "len", "x", hostlib_len),
	HOST(HOST, "rank", NULL, hostdist_rank), HOST(HOST, "world_size", NULL, hostdist_rank),
	HOST(HOST, "all_reduce", "x, op=", hostdist_all_reduce),
	HOST(HOST, "int", "x", hostlib_convert), HOST(HOST, "float", "x", hostlib_convert),
	HOST(HOST, "str", "x", hostlib_str),
	HOST(HOST, "generate", "net, prompt, n, temperature=, top_k=, context=", host_generate),
	HOST(HOST, "assert", "cond, message", hostlib_assert),
	HOST(HOST, "group", NULL, prim_group),
	HOST(HOST, "decay_params", "model", prim_decay_params),
	HOST(HOST, "no_decay_params", "model", prim_decay_params),
};
const int builtin_count = sizeof builtin_table / sizeof builtin_table[0];

const Builtin *builtin_find(const char *name)
{
	for (int i = 0; i < builtin_count; i++)
		if (!strcmp(builtin_table[i].name, name))
			return &builtin_table[i];
	return NULL;
}

bool ev_builtin(Ev *ev, const char *name, Loc loc, Value *args, const char **names, int nargs, Value *out)
{
	const Builtin *b = builtin_find(name);
	if (!b)
		return false;
	/* log(x) is the logarithm; log(name = value, ...) writes the run log */
	if (b + 1 < builtin_table + builtin_count && !strcmp(b[1].name, name) && nargs > 0 &&
	    names && names[0] && strcmp(names[0], "x"))
		b++;
	/* host builtins take host values (host/compile.c, host_force_args) */
	bool host = b->kind == BUILTIN_HOST || b->kind == BUILTIN_DATA || b->kind == BUILTIN_IO;
	bool *fresh = host && nargs > 0 ? host_force_args(ev, args, nargs, loc) : NULL;
	if (!b->fn)
		return false;
	*out = ev_bf16_result(ev, b, args, nargs, b->fn(ev, b, loc, args, names, nargs));
	host_release_args(args, fresh, nargs);
	return true;
}
