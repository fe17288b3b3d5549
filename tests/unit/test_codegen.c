/*
 * test_codegen.c — differential tests of the LLVM code generator: every op
 * of ops.def (except GRAD, which must never reach codegen) runs through the
 * reference interpreter and through the JIT on the same random inputs and
 * the same store, on shapes with broadcasting and odd sizes; then gradient
 * regions built by autodiff, and the MLP training step of examples/mlp.sn
 * (tests/unit/mlp_step.ir).  Outputs and every slot after the WRITEs must
 * agree: bit for bit for integer, bool and data-movement ops, to a relative
 * 1e-5 for float arithmetic.
 */
#include "codegen/codegen.h"
#include "ir/ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int nfail;
static CgModule *jit;

static void check(bool ok, const char *name, const char *fmt, ...)
{
	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL %s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	nfail++;
}

/* ---- tensors ---- */

/* "7,33" -> f32[7,33]; "" is a scalar */
static Type tp(DType dt, const char *dims)
{
	int64_t d[MAX_RANK];
	int n = 0;
	for (const char *p = dims; *p; p++) {
		d[n++] = strtoll(p, (char **)&p, 10);
		if (!*p)
			break;
	}
	return type_make(dt, n, d);
}

static uint64_t rng = 2024;

static double urand(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* f32 in [lo, hi), i32 in [lo, hi], bool 0/1 */
static Tensor trand(Type t, double lo, double hi)
{
	Tensor x = { t, xcalloc((size_t)type_numel(&t) + 1, dtype_size(t.dt)) };
	for (int64_t i = 0; i < type_numel(&t); i++) {
		double u = urand();
		if (t.dt == DT_F32)
			((float *)x.data)[i] = (float)(lo + (hi - lo) * u);
		else if (t.dt == DT_I32)
			((int32_t *)x.data)[i] = (int32_t)floor(lo + (hi - lo + 1) * u);
		else
			((uint8_t *)x.data)[i] = u < 0.5;
	}
	return x;
}

/* ---- a store of named slots ---- */

typedef struct {
	char name[64], state[32];
	Tensor t;
} Slot;

typedef struct {
	Slot s[64];
	int n;
} Mem;

static Tensor *lookup(Store *s, const char *name, const char *state)
{
	Mem *m = s->ctx;
	for (int i = 0; i < m->n; i++)
		if (!strcmp(m->s[i].name, name) && !strcmp(m->s[i].state, state ? state : ""))
			return &m->s[i].t;
	return NULL;
}

/* Gives every PARAM/STATE node of r a random slot (one per distinct name). */
static void mem_fill(Mem *m, const Region *r)
{
	Store s = { m, lookup, 0, 0 };
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		const char *state = nd->op == OP_STATE ? nd->sname : NULL;
		if ((nd->op != OP_PARAM && nd->op != OP_STATE) || lookup(&s, nd->name, state))
			continue;
		Slot *sl = &m->s[m->n++];
		snprintf(sl->name, sizeof sl->name, "%s", nd->name);
		snprintf(sl->state, sizeof sl->state, "%s", state ? state : "");
		sl->t = trand(nd->type, nd->type.dt == DT_I32 ? -20 : 0.1, nd->type.dt == DT_I32 ? 20 : 1);
	}
}

static Mem *mem_clone(const Mem *m)
{
	Mem *c = xmalloc(sizeof *c);
	*c = *m;
	for (int i = 0; i < m->n; i++) {
		size_t b = (size_t)type_numel(&m->s[i].t.type) * dtype_size(m->s[i].t.type.dt);
		c->s[i].t.data = memcpy(xmalloc(b + 1), m->s[i].t.data, b);
	}
	return c;
}

static void mem_free(Mem *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->s[i].t.data);
	free(m);
}

/* ---- comparing ---- */

