/*
 * test_ir.c — unit tests of the IR core: types and broadcasting, the shape
 * rules and their error messages, ir_sum_to, the text form (a region using
 * every op must survive print -> parse -> print byte for byte), parser
 * diagnostics, and the verifier on regions broken by hand.
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

/* Emits through ir_emit (dying on errors) and records which ops appeared. */
static int emit_all(Region *r, Node p, const int *args, int n, bool *covered)
{
	char err[256];
	int v = ir_emit(r, &p, args, n, err, sizeof err);
	if (v < 0)
		die("every_op_region: %s: %s", op_info[p.op].name, err);
	covered[p.op] = true;
	return v;
}

/* A region that uses every op, built through the checked builder. */
static Region *every_op_region(Arena *a, bool *covered)
{
	Region *r = ir_region_new(a, "every_op");
#define E(p, ...) emit_all(r, p, (int[]){ __VA_ARGS__ }, (int)(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int)), covered)
#define E0(p) emit_all(r, p, NULL, 0, covered)
	int x = ir_input(r, 0, ty(DT_F32, 2, 4, 6));
	covered[OP_INPUT] = true;
	int ids = ir_input(r, 2, ty(DT_I32, 1, 4));
	int c = ir_const(r, type_scalar(DT_F32), 0.1);
	int c2 = ir_const(r, ty(DT_F32, 1, 6), -1.0 / 3.0);
	covered[OP_CONST] = true;
	int w = ir_param(r, "net.l1.weight", ty(DT_F32, 2, 6, 3));
	covered[OP_PARAM] = true;
	int m = ir_state(r, "net.l1.weight", "m \"odd\"\n", ty(DT_F32, 2, 6, 3));
	covered[OP_STATE] = true;
	r->node[w].at = r->node[m].at = 128;
	Node p = ir_proto(OP_PACKED);
	p.type = ty(DT_F32, 1, 50);
	p.at = 64;
	int pk = E0(p);
	p.sname = "m \"odd\"\n";
	E0(p);
	p = ir_proto(OP_ARANGE);
	p.type = ty(DT_I32, 1, 4);
	E0(p);
	p = ir_proto(OP_TRIL);
	p.type = ty(DT_F32, 2, 4, 4);
	p.ia[0] = -1, p.nia = 1;
	E0(p);
	p = ir_proto(OP_RAND);
	p.type = ty(DT_F32, 2, 4, 6);
	p.ia[0] = 3, p.nia = 1;
	E0(p);
	p.op = OP_RANDN;
	p.ia[0] = 4;
	int rn = E0(p);
	int pos = -1;
	for (int op = 0; op < OP_COUNT; op++) {
		if (!(op_info[op].flags & F_UNARY) || op == OP_NOT || op == OP_CAST)
			continue;
		pos = E(ir_proto((OpKind)op), x);
	}
	for (int op = 0; op < OP_COUNT; op++) {
		if (!(op_info[op].flags & F_BINARY) || op_shape[op] != sh_binary)
			continue;
		E(ir_proto((OpKind)op), pos, c2);
	}
	int lt = E(ir_proto(OP_LT), x, c), ge = 0;
	for (int op = OP_EQ; op <= OP_GE; op++)
		ge = E(ir_proto((OpKind)op), x, rn);
	int both = E(ir_proto(OP_AND), lt, ge);
	int either = E(ir_proto(OP_OR), both, lt);
	int nb = E(ir_proto(OP_NOT), either);
	int wh = E(ir_proto(OP_WHERE), nb, x, c);
	p = ir_proto(OP_CAST);
	p.type = ty(DT_I32, 2, 4, 6);
	E(p, wh);
	p = ir_proto(OP_SUM);
	p.ia[0] = 1, p.nia = 1, p.keep = true;
	int s = E(p, wh);
	p.op = OP_MAX;
	p.keep = false;
	E(p, wh);
	p.op = OP_MIN;
	p.ia[0] = 0;
	E(p, wh);
	p.op = OP_ARGMAX;
	E(p, wh);
	p = ir_proto(OP_RESHAPE);
	p.type = ty(DT_F32, 3, 2, 2, 6);
	int rs = E(p, wh);
	p = ir_proto(OP_BROADCAST);
	p.type = ty(DT_F32, 3, 5, 4, 1);
	E(p, s);
	p = ir_proto(OP_TRANSPOSE);
	p.ia[0] = 2, p.ia[1] = 0, p.ia[2] = 1, p.nia = 3;
	E(p, rs);
	p = ir_proto(OP_CONCAT);
	p.ia[0] = 1, p.nia = 1;
	int cat = E(p, wh, x, wh);
	p = ir_proto(OP_SLICE);
	int64_t rg[6] = { 1, 4, 2, 0, 18, 5 };
	memcpy(p.ia, rg, sizeof rg);
	p.nia = 6;
	int sl = E(p, cat);
	p.op = OP_UNSLICE;
	p.type = r->node[cat].type;
	E(p, sl);
	E(ir_proto(OP_PACK), wh, x, pk);
	int tk = E(ir_proto(OP_TAKE), w, ids);
	p = ir_proto(OP_SCATTER_ROWS);
	p.type = r->node[w].type;
	E(p, ids, tk);
	p = ir_proto(OP_ONE_HOT);
	p.type = ty(DT_F32, 2, 4, 10);
	E(p, ids);
	p = ir_proto(OP_DROPOUT);
	p.f = 0.25, p.ia[0] = 9, p.nia = 1;
	int dr = E(p, x);
	p = ir_proto(OP_RESHAPE);
	p.type = ty(DT_F32, 4, 1, 2, 3, 4);
	int x4 = E(p, x);
	p = ir_proto(OP_MAX_POOL);
	int64_t win[6] = { 2, 3, 1, 2, 1, 1 };
	memcpy(p.ia, win, sizeof win);
	p.nia = 6;
	int mp = E(p, x4);
	p.op = OP_MAX_POOL_GRAD;
	E(p, x4, mp);
	p.op = OP_AVG_POOL;
	int ap = E(p, x4);
	p.op = OP_AVG_POOL_GRAD;
	p.type = r->node[x4].type;
	E(p, ap);
	p = ir_proto(OP_MATMUL);
	p.ia[0] = 0, p.ia[1] = 0, p.nia = 2;
	int mm = E(p, dr, w);
	p.ia[1] = 1;
	E(p, mm, mm);
	p = ir_proto(OP_RESHAPE);
	p.type = ty(DT_F32, 4, 1, 2, 3, 4);
	int cx = E(p, x);
	p.type = ty(DT_F32, 4, 2, 2, 2, 3);
	int cw = E(p, x);
	p = ir_proto(OP_CONV2D);
	int64_t cv[7] = { 1, 1, 0, 0, 1, 1, 1 };
	memcpy(p.ia, cv, sizeof cv);
	p.nia = 7;
	int cy = E(p, cx, cw);
	p.op = OP_CONV2D_DX;
	p.type = r->node[cx].type;
	E(p, cy, cw);
	p.op = OP_CONV2D_DW;
	p.type = r->node[cw].type;
	E(p, cx, cy);
	p = ir_proto(OP_ATTENTION);
	p.ia[0] = 1, p.nia = 1, p.f = 0.5;
	int ao = E(p, cx, cx, cx);
	p.op = OP_ATTENTION_GRAD;
	E(p, cx, cx, cx, ao, ao);
	p = ir_proto(OP_SUM);
	p.ia[0] = 0, p.ia[1] = 1, p.nia = 2;
	int loss = E(p, mm);
	int g = E(ir_proto(OP_GRAD), loss, w);
	int m2 = E(ir_proto(OP_ADD), m, g);
	int wr = E(ir_proto(OP_WRITE), m, m2);
	r->node[wr].group = 2;
	r->node[mm].group = 7;
	r->node[mm].offset = 4096;
	r->node[loss].offset = 0;
	r->ninput = 3; /* input 1 unused: the count is the header's, not the max */
	ir_output(r, loss);
	ir_output(r, mm);
	return r;
#undef E
#undef E0
}

