/*
 * test_parse.c — parser tests: the code blocks of LANGUAGE.md parse and
 * have the expected structure, precedence and newline rules hold, nodes
 * carry the right positions, syntax errors have the documented format, and
 * fe_load orders stdlib and imported files.  With a file argument it only
 * prints the file's AST as S-expressions (a debugging aid).
 */
#include "lang/diag.h"
#include "lang/lang.h"
#include "tests/unit/ast_print.h"
#include "tests/unit/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

static Arena *arena;

static Program *parse(const char *text)
{
	Program *p = arena_alloc(arena, sizeof *p);
	lang_parse_text(arena, p, "test.sn", text, false);
	return p;
}

/* The text of b, moved into the arena (b is emptied). */
static const char *buf_take(Buf *b)
{
	char *s = arena_strdup(arena, b->s);
	free(b->s);
	*b = (Buf){ 0 };
	return s;
}

static const char *decl_str(const Decl *d)
{
	Buf b = {0};
	put_decl(&b, d);
	return buf_take(&b);
}

static const char *expr_str(const Expr *e)
{
	Buf b = {0};
	put_expr(&b, e);
	return buf_take(&b);
}

/* The expression of "train { let _ = <src> }". */
static const Expr *parse_expr(const char *src)
{
	Program *p = parse(arena_printf(arena, "train { let _ = %s }", src));
	return p->decls[0]->body[0]->value;
}

static void expect_expr(const char *name, const char *src, const char *want)
{
	const char *got = expr_str(parse_expr(src));
	check(strcmp(got, want) == 0, name, "%s parsed as %s, expected %s", src, got, want);
}

static void expect_decl(const char *name, const Decl *d, const char *want)
{
	const char *got = decl_str(d);
	check(strcmp(got, want) == 0, name, "got %s, expected %s", got, want);
}

static void expect_stmt(const char *name, const Stmt *st, const char *want)
{
	Buf b = {0};
	put_stmt(&b, st);
	check(strcmp(b.s, want) == 0, name, "got %s, expected %s", b.s, want);
	free(b.s);
}

/* Column (1-based) of the first occurrence of needle in line of text. */
static int col_of(const char *line, const char *needle)
{
	return (int)(strstr(line, needle) - line) + 1;
}


/* ---- the code blocks of LANGUAGE.md ---- */

static const char *src_items =
	"import \"other.sn\"                 # another file of the user's, by path\n"
	"const D = 256                     # compile-time constant; `-D D=512` overrides\n"
	"fn gelu(x) = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x ** 3)))\n"
	"fn linear(x: f32[N, I], w: f32[I, O], b: f32[O]) -> f32[N, O] {\n"
	"  return x @ w + b\n"
	"}\n";

static const char *src_models =
	"model Linear(n_in, n_out) {\n"
	"  param weight: f32[n_in, n_out] = normal(std = 1 / sqrt(n_in))\n"
	"  param bias: f32[n_out] = zeros\n"
	"  fn call(x) = x @ weight + bias  # `inst(x)` invokes `call`\n"
	"}\n"
	"\n"
	"model Mlp(hidden = 256) {\n"
	"  l1 = Linear(784, hidden)\n"
	"  l2 = Linear(hidden, 10)\n"
	"  fn call(x) = l2(relu(l1(x)))\n"
	"}\n"
	"\n"
	"model Gpt(V, T, C, L, H) {\n"
	"  wte = Embedding(V, C)\n"
	"  wpe = Embedding(T, C)\n"
	"  blocks = [Block(C, H); L]       # L instances, names blocks.0 … blocks.{L-1}\n"
	"  ln_f = LayerNorm(C)\n"
	"  fn call(idx: i32[B, T]) -> f32[B, T, V] {\n"
	"    let x = wte(idx) + wpe(arange(T))\n"
	"    for blk in blocks { x = blk(x) }\n"
	"    return ln_f(x) @ wte.weight.T   # tied head\n"
	"  }\n"
	"}\n";

static const char *src_adamw =
	"optimizer adamw(lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,\n"
	"                weight_decay = 0.01) {\n"
	"  state m = zeros\n"
	"  state v = zeros\n"
	"  update(p, g) {                  # `t` is the 1-based step count\n"
	"    m = beta1 * m + (1 - beta1) * g\n"
	"    v = beta2 * v + (1 - beta2) * g * g\n"
	"    let mhat = m / (1 - beta1 ** t)\n"
	"    let vhat = v / (1 - beta2 ** t)\n"
	"    p = p - lr * (mhat / (sqrt(vhat) + eps) + weight_decay * p)\n"
	"  }\n"
	"}\n";

