/*
 * test_optable.c — walks the op table (ir/ops.def) and fails when a row
 * lacks something a stage needs, so that "adding an op means one row plus
 * its functions" stays true:
 *   - every row: a unique text name (the parser finds ops by it), an arity
 *     that fits its flags, all three hooks, only known flags, and the flag
 *     implications the passes rely on (a map is a loop op, an accumulating
 *     reduction is a reduction, ...); a gradient rule exactly when the op
 *     carries a gradient;
 *   - every elementwise op: an element function in ir/opsem.h for some
 *     element type (and no element function for an op that is not one);
 *     F_COMMUTE set exactly on the ops whose element function is symmetric;
 *   - the interpreter's kernel of every (op, element type) that has an
 *     element function computes exactly that function, and the generated
 *     code agrees with the interpreter (bit for bit, or within float
 *     rounding for math-library functions): the table, not a hand-written
 *     list, says which ops the differential test covers;
 *   - an F_ALIAS op leaves its operand's bytes unchanged, and an F_MAP op
 *     computed over its operand's buffer gives the same result (what
 *     memplan's in-place reuse assumes).
 * The attribute schema (attrs) and F_GIVEN are checked on a sample of every
 * op in test_opattrs.c.
 */
#include "codegen/codegen.h"
#include "host/run.h"
#include "ir/ops.h"
#include "ir/opsem.h"
#include "tests/unit/check.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { N = 64 }; /* elements per test vector */

static const unsigned KNOWN = F_UNARY | F_BINARY | F_REDUCE | F_EFFECT | F_NOGRAD | F_SOURCE | F_MAP | F_LOOP |
	F_ALIAS | F_ACCUM | F_RANDOM | F_COMMUTE | F_GIVEN | F_BF16;

static bool has(int op, unsigned f)
{
	return (op_info[op].flags & f) != 0;
}

/* ---- the rows ---- */

static void test_rows(void)
{
	char name[96];
	for (int op = 0; op < OP_COUNT; op++) {
		const OpInfo *o = &op_info[op];
		const char *nm = o->name ? o->name : "";
		bool ok = islower((unsigned char)*nm); /* digits after the first letter: conv2d */
		for (const char *p = nm; *p; p++)
			ok &= islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_';
		for (int q = 0; q < op; q++)
			ok &= strcmp(op_info[q].name, nm) != 0;
		snprintf(name, sizeof name, "row_%d_name_%s", op, nm);
		check(ok, name, "empty, not a lower-case word (digits after its first letter), or used twice");

		snprintf(name, sizeof name, "row_%s_hooks", nm);
		check(op_shape[op] && op_grad[op] && op_interp[op], name, "a hook is missing");

		snprintf(name, sizeof name, "row_%s_known_flags", nm);
		check(!(o->flags & ~KNOWN), name, "flags %#x has bits no stage knows", o->flags);

		const char *bad = NULL;
		if (has(op, F_SOURCE) != (o->arity == 0))
			bad = "F_SOURCE exactly on the ops without operands";
		else if (has(op, F_UNARY | F_REDUCE | F_ALIAS) && o->arity != 1)
			bad = "F_UNARY, F_REDUCE and F_ALIAS ops take one operand";
		else if (has(op, F_BINARY) && o->arity != 2)
			bad = "F_BINARY ops take two operands";
		else if (has(op, F_UNARY) && has(op, F_BINARY))
			bad = "F_UNARY and F_BINARY together";
		else if (has(op, F_UNARY | F_BINARY) && !has(op, F_MAP))
			bad = "an F_UNARY or F_BINARY op is elementwise: F_MAP";
		else if (has(op, F_MAP) && !has(op, F_LOOP))
			bad = "an F_MAP op is computed in a loop nest: F_LOOP";
		else if (has(op, F_LOOP) && !has(op, F_MAP) && !has(op, F_GIVEN))
			bad = "an F_LOOP op that is no F_MAP only moves data (broadcast, reshape): it is F_MAP";
		else if (has(op, F_LOOP) && has(op, F_SOURCE | F_REDUCE | F_EFFECT))
			bad = "F_LOOP with F_SOURCE, F_REDUCE or F_EFFECT";
		else if (op_interp[op] == ik_copy && !has(op, F_ALIAS))
			bad = "an op whose kernel copies its operand is F_ALIAS (it may share the buffer)";
		else if (has(op, F_ACCUM) && !has(op, F_REDUCE))
			bad = "F_ACCUM without F_REDUCE";
		else if (has(op, F_COMMUTE) && !has(op, F_BINARY))
			bad = "F_COMMUTE on an op that is not F_BINARY";
		else if (has(op, F_RANDOM) && !has(op, F_SOURCE | F_MAP))
			bad = "F_RANDOM on an op that is neither a source nor a map";
		else if (has(op, F_NOGRAD) && op_grad[op] != gr_none)
			bad = "F_NOGRAD with a gradient rule";
		else if (!has(op, F_NOGRAD | F_SOURCE) && op_grad[op] == gr_none)
			bad = "an op carrying a gradient needs a rule (or F_NOGRAD)";
		snprintf(name, sizeof name, "row_%s_flags", nm);
		check(!bad, name, "%s", bad ? bad : "");
	}
}

