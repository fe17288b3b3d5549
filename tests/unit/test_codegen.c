/*
 * test_codegen.c — differential tests of the LLVM code generator, op by op:
 * every op of ops.def (except GRAD, which must never reach codegen) runs
 * through the reference interpreter and through the JIT on the same random
 * inputs, on shapes with broadcasting and odd sizes (1, 7, 33, 1000),
 * NaNs, saturating casts and Python-style integer division; then slots and
 * the deferred semantics of WRITE.  Results must agree bit for bit for
 * integer, bool and data-movement ops, to a relative 1e-5 for float
 * arithmetic.  Gradients and the MLP step: test_codegen_train.c.
 */
#include "tests/unit/cgdiff.h"

/*
 * Single-op cases are batched: one region holds up to MAXCASE of them, each
 * with its own inputs and output, so the JIT compiles once per batch; every
 * case still gets its own PASS/FAIL line.
 */
enum { MAXCASE = 64 };

typedef struct {
	char name[96];
	Node p;
	Tensor in[4];
	int nin;
	double tol;
} Case;

static Case cases_[MAXCASE];
static int ncase;

static void flush(void)
{
	if (!ncase)
		return;
	Region *r = region();
	Tensor *ptr[4 * MAXCASE], o1[MAXCASE], o2[MAXCASE];
	int nin = 0;
	for (int c = 0; c < ncase; c++) {
		int args[4];
		for (int i = 0; i < cases_[c].nin; i++) {
			ptr[nin] = &cases_[c].in[i];
			args[i] = ir_input(r, nin++, cases_[c].in[i].type);
		}
		ir_output(r, emit(r, cases_[c].p, args, cases_[c].nin));
	}
	char err[512];
	Mem mem = { .n = 0 };
	Store s1 = store_of(&mem, 42, 3), s2 = store_of(&mem, 42, 3);
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	if (cr) {
		interp_run(r, &s1, ptr, o1);
		host_run_compiled(cr, &s2, ptr, o2);
	}
	for (int c = 0; c < ncase; c++) {
		double x = 0, y = 0;
		int64_t i = cr ? differ(&o2[c], &o1[c], cases_[c].tol, &x, &y) : 0;
		if (cr)
			check(i < 0, cases_[c].name, "element %lld: jit %.9g, interp %.9g", (long long)i, x, y);
		else
			check(false, cases_[c].name, "cg_compile: %s", err);
		if (cr) {
			free(o1[c].data);
			free(o2[c].data);
		}
		for (int k = 0; k < cases_[c].nin; k++)
			free(cases_[c].in[k].data);
	}
	ncase = 0;
	arena_free(r->arena);
}

/* Queues a region-of-one-op case: inputs in[0..nin) feed node p; its value is the output. */
static void one_op(const char *name, Node p, Tensor *in, int nin, double tol)
{
	if (ncase == MAXCASE)
		flush();
	Case *c = &cases_[ncase++];
	snprintf(c->name, sizeof c->name, "%s", name);
	c->p = p;
	c->nin = nin;
	c->tol = tol;
	for (int i = 0; i < nin; i++)
		c->in[i] = in[i];
}

/* ---- elementwise ---- */

static const char *const shapes[] = { "1", "7", "33", "1000", "3,5", "" };
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* operand shape pairs for broadcasting */
static const char *const pairs[][2] = {
	{ "7", "7" }, { "33", "1" }, { "", "1000" }, { "4,1,5", "3,1" }, { "2,3,4", "3,4" },
	{ "5,7", "5,1" }, { "1", "" }, { "1000", "1000" }, { "2,1,3,1", "4,1,5" },
};
enum { NPAIRS = sizeof pairs / sizeof pairs[0] };