static const char *src_train =
	"train {\n"
	"  let data = idx(\"/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz\",\n"
	"                 \"/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz\")\n"
	"  let test = idx(\"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\",\n"
	"                 \"/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\")\n"
	"  let net = Mlp()\n"
	"  let opt = adamw(lr = 1e-3)\n"
	"  for epoch in 0..EPOCHS {\n"
	"    for x, y in batches(data, 128, shuffle = true) {\n"
	"      opt.lr = cosine(opt.t, total = EPOCHS * len(data) / 128, peak = 1e-3, warmup = 100)\n"
	"      let loss = minimize(opt, cross_entropy(net(x), y))\n"
	"      log(loss = loss)\n"
	"    }\n"
	"    let correct = 0\n"
	"    for x, y in batches(test, 1000, drop_last = false) {\n"
	"      correct = correct + sum(argmax(net(x), axis = 1) == y)\n"
	"    }\n"
	"    print(\"epoch\", epoch, \"test accuracy\", correct / len(test))\n"
	"  }\n"
	"  save(net, \"mlp.safetensors\")\n"
	"}\n";

static void test_items(void)
{
	Program *p = parse(src_items);
	check(p->ndecls == 4 && p->decls[0]->kind == D_IMPORT && p->decls[1]->kind == D_CONST &&
	      p->decls[2]->kind == D_FN && p->decls[3]->kind == D_FN, "items_kinds",
	      "%d decls", p->ndecls);
	if (p->ndecls != 4)
		return;
	expect_decl("items_import", p->decls[0], "(import \"other.sn\")");
	expect_decl("items_const", p->decls[1], "(const D 256)");
	expect_decl("items_gelu", p->decls[2],
		    "(fn gelu (x) (* (* 0.5f x) (+ 1 (call tanh (* 0.797885f "
		    "(+ x (* 0.044715f (** x 3))))))))");
	expect_decl("items_linear", p->decls[3],
		    "(fn linear (x:f32[N I] w:f32[I O] b:f32[O]) -> f32[N O] "
		    "{(return (+ (@ x w) b))})");
	check(!p->decls[0]->from_stdlib, "items_not_stdlib", "from_stdlib set");
}

/* `buffer` is a model item like `param` (and a plain name elsewhere). */
static void test_buffer_item(void)
{
	Program *p = parse("model Bn(C) {\n  param weight: f32[C] = ones\n  buffer running_mean: f32[C] = zeros\n"
	                   "  buffer count: f32\n}\nfn f(buffer) = buffer + 1\n");
	check(p->ndecls == 2, "buffer_decls", "%d decls", p->ndecls);
	if (p->ndecls != 2)
		return;
	expect_decl("buffer_item", p->decls[0],
		    "(model Bn (C) (param weight f32[C] ones) (buffer running_mean f32[C] zeros) (buffer count f32 _))");
	check(p->decls[0]->model->items[1].kind == MI_BUFFER, "buffer_kind", "kind %d", p->decls[0]->model->items[1].kind);
}

static void test_models(void)
{
	Program *p = parse(src_models);
	check(p->ndecls == 3 && p->decls[0]->kind == D_MODEL && p->decls[2]->kind == D_MODEL,
	      "models_kinds", "%d decls", p->ndecls);
	if (p->ndecls != 3)
		return;
	expect_decl("model_linear", p->decls[0],
		    "(model Linear (n_in n_out) (param weight f32[n_in n_out] "
		    "(call normal std=(/ 1 (call sqrt n_in)))) (param bias f32[n_out] zeros) "
		    "(fn call (x) (+ (@ x weight) bias)))");
	expect_decl("model_mlp", p->decls[1],
		    "(model Mlp (hidden=256) (field l1 (call Linear 784 hidden)) "
		    "(field l2 (call Linear hidden 10)) (fn call (x) (call l2 (call relu (call l1 x)))))");
	expect_decl("model_gpt", p->decls[2],
		    "(model Gpt (V T C L H) (field wte (call Embedding V C)) "
		    "(field wpe (call Embedding T C)) (field blocks (rep (call Block C H) L)) "
		    "(field ln_f (call LayerNorm C)) (fn call (idx:i32[B T]) -> f32[B T V] "
		    "{(let x = (+ (call wte idx) (call wpe (call arange T)))); "
		    "(for blk in blocks {(set x (call blk x))}); "
		    "(return (@ (call ln_f x) (. (. wte weight) T)))}))");
	const ModelItem *blocks = &p->decls[2]->model->items[2];
	check(blocks->kind == MI_FIELD && blocks->value->kind == E_REPEAT, "model_repeat_kind",
	      "blocks is not an E_REPEAT field");
	Program *q = parse("model Net {\n  param w: f32 = ones\n  param b: f32[4]\n}\n");
	check(q->ndecls == 1 && q->decls[0]->model->nparams == 0 && q->decls[0]->model->nitems == 2 &&
	      q->decls[0]->model->items[1].value == NULL, "model_no_parens",
	      "model without constructor parentheses misparsed");
}

