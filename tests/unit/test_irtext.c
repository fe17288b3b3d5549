/*
 * test_irtext.c — unit tests of the IR's text form and its verifier: a
 * region using every op must survive print -> parse -> print byte for byte,
 * floats print so that they read back exactly, the parser's diagnostics,
 * and the verifier on regions broken by hand (types, shapes and the rest of
 * the IR core: test_ir.c).
 */
#include "ir/ops.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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
int main(void)
{
	test_roundtrip();
	test_floats();
	test_parse_text();
	test_parse_errors();
	test_verifier();
	test_verifier_pairs();
	if (nfail)
		printf("%d FAILED\n", nfail);
	return nfail ? 1 : 0;
}