static void test_roundtrip(void)
{
	Arena *a = arena_new();
	bool covered[OP_COUNT] = { false };
	Region *r = every_op_region(a, covered);
	int missing = -1;
	for (int op = 0; op < OP_COUNT; op++)
		if (!covered[op])
			missing = op;
	check(missing < 0, "roundtrip_covers_every_op", "op %s not used", missing >= 0 ? op_info[missing].name : "");
	char err[512];
	check(ir_verify(r, err, sizeof err), "roundtrip_source_verifies", "%s", err);
	char *t1 = print_str(r);
	Region **rs = NULL;
	int n = ir_parse(a, t1, "every_op.ir", &rs, err, sizeof err);
	check(n == 1, "roundtrip_parses", "%s", n < 0 ? err : "wrong region count");
	if (n == 1) {
		char *t2 = print_str(rs[0]);
		check(!strcmp(t1, t2), "roundtrip_identical", "\n--- first\n%s--- second\n%s", t1, t2);
		check(ir_verify(rs[0], err, sizeof err), "roundtrip_parsed_verifies", "%s", err);
		bool same = rs[0]->nnode == r->nnode && rs[0]->ninput == r->ninput && rs[0]->nout == r->nout;
		for (int v = 0; same && v < r->nnode; v++) {
			const Node *p = &r->node[v], *q = &rs[0]->node[v];
			same = p->op == q->op && type_eq(&p->type, &q->type) && p->group == q->group && p->offset == q->offset &&
				memcmp(&p->f, &q->f, sizeof p->f) == 0 && (!p->name || !strcmp(p->name, q->name)) &&
				(!p->sname || !strcmp(p->sname, q->sname));
		}
		check(same, "roundtrip_same_nodes", "parsed nodes differ from built ones");
		free(t2);
	}
	free(t1);
	arena_free(a);
}