/* ---- element functions ---- */

static bool sem_any_unary(int op)
{
	float f;
	int32_t i;
	uint8_t b;
	return sem_f32_unary((OpKind)op, 1, &f) || sem_i32_unary((OpKind)op, 1, &i) || sem_bool_unary((OpKind)op, 1, &b);
}

static bool sem_any_binary(int op)
{
	float f;
	int32_t i;
	uint8_t b;
	return sem_compare((OpKind)op, 1, 2, &b) || sem_f32_binary((OpKind)op, 1, 2, &f) ||
		sem_i32_binary((OpKind)op, 1, 2, &i) || sem_bool_binary((OpKind)op, 1, 0, &b);
}

/* Test vectors of each element type: special values first, then random ones. */
static float fa[N], fb[N];
static int32_t ia[N], ib[N];
static uint8_t ba[N], bb[N];

static void fill_vectors(void)
{
	static const float fs[] = { NAN, -0.0f, 0.0f, 1, -1, 2, 0.5f, -2.5f, 3, 1e-3f };
	static const int32_t is[] = { INT32_MIN, INT32_MAX, -1, 0, 1, 7, -7, 3, 0, -40 };
	for (int i = 0; i < N; i++) {
		fa[i] = i < 10 ? fs[i] : (float)(urand() * 8 - 4);
		fb[i] = i < 10 ? fs[(i + 3) % 10] : (float)(urand() * 8 - 4);
		ia[i] = i < 10 ? is[i] : (int32_t)(urand() * 4e9 - 2e9);
		ib[i] = i < 10 ? is[(i + 2) % 10] : (int32_t)(urand() * 81 - 40);
		ba[i] = i % 2;
		bb[i] = i / 2 % 2;
	}
}

/* Bit for bit (so -0 is not 0), any NaN matching any NaN. */
static bool same_f(double x, double y)
{
	return !memcmp(&x, &y, sizeof x) || (x != x && y != y);
}

/* Equal as values: -0 == 0 (maximum(-0, 0) takes its first operand). */
static bool same_v(double x, double y)
{
	return x == y || (x != x && y != y);
}

/* Does op(a, b) == op(b, a) hold on every test pair of every element type it has? */
static bool symmetric(int op)
{
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j += 7) {
			float f1, f2;
			int32_t i1, i2;
			uint8_t b1, b2;
			if (sem_f32_binary((OpKind)op, fa[i], fa[j], &f1) && (sem_f32_binary((OpKind)op, fa[j], fa[i], &f2), !same_v(f1, f2)))
				return false;
			if (sem_i32_binary((OpKind)op, ia[i], ia[j], &i1) && (sem_i32_binary((OpKind)op, ia[j], ia[i], &i2), i1 != i2))
				return false;
			if (sem_bool_binary((OpKind)op, ba[i], bb[j], &b1) && (sem_bool_binary((OpKind)op, bb[j], ba[i], &b2), b1 != b2))
				return false;
			if (sem_compare((OpKind)op, fa[i], fa[j], &b1) && (sem_compare((OpKind)op, fa[j], fa[i], &b2), b1 != b2))
				return false;
		}
	return true;
}

