/*
 * test_ir.c — unit tests of the IR core: types and broadcasting, the shape
 * rules and their error messages, ir_sum_to, and which ops take bf16
 * operands (the text form and the verifier: test_irtext.c); and the arena
 * the IR lives in.
 */
#include "ir/ops.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *tstr(Type t)
{
	static char buf[8][160];
	static int k;
	return type_str(&t, buf[k++ & 7], 160);
}

static void test_types(void)
{
	char buf[160];
	check(!strcmp(type_str(&(Type){ 0 }, buf, sizeof buf), "f32"), "type_str_scalar", "got %s", buf);
	Type t = ty(DT_F32, 2, 2, 3);
	check(!strcmp(tstr(t), "f32[2,3]") && !strcmp(tstr(ty(DT_BOOL, 1, 0)), "bool[0]") &&
		!strcmp(tstr(type_scalar(DT_I32)), "i32"), "type_str_tensors", "got %s", tstr(t));
	type_str(&t, buf, 5);
	check(!strcmp(buf, "f32["), "type_str_truncates", "got '%s'", buf);
	check(type_numel(&t) == 6 && type_numel(&(Type){ 0 }) == 1 && type_numel(&(Type){ .rank = 2, .dim = { 5, 0 } }) == 0,
		"type_numel", "wrong element counts");
	check(dtype_size(DT_F32) == sizeof(float) && dtype_size(DT_I32) == sizeof(int32_t) && dtype_size(DT_BOOL) == sizeof(bool),
		"dtype_size", "sizes differ from C types");
	Type u = ty(DT_F32, 2, 2, 3), v = ty(DT_I32, 2, 2, 3), w = ty(DT_F32, 2, 3, 2);
	check(type_eq(&t, &u) && !type_eq(&t, &v) && !type_eq(&t, &w), "type_eq", "equality wrong");
}

/* Reference broadcasting, written independently: pad both to one rank. */
static bool ref_broadcast(Type a, Type b, Type *out)
{
	int rank = a.rank > b.rank ? a.rank : b.rank;
	int64_t pa[MAX_RANK], pb[MAX_RANK], po[MAX_RANK];
	for (int i = 0; i < rank; i++) {
		pa[i] = i < rank - a.rank ? 1 : a.dim[i - (rank - a.rank)];
		pb[i] = i < rank - b.rank ? 1 : b.dim[i - (rank - b.rank)];
		if (pa[i] != pb[i] && pa[i] != 1 && pb[i] != 1)
			return false;
		po[i] = pa[i] == 1 ? pb[i] : pa[i];
	}
	*out = type_make(a.dt, rank, po);
	return true;
}