static void test_unary(void)
{
	static const OpKind fops[] = { OP_NEG, OP_EXP, OP_LOG, OP_SQRT, OP_RSQRT, OP_TANH, OP_SIGMOID, OP_RELU,
		OP_ABS, OP_SIGN, OP_SIN, OP_COS, OP_ERF, OP_STOP_GRADIENT };
	static const OpKind iops[] = { OP_NEG, OP_RELU, OP_ABS, OP_SIGN };
	char name[96];
	for (size_t k = 0; k < sizeof fops / sizeof *fops; k++)
		for (int s = 0; s < NSHAPES; s++) {
			OpKind op = fops[k];
			bool pos = op == OP_LOG || op == OP_SQRT || op == OP_RSQRT;
			Tensor in = trand(tp(DT_F32, shapes[s]), pos ? 0.01 : -4, 4);
			snprintf(name, sizeof name, "f32_%s_[%s]", op_info[op].name, shapes[s]);
			one_op(name, ir_proto(op), &in, 1, 1e-5);
		}
	/* exp and tanh are sinter's own (runtime/mathf.c), which codegen/scalar.c
	   emits operation for operation, the tanh's exp without the limits it
	   cannot reach: the same floats as the interpreter's on every 4093rd
	   float (both signs, subnormals, inf and NaN patterns included) and at
	   tanh's range boundaries and either side of them */
	static const float edges[] = { 0.625f, 9.0f, 4.5f, 18.0f, 88.72283935546875f, -87.33654022216797f, 0, INFINITY };
	for (int op = 0; op < 2; op++) {
		Tensor in = trand(tp(DT_F32, "1049425"), 0, 1);
		uint32_t *bits = in.data;
		int64_t n = 0;
		for (uint64_t u = 0; u < (1ull << 32); u += 4093)
			bits[n++] = (uint32_t)u;
		for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
			for (int d = -2; d <= 2; d++) {
				float f = edges[e];
				uint32_t b;
				memcpy(&b, &f, sizeof b);
				bits[n++] = b + (uint32_t)d;
				bits[n++] = (b + (uint32_t)d) | 0x80000000u;
			}
		check(n == 1049425, "f32_sweep_size", "%lld floats", (long long)n);
		one_op(op ? "f32_tanh_sweep_bits" : "f32_exp_sweep_bits", ir_proto(op ? OP_TANH : OP_EXP), &in, 1, 0);
	}
	for (size_t k = 0; k < sizeof iops / sizeof *iops; k++)
		for (int s = 0; s < NSHAPES; s++) {
			Tensor in = trand(tp(DT_I32, shapes[s]), -1000, 1000);
			snprintf(name, sizeof name, "i32_%s_[%s]", op_info[iops[k]].name, shapes[s]);
			one_op(name, ir_proto(iops[k]), &in, 1, 0);
		}
	for (int s = 0; s < NSHAPES; s++) {
		Tensor in = trand(tp(DT_BOOL, shapes[s]), 0, 1);
		snprintf(name, sizeof name, "bool_not_[%s]", shapes[s]);
		one_op(name, ir_proto(OP_NOT), &in, 1, 0);
	}
	/* casts between every pair of element types the IR allows (bf16 meets
	   f32 only), with values that saturate and NaN; bf16 also from f32
	   values at every rounding tie and from the ends of the f32 range */
	for (int from = 0; from < DT_COUNT; from++)
		for (int to = 0; to < DT_COUNT; to++) {
			if ((from == DT_BF16 || to == DT_BF16) && from != to && from != DT_F32 && to != DT_F32)
				continue;
			bool wide = from == DT_F32 || from == DT_BF16;
			Tensor in = trand(tp((DType)from, "33"), wide ? -5e9 : -3, wide ? 5e9 : 3);
			if (from == DT_F32) {
				((float *)in.data)[0] = NAN;
				((float *)in.data)[1] = -2.7f;
				((float *)in.data)[2] = 0;
				for (int k = 3; to == DT_BF16 && k < 33; k++) {
					uint32_t u = (uint32_t)(urand() * 4294967296.0);
					if (k < 20) /* exact ties, odd and even kept halves */
						u = (u & 0xFFFF0000u) | 0x8000u;
					if (k == 20 || k == 21)
						u = k == 20 ? 0x7F7FC000u : 0xFF7FFFFFu; /* tie to inf; rounds to -inf */
					memcpy((float *)in.data + k, &u, 4);
				}
			}
			if (from == DT_BF16)
				((uint16_t *)in.data)[0] = 0x7FC0;
			Node p = ir_proto(OP_CAST);
			p.type = in.type;
			p.type.dt = (DType)to;
			snprintf(name, sizeof name, "cast_%s_to_%s", dtype_name((DType)from), dtype_name((DType)to));
			one_op(name, p, &in, 1, 0);
		}
}

