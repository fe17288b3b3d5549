/*
 * interp.c — the reference interpreter: runs a Region node by node in plain
 * C, with matmul through OpenBLAS.  It is the oracle that passes and codegen
 * are compared against, so kernels follow NumPy semantics exactly and take
 * fast paths only for the common cases (equal shapes, scalar operands,
 * unbatched GEMM operands); everything else goes through one strided walker.
 *
 * Kernel convention (InterpFn): interp_run provides `out` for the node's
 * type, except for PARAM/STATE, whose kernels point out->data at the store's
 * tensor (borrowed: never freed, copied before it escapes).  `in` holds the
 * operand tensors; source ops have none and get the region's inputs instead.
 * In a region the memory planner placed, out->data may be an operand's data:
 * elementwise kernels then read each element before writing it, and
 * reshape/stop_gradient find their operand's bytes already in place.
 */
#include "ir/interp.h"
#include "ir/opsem.h"
#include "runtime/dist.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool same_shape(const Type *a, const Type *b)
{
	Type t = *a;
	t.dt = b->dt;
	return type_eq(&t, b);
}

/* ---- elementwise: the loops over ir/opsem.h's element functions ---- */

/* o[i] = EXPR(x = a[i*sa], y = b[i*sb]), with a unit-stride loop the compiler can vectorize. */
#define LOOP2(OT, IT, EXPR) do { \
		OT *o_ = o; const IT *a_ = a, *b_ = b; \
		if (sa == 1 && sb == 1) \
			for (int64_t i = 0; i < n; i++) { IT x = a_[i], y = b_[i]; o_[i] = (EXPR); } \
		else \
			for (int64_t i = 0; i < n; i++) { IT x = a_[i * sa], y = b_[i * sb]; o_[i] = (EXPR); } \
	} while (0)

/* One case of bin_row per entry of an opsem.h list, elements of type IT. */
#define BIN_F32(OPK, EXACT, EXPR) case OP_##OPK: LOOP2(float, float, EXPR); return;
#define BIN_I32(OPK, EXACT, EXPR) case OP_##OPK: LOOP2(int32_t, int32_t, EXPR); return;
#define BIN_BOOL(OPK, EXACT, EXPR) case OP_##OPK: LOOP2(uint8_t, uint8_t, EXPR); return;
#define CMP_F32(OPK, EXACT, EXPR) case OP_##OPK: LOOP2(uint8_t, float, EXPR); return;
#define CMP_I32(OPK, EXACT, EXPR) case OP_##OPK: LOOP2(uint8_t, int32_t, EXPR); return;

static void bin_row(OpKind op, DType dt, void *o, const void *a, int64_t sa, const void *b, int64_t sb, int64_t n)
{
	if (dt == DT_F32) {
		switch (op) {
		SEM_FLOAT_BINARY(BIN_F32, F32, float)
		SEM_COMPARE(CMP_F32)
		default: break;
		}
	} else if (dt == DT_I32) {
		switch (op) {
		SEM_I32_BINARY(BIN_I32)
		SEM_COMPARE(CMP_I32)
		default: break;
		}
	} else if (dt == DT_BOOL) {
		switch (op) {
		SEM_BOOL_BINARY(BIN_BOOL)
		SEM_COMPARE(BIN_BOOL)
		default: break;
		}
	}
	die("interp: %s on %s operands", op_info[op].name, dtype_name(dt));
}