static void test_semantics(void)
{
	char name[96];
	for (int op = 0; op < OP_COUNT; op++) {
		const char *nm = op_info[op].name;
		bool un = sem_any_unary(op), bin = sem_any_binary(op);
		snprintf(name, sizeof name, "sem_%s", nm);
		if (has(op, F_UNARY) && !has(op, F_ALIAS))
			check(un && !bin, name, "an F_UNARY op needs a one-operand element function in ir/opsem.h");
		else if (has(op, F_BINARY))
			check(bin && !un, name, "an F_BINARY op needs a two-operand element function in ir/opsem.h");
		else
			check(!un && !bin, name, "an element function for an op that is not F_UNARY/F_BINARY");
		if (has(op, F_BINARY)) {
			snprintf(name, sizeof name, "commute_%s", nm);
			check(has(op, F_COMMUTE) == symmetric(op), name, "F_COMMUTE is %s but the element function is %s",
				has(op, F_COMMUTE) ? "set" : "not set", symmetric(op) ? "symmetric" : "not symmetric");
		}
	}
}

/* ---- the interpreter and the generated code against the element functions ---- */

static Tensor vec(DType dt, const void *data)
{
	int64_t n = N;
	Tensor t = { type_make(dt, 1, &n), xmalloc(N * dtype_size(dt)) };
	memcpy(t.data, data, N * dtype_size(dt));
	return t;
}

/* Element i of t as a double. */
static double elem(const Tensor *t, int i)
{
	switch (t->type.dt) {
	case DT_F32: return ((float *)t->data)[i];
	case DT_I32: return ((int32_t *)t->data)[i];
	default: return ((uint8_t *)t->data)[i];
	}
}

/* What the element function gives for element i of (op, dt). */
static bool expect(int op, DType dt, int arity, int i, double *res)
{
	/* each branch widened on its own: a float in a ?: would round the ints */
	double x = dt == DT_F32 ? (double)fa[i] : dt == DT_I32 ? (double)ia[i] : (double)ba[i];
	double y = dt == DT_F32 ? (double)fb[i] : dt == DT_I32 ? (double)ib[i] : (double)bb[i];
	return sem_eval((OpKind)op, dt, arity, x, y, res) != SEM_NONE;
}

/* the dtypes ops compute in; bf16 is storage only (ir.h) */
enum { NCOMP = DT_BF16 };

static void test_kernels(CgModule *jit)
{
	Region *r = ir_region_new(arena_new(), "elementwise");
	Tensor in[2 * NCOMP];
	const void *src[2 * NCOMP] = { fa, fb, ia, ib, ba, bb };
	int x[2 * NCOMP];
	for (int k = 0; k < 2 * NCOMP; k++) {
		in[k] = vec((DType)(k / 2), src[k]);
		x[k] = ir_input(r, k, in[k].type);
	}
	/* one output per (op, element type) with an element function */
	int nout = 0, oop[OP_COUNT * NCOMP], odt[OP_COUNT * NCOMP];
	for (int op = 0; op < OP_COUNT; op++)
		for (int dt = 0; dt < NCOMP; dt++) {
			int arity = has(op, F_UNARY) ? 1 : has(op, F_BINARY) ? 2 : 0;
			double res;
			if (!arity || !expect(op, (DType)dt, arity, 0, &res))
				continue;
			int v = arity == 1 ? ir_op1(r, (OpKind)op, x[2 * dt]) : ir_op2(r, (OpKind)op, x[2 * dt], x[2 * dt + 1]);
			ir_output(r, v);
			oop[nout] = op;
			odt[nout++] = dt;
		}
	char err[512], name[96];
	check(ir_verify(r, err, sizeof err), "kernels_region_verifies", "%s", err);
	Tensor *ptr[2 * NCOMP], *o1 = xcalloc((size_t)nout, sizeof *o1), *o2 = xcalloc((size_t)nout, sizeof *o2);
	for (int k = 0; k < 2 * NCOMP; k++)
		ptr[k] = &in[k];
	Store s = { 0 };
	interp_run(r, &s, ptr, o1);
	CgRegion *cr = cg_compile(jit, r, err, sizeof err);
	if (!check(cr != NULL, "kernels_compile", "%s", err))
		return;
	host_run_compiled(cr, &s, ptr, o2);
	for (int k = 0; k < nout; k++) {
		int op = oop[k], arity = has(op, F_UNARY) ? 1 : 2;
		double res = 0;
		int bad = -1, badj = -1;
		/* math-library functions: within float rounding; everything else bit for bit */
		float f;
		bool exact = odt[k] != DT_F32 || (arity == 1 ? sem_f32_unary((OpKind)op, 1, &f) : sem_f32_binary((OpKind)op, 1, 2, &f)) != SEM_LIBM;
		for (int i = 0; i < N; i++) {
			expect(op, (DType)odt[k], arity, i, &res);
			if (bad < 0 && !same_f(elem(&o1[k], i), res))
				bad = i;
			double a = elem(&o2[k], i), b = elem(&o1[k], i);
			bool near = same_f(a, b) || (!exact && fabs(a - b) <= 1e-5 * fabs(b));
			if (badj < 0 && !near)
				badj = i;
		}
		snprintf(name, sizeof name, "interp_%s_%s", op_info[op].name, dtype_name((DType)odt[k]));
		check(bad < 0, name, "element %d: interpreter %.9g, ir/opsem.h %.9g", bad,
			bad < 0 ? 0 : elem(&o1[k], bad), res);
		snprintf(name, sizeof name, "jit_%s_%s", op_info[op].name, dtype_name((DType)odt[k]));
		check(badj < 0, name, "element %d: jit %.9g, interpreter %.9g", badj,
			badj < 0 ? 0 : elem(&o2[k], badj), badj < 0 ? 0 : elem(&o1[k], badj));
		free(o1[k].data);
		free(o2[k].data);
	}
	check(nout >= 40, "kernels_cover_the_table", "only %d (op, type) pairs have element functions", nout);
	free(o1);
	free(o2);
	for (int k = 0; k < 2 * NCOMP; k++)
		free(in[k].data);
	arena_free(r->arena);
}