static void test_binary(void)
{
	char name[96];
	for (OpKind op = OP_ADD; op <= OP_GE; op++)
		for (int s = 0; s < NPAIRS; s++) {
			Tensor in[2] = { trand(tp(DT_F32, pairs[s][0]), -3, 3), trand(tp(DT_F32, pairs[s][1]), -3, 3) };
			if (op == OP_POW) /* positive bases: no NaN from fractional powers */
				for (int64_t i = 0; i < type_numel(&in[0].type); i++)
					((float *)in[0].data)[i] = fabsf(((float *)in[0].data)[i]) + 0.1f;
			snprintf(name, sizeof name, "f32_%s_[%s]_[%s]", op_info[op].name, pairs[s][0], pairs[s][1]);
			/* comparisons are exact; arithmetic within float rounding of libm */
			one_op(name, ir_proto(op), in, 2, op >= OP_EQ ? 0 : 1e-5);
		}
	for (OpKind op = OP_ADD; op <= OP_GE; op++)
		for (int s = 0; s < NPAIRS; s++) {
			int lo = op == OP_POW ? -3 : -40, hi = op == OP_POW ? 12 : 40;
			Tensor in[2] = { trand(tp(DT_I32, pairs[s][0]), -2000000000, 2000000000),
				trand(tp(DT_I32, pairs[s][1]), lo, hi) };
			if (s % 2) /* small left operands too: exact quotients, zero, signs */
				for (int64_t i = 0; i < type_numel(&in[0].type); i++)
					((int32_t *)in[0].data)[i] %= 50;
			snprintf(name, sizeof name, "i32_%s_[%s]_[%s]", op_info[op].name, pairs[s][0], pairs[s][1]);
			one_op(name, ir_proto(op), in, 2, 0);
		}
	static const OpKind bops[] = { OP_AND, OP_OR, OP_MAXIMUM, OP_MINIMUM, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
	for (size_t k = 0; k < sizeof bops / sizeof *bops; k++)
		for (int s = 0; s < NPAIRS; s += 2) {
			Tensor in[2] = { trand(tp(DT_BOOL, pairs[s][0]), 0, 1), trand(tp(DT_BOOL, pairs[s][1]), 0, 1) };
			snprintf(name, sizeof name, "bool_%s_[%s]_[%s]", op_info[bops[k]].name, pairs[s][0], pairs[s][1]);
			one_op(name, ir_proto(bops[k]), in, 2, 0);
		}
	/* NaN on either side of maximum/minimum and comparisons */
	for (OpKind op = OP_MAXIMUM; op <= OP_GE; op++) {
		if (op == OP_FLOORDIV || op == OP_MOD)
			continue;
		Tensor in[2] = { trand(tp(DT_F32, "8"), -1, 1), trand(tp(DT_F32, "8"), -1, 1) };
		((float *)in[0].data)[1] = ((float *)in[1].data)[2] = ((float *)in[0].data)[3] = ((float *)in[1].data)[3] = NAN;
		snprintf(name, sizeof name, "f32_%s_nan", op_info[op].name);
		one_op(name, ir_proto(op), in, 2, 0);
	}
	static const char *const wh[][3] = { { "7", "7", "7" }, { "5,1", "1,6", "" }, { "1000", "1", "1000" },
		{ "3,1,4", "2,4", "3,2,1" } };
	for (int s = 0; s < 4; s++)
		for (int dt = 0; dt < DT_COUNT; dt++) {
			if (dt == DT_BF16) /* storage only: the IR refuses it to where (test_ir) */
				continue;
			Tensor in[3] = { trand(tp(DT_BOOL, wh[s][0]), 0, 1), trand(tp((DType)dt, wh[s][1]), -9, 9),
				trand(tp((DType)dt, wh[s][2]), -9, 9) };
			snprintf(name, sizeof name, "where_%s_[%s]_[%s]_[%s]", dtype_name((DType)dt), wh[s][0], wh[s][1], wh[s][2]);
			one_op(name, ir_proto(OP_WHERE), in, 3, 0);
		}
}

/* ---- sources ---- */

static void test_sources(void)
{
	char name[96];
	for (int s = 0; s < NSHAPES; s++)
		for (int dt = 0; dt < DT_COUNT; dt++) {
			Node p = ir_proto(OP_CONST);
			p.type = tp((DType)dt, shapes[s]);
			p.f = dt == DT_I32 ? -3e10 : -2.5;
			snprintf(name, sizeof name, "const_%s_[%s]", dtype_name((DType)dt), shapes[s]);
			one_op(name, p, NULL, 0, 0);
			p.op = OP_ARANGE;
			p.type = tp((DType)dt, shapes[s][0] && !strchr(shapes[s], ',') ? shapes[s] : "5");
			snprintf(name, sizeof name, "arange_%s_[%s]", dtype_name((DType)dt), shapes[s]);
			if (dt != DT_BOOL && dt != DT_BF16)
				one_op(name, p, NULL, 0, 0);
		}
	static const char *const tr[] = { "1,1", "7,33", "33,7", "5,5" };
	for (int s = 0; s < 4; s++)
		for (int k = -2; k <= 2; k += 2) {
			Node p = ir_proto(OP_TRIL);
			p.type = tp(s % 2 ? DT_BOOL : DT_F32, tr[s]);
			p.ia[0] = k;
			p.nia = 1;
			snprintf(name, sizeof name, "tril_[%s]_k%d", tr[s], k);
			one_op(name, p, NULL, 0, 0);
		}
	/* random streams: bit-exact in the draw, RANDN within libm's log/cos */
	for (int s = 0; s < NSHAPES; s++)
		for (int op = OP_RAND; op <= OP_RANDN; op++) {
			Node p = ir_proto((OpKind)op);
			p.type = tp(DT_F32, shapes[s]);
			p.ia[0] = 17 + s;
			p.nia = 1;
			snprintf(name, sizeof name, "%s_[%s]", op_info[op].name, shapes[s]);
			one_op(name, p, NULL, 0, 0);
		}
	static const double ps[] = { 0, 0.1, 0.5, 0.9 };
	for (int s = 0; s < NSHAPES; s++)
		for (int k = 0; k < 4; k++) {
			Node p = ir_proto(OP_DROPOUT);
			p.f = ps[k];
			p.ia[0] = 3;
			p.nia = 1;
			Tensor in = trand(tp(DT_F32, shapes[s]), -2, 2);
			snprintf(name, sizeof name, "dropout_p%g_[%s]", ps[k], shapes[s]);
			one_op(name, p, &in, 1, 0);
		}
}

/* ---- reductions ---- */

static void test_reductions(void)
{
	static const struct {
		const char *shape;
		int axes[3], n;
	} cases[] = {
		{ "1000", { 0 }, 1 }, { "7,33", { 0 }, 1 }, { "7,33", { 1 }, 1 }, { "7,33", { 0, 1 }, 2 },
		{ "3,4,5", { 0, 2 }, 2 }, { "3,4,5", { 1 }, 1 }, { "3,4,5", { 0, 1 }, 2 }, { "3,4,5", { 1, 2 }, 2 },
		{ "4,1,6", { 1 }, 1 }, { "2,3,1,5", { 0, 2 }, 2 }, { "1", { 0 }, 1 }, { "128,10", { 1 }, 1 },
		{ "", { 0 }, 0 }, { "0,3", { 0 }, 1 }, { "2,3,4,5", { 0, 2 }, 2 },
	};
	char name[96];
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
		for (OpKind op = OP_SUM; op <= OP_ARGMAX; op++)
			for (int dt = 0; dt < 3; dt++)
				for (int keep = 0; keep < 2; keep++) {
					if ((op == OP_ARGMAX && (cases[c].n != 1 || keep)) || (dt == DT_BOOL && op != OP_ARGMAX))
						continue;
					if (op == OP_ARGMAX && strchr(cases[c].shape, '0') && !strcmp(cases[c].shape, "0,3"))
						continue;
					/* few distinct values: ties for argmax; NaNs for float max/min */
					Tensor in = trand(tp((DType)dt, cases[c].shape), -3, 3);
					if (dt == DT_F32 && c % 3 == 2 && type_numel(&in.type) > 5)
						((float *)in.data)[5] = NAN;
					if (dt == DT_F32 && c % 3 == 1)
						for (int64_t i = 0; i < type_numel(&in.type); i++)
							((float *)in.data)[i] = roundf(((float *)in.data)[i]);
					Node p = ir_proto(op);
					for (int k = 0; k < cases[c].n; k++)
						p.ia[k] = cases[c].axes[k];
					p.nia = cases[c].n;
					p.keep = keep;
					snprintf(name, sizeof name, "%s_%s_[%s]_axes%d%d_keep%d", op_info[op].name,
						dtype_name((DType)dt), cases[c].shape, cases[c].axes[0],
						cases[c].n > 1 ? cases[c].axes[1] : -1, keep);
					one_op(name, p, &in, 1, op == OP_SUM && dt == DT_F32 ? 1e-5 : 0);
				}
}

/* ---- shape and data ops ---- */

static Node given(OpKind op, Type t)
{
	Node p = ir_proto(op);
	p.type = t;
	return p;
}

static void test_shape_ops(void)
{
	for (int dt = 0; dt < DT_COUNT; dt++) {
		if (dt == DT_BF16) /* storage only: the IR refuses it to shape ops (test_ir) */
			continue;
		char name[96];
#define CASE(label, node, ...) do { \
		Tensor in_[] = { __VA_ARGS__ }; \
		snprintf(name, sizeof name, "%s_%s", label, dtype_name((DType)dt)); \
		one_op(name, node, in_, sizeof in_ / sizeof *in_, 0); \
	} while (0)
		DType d = (DType)dt;
		CASE("reshape_7x33_to_33x7", given(OP_RESHAPE, tp(d, "33,7")), trand(tp(d, "7,33"), -9, 9));
		CASE("broadcast_3x1_to_2x3x4", given(OP_BROADCAST, tp(d, "2,3,4")), trand(tp(d, "3,1"), -9, 9));
		CASE("broadcast_scalar_to_1000", given(OP_BROADCAST, tp(d, "1000")), trand(tp(d, ""), -9, 9));
		CASE("broadcast_1x5_to_7x5", given(OP_BROADCAST, tp(d, "7,5")), trand(tp(d, "1,5"), -9, 9));
		CASE("transpose_33x7", attrs(OP_TRANSPOSE, 2, 1, 0), trand(tp(d, "33,7"), -9, 9));
		CASE("transpose_2x3x4_201", attrs(OP_TRANSPOSE, 3, 2, 0, 1), trand(tp(d, "2,3,4"), -9, 9));
		CASE("transpose_2x3x4x5_0213", attrs(OP_TRANSPOSE, 4, 0, 2, 1, 3), trand(tp(d, "2,3,4,5"), -9, 9));
		CASE("transpose_1x7_10", attrs(OP_TRANSPOSE, 2, 1, 0), trand(tp(d, "1,7"), -9, 9));
		CASE("concat_axis0", attrs(OP_CONCAT, 1, 0), trand(tp(d, "2,3"), -9, 9), trand(tp(d, "5,3"), -9, 9));
		CASE("concat_axis1_three", attrs(OP_CONCAT, 1, 1), trand(tp(d, "4,1,2"), -9, 9),
			trand(tp(d, "4,7,2"), -9, 9), trand(tp(d, "4,3,2"), -9, 9));
		CASE("concat_last_axis", attrs(OP_CONCAT, 1, 2), trand(tp(d, "2,3,5"), -9, 9), trand(tp(d, "2,3,1"), -9, 9));
		CASE("slice_steps", attrs(OP_SLICE, 6, 1, 7, 2, 0, 33, 5), trand(tp(d, "7,33"), -9, 9));
		CASE("slice_rank3", attrs(OP_SLICE, 9, 0, 2, 1, 1, 3, 1, 4, 5, 1), trand(tp(d, "2,3,5"), -9, 9));
		CASE("slice_empty", attrs(OP_SLICE, 3, 4, 4, 1), trand(tp(d, "7"), -9, 9));
		Node un = attrs(OP_UNSLICE, 6, 1, 7, 2, 0, 33, 5);
		un.type = tp(d, "7,33");
		CASE("unslice_steps", un, trand(tp(d, "3,7"), -9, 9));
		Node oh = given(OP_ONE_HOT, tp(d, "33,10"));
		/* indices outside the classes stop the run: test_index.c */
		CASE("one_hot", oh, trand(tp(DT_I32, "33"), 0, 9));
		Node oh2 = given(OP_ONE_HOT, tp(d, "4,5,7"));
		CASE("one_hot_rank2", oh2, trand(tp(DT_I32, "4,5"), 0, 6));
		CASE("take_rows", ir_proto(OP_TAKE), trand(tp(d, "10,7"), -9, 9), trand(tp(DT_I32, "4,3"), 0, 9));
		CASE("take_rank1_table", ir_proto(OP_TAKE), trand(tp(d, "1000"), -9, 9), trand(tp(DT_I32, "33"), 0, 999));
		CASE("take_scalar_index", ir_proto(OP_TAKE), trand(tp(d, "5,2,3"), -9, 9), trand(tp(DT_I32, ""), 0, 4));
#undef CASE
	}
	Tensor sc[2] = { trand(tp(DT_I32, "33"), 0, 9), trand(tp(DT_F32, "33,7"), -2, 2) };
	one_op("scatter_rows_repeated_indices", given(OP_SCATTER_ROWS, tp(DT_F32, "10,7")), sc, 2, 1e-6);
	Tensor sc1[2] = { trand(tp(DT_I32, "4,3"), 0, 4), trand(tp(DT_F32, "4,3"), -2, 2) };
	one_op("scatter_rows_rank1_table", given(OP_SCATTER_ROWS, tp(DT_F32, "5")), sc1, 2, 1e-6);
	/* pack: odd sizes, so every operand but the last is followed by padding */
	Tensor pk[4] = { trand(tp(DT_F32, "1"), -9, 9), trand(tp(DT_F32, "7,33"), -9, 9), trand(tp(DT_F32, ""), -9, 9),
		trand(tp(DT_F32, "1000"), -9, 9) };
	one_op("pack_1_7x33_scalar_1000", ir_proto(OP_PACK), pk, 4, 0);
}

