/*
 * shape.c — the shape rules named in ops.def, one per kind of result.  Each
 * computes a node's result type from its operands' types and its
 * attributes, or, for F_GIVEN ops whose type the builder supplies, checks
 * that type against the operands.
 * Errors name the shapes involved; the frontend prefixes a source location.
 */
#include "ir/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { TS = 160 }; /* room for any type_str */

static const Type *ty(const Region *r, int v)
{
	return &r->node[v].type;
}

static bool fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Scratch type strings, so one message can print up to four types. */
static const char *ts(const Type *t, int slot)
{
	static char buf[4][TS];
	return type_str(t, buf[slot & 3], TS);
}

static const char *opname(const Node *n)
{
	return op_info[n->op].name;
}

bool sh_unary(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	n->type = *ty(r, args[0]);
	return true;
}

bool sh_not(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	if (a->dt != DT_BOOL)
		return fail(err, errlen, "not: operand must be bool, got %s", ts(a, 0));
	n->type = *a;
	return true;
}

bool sh_dropout(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	if (a->dt != DT_F32)
		return fail(err, errlen, "dropout: operand must be f32, got %s", ts(a, 0));
	if (!(n->f >= 0 && n->f < 1))
		return fail(err, errlen, "dropout: probability %g is not in [0, 1)", n->f);
	n->type = *a;
	return true;
}

static bool broadcast2(const Region *r, const int *args, Type *out, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *b = ty(r, args[1]);
	if (!type_broadcast(a, b, out))
		return fail(err, errlen, "cannot broadcast %s with %s", ts(a, 0), ts(b, 1));
	return true;
}

bool sh_binary(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *b = ty(r, args[1]);
	if (a->dt != b->dt)
		return fail(err, errlen, "%s: operand types differ: %s and %s", opname(n), ts(a, 0), ts(b, 1));
	return broadcast2(r, args, &n->type, err, errlen);
}

bool sh_compare(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *b = ty(r, args[1]);
	if (a->dt != b->dt)
		return fail(err, errlen, "%s: operand types differ: %s and %s", opname(n), ts(a, 0), ts(b, 1));
	if (!broadcast2(r, args, &n->type, err, errlen))
		return false;
	n->type.dt = DT_BOOL;
	return true;
}

bool sh_logic(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *b = ty(r, args[1]);
	if (a->dt != DT_BOOL || b->dt != DT_BOOL)
		return fail(err, errlen, "%s: operands must be bool, got %s and %s", opname(n), ts(a, 0), ts(b, 1));
	return broadcast2(r, args, &n->type, err, errlen);
}

bool sh_where(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *c = ty(r, args[0]), *a = ty(r, args[1]), *b = ty(r, args[2]);
	if (c->dt != DT_BOOL)
		return fail(err, errlen, "where: condition must be bool, got %s", ts(c, 0));
	if (a->dt != b->dt)
		return fail(err, errlen, "where: branch types differ: %s and %s", ts(a, 0), ts(b, 1));
	Type ab, all;
	if (!type_broadcast(a, b, &ab))
		return fail(err, errlen, "cannot broadcast %s with %s", ts(a, 0), ts(b, 1));
	if (!type_broadcast(&ab, c, &all))
		return fail(err, errlen, "where: cannot broadcast condition %s with %s", ts(c, 0), ts(&ab, 1));
	n->type = all;
	return true;
}

/* Axes must be ascending and in range; fills which[] with the reduced set. */
static bool check_axes(const Node *n, const Type *a, bool *which, char *err, size_t errlen)
{
	memset(which, 0, MAX_RANK * sizeof *which);
	if (n->nia > a->rank)
		return fail(err, errlen, "%s: %d axes for %s", opname(n), n->nia, ts(a, 0));
	for (int i = 0; i < n->nia; i++) {
		int64_t ax = n->ia[i];
		if (ax < 0 || ax >= a->rank)
			return fail(err, errlen, "%s: axis %lld out of range for %s", opname(n), (long long)ax, ts(a, 0));
		if (i > 0 && ax <= n->ia[i - 1])
			return fail(err, errlen, "%s: axes must be ascending and distinct", opname(n));
		which[ax] = true;
	}
	return true;
}

static Type reduced(const Type *a, const bool *which, bool keep)
{
	Type t = *a;
	t.rank = 0;
	for (int i = 0; i < a->rank; i++) {
		if (!which[i])
			t.dim[t.rank++] = a->dim[i];
		else if (keep)
			t.dim[t.rank++] = 1;
	}
	for (int i = t.rank; i < MAX_RANK; i++)
		t.dim[i] = 0;
	return t;
}

