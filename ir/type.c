/*
 * type.c — static tensor types: element sizes and names, equality, the text
 * spelling ("f32[2,3]", scalars without brackets) and NumPy broadcasting.
 */
#include "ir/ir.h"

#include <stdio.h>
#include <string.h>

static const char *const dtype_names[DT_COUNT] = {
	[DT_F32] = "f32",
	[DT_I32] = "i32",
	[DT_BOOL] = "bool",
	[DT_BF16] = "bf16",
};

/* bool is one byte per element so kernels can index it like a C array */
static const size_t dtype_sizes[DT_COUNT] = {
	[DT_F32] = 4,
	[DT_I32] = 4,
	[DT_BOOL] = 1,
	[DT_BF16] = 2,
};

/*
 * Every type that enters a region passes type_bytes_ok (ir_emit checks
 * operands' results, the frontend checks shapes where the user writes
 * them), so the arithmetic below cannot overflow; the checked multiply
 * turns a missed check into an internal error instead of a wrong size.
 */
int64_t type_numel(const Type *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++)
		if (t->dim[i] < 0 || __builtin_mul_overflow(n, t->dim[i], &n))
			die("type_numel: unchecked size of a rank-%d type", t->rank);
	return n;
}

bool type_bytes_ok(const Type *t, int64_t *bytes)
{
	if (t->rank < 0 || t->rank > MAX_RANK || (unsigned)t->dt >= DT_COUNT)
		return false;
	int64_t n = (int64_t)dtype_sizes[t->dt];
	for (int i = 0; i < t->rank; i++)
		if (t->dim[i] < 0 || __builtin_mul_overflow(n, t->dim[i], &n) || n > TYPE_MAX_BYTES)
			return false;
	/* a zero dimension makes the product 0 whatever follows, but a later
	   dimension may still be absurd on its own */
	for (int i = 0; i < t->rank; i++)
		if (t->dim[i] > TYPE_MAX_BYTES)
			return false;
	if (bytes)
		*bytes = n;
	return true;
}

int64_t type_bytes(const Type *t)
{
	return type_numel(t) * (int64_t)dtype_size(t->dt);
}

size_t dtype_size(DType dt)
{
	if ((unsigned)dt >= DT_COUNT)
		die("dtype_size: bad dtype %d", (int)dt);
	return dtype_sizes[dt];
}

const char *dtype_name(DType dt)
{
	if ((unsigned)dt >= DT_COUNT)
		return "?";
	return dtype_names[dt];
}

bool type_eq(const Type *a, const Type *b)
{
	if (a->dt != b->dt || a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}

Type type_make(DType dt, int rank, const int64_t *dim)
{
	Type t;
	memset(&t, 0, sizeof t);
	if (rank < 0 || rank > MAX_RANK)
		die("type_make: rank %d out of range", rank);
	t.dt = dt;
	t.rank = rank;
	for (int i = 0; i < rank; i++)
		t.dim[i] = dim[i];
	return t;
}

Type type_scalar(DType dt)
{
	return type_make(dt, 0, NULL);
}

char *type_str(const Type *t, char *buf, size_t n)
{
	if (!n)
		return buf;
	size_t len = 0;
	/* snprintf reports the untruncated length; clamp so we never run past n */
#define PUT(...) do { \
		int k_ = snprintf(buf + len, n - len, __VA_ARGS__); \
		if (k_ > 0) \
			len += (size_t)k_; \
		if (len >= n) \
			return buf; \
	} while (0)
	buf[0] = '\0';
	PUT("%s", dtype_name(t->dt));
	if (t->rank > 0) {
		PUT("[");
		for (int i = 0; i < t->rank; i++)
			PUT(i ? ",%lld" : "%lld", (long long)t->dim[i]);
		PUT("]");
	}
#undef PUT
	return buf;
}

bool type_broadcast(const Type *a, const Type *b, Type *out)
{
	Type t;
	memset(&t, 0, sizeof t);
	t.dt = a->dt;
	t.rank = a->rank > b->rank ? a->rank : b->rank;
	/* align trailing axes; a missing leading axis acts as size 1 */
	for (int i = 0; i < t.rank; i++) {
		int ia = a->rank - t.rank + i, ib = b->rank - t.rank + i;
		int64_t da = ia >= 0 ? a->dim[ia] : 1;
		int64_t db = ib >= 0 ? b->dim[ib] : 1;
		if (da == db || db == 1)
			t.dim[i] = da;
		else if (da == 1)
			t.dim[i] = db;
		else
			return false;
	}
	*out = t;
	return true;
}

bool type_same_dims(const Type *a, const Type *b)
{
	if (a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->dim[i] != b->dim[i])
			return false;
	return true;
}