static void test_matmul(void)
{
	static const struct {
		const char *a, *b;
		int ta, tb;
	} cases[] = {
		{ "7,33", "33,5", 0, 0 }, { "33,7", "33,5", 1, 0 }, { "7,33", "5,33", 0, 1 }, { "33,7", "5,33", 1, 1 },
		{ "1,1", "1,1", 0, 0 }, { "3,4,5", "5,6", 0, 0 }, { "3,4,5", "3,5,6", 0, 0 }, { "3,5,4", "5,6", 1, 0 },
		{ "2,1,4,5", "3,5,6", 0, 0 }, { "4,5", "3,5,6", 0, 0 }, { "2,3,4,5", "2,3,6,5", 0, 1 },
		{ "4,0", "0,3", 0, 0 }, { "128,784", "784,256", 0, 0 },
	};
	char name[96];
	/* the interpreter's OpenBLAS products (rt_sgemm) in the JIT too, so 1e-5 relative holds
	   even where a result cancels; sinter's own GEMM in regions, with a
	   K-scaled bound: test_matmul.c */
	flush();
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_OPENBLAS });
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Tensor in[2] = { trand(tp(DT_F32, cases[c].a), -1, 1), trand(tp(DT_F32, cases[c].b), -1, 1) };
		snprintf(name, sizeof name, "matmul_[%s]%s_[%s]%s", cases[c].a, cases[c].ta ? "T" : "", cases[c].b,
			cases[c].tb ? "T" : "");
		one_op(name, attrs(OP_MATMUL, 2, cases[c].ta, cases[c].tb), in, 2, 1e-5);
	}
	flush();
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO });
}