bool sh_reduce(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	bool which[MAX_RANK];
	if (!check_axes(n, a, which, err, errlen))
		return false;
	n->type = reduced(a, which, n->keep);
	return true;
}

/* Summing a bool tensor counts its true elements. */
bool sh_sum(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	if (!sh_reduce(r, n, args, err, errlen))
		return false;
	if (ty(r, args[0])->dt == DT_BOOL)
		n->type.dt = DT_I32;
	return true;
}

bool sh_argmax(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	if (n->nia != 1)
		return fail(err, errlen, "argmax: needs exactly one axis, got %d", n->nia);
	bool which[MAX_RANK];
	if (!check_axes(n, a, which, err, errlen))
		return false;
	if (a->dim[n->ia[0]] == 0)
		return fail(err, errlen, "argmax: axis %lld of %s is empty", (long long)n->ia[0], ts(a, 0));
	n->type = reduced(a, which, n->keep);
	n->type.dt = DT_I32;
	return true;
}

bool sh_transpose(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	if (n->nia != a->rank)
		return fail(err, errlen, "transpose: permutation of %d axes for %s", n->nia, ts(a, 0));
	bool seen[MAX_RANK] = { false };
	Type t = *a;
	for (int i = 0; i < a->rank; i++) {
		int64_t p = n->ia[i];
		if (p < 0 || p >= a->rank || seen[p])
			return fail(err, errlen, "transpose: axes are not a permutation of 0..%d", a->rank - 1);
		seen[p] = true;
		t.dim[i] = a->dim[p];
	}
	n->type = t;
	return true;
}

bool sh_concat(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]);
	if (n->nia > 1)
		return fail(err, errlen, "concat: needs one axis attribute, got %d", n->nia);
	int64_t ax = n->ia[0];
	if (ax < 0 || ax >= a->rank)
		return fail(err, errlen, "concat: axis %lld out of range for %s", (long long)ax, ts(a, 0));
	Type t = *a;
	for (int k = 1; k < n->narg; k++) {
		const Type *b = ty(r, args[k]);
		bool ok = b->dt == a->dt && b->rank == a->rank;
		for (int i = 0; ok && i < a->rank; i++)
			ok = i == ax || b->dim[i] == a->dim[i];
		if (!ok)
			return fail(err, errlen, "concat: cannot join %s and %s along axis %lld",
				ts(a, 0), ts(b, 1), (long long)ax);
		if (__builtin_add_overflow(t.dim[ax], b->dim[ax], &t.dim[ax]))
			return fail(err, errlen, "concat: the joined axis %lld is too long", (long long)ax);
	}
	n->type = t;
	return true;
}

/* Checks SLICE-style ranges against the full shape `full`; fills the sliced shape. */
static bool slice_ranges(const Node *n, const Type *full, Type *out, char *err, size_t errlen)
{
	if (n->nia != 3 * full->rank)
		return fail(err, errlen, "%s: %d range numbers for %s (want 3 per axis)", opname(n), n->nia, ts(full, 0));
	*out = *full;
	for (int k = 0; k < full->rank; k++) {
		int64_t start = n->ia[3 * k], stop = n->ia[3 * k + 1], step = n->ia[3 * k + 2];
		int64_t d = full->dim[k];
		if (start < 0 || start > d || stop < 0 || stop > d || step < 1)
			return fail(err, errlen, "%s: range %lld:%lld:%lld out of bounds for axis %d of %s", opname(n),
				(long long)start, (long long)stop, (long long)step, k, ts(full, 0));
		/* rounds up without forming stop - start + step, which a huge step overflows */
		out->dim[k] = stop > start ? (stop - start - 1) / step + 1 : 0;
	}
	return true;
}

bool sh_slice(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	return slice_ranges(n, ty(r, args[0]), &n->type, err, errlen);
}

bool sh_take(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *tab = ty(r, args[0]), *idx = ty(r, args[1]);
	if (tab->rank < 1)
		return fail(err, errlen, "take: table must have rank >= 1, got %s", ts(tab, 0));
	if (idx->dt != DT_I32)
		return fail(err, errlen, "take: indices must be i32, got %s", ts(idx, 0));
	if (idx->rank + tab->rank - 1 > MAX_RANK)
		return fail(err, errlen, "take: result of %s[%s] has rank above %d", ts(tab, 0), ts(idx, 1), MAX_RANK);
	Type t = *idx;
	t.dt = tab->dt;
	for (int i = 1; i < tab->rank; i++)
		t.dim[t.rank++] = tab->dim[i];
	n->type = t;
	return true;
}