static void test_broadcast(void)
{
	struct {
		Type a, b;
		const char *want; /* NULL: incompatible */
	} cases[] = {
		{ ty(DT_F32, 2, 32, 10), ty(DT_F32, 1, 10), "f32[32,10]" },
		{ ty(DT_F32, 2, 32, 10), ty(DT_F32, 2, 32, 5), NULL },
		{ ty(DT_F32, 3, 4, 1, 3), ty(DT_F32, 2, 5, 1), "f32[4,5,3]" },
		{ ty(DT_F32, 0), ty(DT_F32, 2, 2, 3), "f32[2,3]" },
		{ ty(DT_I32, 1, 0), ty(DT_F32, 1, 1), "i32[0]" },
		{ ty(DT_F32, 1, 0), ty(DT_F32, 1, 3), NULL },
		{ ty(DT_BOOL, 2, 1, 1), ty(DT_F32, 3, 7, 1, 1), "bool[7,1,1]" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Type out;
		bool ok = type_broadcast(&cases[i].a, &cases[i].b, &out);
		char name[64];
		snprintf(name, sizeof name, "broadcast_case_%zu", i);
		if (!cases[i].want)
			check(!ok, name, "%s with %s should fail", tstr(cases[i].a), tstr(cases[i].b));
		else
			check(ok && !strcmp(tstr(out), cases[i].want), name, "%s with %s gave %s, want %s", tstr(cases[i].a),
				tstr(cases[i].b), ok ? tstr(out) : "error", cases[i].want);
	}
	/* random shapes against the reference */
	srand(7);
	int mismatches = 0;
	for (int it = 0; it < 2000; it++) {
		Type a = { .dt = DT_F32, .rank = rand() % 5 }, b = { .dt = DT_F32, .rank = rand() % 5 };
		for (int i = 0; i < a.rank; i++)
			a.dim[i] = rand() % 3;
		for (int i = 0; i < b.rank; i++)
			b.dim[i] = rand() % 3;
		Type o1, o2;
		bool k1 = type_broadcast(&a, &b, &o1), k2 = ref_broadcast(a, b, &o2);
		if (k1 != k2 || (k1 && !type_eq(&o1, &o2)))
			mismatches++;
	}
	check(mismatches == 0, "broadcast_random_vs_reference", "%d mismatches", mismatches);
}

/* Emits op on args with proto attributes; returns value or -1 with err. */
static int try_emit(Region *r, Node p, const int *args, int n, char *err)
{
	return ir_emit(r, &p, args, n, err, 256);
}

static void expect_type(Region *r, int v, const char *want, const char *name, const char *err)
{
	if (v < 0)
		check(false, name, "error: %s", err);
	else
		check(!strcmp(tstr(r->node[v].type), want), name, "got %s, want %s", tstr(r->node[v].type), want);
}

static void expect_error(int v, const char *err, const char *want, const char *name)
{
	check(v < 0 && strstr(err, want), name, "got %s '%s', want error containing '%s'", v < 0 ? "error" : "success",
		v < 0 ? err : "", want);
}

static void test_shapes(void)
{
	Arena *a = arena_new();
	Region *r = ir_region_new(a, "shapes");
	char err[256];
	int x = ir_input(r, 0, ty(DT_F32, 2, 32, 784));
	int w = ir_param(r, "w", ty(DT_F32, 2, 100, 128));
	int y10 = ir_input(r, 1, ty(DT_F32, 2, 32, 10));
	int y5 = ir_input(r, 2, ty(DT_F32, 2, 32, 5));
	int idx = ir_input(r, 3, ty(DT_I32, 2, 4, 7));
	check(r->ninput == 4, "ninput_tracks_inputs", "ninput %d", r->ninput);
	int before = r->nnode;
	int v = try_emit(r, ir_proto(OP_ADD), (int[]){ y10, y5 }, 2, err);
	expect_error(v, err, "cannot broadcast f32[32,10] with f32[32,5]", "err_broadcast");
	check(r->nnode == before, "err_appends_nothing", "nnode %d -> %d", before, r->nnode);
	Node mm = ir_proto(OP_MATMUL);
	mm.nia = 2;
	v = try_emit(r, mm, (int[]){ x, w }, 2, err);
	expect_error(v, err, "matmul: inner dimensions differ: f32[32,784] @ f32[100,128]", "err_matmul_inner");
	v = try_emit(r, ir_proto(OP_ADD), (int[]){ x, idx }, 2, err);
	expect_error(v, err, "i32[4,7]", "err_binary_dtype");
	v = try_emit(r, ir_proto(OP_ADD), (int[]){ x }, 1, err);
	expect_error(v, err, "expected 2 operands, got 1", "err_arity");
	v = try_emit(r, ir_proto(OP_NEG), (int[]){ 99 }, 1, err);
	expect_error(v, err, "undefined value %99", "err_bad_operand");
	v = try_emit(r, ir_proto(OP_NOT), (int[]){ x }, 1, err);
	expect_error(v, err, "bool", "err_not_needs_bool");

	/* matmul with transpose flags and broadcast batch axes */
	int b3 = ir_input(r, 4, ty(DT_F32, 3, 5, 3, 4));
	int b2 = ir_input(r, 5, ty(DT_F32, 4, 2, 1, 6, 4));
	expect_type(r, ir_matmul(r, b3, b2, false, true), "f32[2,5,3,6]", "matmul_batch_tb", err);
	expect_type(r, ir_matmul(r, b3, b3, true, false), "f32[5,4,4]", "matmul_ta", err);
	expect_type(r, ir_op2(r, OP_LT, y10, y10), "bool[32,10]", "compare_bool", err);
	int c = ir_op2(r, OP_GT, y10, ir_const(r, type_scalar(DT_F32), 0));
	expect_type(r, ir_op3(r, OP_WHERE, c, y10, ir_const(r, ty(DT_F32, 1, 1), 2)), "f32[32,10]", "where", err);
	v = try_emit(r, ir_proto(OP_WHERE), (int[]){ y10, y10, y10 }, 3, err);
	expect_error(v, err, "condition must be bool", "err_where_cond");
	v = try_emit(r, ir_proto(OP_AND), (int[]){ c, y10 }, 2, err);
	expect_error(v, err, "must be bool", "err_logic");

	int cube = ir_input(r, 6, ty(DT_F32, 3, 2, 3, 4));
	expect_type(r, ir_reduce(r, OP_SUM, cube, (int[]){ 0, 2 }, 2, false), "f32[3]", "reduce", err);
	expect_type(r, ir_reduce(r, OP_MAX, cube, (int[]){ 1 }, 1, true), "f32[2,1,4]", "reduce_keep", err);
	expect_type(r, ir_reduce(r, OP_SUM, c, (int[]){ 0, 1 }, 2, false), "i32", "sum_bool_counts", err);
	int neg = ir_reduce(r, OP_SUM, cube, (int[]){ -1, 0 }, 2, true);
	expect_type(r, neg, "f32[1,3,1]", "reduce_negative_axes", err);
	check(r->node[neg].ia[0] == 0 && r->node[neg].ia[1] == 2, "reduce_axes_sorted", "axes %lld %lld",
		(long long)r->node[neg].ia[0], (long long)r->node[neg].ia[1]);
	expect_type(r, ir_op2(r, OP_MATMUL, y10, ir_input(r, 7, ty(DT_F32, 2, 10, 3))), "f32[32,3]", "matmul_bare_op2", err);
	expect_type(r, ir_reduce(r, OP_ARGMAX, cube, (int[]){ 2 }, 1, false), "i32[2,3]", "argmax", err);
	Node red = ir_proto(OP_SUM);
	red.nia = 2;
	red.ia[0] = 1;
	red.ia[1] = 1;
	v = try_emit(r, red, &cube, 1, err);
	expect_error(v, err, "ascending", "err_reduce_axes");
	expect_type(r, ir_transpose(r, cube, (int[]){ 2, 0, 1 }), "f32[4,2,3]", "transpose", err);
	Node tp = ir_proto(OP_TRANSPOSE);
	tp.nia = 3;
	tp.ia[0] = 0, tp.ia[1] = 0, tp.ia[2] = 1;
	expect_error(try_emit(r, tp, &cube, 1, err), err, "permutation", "err_transpose");

	Node cat = ir_proto(OP_CONCAT);
	cat.nia = 1;
	cat.ia[0] = 1;
	expect_type(r, try_emit(r, cat, (int[]){ y10, y5, y10 }, 3, err), "f32[32,25]", "concat", err);
	cat.ia[0] = 0;
	expect_error(try_emit(r, cat, (int[]){ y10, y5 }, 2, err), err, "concat: cannot join", "err_concat");

	/* slice lengths against counting the indices one by one */
	int64_t ranges[][3] = { { 0, 10, 1 }, { 1, 10, 3 }, { 5, 5, 1 }, { 7, 2, 2 }, { 0, 10, 4 }, { 9, 10, 5 } };
	int bad = 0;
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		Node sl = ir_proto(OP_SLICE);
		sl.nia = 6;
		sl.ia[0] = 0, sl.ia[1] = 32, sl.ia[2] = 1;
		memcpy(&sl.ia[3], ranges[i], sizeof ranges[i]);
		int64_t count = 0;
		for (int64_t j = sl.ia[3]; j < sl.ia[4]; j += sl.ia[5])
			count++;
		v = try_emit(r, sl, &y10, 1, err);
		if (v < 0 || r->node[v].type.dim[1] != count || r->node[v].type.dim[0] != 32)
			bad++;
		/* and unslice takes the slice back to the full shape */
		Node un = sl;
		un.op = OP_UNSLICE;
		un.type = r->node[y10].type;
		if (v < 0 || try_emit(r, un, &v, 1, err) < 0)
			bad++;
	}
	check(bad == 0, "slice_lengths", "%d wrong", bad);
	Node sl = ir_proto(OP_SLICE);
	sl.nia = 6;
	sl.ia[1] = 33, sl.ia[2] = 1, sl.ia[4] = 10, sl.ia[5] = 1;
	expect_error(try_emit(r, sl, &y10, 1, err), err, "out of bounds", "err_slice_bounds");

	int tab = ir_param(r, "emb", ty(DT_F32, 2, 50, 16));
	int tk = ir_op2(r, OP_TAKE, tab, idx);
	expect_type(r, tk, "f32[4,7,16]", "take", err);
	expect_error(try_emit(r, ir_proto(OP_TAKE), (int[]){ tab, x }, 2, err), err, "indices must be i32", "err_take");
	Node sc = ir_proto(OP_SCATTER_ROWS);
	sc.type = r->node[tab].type;
	expect_type(r, try_emit(r, sc, (int[]){ idx, tk }, 2, err), "f32[50,16]", "scatter_rows", err);
	sc.type.dim[1] = 17;
	expect_error(try_emit(r, sc, (int[]){ idx, tk }, 2, err), err, "scatter_rows", "err_scatter_rows");
	Node oh = ir_proto(OP_ONE_HOT);
	oh.type = ty(DT_F32, 3, 4, 7, 10);
	expect_type(r, try_emit(r, oh, &idx, 1, err), "f32[4,7,10]", "one_hot", err);
	oh.type = ty(DT_F32, 3, 4, 8, 10);
	expect_error(try_emit(r, oh, &idx, 1, err), err, "one more axis", "err_one_hot");

	expect_type(r, ir_reshape(r, cube, ty(DT_F32, 2, 6, 4)), "f32[6,4]", "reshape", err);
	Node rs = ir_proto(OP_RESHAPE);
	rs.type = ty(DT_F32, 1, 25);
	expect_error(try_emit(r, rs, &cube, 1, err), err, "cannot reshape f32[2,3,4] (24 elements) to f32[25]", "err_reshape");
	expect_type(r, ir_broadcast(r, y10, ty(DT_F32, 3, 2, 32, 10)), "f32[2,32,10]", "broadcast_op", err);
	Node bc = ir_proto(OP_BROADCAST);
	bc.type = ty(DT_F32, 2, 32, 1);
	expect_error(try_emit(r, bc, &y10, 1, err), err, "cannot broadcast f32[32,10] to f32[32,1]", "err_broadcast_op");
	expect_type(r, ir_cast(r, idx, DT_F32), "f32[4,7]", "cast", err);
	Node cs = ir_proto(OP_CAST);
	cs.type = ty(DT_F32, 1, 28);
	expect_error(try_emit(r, cs, &idx, 1, err), err, "changes the shape", "err_cast");

	int loss = ir_reduce(r, OP_SUM, y10, (int[]){ 0, 1 }, 2, false);
	expect_type(r, ir_op2(r, OP_GRAD, loss, w), "f32[100,128]", "grad", err);
	expect_error(try_emit(r, ir_proto(OP_GRAD), (int[]){ y10, w }, 2, err), err, "f32 scalar", "err_grad");
	int w2 = ir_op1(r, OP_NEG, w);
	expect_type(r, ir_op2(r, OP_WRITE, w, w2), "f32[100,128]", "write", err);
	expect_error(try_emit(r, ir_proto(OP_WRITE), (int[]){ w2, w2 }, 2, err), err, "not a param, state or packed", "err_write_target");
	expect_error(try_emit(r, ir_proto(OP_WRITE), (int[]){ w, x }, 2, err), err, "does not match", "err_write_type");
	Node ar = ir_proto(OP_ARANGE);
	ar.type = ty(DT_I32, 2, 2, 2);
	expect_error(try_emit(r, ar, NULL, 0, err), err, "vector", "err_arange_rank");
	Node tl = ir_proto(OP_TRIL);
	tl.type = ty(DT_F32, 1, 4);
	tl.nia = 1;
	expect_error(try_emit(r, tl, NULL, 0, err), err, "matrix", "err_tril_rank");

	char verr[256];
	check(ir_verify(r, verr, sizeof verr), "verify_built_region", "%s", verr);
	arena_free(a);
}

