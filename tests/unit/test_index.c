/*
 * test_index.c — range-checked indices: the source locations regions carry
 * (the `loc` table and `!K` in the text form: exact round trips, parse
 * errors, identity, the verifier), and take, scatter_rows and one_hot
 * meeting an index outside their table in the interpreter and the JIT
 * alike: the first bad index, its table size, op and location reach the
 * index hook, and the region writes nothing (its slots keep their values).
 * The hook here jumps back into the test instead of exiting.
 */
#include "tests/unit/cgdiff.h"

#include <setjmp.h>

/* A region the hook stops is abandoned by longjmp here, with the buffers
   the interpreter had allocated (in sinter the hook exits the process):
   LeakSanitizer is told not to count those. */
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define ABANDON_BEGIN() __lsan_disable()
#define ABANDON_END() __lsan_enable()
#else
#define ABANDON_BEGIN() ((void)0)
#define ABANDON_END() ((void)0)
#endif

/* ---- the text form ---- */

static const char *text_locs =
	"region step(2) {\n"
	"  loc 1 \"a b.sn\" 12:9\n"
	"  loc 2 \"lib/x.sn\" 3:1\n"
	"  %0 = param \"w\" : f32[10,4]\n"
	"  %1 = input 0 : i32[6]\n"
	"  %2 = take %0, %1 : f32[6,4] !2\n"
	"  %3 = input 1 : i32[3]\n"
	"  %4 = one_hot %3 : f32[3,5] !1\n"
	"  %5 = scatter_rows %1, %2 : f32[10,4] !2\n"
	"  return %2, %4, %5\n"
	"}\n";

static Region *parse_one(Arena *a, const char *text, char *err, size_t errlen)
{
	Region **rs;
	int n = ir_parse(a, text, "t.ir", &rs, err, errlen);
	return n == 1 ? rs[0] : NULL;
}

static void test_text(void)
{
	Arena *a = arena_new();
	char err[512] = "";
	Region *r = parse_one(a, text_locs, err, sizeof err);
	check(r != NULL, "text_parse", "%s", err);
	if (!r)
		return;
	check(r->nloc == 2 && !strcmp(r->loc[0].file, "a b.sn") && r->loc[0].line == 12 && r->loc[0].col == 9 &&
	      !strcmp(r->loc[1].file, "lib/x.sn"), "text_table", "nloc %d", r->nloc);
	check(r->node[2].loc == 2 && r->node[4].loc == 1 && r->node[5].loc == 2 && r->node[0].loc == 0,
		"text_node_locs", "%d %d %d %d", r->node[2].loc, r->node[4].loc, r->node[5].loc, r->node[0].loc);
	const IrLoc *l = ir_node_loc(r, 4);
	check(l && l->line == 12 && !ir_node_loc(r, 0), "text_node_loc", "wrong entry");
	char *s = print_str(r);
	check(!strcmp(s, text_locs), "text_round_trip", "printed:\n%s", s);
	Region *c = ir_copy(a, r);
	char *cs = print_str(c);
	check(!strcmp(cs, s) && ir_equal(c, r) && ir_hash(c) == ir_hash(r), "copy_keeps_locs", "copy:\n%s", cs);
	free(cs);
	/* the same region traced from another line is another region */
	c->loc[1].line = 4;
	check(!ir_equal(c, r) && ir_hash(c) != ir_hash(r), "locs_in_identity", "equal after moving a location");
	c->loc[1].line = 3;
	c->node[2].loc = 1;
	check(!ir_equal(c, r), "node_loc_in_identity", "equal with another entry");
	check(ir_verify(r, err, sizeof err), "verify_locs", "%s", err);
	c->node[2].loc = 3;
	check(!ir_verify(c, err, sizeof err) && strstr(err, "location 3 outside the table of 2"), "verify_bad_loc",
		"%s", err);
	free(s);
	arena_free(a);
}

static void expect_parse_error(const char *name, const char *text, const char *want)
{
	Arena *a = arena_new();
	char err[512] = "";
	Region *r = parse_one(a, text, err, sizeof err);
	check(!r && strstr(err, want), name, "got '%s', want '%s'", r ? "(parsed)" : err, want);
	arena_free(a);
}