/* ---- slots and deferred writes ---- */

static void test_writes(void)
{
	Region *r = region();
	Type t = tp(DT_F32, "7,5");
	int a = ir_param(r, "a", t), b = ir_param(r, "b", t), m = ir_state(r, "a", "m", t);
	int x = ir_input(r, 0, t);
	int s = ir_op2(r, OP_ADD, a, x);
	int args[2] = { a, b };
	/* a swap: each write must read the other slot's old value */
	emit(r, ir_proto(OP_WRITE), (int[]){ a, b }, 2);
	emit(r, ir_proto(OP_WRITE), (int[]){ b, a }, 2);
	emit(r, ir_proto(OP_WRITE), (int[]){ m, ir_op2(r, OP_MUL, m, s) }, 2);
	(void)args;
	/* outputs: a slot (old value), a reshaped slot, a computed value twice */
	ir_output(r, a);
	ir_output(r, ir_reshape(r, m, tp(DT_F32, "35")));
	ir_output(r, s);
	ir_output(r, s);
	Mem *mem = xcalloc(1, sizeof *mem);
	mem_fill(mem, r);
	Tensor in = trand(t, -1, 1);
	diff_run("writes_swap_and_outputs_see_old_values", r, &in, 1, mem, 0);
	free(in.data);
	mem_free(mem);
	arena_free(r->arena);
}