/* First element where a and b differ beyond tol (0: bit-exact), or -1. */
static int64_t differ(const Tensor *a, const Tensor *b, double tol, double *ga, double *gb)
{
	int64_t n = type_numel(&a->type);
	for (int64_t i = 0; i < n; i++) {
		double x, y;
		if (a->type.dt == DT_F32) {
			x = ((float *)a->data)[i];
			y = ((float *)b->data)[i];
		} else if (a->type.dt == DT_I32) {
			x = ((int32_t *)a->data)[i];
			y = ((int32_t *)b->data)[i];
		} else {
			x = ((uint8_t *)a->data)[i];
			y = ((uint8_t *)b->data)[i];
		}
		bool same = x == y || (x != x && y != y);
		if (!same && !(tol > 0 && fabs(x - y) <= tol * fabs(y))) {
			*ga = x;
			*gb = y;
			return i;
		}
	}
	return -1;
}

static Store store_of(Mem *m, uint64_t seed, uint64_t step)
{
	return (Store){ m, lookup, seed, step };
}

/*
 * Runs r through the interpreter and the JIT (inputs in[0..nin), slots from
 * mem, which is left unchanged) and compares outputs and slots afterwards.
 */
static void diff_run(const char *name, const Region *r, Tensor *in, int nin, Mem *mem, double tol)
{
	char err[512];
	Mem *m1 = mem_clone(mem), *m2 = mem_clone(mem);
	Tensor *ptr[32], o1[16], o2[16];
	for (int i = 0; i < nin; i++)
		ptr[i] = &in[i];
	Store s1 = store_of(m1, 42, 3), s2 = store_of(m2, 42, 3);
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	if (!cr) {
		check(false, name, "cg_compile: %s", err);
		mem_free(m1);
		mem_free(m2);
		return;
	}
	interp_run(r, &s1, ptr, o1);
	cg_run(cr, &s2, ptr, o2);
	char msg[300] = "";
	double x = 0, y = 0;
	for (int k = 0; k < r->nout && !*msg; k++) {
		int64_t i = differ(&o2[k], &o1[k], tol, &x, &y);
		if (!type_eq(&o1[k].type, &o2[k].type))
			snprintf(msg, sizeof msg, "output %d has another type", k);
		else if (i >= 0)
			snprintf(msg, sizeof msg, "output %d element %lld: jit %.9g, interp %.9g", k, (long long)i, x, y);
	}
	for (int k = 0; k < m1->n && !*msg; k++) {
		int64_t i = differ(&m2->s[k].t, &m1->s[k].t, tol, &x, &y);
		if (i >= 0)
			snprintf(msg, sizeof msg, "slot %s%s element %lld: jit %.9g, interp %.9g", m1->s[k].name,
				m1->s[k].state, (long long)i, x, y);
	}
	check(!*msg, name, "%s", msg);
	for (int k = 0; k < r->nout; k++) {
		free(o1[k].data);
		free(o2[k].data);
	}
	mem_free(m1);
	mem_free(m2);
}

static Region *region(void)
{
	return ir_region_new(arena_new(), "t");
}

static int emit(Region *r, Node p, const int *args, int nargs)
{
	char err[300];
	int v = ir_emit(r, &p, args, nargs, err, sizeof err);
	if (v < 0)
		die("test: %s", err);
	return v;
}

/* One region: inputs in[0..nin) feed node `build`'s operands; output = that node. */
static void one_op(const char *name, Node p, Tensor *in, int nin, double tol)
{
	Region *r = region();
	int args[8];
	for (int i = 0; i < nin; i++)
		args[i] = ir_input(r, i, in[i].type);
	ir_output(r, emit(r, p, args, nin));
	Mem *m = xcalloc(1, sizeof *m);
	diff_run(name, r, in, nin, m, tol);
	free(m);
	for (int i = 0; i < nin; i++)
		free(in[i].data);
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
	/* casts between every pair of element types, with values that saturate and NaN */
	for (int from = 0; from < DT_COUNT; from++)
		for (int to = 0; to < DT_COUNT; to++) {
			Tensor in = trand(tp((DType)from, "33"), from == DT_F32 ? -5e9 : -3, from == DT_F32 ? 5e9 : 3);
			if (from == DT_F32) {
				((float *)in.data)[0] = NAN;
				((float *)in.data)[1] = -2.7f;
				((float *)in.data)[2] = 0;
			}
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
			if (dt != DT_BOOL)
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

static Node attrs(OpKind op, int n, ...)
{
	Node p = ir_proto(op);
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		p.ia[i] = va_arg(ap, int);
	va_end(ap);
	p.nia = n;
	return p;
}

static void test_shape_ops(void)
{
	for (int dt = 0; dt < DT_COUNT; dt++) {
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
		CASE("one_hot_with_out_of_range", oh, trand(tp(DT_I32, "33"), -2, 11));
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
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Tensor in[2] = { trand(tp(DT_F32, cases[c].a), -1, 1), trand(tp(DT_F32, cases[c].b), -1, 1) };
		snprintf(name, sizeof name, "matmul_[%s]%s_[%s]%s", cases[c].a, cases[c].ta ? "T" : "", cases[c].b,
			cases[c].tb ? "T" : "");
		one_op(name, attrs(OP_MATMUL, 2, cases[c].ta, cases[c].tb), in, 2, 1e-5);
	}
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
	free(mem);
}

/* ---- gradients through autodiff ---- */

typedef int Builder(Region *r, int x, int w);

static int g_matmul(Region *r, int x, int w)
{
	int y = ir_op1(r, OP_TANH, ir_matmul(r, x, w, false, false));
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, y, y), (int[]){ 0, 1 }, 2, false);
}