static void test_floats(void)
{
	double vals[] = { 0.1, 1e-8, -0.0, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, 123456789.0, -2.5e-10, INFINITY,
		-INFINITY, 0.7978845608, 1e22 };
	int bad = 0;
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		Arena *a = arena_new();
		Region *r = ir_region_new(a, "f");
		ir_output(r, ir_const(r, type_scalar(DT_F32), vals[i]));
		char *t = print_str(r);
		Region **rs;
		char err[256];
		if (ir_parse(a, t, "f.ir", &rs, err, sizeof err) != 1 || memcmp(&rs[0]->node[0].f, &vals[i], sizeof(double)))
			bad++, printf("  float %.17g -> %s", vals[i], t);
		free(t);
		arena_free(a);
	}
	check(bad == 0, "floats_roundtrip_exactly", "%d values changed", bad);
}

static const char basic_text[] =
	"; a comment line\n"
	"# another comment\n"
	"region step(2) {\n"
	"  %0 = input 0 : f32[32,784]\n"
	"  %1 = param \"l1.weight\" : f32[784,128]\n"
	"  %2 = matmul %0, %1 {ta=0, tb=0} : f32[32,128]  ; trailing comment\n"
	"  %3 = const 0.5 : f32\n"
	"  %4 = mul %2, %3 : f32[32,128] #k3 @1024\n"
	"  %5 = sum %4 {axes=[0, 1], keep=0} : f32\n"
	"  %6 = grad %5, %1 : f32[784,128]\n"
	"  %7 = state \"l1.weight\" \"m\" : f32[784,128]\n"
	"  %8 = add %7, %6 : f32[784,128]\n"
	"  write %7, %8\n"
	"  %10 = slice %2 {ranges=[0:32:1, 0:64:2]} : f32[32,32]\n"
	"  return %5, %10\n"
	"}\n"
	"\n"
	"region \"second region\"(0) {\n"
	"  %0 = const 1 : i32[2]\n"
	"  return\n"
	"}\n";