static void test_adamw(void)
{
	Program *p = parse(src_adamw);
	check(p->ndecls == 1 && p->decls[0]->kind == D_OPT, "adamw_kind", "not one optimizer");
	if (p->ndecls != 1)
		return;
	const OptDecl *o = p->decls[0]->opt;
	check(o->nparams == 5 && strcmp(o->params[4].name, "weight_decay") == 0 &&
	      o->params[0].def && o->params[0].def->kind == E_FLOAT && o->params[0].def->fval == 1e-3,
	      "adamw_hyper", "hyperparameters misparsed");
	expect_decl("adamw_shape", p->decls[0],
		    "(optimizer adamw (lr=0.001f beta1=0.9f beta2=0.999f eps=1e-08f weight_decay=0.01f) "
		    "(state m zeros) (state v zeros) (update p g {(set m (+ (* beta1 m) (* (- 1 beta1) g))); "
		    "(set v (+ (* beta2 v) (* (* (- 1 beta2) g) g))); "
		    "(let mhat = (/ m (- 1 (** beta1 t)))); (let vhat = (/ v (- 1 (** beta2 t)))); "
		    "(set p (- p (* lr (+ (/ mhat (+ (call sqrt vhat) eps)) (* weight_decay p)))))}))");
	check(o->upd_loc.line == 5 && o->upd_loc.col == 3 && o->state_locs[1].line == 4,
	      "adamw_locs", "update at %d:%d", o->upd_loc.line, o->upd_loc.col);
}

/* Typed states: the type is kept (evaluated per parameter by the host),
   the initializer may be left out; an untyped state keeps both forms. */
static void test_typed_states(void)
{
	Program *p = parse("optimizer fac(lr = 0.1) {\n"
	                   "  state r: f32[p.shape[0]]\n"
	                   "  state s: f32 = ones\n"
	                   "  state v: f32[2, p.shape,]\n"
	                   "  state m = zeros\n"
	                   "  update(p, g) { p = p - lr * g }\n"
	                   "}\n");
	check(p->ndecls == 1 && p->decls[0]->kind == D_OPT, "typed_states_kind", "not one optimizer");
	if (p->ndecls != 1)
		return;
	const OptDecl *o = p->decls[0]->opt;
	check(o->nstates == 4 && o->state_types[0] && o->state_types[0]->ndims == 1 && !o->state_inits[0] &&
	      o->state_types[1] && o->state_types[1]->ndims == 0 && o->state_inits[1] &&
	      o->state_types[2] && o->state_types[2]->ndims == 2 && !o->state_types[3] && o->state_inits[3],
	      "typed_states_fields", "states misparsed");
	check(o->state_types[0] && o->state_types[0]->loc.line == 2 && o->state_types[0]->loc.col == 12 &&
	      o->state_locs[2].line == 4 && o->state_locs[2].col == 3,
	      "typed_states_locs", "locations misparsed");
	expect_decl("typed_states_shape", p->decls[0],
		    "(optimizer fac (lr=0.1f) (state r f32[(idx (. p shape) 0)] _) (state s f32 ones) "
		    "(state v f32[2 (. p shape)] _) (state m zeros) (update p g {(set p (- p (* lr g)))}))");
}