static void binary(OpKind op, Tensor *out, Tensor *const *in)
{
	const Tensor *A = in[0], *B = in[1];
	DType dt = A->type.dt;
	if (B->type.dt != dt)
		die("interp: %s of %s and %s", op_info[op].name, dtype_name(dt), dtype_name(B->type.dt));
	const Type *ot = &out->type;
	int64_t n = type_numel(ot);
	bool fa = same_shape(&A->type, ot), fb = same_shape(&B->type, ot);
	if (fa && fb) {
		bin_row(op, dt, out->data, A->data, 1, B->data, 1, n);
	} else if (fa && type_numel(&B->type) == 1) {
		bin_row(op, dt, out->data, A->data, 1, B->data, 0, n);
	} else if (fb && type_numel(&A->type) == 1) {
		bin_row(op, dt, out->data, A->data, 0, B->data, 1, n);
	} else {
		Walk w;
		walk_init(&w, ot, 3);
		cstrides(ot, w.st[0]);
		bstrides(&A->type, ot, w.st[1]);
		bstrides(&B->type, ot, w.st[2]);
		size_t eo = dtype_size(ot->dt), ei = dtype_size(dt);
		int last = w.rank - 1;
		for (walk_start(&w); w.left > 0; walk_next(&w))
			bin_row(op, dt, (char *)out->data + w.off[0] * eo,
				(const char *)A->data + w.off[1] * ei, w.st[1][last],
				(const char *)B->data + w.off[2] * ei, w.st[2][last], w.n);
	}
}

#define BINARY_KERNEL(name) KERNEL(name) { binary(r->node[v].op, out, in); }
BINARY_KERNEL(ik_add) BINARY_KERNEL(ik_sub) BINARY_KERNEL(ik_mul) BINARY_KERNEL(ik_div)
BINARY_KERNEL(ik_pow) BINARY_KERNEL(ik_maximum) BINARY_KERNEL(ik_minimum) BINARY_KERNEL(ik_floordiv)
BINARY_KERNEL(ik_mod) BINARY_KERNEL(ik_eq) BINARY_KERNEL(ik_ne) BINARY_KERNEL(ik_lt)
BINARY_KERNEL(ik_le) BINARY_KERNEL(ik_gt) BINARY_KERNEL(ik_ge) BINARY_KERNEL(ik_and)
BINARY_KERNEL(ik_or)

#define LOOP1(T, EXPR) do { \
		T *o_ = out->data; const T *a_ = in[0]->data; \
		for (int64_t i = 0; i < n; i++) { T x = a_[i]; o_[i] = (EXPR); } \
	} while (0)

#define UN_F32(OPK, EXACT, EXPR) case OP_##OPK: LOOP1(float, EXPR); return;
#define UN_I32(OPK, EXACT, EXPR) case OP_##OPK: LOOP1(int32_t, EXPR); return;
#define UN_BOOL(OPK, EXACT, EXPR) case OP_##OPK: LOOP1(uint8_t, EXPR); return;

static void unary(OpKind op, Tensor *out, Tensor *const *in)
{
	DType dt = in[0]->type.dt;
	int64_t n = type_numel(&out->type);
	if (dt == DT_F32) {
		switch (op) {
		SEM_FLOAT_UNARY(UN_F32, F32, float)
		default: break;
		}
	} else if (dt == DT_I32) {
		switch (op) {
		SEM_I32_UNARY(UN_I32)
		default: break;
		}
	} else if (dt == DT_BOOL) {
		switch (op) {
		SEM_BOOL_UNARY(UN_BOOL)
		default: break;
		}
	}
	die("interp: %s on a %s operand", op_info[op].name, dtype_name(dt));
}

#define UNARY_KERNEL(name) KERNEL(name) { unary(r->node[v].op, out, in); }
UNARY_KERNEL(ik_neg) UNARY_KERNEL(ik_exp) UNARY_KERNEL(ik_log) UNARY_KERNEL(ik_sqrt)
UNARY_KERNEL(ik_rsqrt) UNARY_KERNEL(ik_tanh) UNARY_KERNEL(ik_sigmoid) UNARY_KERNEL(ik_relu)
UNARY_KERNEL(ik_abs) UNARY_KERNEL(ik_sign) UNARY_KERNEL(ik_sin) UNARY_KERNEL(ik_cos)
UNARY_KERNEL(ik_erf) UNARY_KERNEL(ik_not)