static void test_parse_text(void)
{
	Arena *a = arena_new();
	Region **rs;
	char err[256];
	int n = ir_parse(a, basic_text, "basic.ir", &rs, err, sizeof err);
	check(n == 2, "parse_two_regions", "%s", n < 0 ? err : "wrong count");
	if (n == 2) {
		Region *r = rs[0];
		check(r->ninput == 2 && r->nnode == 11 && r->nout == 2 && r->out[1] == 10, "parse_structure",
			"ninput %d nnode %d nout %d", r->ninput, r->nnode, r->nout);
		check(r->node[4].group == 3 && r->node[4].offset == 1024 && r->node[3].group == -1, "parse_group_offset",
			"group %d offset %lld", r->node[4].group, (long long)r->node[4].offset);
		check(r->node[9].op == OP_WRITE && ir_operand(r, 9, 0) == 7, "parse_write", "node 9 is %s",
			op_info[r->node[9].op].name);
		check(!strcmp(rs[1]->name, "second region") && rs[1]->nout == 0, "parse_quoted_name", "name '%s'", rs[1]->name);
		check(ir_verify(r, err, sizeof err) && ir_verify(rs[1], err, sizeof err), "parse_verifies", "%s", err);
		/* printing and reparsing is then a fixed point */
		char *t1 = print_str(r), *t2 = NULL;
		Region **rs2;
		if (ir_parse(a, t1, "p.ir", &rs2, err, sizeof err) == 1)
			t2 = print_str(rs2[0]);
		check(t2 && !strcmp(t1, t2), "parse_print_fixed_point", "%s", t2 ? t2 : err);
		check(strstr(t1, "  %4 = mul %2, %3 : f32[32,128] #k3 @1024\n") && strstr(t1, "  write %7, %8\n") &&
			strstr(t1, "  %10 = slice %2 {ranges=[0:32:1, 0:64:2]} : f32[32,32]\n"),
			"print_format", "%s", t1);
		free(t1);
		free(t2);
	}
	arena_free(a);
}