static void test_sum_to(void)
{
	Arena *a = arena_new();
	Region *r = ir_region_new(a, "sum_to");
	int g = ir_input(r, 0, ty(DT_F32, 3, 4, 3, 5));
	check(ir_sum_to(r, g, r->node[g].type) == g, "sum_to_identity", "emitted a node for equal types");
	Type targets[] = { ty(DT_F32, 2, 3, 1), ty(DT_F32, 1, 5), ty(DT_F32, 0), ty(DT_F32, 3, 1, 3, 1), ty(DT_F32, 3, 4, 1, 5),
		ty(DT_F32, 2, 1, 1) };
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		int n0 = r->nnode;
		int v = ir_sum_to(r, g, targets[i]);
		char name[64];
		snprintf(name, sizeof name, "sum_to_%s", tstr(targets[i]));
		/* the reductions together must remove exactly numel(g) / numel(t) elements */
		int64_t summed = 1;
		for (int k = n0; k < r->nnode; k++)
			summed *= type_numel(&r->node[ir_operand(r, k, 0)].type) / type_numel(&r->node[k].type);
		check(type_eq(&r->node[v].type, &targets[i]) && summed * type_numel(&targets[i]) == type_numel(&r->node[g].type),
			name, "got %s", tstr(r->node[v].type));
	}
	char err[256];
	check(ir_verify(r, err, sizeof err), "sum_to_verifies", "%s", err);
	arena_free(a);
}