/* ---- pooling ---- */

static int64_t irand(int64_t lo, int64_t hi) /* lo .. hi */
{
	return lo + (int64_t)(urand() * (double)(hi - lo + 1));
}

/*
 * 120 random windows over random NCHW shapes (odd sizes, strides above
 * and below the kernel, padding up to half the kernel), each through all
 * four pooling ops, bit for bit: both paths visit windows and their
 * elements in the same order.  Inputs are small integers, so windows hold
 * ties (the first maximum must win on both paths), and every third case
 * holds a NaN.
 */
static void pool_case(int c, int64_t n, int64_t ch, int64_t h, int64_t w, const int64_t win[6])
{
	char name[96];
	Node p = ir_proto(OP_MAX_POOL);
	memcpy(p.ia, win, 6 * sizeof *win);
	p.nia = 6;
	Type xt = type_make(DT_F32, 4, (int64_t[]){ n, ch, h, w });
	Region *r = region();
	int o = emit(r, p, (int[]){ ir_input(r, 0, xt) }, 1);
	Type yt = r->node[o].type;
	arena_free(r->arena);
	Tensor x[4], gy[2];
	for (int k = 0; k < 4; k++) {
		x[k] = trand(xt, -4, 4);
		for (int64_t i = 0; i < type_numel(&xt); i++)
			((float *)x[k].data)[i] = floorf(((float *)x[k].data)[i]);
		if (c % 3 == 0)
			((float *)x[k].data)[irand(0, type_numel(&xt) - 1)] = NAN;
	}
	gy[0] = trand(yt, -1, 1);
	gy[1] = trand(yt, -1, 1);
	const char *shape = type_str(&xt, (char[96]){ 0 }, 96);
	snprintf(name, sizeof name, "max_pool_%d_%s_w%lld,%lld,%lld,%lld,%lld,%lld", c, shape, (long long)win[0],
		(long long)win[1], (long long)win[2], (long long)win[3], (long long)win[4], (long long)win[5]);
	one_op(name, p, &x[0], 1, 0);
	p.op = OP_AVG_POOL;
	name[0] = 'a', name[1] = 'v', name[2] = 'g';
	one_op(name, p, &x[1], 1, 0);
	p.op = OP_MAX_POOL_GRAD;
	snprintf(name, sizeof name, "max_pool_grad_%d_%s", c, shape);
	one_op(name, p, (Tensor[]){ x[2], gy[0] }, 2, 0);
	p.op = OP_AVG_POOL_GRAD;
	p.type = xt;
	snprintf(name, sizeof name, "avg_pool_grad_%d_%s", c, shape);
	one_op(name, p, &gy[1], 1, 0);
	free(x[3].data);
}