static void test_parse_errors(void)
{
	struct {
		const char *name, *text, *want;
	} cases[] = {
		{ "perr_unknown_op", "region r(0) {\n  %0 = frobnicate : f32\n}\n", "e.ir:2:8: error: unknown op 'frobnicate'" },
		{ "perr_unknown_value", "region r(1) {\n  %0 = input 0 : f32\n  %1 = neg %3 : f32\n  return\n}\n",
			"e.ir:3:12: error: unknown value %3" },
		{ "perr_operand_count", "region r(1) {\n  %0 = input 0 : f32\n  %1 = add %0 : f32\n  return\n}\n",
			"e.ir:3:8: error: add expects 2 operands, got 1" },
		{ "perr_type_mismatch", "region r(1) {\n  %0 = input 0 : f32[4]\n  %1 = exp %0 : f32[3]\n  return\n}\n",
			"e.ir:3:17: error: type mismatch: annotated f32[3] but the operands give f32[4]" },
		{ "perr_malformed_number", "region r(0) {\n  %0 = const 1.5x : f32\n  return\n}\n",
			"e.ir:2:14: error: malformed number" },
		{ "perr_malformed_dim", "region r(0) {\n  %0 = const 1 : f32[3q]\n  return\n}\n", "e.ir:2:22: error: malformed number" },
		{ "perr_shape_rule", "region r(2) {\n  %0 = input 0 : f32[2]\n  %1 = input 1 : f32[3]\n  %2 = add %0, %1 : f32[3]\n"
			"  return\n}\n", "e.ir:4:8: error: cannot broadcast f32[2] with f32[3]" },
		{ "perr_unclosed", "region r(0) {\n  %0 = const 1 : f32\n", "e.ir:3:1: error: region r is not closed" },
		{ "perr_redefined", "region r(0) {\n  %0 = const 1 : f32\n  %0 = const 2 : f32\n  return\n}\n",
			"e.ir:3:3: error: value %0 is defined twice" },
		{ "perr_input_count", "region r(1) {\n  %0 = input 3 : f32\n  return\n}\n", "declares 1 inputs but uses input 3" },
		{ "perr_missing_attr", "region r(1) {\n  %0 = input 0 : f32[2]\n  %1 = sum %0 : f32\n  return\n}\n",
			"sum needs attribute 'axes'" },
		{ "perr_bad_attr", "region r(1) {\n  %0 = input 0 : f32[2]\n  %1 = exp %0 {k=1} : f32[2]\n  return\n}\n",
			"exp has no attribute 'k'" },
		{ "perr_bad_type", "region r(0) {\n  %0 = const 1 : f64\n  return\n}\n", "unknown element type 'f64'" },
		{ "perr_unterminated_string", "region r(0) {\n  %0 = param \"abc : f32\n  return\n}\n", "unterminated string" },
		{ "perr_garbage", "hello", "e.ir:1:1: error: expected 'region'" },
		{ "perr_dup_input", "region r(1) {\n  %0 = input 0 : f32\n  %1 = input 0 : f32\n  return\n}\n", "defined twice" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Arena *a = arena_new();
		Region **rs;
		char err[256] = "";
		int n = ir_parse(a, cases[i].text, "e.ir", &rs, err, sizeof err);
		check(n == -1 && strstr(err, cases[i].want), cases[i].name, "got %d '%s', want '%s'", n, err, cases[i].want);
		arena_free(a);
	}
	/* every prefix of valid text either parses or reports an error, never crashes */
	int crashes = 0;
	size_t len = strlen(basic_text);
	char *buf = malloc(len + 1);
	for (size_t k = 0; k <= len; k++) {
		memcpy(buf, basic_text, k);
		buf[k] = '\0';
		Arena *a = arena_new();
		Region **rs;
		char err[256] = "";
		int n = ir_parse(a, buf, "t.ir", &rs, err, sizeof err);
		if (n < 0 && !strstr(err, "t.ir:"))
			crashes++;
		arena_free(a);
	}
	free(buf);
	check(crashes == 0, "parse_every_prefix", "%d prefixes failed without a located error", crashes);
}

static void test_verifier(void)
{
	Arena *a = arena_new();
	Region **rs;
	char err[256];
	struct {
		const char *name, *want;
		int kind;
	} cases[] = {
		{ "verify_forward_ref", "not an earlier value", 0 },
		{ "verify_wrong_type", "has type f32[32,129] but its operands give f32[32,128]", 1 },
		{ "verify_bad_arity", "has 1 operands, expected 2", 2 },
		{ "verify_write_target", "not a param, state or packed", 3 },
		{ "verify_output_range", "not in the region", 4 },
		{ "verify_input_index", "the region has 1 inputs", 5 },
		{ "verify_double_write", "both write the bytes of slot", 6 },
		{ "verify_given_type", "cannot reshape", 7 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = ir_parse(a, basic_text, "v.ir", &rs, err, sizeof err);
		if (n != 2) {
			check(false, cases[i].name, "parse failed: %s", err);
			continue;
		}
		Region *r = rs[0];
		switch (cases[i].kind) {
		case 0: /* %4 = mul %2, %3 -> mul %2, %5 */
			r->arg[r->node[4].arg + 1] = 5;
			break;
		case 1:
			r->node[2].type.dim[1] = 129;
			break;
		case 2:
			r->node[8].narg = 1;
			break;
		case 3: /* write into the matmul result */
			r->arg[r->node[9].arg] = 2;
			break;
		case 4:
			r->out[0] = 11;
			break;
		case 5:
			r->ninput = 0;
			r->node[0].ia[0] = 1;
			r->ninput = 1;
			break;
		case 6:
			ir_op2(r, OP_WRITE, 7, 8);
			break;
		case 7: {
			Node p = ir_proto(OP_RESHAPE);
			p.type = ty(DT_F32, 1, 4096);
			int v = ir_emit(r, &p, (int[]){ 2 }, 1, err, sizeof err);
			r->node[v].type.dim[0] = 4095;
			break;
		}
		}
		bool ok = ir_verify(r, err, sizeof err);
		check(!ok && strstr(err, cases[i].want), cases[i].name, "got %s '%s', want '%s'", ok ? "ok" : "error",
			ok ? "" : err, cases[i].want);
	}
	int n = ir_parse(a, basic_text, "v.ir", &rs, err, sizeof err);
	check(n == 2 && ir_verify(rs[0], err, sizeof err), "verify_accepts_grad", "%s", err);
	arena_free(a);
}

/*
 * The verifier's pairwise rules (one definition per input, one type and
 * offset per slot, no two writes into the same bytes) are screened by
 * sorting before the pairwise scan names the fault: a screen that missed a
 * fault, or raised a false one on a clean region, fails here.
 */
static void test_verifier_pairs(void)
{
	struct {
		const char *name, *body, *want; /* want NULL: verifies */
	} cases[] = {
		{ "verify_slot_two_offsets",
			"  %0 = param \"a\" {at=0} : f32[4]\n  %1 = param \"a\" {at=64} : f32[4]\n",
			"%0 and %1 name the same slot with different types or offsets" },
		{ "verify_slot_two_types",
			"  %0 = param \"b\" : f32[4]\n  %1 = state \"a\" \"m\" : f32[4]\n"
			"  %2 = state \"a\" \"m\" : f32[5]\n",
			"%1 and %2 name the same slot with different types or offsets" },
		{ "verify_slot_same_twice",
			"  %0 = param \"a\" {at=0} : f32[4]\n  %1 = state \"a\" \"m\" {at=0} : f32[4]\n"
			"  %2 = state \"a\" \"v\" {at=0} : f32[5]\n  %3 = param \"a\" {at=0} : f32[4]\n",
			NULL },
		{ "verify_packed_overlaps_param",
			"  %0 = packed {at=0} : f32[32]\n  %1 = param \"b\" {at=64} : f32[4]\n"
			"  %2 = const 1 : f32[32]\n  %3 = const 1 : f32[4]\n  write %0, %2\n  write %1, %3\n",
			"%4 and %5 both write the bytes of slot \"b\"" },
		{ "verify_packed_inside_param",
			"  %0 = param \"a\" {at=0} : f32[64]\n  %1 = const 1 : f32[64]\n  %2 = const 1 : f32[4]\n"
			"  write %0, %1\n  %4 = packed {at=128} : f32[4]\n  write %4, %2\n",
			"%3 and %5 both write the bytes of slot \"\"" },
		{ "verify_packed_abutting",
			"  %0 = packed {at=0} : f32[16]\n  %1 = param \"b\" {at=64} : f32[4]\n"
			"  %2 = packed \"m\" {at=0} : f32[32]\n  %3 = const 1 : f32[16]\n  %4 = const 1 : f32[4]\n"
			"  %5 = const 1 : f32[32]\n  write %0, %3\n  write %1, %4\n  write %2, %5\n",
			NULL },
		{ "verify_unplaced_twice",
			"  %0 = param \"a\" : f32[4]\n  %1 = const 1 : f32[4]\n  write %0, %1\n"
			"  %3 = param \"c\" : f32[4]\n  write %3, %1\n  write %0, %1\n",
			"%2 and %5 both write the bytes of slot \"a\"" },
		{ "verify_state_twice",
			"  %0 = state \"a\" \"m\" {at=0} : f32[4]\n  %1 = state \"a\" \"v\" {at=0} : f32[4]\n"
			"  %2 = const 1 : f32[4]\n  write %0, %2\n  write %1, %2\n  write %0, %2\n",
			"%3 and %5 both write the bytes of slot \"a\" state m" },
		{ "verify_input_twice",
			"  %0 = input 0 : f32\n  %1 = input 1 : f32\n", "input 0 is defined twice (%0 and %1)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Arena *a = arena_new();
		Region **rs;
		char text[1024], err[256] = "";
		snprintf(text, sizeof text, "region r(2) {\n%s  return\n}\n", cases[i].body);
		int n = ir_parse(a, text, "p.ir", &rs, err, sizeof err);
		if (n != 1) {
			check(false, cases[i].name, "parse failed: %s", err);
			arena_free(a);
			continue;
		}
		if (!strcmp(cases[i].name, "verify_input_twice"))
			rs[0]->node[1].ia[0] = 0; /* the parser refuses the text form */
		bool ok = ir_verify(rs[0], err, sizeof err);
		if (cases[i].want)
			check(!ok && strstr(err, cases[i].want), cases[i].name, "got %s '%s', want '%s'", ok ? "ok" : "error",
				ok ? "" : err, cases[i].want);
		else
			check(ok, cases[i].name, "%s", err);
		arena_free(a);
	}
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

int main(void)
{
	test_types();
	test_broadcast();
	test_shapes();
	test_sum_to();
	test_roundtrip();
	test_floats();
	test_parse_text();
	test_parse_errors();
	test_verifier();
	test_verifier_pairs();
	test_bf16_ops();
	if (nfail)
		printf("%d FAILED\n", nfail);
	return nfail ? 1 : 0;
}