KERNEL(ik_cast)
{
	DType from = in[0]->type.dt, to = out->type.dt;
	int64_t n = type_numel(&out->type);
	if (from == to) {
		if (out->data != in[0]->data)
			memcpy(out->data, in[0]->data, tbytes(&out->type));
		return;
	}
	for (int64_t i = 0; i < n; i++)
		store_val(to, out->data, i, load(from, in[0]->data, i));
}

KERNEL(ik_copy)
{
	if (out->data != in[0]->data) /* a planned reshape shares its operand's bytes */
		memcpy(out->data, in[0]->data, tbytes(&out->type));
}

#define WHERE_ROWS(T) \
	for (walk_start(&w); w.left > 0; walk_next(&w)) { \
		T *o_ = (T *)out->data + w.off[0]; \
		const T *a_ = (const T *)in[1]->data + w.off[2], *b_ = (const T *)in[2]->data + w.off[3]; \
		const uint8_t *c_ = (const uint8_t *)in[0]->data + w.off[1]; \
		for (int64_t i = 0; i < w.n; i++) o_[i * s0] = c_[i * sc] ? a_[i * sa] : b_[i * sb]; \
	}

KERNEL(ik_where)
{
	const Type *ot = &out->type;
	Walk w;
	walk_init(&w, ot, 4);
	cstrides(ot, w.st[0]);
	for (int k = 0; k < 3; k++)
		bstrides(&in[k]->type, ot, w.st[k + 1]);
	int last = w.rank - 1;
	int64_t s0 = w.st[0][last], sc = w.st[1][last], sa = w.st[2][last], sb = w.st[3][last];
	if (dtype_size(ot->dt) == 4)
		WHERE_ROWS(uint32_t)
	else
		WHERE_ROWS(uint8_t)
}

/* ---- reductions ---- */

/*
 * Walks the operand's index space; operand 0 reads x, operand 1 addresses
 * the output with stride 0 along reduced axes (the keepdims layout is the
 * same memory layout as the squeezed one).  sign: 0 sums, 1 keeps the
 * largest, -1 the smallest; each kernel says which it is.
 */
static void reduce(const Node *nd, Tensor *out, const Tensor *x, int sign)
{
	const Type *xt = &x->type;
	Type kt = *xt;
	for (int k = 0; k < nd->nia; k++)
		kt.dim[nd->ia[k]] = 1;
	if (xt->dt == DT_BOOL)
		die("interp: %s of bool (the frontend casts first)", op_info[nd->op].name);
	Walk w;
	walk_init(&w, xt, 2);
	cstrides(xt, w.st[0]);
	bstrides(&kt, xt, w.st[1]);
	int64_t no = type_numel(&out->type), s1 = w.st[1][w.rank - 1];
	/* a double accumulator holds every i32 exactly and makes f32 sums more
	   accurate than what the oracle checks */
	double *acc = xmalloc((size_t)(no ? no : 1) * sizeof *acc);
	for (int64_t i = 0; i < no; i++)
		acc[i] = sign ? -sign * INFINITY : 0.0;
	for (walk_start(&w); w.left > 0; walk_next(&w)) {
		double *d = acc + w.off[1];
		for (int64_t i = 0; i < w.n; i++) {
			double a = load(xt->dt, x->data, w.off[0] + i), *t = &d[i * s1];
			if (!sign)
				*t += a;
			else if (sign * (a - *t) > 0 || a != a) /* NaN wins, as in NumPy */
				*t = a;
		}
	}
	for (int64_t i = 0; i < no; i++)
		store_val(out->type.dt, out->data, i, acc[i]);
	free(acc);
}

KERNEL(ik_sum) { reduce(&r->node[v], out, in[0], 0); }
KERNEL(ik_max) { reduce(&r->node[v], out, in[0], 1); }
KERNEL(ik_min) { reduce(&r->node[v], out, in[0], -1); }