static void test_train(void)
{
	Program *p = parse(src_train);
	check(p->ndecls == 1 && p->decls[0]->kind == D_TRAIN && p->decls[0]->nbody == 6,
	      "train_shape", "train block has %d statements", p->ndecls ? p->decls[0]->nbody : -1);
	if (p->ndecls != 1 || p->decls[0]->nbody != 6)
		return;
	Stmt **b = p->decls[0]->body;
	check(b[0]->kind == S_LET && b[0]->value->kind == E_CALL && b[0]->value->nitems == 2 &&
	      b[0]->value->items[1]->kind == E_STR, "train_multiline_call",
	      "call split over two lines misparsed");
	const Stmt *epochs = b[4];
	check(epochs->kind == S_FOR && epochs->nnames == 1 && epochs->value->kind == E_RANGE &&
	      epochs->nbody == 4, "train_epoch_loop", "epoch loop misparsed");
	const Stmt *inner = epochs->body[0];
	check(inner->kind == S_FOR && inner->nnames == 2 && strcmp(inner->names[1], "y") == 0 &&
	      inner->nbody == 3, "train_batch_loop", "batch loop misparsed");
	const Stmt *lr = inner->body[0];
	check(lr->kind == S_ASSIGN && lr->target->kind == E_MEMBER &&
	      strcmp(lr->target->str, "lr") == 0 && lr->value->nitems == 4 &&
	      strcmp(lr->value->argnames[3], "warmup") == 0 && lr->value->argnames[0] == NULL,
	      "train_member_assign", "opt.lr = ... misparsed");
	expect_stmt("train_accuracy", epochs->body[2]->body[0],
		    "(set correct (+ correct (call sum (== (call argmax (call net x) axis=1) y))))");
}

static void test_precedence(void)
{
	expect_expr("prec_pow_neg", "a + b * c ** -d", "(+ a (* b (** c (neg d))))");
	expect_expr("prec_neg_pow", "-x ** 2", "(neg (** x 2))");
	expect_expr("prec_pow_right", "a ** b ** c", "(** a (** b c))");
	expect_expr("prec_sub_left", "a - b - c", "(- (- a b) c)");
	expect_expr("prec_mul_ops", "a // b % c @ d / e", "(/ (@ (% (// a b) c) d) e)");
	expect_expr("prec_logic", "not a == b and c or d < -e", "(or (and (not (== a b)) c) (< d (neg e)))");
	expect_expr("prec_cmp_arith", "a + 1 >= b * 2", "(>= (+ a 1) (* b 2))");
	expect_expr("prec_postfix", "x @ w.T + b", "(+ (@ x (. w T)) b)");
	expect_expr("prec_neg_call", "-f(x)[0]", "(neg (idx (call f x) 0))");
	expect_expr("index_slices", "x[i, 0:T, :, -1, ::2]", "(idx x i (: 0 T _) (: _ _ _) (neg 1) (: _ _ 2))");
	expect_expr("call_keyword", "f(a, k = v)(b)", "(call (call f a k=v) b)");
	expect_expr("list_repeat", "[[a, b], [f(c); n + 1], []]", "[[a b] (rep (call f c) (+ n 1)) []]");
	expect_expr("range", "0..L - 1", "(.. 0 (- L 1))");
	expect_expr("literals", "[3., 1e-3, 2.5e2, 7, true, false]", "[3f 0.001f 250f 7 true false]");
	expect_expr("literal_none", "f(k = none) == none", "(== (call f k=none) none)");
	expect_expr("string_escapes", "\"a\\\\b\\\"c\\nd\"", "\"a\\b\"c\nd\"");
	expect_expr("paren_group", "(a + b) * c", "(* (+ a b) c)");
}

static void test_newlines(void)
{
	expect_expr("nl_after_plus", "a +\n  b", "(+ a b)");
	expect_expr("nl_in_parens", "f(a,\n\n  b\n)", "(call f a b)");
	expect_expr("nl_in_brackets", "[1\n, 2]", "[1 2]");
	Program *p = parse("\n# header\ntrain {\n\n  let a = 1; let b = 2;\n  b = a\n\n}\n\n");
	check(p->ndecls == 1 && p->decls[0]->nbody == 3, "nl_separators", "expected 3 statements");
	p = parse("fn f(x) {\n  if x > 0 {\n    return x\n  }\n  else if x < 0 { return -x }\n"
		  "  else {\n    return\n  }\n}\nconst K = 2; const J = 3\n");
	expect_decl("nl_else_if", p->decls[0],
		    "(fn f (x) {(if (> x 0) {(return x)} else {(if (< x 0) {(return (neg x))} "
		    "else {(return _)})})})");
	check(p->ndecls == 3 && p->decls[2]->kind == D_CONST, "nl_semicolon_decls", "%d decls", p->ndecls);
	p = parse("train { let a, b = f(x)\n  for i in 0..L { } }");
	const Stmt *s = p->decls[0]->body[0];
	check(s->kind == S_LET && s->nnames == 2 && strcmp(s->names[0], "a") == 0 &&
	      p->decls[0]->body[1]->nbody == 0, "let_tuple", "let a, b misparsed");
}