static void test_text_errors(void)
{
	expect_parse_error("parse_undefined_loc",
		"region r(1) {\n  %0 = input 0 : i32[2]\n  %1 = one_hot %0 : f32[2,3] !1\n  return %1\n}\n",
		"t.ir:3:30: error: undefined location !1 (the region declares 0)");
	expect_parse_error("parse_loc_zero",
		"region r(1) {\n  loc 1 \"a\" 1:1\n  %0 = input 0 : i32[2]\n  %1 = one_hot %0 : f32[2,3] !0\n  return %1\n}\n",
		"t.ir:4:30: error: undefined location !0");
	expect_parse_error("parse_loc_order", "region r(0) {\n  loc 2 \"a\" 1:1\n  return\n}\n",
		"t.ir:2:7: error: expected location 1 here, got 2");
	expect_parse_error("parse_loc_repeat", "region r(0) {\n  loc 1 \"a\" 1:1\n  loc 2 \"a\" 1:1\n  return\n}\n",
		"t.ir:3:3: error: location 2 repeats an earlier one");
	expect_parse_error("parse_loc_position", "region r(0) {\n  loc 1 \"a\" 0:4\n  return\n}\n",
		"t.ir:2:13: error: bad source position 0:4");
	expect_parse_error("parse_loc_file", "region r(0) {\n  loc 1 a 1:4\n  return\n}\n",
		"t.ir:2:9: error: expected a file name in quotes");
}

/* ---- index errors at run time ---- */

static jmp_buf back;
static struct {
	int calls;
	OpKind op;
	int loc;
	int64_t index, n;
} seen;

static void hook(const Region *r, OpKind op, int loc, int64_t index, int64_t n)
{
	(void)r;
	seen.calls++;
	seen.op = op;
	seen.loc = loc;
	seen.index = index;
	seen.n = n;
	longjmp(back, 1);
}

static Tensor ints(const int32_t *v, int n)
{
	int64_t d = n;
	Tensor t = { type_make(DT_I32, 1, &d), xmalloc((size_t)n * 4 + 1) };
	memcpy(t.data, v, (size_t)n * 4);
	return t;
}

/*
 * Runs r (inputs in[0..nin), slots in m) on the interpreter (jit false)
 * or the JIT; true when it stopped through the hook.  The slots must keep
 * their values either way when it did.
 */
static bool run_stops(const Region *r, Tensor *in, int nin, Mem *m, bool use_jit, const char *name)
{
	Tensor *ptr[8], out[8];
	for (int i = 0; i < nin; i++)
		ptr[i] = &in[i];
	Mem *before = mem_clone(m);
	Store s = store_of(m, 1, 0);
	CgRegion *cr = NULL;
	if (use_jit) {
		char err[512];
		cr = cg_compile(jit, r, err, sizeof err);
		if (!check(cr != NULL, name, "cg_compile: %s", err)) {
			mem_free(before);
			return false;
		}
	}
	memset(&seen, 0, sizeof seen);
	bool stopped = false;
	if (setjmp(back)) {
		stopped = true;
		if (!cr)
			ABANDON_END();
	} else if (cr)
		host_run_compiled(cr, &s, ptr, out);
	else {
		ABANDON_BEGIN();
		interp_run(r, &s, ptr, out);
		ABANDON_END();
	}
	bool same = true;
	for (int i = 0; i < m->n; i++) {
		double x, y;
		same &= differ(&m->s[i].t, &before->s[i].t, 0, &x, &y) < 0;
	}
	if (stopped)
		check(same, name, "a slot changed although the region stopped");
	else
		for (int k = 0; k < r->nout; k++)
			free(out[k].data);
	mem_free(before);
	return stopped;
}

/*
 * take of a 10-row table (and a write to it) with indices idx, on both
 * paths; want = the bad index reported, INT64_MIN: none (then the JIT and
 * the interpreter must agree on outputs and slots).
 */
static void take_case(const char *name, const int32_t *idx, int n, int64_t want)
{
	for (int j = 0; j < (want == INT64_MIN ? 1 : 2); j++) {
		Region *r = region();
		int l1 = ir_add_loc(r, "first.sn", 1, 2), l2 = ir_add_loc(r, "second.sn", 7, 5);
		int w = ir_param(r, "w", tp(DT_F32, "10,4"));
		int i1 = ir_input(r, 0, tp(DT_I32, "6")), i2 = ir_input(r, 1, type_make(DT_I32, 1, (int64_t[]){ n }));
		/* two takes of one shape share one kernel function; each reports its own location */
		Node p = attrs(OP_TAKE, 0);
		p.loc = l1;
		int t1 = emit(r, p, (int[]){ w, i1 }, 2);
		p.loc = l2;
		int t2 = emit(r, p, (int[]){ w, i2 }, 2);
		Node wr = ir_proto(OP_WRITE);
		emit(r, wr, (int[]){ w, ir_op2(r, OP_ADD, w, ir_const(r, type_scalar(DT_F32), 1)) }, 2);
		ir_output(r, t1);
		ir_output(r, t2);
		Mem *m = xcalloc(1, sizeof *m);
		mem_fill(m, r);
		int32_t ok[6] = { 0, 9, 3, 3, 1, 2 };
		Tensor *in = xcalloc(2, sizeof *in);
		in[0] = ints(ok, 6);
		in[1] = ints(idx, n);
		char nm[128];
		snprintf(nm, sizeof nm, "%s_%s", name, want == INT64_MIN ? "jit_vs_interp" : j ? "jit" : "interp");
		if (want == INT64_MIN)
			diff_run(nm, r, in, 2, m, 0);
		else if (run_stops(r, in, 2, m, j == 1, nm))
			check(seen.calls == 1 && seen.op == OP_TAKE && seen.index == want && seen.n == 10 &&
			      seen.loc == l2, nm, "calls %d op %d index %lld n %lld loc %d", seen.calls, (int)seen.op,
			      (long long)seen.index, (long long)seen.n, seen.loc);
		else
			check(false, nm, "ran to the end");
		inputs_free(in, 2);
		mem_free(m);
		arena_free(r->arena);
	}
}