KERNEL(ik_argmax)
{
	const Type *xt = &in[0]->type;
	int ax = (int)r->node[v].ia[0];
	if (r->node[v].nia != 1 || ax < 0 || ax >= xt->rank)
		die("interp: argmax needs exactly one axis");
	int64_t outer = 1, inner = 1, n = xt->dim[ax];
	for (int a = 0; a < ax; a++)
		outer *= xt->dim[a];
	for (int a = ax + 1; a < xt->rank; a++)
		inner *= xt->dim[a];
	int32_t *o = out->data;
	for (int64_t p = 0; p < outer; p++)
		for (int64_t j = 0; j < inner; j++) {
			const int64_t base = p * n * inner + j;
			int64_t best = 0;
			double bv = n ? load(xt->dt, in[0]->data, base) : 0;
			/* strict > keeps the first maximum; a NaN wins like in NumPy */
			for (int64_t k = 1; k < n && bv == bv; k++) {
				double x = load(xt->dt, in[0]->data, base + k * inner);
				if (x > bv || x != x) {
					bv = x;
					best = k;
				}
			}
			o[p * inner + j] = (int32_t)best;
		}
}

/* ---- matmul ---- */

KERNEL(ik_matmul)
{
	const Node *nd = &r->node[v];
	const Type *at = &in[0]->type, *bt = &in[1]->type, *ot = &out->type;
	if (at->dt != DT_F32 || at->rank < 2 || bt->rank < 2)
		die("interp: matmul needs f32 operands of rank >= 2");
	bool ta = nd->ia[0], tb = nd->ia[1];
	int64_t M = ot->dim[ot->rank - 2], N = ot->dim[ot->rank - 1], K = at->dim[at->rank - 1 - ta];
	/* batch shapes: the leading axes of the result and of each operand */
	Type bo = *ot, ba = *at, bb = *bt;
	bo.rank -= 2;
	ba.rank -= 2;
	bb.rank -= 2;
	int64_t nb = type_numel(&bo), sa = M * K, sb = K * N, sc = M * N;
	float *C = out->data;
	const float *A = in[0]->data, *B = in[1]->data;
	if (sc == 0 || nb == 0)
		return;
	if (K == 0) {
		memset(C, 0, tbytes(ot));
		return;
	}
	/* {bf16}: the operands rounded to bf16 with the one conversion, then an
	   f32 product of them (each product of two bf16 is exact in f32; only
	   the order of the sums differs from codegen/gemm.c's kernel) */
	float *ra = NULL, *rb = NULL;
	if (nd->ia[2]) {
		int64_t na = type_numel(at), nb2 = type_numel(bt);
		ra = xmalloc((size_t)(na ? na : 1) * sizeof *ra);
		rb = xmalloc((size_t)(nb2 ? nb2 : 1) * sizeof *rb);
		for (int64_t i = 0; i < na; i++)
			ra[i] = rt_bf16_to_f32(rt_bf16_from_f32(A[i]));
		for (int64_t i = 0; i < nb2; i++)
			rb[i] = rt_bf16_to_f32(rt_bf16_from_f32(B[i]));
		A = ra, B = rb;
	}
	int64_t lda = ta ? M : K, ldb = tb ? K : N;
	bool fold = type_numel(&bb) == 1 && type_numel(&ba) == nb && !ta;
	/* rt_sgemm, as generated code calls it: the same parts, the same bits */
	if (fold) {
		/* one shared b: the batch folds into the rows of a single GEMM */
		rt_sgemm(false, tb, M * nb, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
		free(ra), free(rb);
		return;
	}
	Walk w;
	walk_init(&w, &bo, 2);
	bstrides(&ba, &bo, w.st[0]);
	bstrides(&bb, &bo, w.st[1]);
	int64_t i = 0, la = w.st[0][w.rank - 1], lb = w.st[1][w.rank - 1];
	for (walk_start(&w); w.left > 0; walk_next(&w))
		for (int64_t j = 0; j < w.n; j++, i++)
			rt_sgemm(ta, tb, M, N, K, 1.0f, A + (w.off[0] + j * la) * sa, lda, B + (w.off[1] + j * lb) * sb,
				ldb, 0.0f, C + i * sc, N);
	free(ra), free(rb);
}

/* ---- sources, effects ---- */

/* The caller's tensor for INPUT node v, type-checked. */
static const Tensor *input_tensor(const Region *r, int v, Tensor *const *in)
{
	int64_t k = r->node[v].ia[0];
	const Tensor *t = in ? in[k] : NULL;
	if (!t)
		die("interp: input %lld not supplied", (long long)k);
	if (!type_eq(&t->type, &r->node[v].type)) {
		char a[64], b[64];
		die("interp: input %lld has type %s, the region expects %s", (long long)k,
			type_str(&t->type, a, sizeof a), type_str(&r->node[v].type, b, sizeof b));
	}
	return t;
}

KERNEL(ik_input)
{
	memcpy(out->data, input_tensor(r, v, in)->data, tbytes(&out->type));
}

/* The store's tensor for a PARAM, STATE or PACKED node (store_slot, ir/build.c). */
static Tensor slot(const Region *r, int v, Store *s)
{
	char err[256];
	Tensor t;
	if (!ir_store_slot(s, &r->node[v], &t, err, sizeof err))
		die("interp: %%%d: %s", v, err);
	return t;
}

KERNEL(ik_param) { out->data = slot(r, v, s).data; }
KERNEL(ik_state) { out->data = slot(r, v, s).data; }
KERNEL(ik_packed) { out->data = slot(r, v, s).data; }

KERNEL(ik_write)
{
	Tensor t = slot(r, ir_operand(r, v, 0), s);
	if (!type_eq(&t.type, &in[1]->type))
		die("interp: write of %%%d: value type differs from the slot", v);
	if (t.data != in[1]->data)
		memcpy(t.data, in[1]->data, tbytes(&t.type));
}

/* Operands at their 64-byte-aligned places, the gaps zero; an operand the
   memory plan placed there already stays (memmove onto itself). */
KERNEL(ik_pack)
{
	char *d = out->data;
	int64_t end = 0, start = 0; /* start: ir_pack_start(r, v, k), summed as k goes */
	for (int k = 0; k < r->node[v].narg; k++) {
		int64_t at = start, b = (int64_t)tbytes(&in[k]->type);
		const Type *t = &r->node[ir_operand(r, v, k)].type;
		start += ir_pack_align(type_bytes(t));
		memset(d + end, 0, (size_t)(at - end));
		memmove(d + at, in[k]->data, (size_t)b);
		end = at + b;
	}
	/* the gradient arena: its mean over the ranks, as generated code
	   computes it (codegen/region.c, dist_grads) */
	if (rt_dist_on)
		rt_dist_grads(out->data, type_numel(&out->type));
}

KERNEL(ik_grad)
{
	die("interp: grad node %%%d reached the interpreter: run autodiff first", v);
}

/* ---- the driver ---- */

static void *buf_alloc(size_t bytes)
{
	size_t n = (size_t)align_up((int64_t)bytes, 64);
	void *p = aligned_alloc(64, n ? n : 64);
	if (!p)
		die_out_of_memory(n);
	return p;
}

/* Storage the region does not own: the store's slots and the caller's inputs. */
static bool borrowed(OpKind op)
{
	return ir_is_slot(op) || op == OP_INPUT;
}

/*
 * Has the memory planner placed every value that needs memory?  Then *bytes
 * is the arena they fit in.  A value computed in place shares its operand's
 * offset; the plan guarantees that values live at once do not overlap
 * otherwise (passes/memplan.c).
 */
static bool planned(const Region *r, size_t *bytes)
{
	size_t end = 0;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		if (borrowed(nd->op) || nd->op == OP_WRITE)
			continue;
		if (nd->offset < 0)
			return false;
		size_t e = (size_t)nd->offset + tbytes(&nd->type);
		end = e > end ? e : end;
	}
	*bytes = end;
	return true;
}