/* softmax cross-entropy against class 0, as the stdlib writes it */
static int g_softmax(Region *r, int x, int w)
{
	int z = ir_matmul(r, x, w, false, true);
	int mx = ir_op1(r, OP_STOP_GRADIENT, ir_reduce(r, OP_MAX, z, (int[]){ 1 }, 1, true));
	int e = ir_op1(r, OP_EXP, ir_op2(r, OP_SUB, z, mx));
	int lse = ir_op1(r, OP_LOG, ir_reduce(r, OP_SUM, e, (int[]){ 1 }, 1, true));
	int sl = ir_op2(r, OP_SUB, ir_op2(r, OP_SUB, z, mx), lse);
	int lab = ir_const(r, tp(DT_I32, "7"), 0);
	Node oh = ir_proto(OP_ONE_HOT);
	oh.type = r->node[sl].type;
	int hot = emit(r, oh, &lab, 1);
	return ir_op1(r, OP_NEG, ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, sl, hot), (int[]){ 0, 1 }, 2, false));
}

static int g_reduce(Region *r, int x, int w)
{
	int y = ir_op2(r, OP_MUL, x, ir_broadcast(r, ir_reduce(r, OP_MAX, w, (int[]){ 0 }, 1, false), r->node[x].type));
	int s = ir_op1(r, OP_SIGMOID, ir_reduce(r, OP_SUM, y, (int[]){ 1 }, 1, true));
	int m = ir_reduce(r, OP_MIN, ir_op2(r, OP_DIV, s, ir_op1(r, OP_EXP, w)), (int[]){ 0 }, 1, false);
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_POW, ir_op1(r, OP_ABS, m), ir_const(r, tp(DT_F32, ""), 1.5)),
		(int[]){ 0 }, 1, false);
}

static int g_take(Region *r, int x, int w)
{
	int idx = ir_cast(r, ir_op2(r, OP_MOD, ir_cast(r, ir_reduce(r, OP_ARGMAX, x, (int[]){ 1 }, 1, false), DT_I32),
		ir_const(r, tp(DT_I32, ""), 7)), DT_I32);
	int rows = emit(r, ir_proto(OP_TAKE), (int[]){ w, idx }, 2);
	int sl = emit(r, attrs(OP_SLICE, 6, 0, 7, 2, 0, 5, 1), &rows, 1);
	Node dp = ir_proto(OP_DROPOUT);
	dp.f = 0.25;
	dp.nia = 1;
	dp.ia[0] = 9;
	int d = emit(r, dp, &sl, 1);
	int t = ir_transpose(r, ir_op1(r, OP_ERF, d), (int[]){ 1, 0 });
	return ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, t, t), (int[]){ 0, 1 }, 2, false);
}