/* while, break and continue: statements like for; a newline before
   `while` inside an open bracket reports the bracket, as before `for`. */
static void test_loops(void)
{
	Program *p = parse("fn f(n) {\n  while n > 0 {\n    n = n - 1\n    if n == 3 { break }\n"
			   "    continue\n  }\n  return n\n}\n");
	expect_decl("while_break_continue", p->decls[0],
		    "(fn f (n) {(while (> n 0) {(set n (- n 1)); (if (== n 3) {break}); continue}); (return n)})");
	p = parse("train { for x in xs { while true { break }; continue } }");
	expect_decl("loops_nested", p->decls[0], "(train {(for x in xs {(while true {break}); continue})})");
	const Stmt *w = p->decls[0]->body[0]->body[0];
	check(w->kind == S_WHILE && w->loc.col == 23 && w->body[0]->kind == S_BREAK && w->body[0]->loc.col == 36,
	      "loc_while_break", "while at %d, break at %d", w->loc.col, w->body[0]->loc.col);
}

/* diag_closest: the "did you mean" rule of LANGUAGE.md §15. */
static void test_suggest(void)
{
	const char *names[] = { "learning_rate", "relu", "_cos_anneal", "lr", "weight_decay", "net", "nets" };
	int n = sizeof names / sizeof names[0];
	check(diag_closest("lerning_rate", names, n) == 0, "suggest_deletion", "lerning_rate");
	check(diag_closest("reul", names, n) == 1, "suggest_swap", "two swapped letters are one edit");
	check(diag_closest("weight_decy", names, n) == 4, "suggest_long", "weight_decy");
	check(diag_closest("cos_anneal", names, n) == -1, "suggest_hidden", "a name starting with _ is not offered");
	check(diag_closest("lt", names, n) == -1, "suggest_short", "two characters get no hint");
	check(diag_closest("relu", names, n) == -1, "suggest_exact", "an exact name is not a suggestion");
	check(diag_closest("nett", names, n) == 5, "suggest_first_tie", "the first of equally close names wins");
	check(diag_closest("offset", names, n) == -1, "suggest_none", "nothing close, no hint");
}

static void test_locations(void)
{
	const char *line = "train { let y = foo(a) + b.c * 2 }";
	const Expr *e = parse(line)->decls[0]->body[0]->value;
	check(e->kind == E_BINARY && e->loc.line == 1 && e->loc.col == col_of(line, "+"),
	      "loc_binary", "'+' at col %d", e->loc.col);
	check(e->a->kind == E_CALL && e->a->loc.col == col_of(line, "("), "loc_call",
	      "call at col %d", e->a->loc.col);
	check(e->b->a->kind == E_MEMBER && e->b->a->loc.col == col_of(line, "b.c"), "loc_member",
	      "member at col %d", e->b->a->loc.col);
	check(e->b->loc.col == col_of(line, "*") && strcmp(e->loc.file, "test.sn") == 0,
	      "loc_file", "file %s", e->loc.file);
	Program *p = parse("# c\n\tfn f(x, y: f32) =\n\t\tx * y\n");
	const FnDecl *f = p->decls[0]->fn;
	check(f->loc.line == 2 && f->loc.col == 2 && f->params[1].loc.col == 10 &&
	      f->expr_body->loc.line == 3 && f->expr_body->loc.col == 5, "loc_lines_tabs",
	      "fn at %d:%d", f->loc.line, f->loc.col);
}

static void parse_text(const void *text)
{
	parse(text);
}

/* Runs a parse in a child process and returns its stderr, or NULL when it
   did not exit 1 (the status of an error in the source). */