/* bf16 is a storage type: every op but input, const and cast refuses it,
   and cast converts it to and from f32 only. */
static void test_bf16_ops(void)
{
	Arena *a = arena_new();
	Region *r = ir_region_new(a, "t");
	char err[256];
	int h = ir_input(r, 0, ty(DT_BF16, 2, 3, 4)), f = ir_input(r, 1, ty(DT_F32, 2, 3, 4));
	int i = ir_input(r, 2, ty(DT_I32, 2, 3, 4));
	int refused = 0, total = 0, named = 0;
	for (int op = 0; op < OP_COUNT; op++) {
		if (op_info[op].flags & F_BF16)
			continue;
		if (op_info[op].arity != 1 && op_info[op].arity != 2)
			continue;
		Node p = ir_proto((OpKind)op);
		p.type = ty(DT_BF16, 2, 3, 4);
		int v = try_emit(r, p, (int[]){ h, h }, op_info[op].arity, err);
		total++;
		refused += v < 0;
		/* ops whose own shape rule accepts the operands meet the bf16 rule */
		if (op == OP_ADD || op == OP_EXP || op == OP_MUL || op == OP_RSQRT || op == OP_RESHAPE || op == OP_RELU)
			named += v < 0 && strstr(err, "bf16 values are only stored and converted") != NULL;
	}
	check(named == 6, "bf16_refused_message", "%d of 6 name the bf16 rule", named);
	check(total > 30 && refused == total, "bf16_refused_by_compute_ops", "%d of %d refused", refused, total);
	Node c = ir_proto(OP_CAST);
	c.type = ty(DT_BF16, 2, 3, 4);
	int v = try_emit(r, c, &f, 1, err);
	check(v >= 0 && r->node[v].type.dt == DT_BF16, "bf16_cast_from_f32", "%s", err);
	c.type = ty(DT_F32, 2, 3, 4);
	v = try_emit(r, c, &h, 1, err);
	check(v >= 0, "bf16_cast_to_f32", "%s", err);
	c.type = ty(DT_BF16, 2, 3, 4);
	v = try_emit(r, c, &i, 1, err);
	check(v < 0 && strstr(err, "bf16 converts to and from f32 only"), "bf16_cast_from_i32_refused", "got %d: %s", v, err);
	Node k = ir_proto(OP_CONST);
	k.type = ty(DT_BF16, 1, 5);
	k.f = 0.1;
	v = try_emit(r, k, NULL, 0, err);
	check(v >= 0 && !strcmp(dtype_name(DT_BF16), "bf16") && dtype_size(DT_BF16) == 2, "bf16_const", "%s", err);
	arena_free(a);
}