/* ---- aliases and in-place maps in the interpreter ---- */

static void test_alias_and_map(void)
{
	char name[96];
	for (int op = 0; op < OP_COUNT; op++) {
		if (!has(op, F_ALIAS | F_MAP) || has(op, F_RANDOM) || op_info[op].arity > 2)
			continue;
		bool cmp = op_shape[op] == sh_compare; /* a bool result over an f32 buffer: never in place */
		DType dt = op == OP_NOT || op_shape[op] == sh_logic ? DT_BOOL : DT_F32;
		Region *r = ir_region_new(arena_new(), "one");
		Tensor in[2] = { vec(dt, dt == DT_F32 ? (const void *)fa : ba), vec(dt, dt == DT_F32 ? (const void *)fb : bb) };
		int a[2] = { ir_input(r, 0, in[0].type), ir_input(r, 1, in[1].type) };
		Node p = ir_proto((OpKind)op);
		p.type = in[0].type; /* reshape and cast: to the same type, the alias case */
		char err[300];
		int v = ir_emit(r, &p, a, op_info[op].arity, err, sizeof err);
		snprintf(name, sizeof name, "alias_map_%s_emits", op_info[op].name);
		if (!check(v >= 0, name, "%s", err))
			continue;
		ir_output(r, v);
		Tensor *ptr[2] = { &in[0], &in[1] }, out;
		Store s = { 0 };
		interp_run(r, &s, ptr, &out);
		if (has(op, F_ALIAS)) {
			snprintf(name, sizeof name, "alias_%s_keeps_bytes", op_info[op].name);
			check(ir_is_alias(r, v) && !memcmp(out.data, in[0].data, N * dtype_size(dt)), name,
				"the value is not its operand's bytes");
		}
		if (has(op, F_MAP) && !cmp) {
			/* computed over operand 0's own buffer, as memplan may place it */
			Tensor io = { out.type, xmalloc(N * dtype_size(dt)) };
			memcpy(io.data, in[0].data, N * dtype_size(dt));
			Tensor *args[2] = { &io, &in[1] };
			op_interp[op](r, v, &io, args, &s);
			snprintf(name, sizeof name, "map_%s_in_place", op_info[op].name);
			check(!memcmp(io.data, out.data, N * dtype_size(dt)), name, "in place differs from out of place");
			free(io.data);
		}
		free(out.data);
		free(in[0].data);
		free(in[1].data);
		arena_free(r->arena);
	}
}

int main(void)
{
	char err[256];
	fill_vectors();
	test_rows();
	test_semantics();
	CgModule *jit = cg_jit_new(err, sizeof err);
	if (check(jit != NULL, "jit_new", "%s", err)) {
		test_kernels(jit);
		cg_jit_free(jit);
	}
	test_alias_and_map();
	printf("%s\n", nfail ? "FAILED" : "ok");
	return nfail != 0;
}