static const char *parse_error_of(const char *text)
{
	int status;
	const char *err = stderr_of(parse_text, text, &status);
	return WIFEXITED(status) && WEXITSTATUS(status) == 1 ? err : NULL;
}

static void test_errors(void)
{
	const char *l2 = "  let x = f(1, 2";
	const char *err = parse_error_of(arena_printf(arena, "train {\n%s\n  let y = 3\n}\n", l2));
	char *want = arena_printf(arena, "test.sn:2:%d: error: expected ')' but found newline\n%s\n",
				  (int)strlen(l2) + 1, l2);
	check(err && strncmp(err, want, strlen(want)) == 0 && strchr(err + strlen(want), '^'),
	      "error_format", "stderr was: %s", err ? err : "(no exit 1)");
	err = parse_error_of("fn f(x) = x $ 2\n");
	check(err && strncmp(err, "test.sn:1:13: error: unexpected character '$'", 45) == 0,
	      "error_bad_char", "stderr was: %s", err ? err : "(no exit 1)");
	err = parse_error_of("train { 1 = 2 }");
	check(err && strstr(err, "cannot assign"), "error_assign_target", "stderr was: %s",
	      err ? err : "(no exit 1)");
}

static void write_file(const char *dir, const char *name, const char *text)
{
	FILE *f = fopen(arena_printf(arena, "%s/%s", dir, name), "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

/* stdlib in name order, imports depth first and once each, cycles skipped. */
static void test_load(void)
{
	char dir[] = "/tmp/test_parse_XXXXXX";
	if (!mkdtemp(dir)) {
		check(false, "load_order", "cannot create a temporary folder");
		return;
	}
	const char *lib = arena_printf(arena, "%s/lib", dir), *sub = arena_printf(arena, "%s/sub", dir);
	mkdir(lib, 0700);
	mkdir(sub, 0700);
	write_file(lib, "z.sn", "fn z1() = 1\n");
	write_file(lib, "a.sn", "fn a1() = 1\n");
	write_file(lib, "notes.txt", "not sinter\n");
	write_file(dir, "main.sn", "import \"sub/b.sn\"\nimport \"c.sn\"\nfn m() = 1\n");
	write_file(sub, "b.sn", "import \"../c.sn\"\nimport \"../main.sn\"\nfn b() = 2\n");
	write_file(dir, "c.sn", "fn c() = 3\n");
	setenv("SINTER_STDLIB", lib, 1);
	Program *p = lang_load(arena, arena_printf(arena, "%s/main.sn", dir));
	unsetenv("SINTER_STDLIB");
	Buf b = {0};
	for (int i = 0; i < p->ndecls; i++)
		if (p->decls[i]->kind == D_FN)
			put(&b, "%s%s ", p->decls[i]->from_stdlib ? "std:" : "", p->decls[i]->name);
	const char *want = "std:a1 std:z1 c b m ";
	check(b.s && strcmp(b.s, want) == 0, "load_order", "got '%s', expected '%s'", b.s, want);
	free(b.s);
	const Decl *c = NULL;
	for (int i = 0; i < p->ndecls; i++)
		if (p->decls[i]->kind == D_FN && strcmp(p->decls[i]->name, "c") == 0)
			c = p->decls[i];
	const char *cfile = arena_printf(arena, "%s/sub/../c.sn", dir);
	check(c && strcmp(c->loc.file, cfile) == 0, "load_import_path", "c.sn loaded as %s",
	      c ? c->loc.file : "(missing)");
	const char *names[] = {"lib/z.sn", "lib/a.sn", "lib/notes.txt", "sub/b.sn", "main.sn", "c.sn"};
	for (int i = 0; i < 6; i++)
		unlink(arena_printf(arena, "%s/%s", dir, names[i]));
	rmdir(lib);
	rmdir(sub);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	arena = arena_new();
	if (argc > 1) {
		Program *p = lang_load(arena, argv[1]);
		for (int i = 0; i < p->ndecls; i++)
			printf("%s%s\n", p->decls[i]->from_stdlib ? "[stdlib] " : "", decl_str(p->decls[i]));
		return 0;
	}
	test_items();
	test_models();
	test_buffer_item();
	test_adamw();
	test_typed_states();
	test_train();
	test_precedence();
	test_newlines();
	test_loops();
	test_suggest();
	test_locations();
	test_errors();
	test_load();
	arena_free(arena);
	return nfail != 0;
}