/* Windows that tile the plane (no padding, stride = kernel), which
   codegen/pool.c unrolls and whose max_pool_grad writes each window once
   instead of adding into a zeroed dx: planes that the windows cover
   exactly and ones with rows or columns left over, which stay 0. */
static const int64_t pool_tiles[][10] = {
	/* n, c, h, w, kh, kw, sh, sw, ph, pw */
	{ 2, 3, 28, 28, 2, 2, 2, 2, 0, 0 }, { 2, 2, 10, 10, 2, 2, 2, 2, 0, 0 }, { 3, 2, 9, 11, 2, 2, 2, 2, 0, 0 },
	{ 1, 3, 9, 12, 3, 3, 3, 3, 0, 0 }, { 2, 2, 11, 10, 3, 2, 3, 2, 0, 0 }, { 1, 2, 5, 7, 1, 1, 1, 1, 0, 0 },
	{ 1, 1, 10, 10, 5, 5, 5, 5, 0, 0 }, { 2, 1, 13, 8, 4, 4, 4, 4, 0, 0 },
};

/* Rows wider than a vector of the vector walk (codegen/pool.c,
   pool_vector: 16 output columns, fewer for wide strides): several
   vectors a row and a masked last one, windows that overlap, that skip
   columns, wider than their stride, and tiling ones of 2 to 9 columns,
   whose gradient is spread back into the row by a shuffle. */