static void test_gradients(void)
{
	static const struct {
		const char *name;
		Builder *fn;
		const char *x, *w;
	} cases[] = {
		{ "grad_matmul_tanh", g_matmul, "7,33", "33,5" },
		{ "grad_softmax_cross_entropy", g_softmax, "7,33", "10,33" },
		{ "grad_reductions", g_reduce, "7,5", "7,5" },
		{ "grad_take_slice_dropout", g_take, "7,5", "7,5" },
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Region *r = region();
		int x = ir_input(r, 0, tp(DT_F32, cases[c].x));
		int w = ir_param(r, "w", tp(DT_F32, cases[c].w));
		int loss = cases[c].fn(r, x, w);
		int gw = ir_op2(r, OP_GRAD, loss, w), gx = ir_op2(r, OP_GRAD, loss, x);
		/* an SGD step writes the parameter, as minimize does */
		emit(r, ir_proto(OP_WRITE), (int[]){ w, ir_op2(r, OP_SUB, w, ir_op2(r, OP_MUL, gw,
			ir_const(r, tp(DT_F32, ""), 0.1))) }, 2);
		ir_output(r, loss);
		ir_output(r, gx);
		ir_output(r, gw);
		ad_run(r);
		char err[256];
		if (!ir_verify(r, err, sizeof err))
			die("test: %s does not verify: %s", cases[c].name, err);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		Tensor in = trand(r->node[x].type, -1, 1);
		diff_run(cases[c].name, r, &in, 1, mem, 1e-5);
		free(in.data);
		free(mem);
	}
}

/* ---- the MLP training step and evaluation of examples/mlp.sn ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = xmalloc((size_t)n + 1);
	s[fread(s, 1, (size_t)n, f)] = 0;
	fclose(f);
	return s;
}

static void test_mlp(void)
{
	const char *path = "tests/unit/mlp_step.ir";
	char *text = slurp(path), err[512];
	Region **rs;
	Arena *a = arena_new();
	int n = text ? ir_parse(a, text, path, &rs, err, sizeof err) : -1;
	check(n == 2, "mlp_fixture_parses", "%s", text ? err : "cannot read tests/unit/mlp_step.ir");
	for (int k = 0; k < n; k++) {
		const Region *r = rs[k];
		Tensor in[32];
		for (int v = 0; v < r->nnode; v++) {
			const Node *nd = &r->node[v];
			if (nd->op != OP_INPUT)
				continue;
			/* pixels in [0,1), labels 0..9, positive hyperparameters */
			bool batch = nd->type.rank > 0;
			in[nd->ia[0]] = trand(nd->type, batch ? 0 : 0.5, nd->type.dt == DT_I32 ? 9 : batch ? 1 : 1.5);
		}
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		char name[64];
		snprintf(name, sizeof name, "mlp_region_%s", r->name);
		diff_run(name, r, in, r->ninput, mem, 1e-5);
		CgRegion *cr = cg_compile(jit, r, err, sizeof err);
		printf("PASS %s_compile_time %.1f ms, scratch %zu bytes\n", r->name, cr ? cr->ms : -1, cr ? cr->scratch : 0);
		char *ll = cg_llvm_text(r, err, sizeof err);
		check(ll && strstr(ll, "define") && strstr(ll, "cblas_sgemm") && strstr(ll, "x float>"),
			"llvm_text_is_vectorized_ir", "%s", ll ? "no vector code or no sgemm call" : err);
		free(ll);
		for (int i = 0; i < r->ninput; i++)
			free(in[i].data);
		free(mem);
	}
	free(text);
	arena_free(a);
}

/* grad must never reach codegen: an internal error, in a child process */
static void test_grad_dies(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		Region *r = region();
		int w = ir_param(r, "w", tp(DT_F32, "3"));
		int l = ir_reduce(r, OP_SUM, w, (int[]){ 0 }, 1, false);
		ir_output(r, ir_op2(r, OP_GRAD, l, w));
		char err[256];
		cg_compile(jit, r, err, sizeof err);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	check(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "grad_node_is_an_internal_error", "cg_compile accepted a grad node");
}

int main(void)
{
	char err[512];
	jit = cg_jit_new(err, sizeof err);
	check(jit != NULL, "jit_new", "%s", err);
	if (!jit)
		return 1;
	test_unary();
	test_binary();
	test_sources();
	test_reductions();
	test_shape_ops();
	test_matmul();
	test_writes();
	test_gradients();
	test_mlp();
	test_grad_dies();
	cg_jit_free(jit);
	return nfail != 0;
}