bool sh_matmul(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *b = ty(r, args[1]);
	/* nia = 0 (a bare ir_op2) means no transposes: the flags are then zero */
	if ((n->nia != 2 && n->nia != 3 && n->nia != 0) || (n->ia[0] != 0 && n->ia[0] != 1) ||
		(n->ia[1] != 0 && n->ia[1] != 1) || (n->ia[2] != 0 && n->ia[2] != 1))
		return fail(err, errlen, "matmul: needs two transpose flags and a bf16 flag (0 or 1)");
	bool ta = n->ia[0], tb = n->ia[1];
	const char *sa = ta ? ".T" : "", *sb = tb ? ".T" : "";
	if (a->rank < 2 || b->rank < 2)
		return fail(err, errlen, "matmul: operands must have rank >= 2: %s%s @ %s%s", ts(a, 0), sa, ts(b, 1), sb);
	if (a->dt != b->dt)
		return fail(err, errlen, "matmul: operand types differ: %s and %s", ts(a, 0), ts(b, 1));
	int64_t m = a->dim[a->rank - 2 + ta], ka = a->dim[a->rank - 1 - ta];
	int64_t kb = b->dim[b->rank - 2 + tb], nn = b->dim[b->rank - 1 - tb];
	if (ka != kb)
		return fail(err, errlen, "matmul: inner dimensions differ: %s%s @ %s%s", ts(a, 0), sa, ts(b, 1), sb);
	/* batch axes broadcast like elementwise operands */
	Type ba = *a, bb = *b, t;
	ba.rank -= 2;
	bb.rank -= 2;
	if (!type_broadcast(&ba, &bb, &t))
		return fail(err, errlen, "matmul: cannot broadcast batch axes of %s and %s", ts(a, 0), ts(b, 1));
	t.dim[t.rank++] = m;
	t.dim[t.rank++] = nn;
	n->type = t;
	return true;
}

bool sh_grad(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *loss = ty(r, args[0]), *x = ty(r, args[1]);
	if (loss->dt != DT_F32 || loss->rank != 0)
		return fail(err, errlen, "grad: loss must be an f32 scalar, got %s", ts(loss, 0));
	if (x->dt != DT_F32)
		return fail(err, errlen, "grad: can only differentiate f32 values, got %s", ts(x, 0));
	n->type = *x;
	return true;
}

/* pack: f32 operands, each at the next 64-byte boundary */
bool sh_pack(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	int64_t bytes = 0;
	for (int k = 0; k < n->narg; k++) {
		const Type *a = ty(r, args[k]);
		if (a->dt != DT_F32)
			return fail(err, errlen, "pack: operand %d is %s, not f32", k, ts(a, 0));
		bytes = ir_pack_align(bytes) + type_bytes(a);
		if (bytes > TYPE_MAX_BYTES)
			return fail(err, errlen, "pack: the operands hold more than 2^48 bytes");
	}
	n->type = type_make(DT_F32, 1, (int64_t[]){ bytes / 4 });
	return true;
}

bool sh_write(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Node *slot = &r->node[args[0]];
	const Type *v = ty(r, args[1]);
	if (!ir_is_slot(slot->op))
		return fail(err, errlen, "write: target %%%d is a %s, not a param, state or packed", args[0], op_info[slot->op].name);
	if (!type_eq(&slot->type, v))
		return fail(err, errlen, "write: value %s does not match slot %s", ts(v, 0), ts(&slot->type, 1));
	n->type = slot->type;
	return true;
}

/* The builder-supplied type must at least be a sane type. */
static bool check_type(const Node *n, char *err, size_t errlen)
{
	const Type *t = &n->type;
	if ((unsigned)t->dt >= DT_COUNT)
		return fail(err, errlen, "%s: bad element type %d", opname(n), (int)t->dt);
	if (t->rank < 0 || t->rank > MAX_RANK)
		return fail(err, errlen, "%s: rank %d out of range", opname(n), t->rank);
	for (int i = 0; i < t->rank; i++)
		if (t->dim[i] < 0)
			return fail(err, errlen, "%s: negative dimension in %s", opname(n), ts(t, 0));
	return true;
}

static bool same_dtype(const Node *n, const Type *a, char *err, size_t errlen)
{
	if (a->dt != n->type.dt)
		return fail(err, errlen, "%s: element type changes from %s to %s", opname(n), ts(a, 0), ts(&n->type, 1));
	return true;
}

/*
 * The F_GIVEN rules: the builder supplies the result type, the rule checks
 * it is a sane type (first: the messages print it) and fits the operands
 * and attributes.  `ok || fail(...)` reads as "ok, else this error".
 */
bool sh_input(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen) &&
		((n->nia <= 1 && n->ia[0] >= 0 && n->ia[0] <= 1 << 20) || fail(err, errlen, "input: bad input index"));
}

bool sh_const(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen);
}