/*
 * Two ways to find memory for values: a planned region runs in one arena
 * (inputs are read where the caller keeps them, nothing is freed before the
 * end); an unplanned one allocates a buffer per value and frees it after
 * its last use.
 */
void interp_run(const Region *r, Store *s, Tensor *const *inputs, Tensor *outputs)
{
	int n = r->nnode, maxarg = 1;
	size_t arena_bytes = 0;
	bool plan = planned(r, &arena_bytes);
	char *arena = plan ? buf_alloc(arena_bytes) : NULL;
	Tensor *val = xcalloc((size_t)n + 1, sizeof *val);
	bool *own = xcalloc((size_t)n + 1, sizeof *own);
	int *last = xmalloc(((size_t)n + 1) * sizeof *last);
	/* last[o]: the node after which o dies; n = alive until the end */
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		last[v] = v;
		maxarg = nd->narg > maxarg ? nd->narg : maxarg;
		for (int k = 0; k < nd->narg; k++) {
			int o = ir_operand(r, v, k);
			if (o < 0 || o >= v)
				die("interp: %%%d uses %%%d, which is not defined before it", v, o);
			int end = nd->op == OP_WRITE ? n : v;
			last[o] = end > last[o] ? end : last[o];
		}
	}
	for (int k = 0; k < r->nout; k++)
		last[r->out[k]] = n;
	Tensor **args = xmalloc((size_t)maxarg * sizeof *args);

	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_WRITE)
			continue; /* deferred: reads must see the old slot values */
		val[v].type = nd->type;
		if (plan && nd->op == OP_INPUT) {
			val[v].data = input_tensor(r, v, inputs)->data;
			continue;
		}
		if (plan && !borrowed(nd->op)) {
			val[v].data = arena + nd->offset;
		} else if (!plan && !ir_is_slot(nd->op)) {
			val[v].data = buf_alloc(tbytes(&nd->type)); /* inputs are copied */
			own[v] = true;
		}
		for (int k = 0; k < nd->narg; k++)
			args[k] = &val[ir_operand(r, v, k)];
		bool src = op_info[nd->op].flags & F_SOURCE;
		op_interp[nd->op](r, v, &val[v], src ? inputs : args, s);
		for (int k = 0; !plan && k <= nd->narg; k++) {
			int o = k < nd->narg ? ir_operand(r, v, k) : v;
			if (last[o] == v && val[o].data) {
				if (own[o])
					free(val[o].data);
				val[o].data = NULL;
				own[o] = false;
			}
		}
	}

	for (int k = 0; k < r->nout; k++) {
		int o = r->out[k];
		outputs[k].type = val[o].type;
		if (own[o]) {
			outputs[k].data = val[o].data; /* transferred; still readable below */
			own[o] = false;
		} else {
			size_t b = tbytes(&val[o].type);
			outputs[k].data = memcpy(xmalloc(b ? b : 1), val[o].data, b);
		}
	}
	/* A write may read a slot another write changes (swaps): snapshot those
	   first, and borrowed inputs too, in case the caller passed a slot's data. */
	for (int v = 0; v < n; v++) {
		int o = r->node[v].op == OP_WRITE ? ir_operand(r, v, 1) : -1;
		if (o >= 0 && !own[o] && borrowed(r->node[o].op)) {
			size_t b = tbytes(&val[o].type);
			val[o].data = memcpy(buf_alloc(b), val[o].data, b);
			own[o] = true;
		}
	}
	for (int v = 0; v < n; v++)
		if (r->node[v].op == OP_WRITE) {
			args[0] = &val[ir_operand(r, v, 0)];
			args[1] = &val[ir_operand(r, v, 1)];
			ik_write(r, v, NULL, args, s);
		}
	for (int v = 0; v < n; v++)
		if (own[v])
			free(val[v].data);
	free(arena);
	free(args);
	free(last);
	free(own);
	free(val);
}