static const int64_t pool_rows[][10] = {
	/* n, c, h, w, kh, kw, sh, sw, ph, pw */
	{ 2, 3, 6, 66, 2, 2, 2, 2, 0, 0 }, { 1, 2, 5, 64, 2, 2, 2, 2, 0, 0 }, { 1, 2, 7, 35, 3, 3, 2, 2, 0, 0 },
	{ 2, 1, 4, 50, 3, 3, 1, 1, 0, 0 }, { 1, 2, 5, 83, 1, 5, 1, 5, 0, 0 }, { 1, 1, 9, 73, 3, 9, 3, 9, 0, 0 },
	{ 1, 2, 8, 47, 4, 4, 3, 3, 0, 0 }, { 1, 1, 3, 70, 1, 1, 1, 4, 0, 0 }, { 2, 2, 6, 52, 3, 3, 3, 3, 0, 0 },
	{ 1, 1, 5, 97, 5, 5, 5, 5, 0, 0 }, { 1, 2, 4, 34, 2, 5, 2, 1, 0, 0 }, { 1, 1, 4, 61, 1, 3, 1, 6, 0, 0 },
};

static void test_pool(void)
{
	for (int c = 0; c < 120; c++) {
		int64_t n = irand(1, 3), ch = irand(1, 4), h = irand(1, 13), w = irand(1, 13), win[6];
		win[0] = irand(1, 5), win[1] = irand(1, 5);
		win[4] = irand(0, win[0] / 2), win[5] = irand(0, win[1] / 2);
		win[0] = win[0] - 2 * win[4] > h ? h + 2 * win[4] : win[0];
		win[1] = win[1] - 2 * win[5] > w ? w + 2 * win[5] : win[1];
		win[2] = irand(1, 3), win[3] = irand(1, 3);
		pool_case(c, n, ch, h, w, win);
	}
	for (size_t t = 0; t < sizeof pool_tiles / sizeof pool_tiles[0]; t++) {
		const int64_t *q = pool_tiles[t];
		pool_case(120 + (int)t, q[0], q[1], q[2], q[3], q + 4);
	}
	for (size_t t = 0; t < sizeof pool_rows / sizeof pool_rows[0]; t++) {
		const int64_t *q = pool_rows[t];
		pool_case(140 + (int)t, q[0], q[1], q[2], q[3], q + 4);
	}
	flush();
}

int main(void)
{
	return jit_run((const CheckTest[]){ test_unary, test_binary, test_sources, test_reductions, test_shape_ops,
		test_matmul, flush, test_pool, test_writes, NULL });
}