bool sh_param(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen) && (n->name || fail(err, errlen, "param: missing slot name"));
}

bool sh_state(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen) &&
		((n->name && n->sname) || fail(err, errlen, "state: missing param or state name"));
}

bool sh_packed(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	const Type *t = &n->type;
	return check_type(n, err, errlen) &&
		((t->dt == DT_F32 && t->rank == 1 && n->at >= 0 && n->at % IR_PACK_ALIGN == 0) ||
			fail(err, errlen, "packed: needs f32[n] and an offset 'at' that is a multiple of %d, got %s at %lld",
				IR_PACK_ALIGN, ts(t, 0), (long long)n->at));
}

bool sh_arange(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	const Type *t = &n->type;
	return check_type(n, err, errlen) && ((t->rank == 1 && t->dt != DT_BOOL) ||
		fail(err, errlen, "arange: result must be a numeric vector, got %s", ts(t, 0)));
}

bool sh_tril(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen) &&
		(n->type.rank == 2 || fail(err, errlen, "tril: result must be a matrix, got %s", ts(&n->type, 0)));
}

bool sh_rand(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	(void)r, (void)args;
	return check_type(n, err, errlen) && (n->type.dt == DT_F32 ||
		fail(err, errlen, "%s: result must be f32, got %s", opname(n), ts(&n->type, 0)));
}

bool sh_cast(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	Type u = *a;
	u.dt = t->dt;
	if (!type_eq(&u, t))
		return fail(err, errlen, "cast: %s to %s changes the shape", ts(a, 0), ts(t, 1));
	/* bf16 converts to and from f32 only (the host casts an i32 through
	   f32): the interpreter and codegen then share one pair of conversions */
	if ((a->dt == DT_BF16 || t->dt == DT_BF16) && a->dt != t->dt && a->dt != DT_F32 && t->dt != DT_F32)
		return fail(err, errlen, "cast: %s to %s: bf16 converts to and from f32 only", ts(a, 0), ts(t, 1));
	return true;
}

bool sh_reshape(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	if (type_numel(a) != type_numel(t))
		return fail(err, errlen, "cannot reshape %s (%lld elements) to %s (%lld elements)", ts(a, 0),
			(long long)type_numel(a), ts(t, 1), (long long)type_numel(t));
	return same_dtype(n, a, err, errlen);
}

bool sh_broadcast(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	Type u;
	if (a->rank > t->rank || !type_broadcast(a, t, &u) || !type_eq(&u, t))
		return fail(err, errlen, "cannot broadcast %s to %s", ts(a, 0), ts(t, 1));
	return same_dtype(n, a, err, errlen);
}

bool sh_unslice(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	Type u;
	if (a->rank != t->rank)
		return fail(err, errlen, "unslice: %s cannot come from slicing %s", ts(a, 0), ts(t, 1));
	if (!slice_ranges(n, t, &u, err, errlen))
		return false;
	u.dt = a->dt;
	if (!type_eq(&u, a))
		return fail(err, errlen, "unslice: slicing %s by these ranges gives %s, not %s", ts(t, 0), ts(&u, 1),
			ts(a, 2));
	return same_dtype(n, a, err, errlen);
}

bool sh_one_hot(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	if (a->dt != DT_I32)
		return fail(err, errlen, "one_hot: indices must be i32, got %s", ts(a, 0));
	if (t->rank != a->rank + 1)
		return fail(err, errlen, "one_hot: %s is not %s with one more axis", ts(t, 0), ts(a, 1));
	Type u = *a;
	u.dt = t->dt;
	u.dim[u.rank++] = t->dim[a->rank];
	if (!type_eq(&u, t))
		return fail(err, errlen, "one_hot: %s is not %s with one more axis", ts(t, 0), ts(a, 1));
	return true;
}

bool sh_scatter_rows(const Region *r, Node *n, const int *args, char *err, size_t errlen)
{
	const Type *a = ty(r, args[0]), *g = ty(r, args[1]), *t = &n->type;
	if (!check_type(n, err, errlen))
		return false;
	if (a->dt != DT_I32)
		return fail(err, errlen, "scatter_rows: indices must be i32, got %s", ts(a, 0));
	if (t->rank < 1 || a->rank + t->rank - 1 > MAX_RANK)
		return fail(err, errlen, "scatter_rows: bad table type %s", ts(t, 0));
	Type u = *a;
	u.dt = t->dt;
	for (int i = 1; i < t->rank; i++)
		u.dim[u.rank++] = t->dim[i];
	if (!type_eq(&u, g))
		return fail(err, errlen, "scatter_rows: rows %s do not fit indices %s into table %s (want %s)", ts(g, 0),
			ts(a, 1), ts(t, 2), ts(&u, 3));
	return true;
}