/* arena_alloc and arena_grow hand out zeroes past what they copy,
   arena_copy the bytes given; in memory that held other bytes before (a
   freed arena's chunk, which malloc hands out again). */
static void test_arena(void)
{
	enum { N = 40000 };
	bool zero = true, kept = true, copied = true;
	for (int round = 0; round < 2; round++) {
		Arena *a = arena_new();
		unsigned char *p = arena_alloc(a, N);
		for (int i = 0; i < N; i++)
			zero = zero && p[i] == 0;
		memset(p, 0xab, N);
		unsigned char *q = arena_grow(a, p, N / 2, N);
		for (int i = 0; i < N; i++) {
			kept = kept && (i >= N / 2 || q[i] == 0xab);
			zero = zero && (i < N / 2 || q[i] == 0);
		}
		unsigned char *c = arena_copy(a, p, N);
		copied = copied && !memcmp(c, p, N) && arena_copy(a, NULL, 0) != NULL;
		memset(q, 0xcd, N);
		arena_free(a);
	}
	check(zero, "arena_zeroes", "a byte of arena_alloc or of arena_grow's new part was not zero");
	check(kept, "arena_grow_keeps", "arena_grow lost a byte of the old block");
	check(copied, "arena_copy", "arena_copy's bytes differ from its source");
}

int main(void)
{
	test_arena();
	test_types();
	test_broadcast();
	test_shapes();
	test_sum_to();
	test_bf16_ops();
	if (nfail)
		printf("%d FAILED\n", nfail);
	return nfail ? 1 : 0;
}