/* one_hot (5 classes) or scatter_rows (10 rows) of idx; both paths, as take_case. */
static void op_case(const char *name, OpKind op, const int32_t *idx, int n, int64_t want)
{
	for (int j = 0; j < (want == INT64_MIN ? 1 : 2); j++) {
		Region *r = region();
		int l = ir_add_loc(r, "x.sn", 4, 4);
		int64_t d = n;
		int i = ir_input(r, 0, type_make(DT_I32, 1, &d));
		Node p = attrs(op, 0);
		p.loc = l;
		int v;
		if (op == OP_ONE_HOT) {
			p.type = type_make(DT_F32, 2, (int64_t[]){ n, 5 });
			v = emit(r, p, &i, 1);
		} else {
			p.type = tp(DT_F32, "10,3");
			int src = ir_input(r, 1, type_make(DT_F32, 2, (int64_t[]){ n, 3 }));
			v = emit(r, p, (int[]){ i, src }, 2);
		}
		ir_output(r, v);
		Mem *m = xcalloc(1, sizeof *m);
		Tensor *in = xcalloc(2, sizeof *in);
		in[0] = ints(idx, n);
		in[1] = trand(type_make(DT_F32, 2, (int64_t[]){ n, 3 }), -1, 1);
		char nm[128];
		snprintf(nm, sizeof nm, "%s_%s", name, want == INT64_MIN ? "jit_vs_interp" : j ? "jit" : "interp");
		int nin = op == OP_ONE_HOT ? 1 : 2;
		if (want == INT64_MIN) {
			diff_run(nm, r, in, nin, m, 0);
			goto next;
		}
		bool stopped = run_stops(r, in, nin, m, j == 1, nm);
		check(stopped && seen.op == op && seen.index == want && seen.n == (op == OP_ONE_HOT ? 5 : 10) && seen.loc == l,
			nm, "stopped %d op %d index %lld n %lld loc %d", stopped, (int)seen.op, (long long)seen.index,
			(long long)seen.n, seen.loc);
	next:
		inputs_free(in, 2);
		mem_free(m);
		arena_free(r->arena);
	}
}

static void test_runtime(void)
{
	ir_set_index_hook(hook);
	take_case("take_in_range", (const int32_t[]){ 0, 9, 5 }, 3, INT64_MIN);
	take_case("take_past_end", (const int32_t[]){ 0, 9, 10, 3, 12 }, 5, 10);
	take_case("take_negative", (const int32_t[]){ 4, -1, 99 }, 3, -1);
	take_case("take_int_min", (const int32_t[]){ INT32_MIN }, 1, INT32_MIN);
	/* a long walk: the bad index is the very last one */
	int32_t *many = xmalloc(300000 * sizeof *many);
	for (int k = 0; k < 300000; k++)
		many[k] = k % 10;
	many[299999] = 1 << 30;
	take_case("take_long_last", many, 300000, 1 << 30);
	free(many);
	op_case("one_hot_in_range", OP_ONE_HOT, (const int32_t[]){ 0, 4, 2, 2 }, 4, INT64_MIN);
	op_case("scatter_rows_in_range", OP_SCATTER_ROWS, (const int32_t[]){ 9, 0, 9 }, 3, INT64_MIN);
	op_case("one_hot_past_end", OP_ONE_HOT, (const int32_t[]){ 0, 4, 5, 2 }, 4, 5);
	op_case("one_hot_negative", OP_ONE_HOT, (const int32_t[]){ -3, 0 }, 2, -3);
	op_case("scatter_rows_past_end", OP_SCATTER_ROWS, (const int32_t[]){ 1, 11, 2 }, 3, 11);
	op_case("scatter_rows_negative", OP_SCATTER_ROWS, (const int32_t[]){ -7, 1 }, 2, -7);
	ir_set_index_hook(NULL);
}

int main(void)
{
	test_text();
	test_text_errors();
	if (!jit_start())
		return 1;
	test_runtime();
	cg_jit_free(jit);
	return nfail != 0;
}
