/*
 * eval.c — evaluation of expressions and statements.
 *
 * One evaluator serves constants, host code and traced tensor code: host
 * values are computed on the spot, tensor values become nodes of the region
 * being traced (ev->tr).  Functions are specialized by simply evaluating
 * their bodies with the caller's values, so every call is inlined into the
 * region at the shapes it meets; compile-time `for` and `if` run here too.
 */
#include "host/eval.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "lang/diag.h"

Value v_int(int64_t i) { return (Value){ .kind = V_INT, .i = i }; }
Value v_float(double f) { return (Value){ .kind = V_FLOAT, .f = f }; }
Value v_bool(bool b) { return (Value){ .kind = V_BOOL, .i = b }; }
Value v_str(const char *s) { return (Value){ .kind = V_STR, .s = s }; }
Value v_tensor(int node) { return (Value){ .kind = V_TENSOR, .node = node }; }

bool is_number(const Value *v)
{
	return v->kind == V_INT || v->kind == V_FLOAT || v->kind == V_BOOL;
}

double num(const Value *v)
{
	return v->kind == V_FLOAT ? v->f : (double)v->i;
}

const char *value_kind_name(const Value *v)
{
	static const char *names[] = {
		[V_NONE] = "nothing", [V_INT] = "int", [V_FLOAT] = "float", [V_BOOL] = "bool",
		[V_STR] = "string", [V_TENSOR] = "tensor", [V_HOST] = "tensor", [V_PARAM] = "tensor",
		[V_LIST] = "list", [V_MODEL] = "model", [V_OPT] = "optimizer", [V_DATASET] = "data set",
		[V_BATCHES] = "batches", [V_INIT] = "initializer", [V_RANGE] = "range",
		[V_CALLABLE] = "function", [V_GROUP] = "parameter group", [V_STATE] = "tensor",
		[V_PACKED] = "packed batches",
	};
	return names[v->kind];
}

/* Messages say "got a %s" with value_kind_name; make that "an int",
   "an optimizer", "an initializer". */
static void fix_articles(char *msg, size_t cap)
{
	static const char *const vowel_kinds[] = { "int", "optimizer", "initializer" };
	for (char *p = msg; (p = strstr(p, "a ")); p++) {
		if (p != msg && p[-1] != ' ' && p[-1] != '(')
			continue;
		for (size_t k = 0; k < sizeof vowel_kinds / sizeof vowel_kinds[0]; k++) {
			size_t n = strlen(vowel_kinds[k]);
			if (!strncmp(p + 2, vowel_kinds[k], n) && !(p[2 + n] == '_' || isalnum((unsigned char)p[2 + n])) &&
			    strlen(msg) + 2 < cap) {
				memmove(p + 2, p + 1, strlen(p + 1) + 1);
				p[1] = 'n';
				break;
			}
		}
	}
}

/*
 * Errors are reported in the user's code: a check that fails inside the
 * standard library (conv2d's shapes inside Conv2d.call, reached by the
 * user's conv(x)) is reported at the user's call that reached it, which
 * is what the user can change, with a note at the library's line.
 */
static int verror_begin(Ev *ev, Loc loc, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fix_articles(msg, sizeof msg);
	int depth;
	Loc at = ev_user_loc(ev, loc, &depth, NULL);
	diag_begin_error(at, "%s", msg);
	if (depth < ev->depth && (at.file != loc.file || at.line != loc.line || at.col != loc.col))
		diag_note(loc, "inside %s (standard library)", ev->stack[ev->depth - 1].what);
	return depth;
}

int ev_error_begin(Ev *ev, Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int depth = verror_begin(ev, loc, fmt, ap);
	va_end(ap);
	return depth;
}

void ev_error_end(Ev *ev, int depth)
{
	for (int i = depth - 1; i >= 0 && i >= depth - 8; i--)
		diag_note(ev->stack[i].loc, "in %s, called from here", ev->stack[i].what);
	diag_exit();
}

void ev_error(Ev *ev, Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int depth = verror_begin(ev, loc, fmt, ap);
	va_end(ap);
	ev_error_end(ev, depth);
}

/* ---- environments ---- */

Env *env_new(Ev *ev, Env *parent)
{
	Env *e = arena_alloc(ev->arena, sizeof *e);
	e->parent = parent;
	return e;
}

Binding *env_find(Env *env, const char *name)
{
	/* the first letters compared before the call: each name read walks
	   the scopes out to the program's (strcmp was 1.8% of a LeNet-5
	   step in perf) */
	for (; env; env = env->parent)
		for (int i = env->n - 1; i >= 0; i--)
			if (env->b[i].name[0] == name[0] && strcmp(env->b[i].name, name) == 0)
				return &env->b[i];
	return NULL;
}

/* A host variable holds a reference to its host tensor (host/host.c,
   ht_bind); other bindings (function arguments, model fields) borrow. */
void env_set(Ev *ev, Env *env, const char *name, Value v, bool host)
{
	for (int i = 0; i < env->n; i++)
		if (strcmp(env->b[i].name, name) == 0) {
			Binding *b = &env->b[i];
			if (host)
				ht_bind(v);
			if (b->host)
				ht_unbind(b->v);
			b->v = v;
			b->host = host;
			b->changed = false; /* a let again */
			return;
		}
	if (host)
		ht_bind(v);
	if (env->n == env->cap) {
		int cap = env->cap ? 2 * env->cap : 8;
		env->b = arena_grow(ev->arena, env->b, env->n * sizeof *env->b, cap * sizeof *env->b);
		env->cap = cap;
	}
	env->b[env->n++] = (Binding){ name, v, host, false };
}

/* ---- roots: values that live across the runs of a traced statement ----
 *
 * A function that prints traced values (`print(a); print(b)`) makes the
 * region run at the first print; b, and any other tensor the evaluation
 * still holds, is a node of that region, which the run ends.  So the
 * places that hold values while evaluation goes on are pushed here, and
 * host_run_trace computes every traced tensor they hold along with what
 * was asked for, replacing it by its host value in place.
 */

int ev_root(Ev *ev, Value *v, int n, Env *env)
{
	if (ev->nroots == ev->caproots) {
		int cap = ev->caproots ? 2 * ev->caproots : 64;
		ev->roots = arena_grow(ev->arena, ev->roots, (size_t)ev->nroots * sizeof *ev->roots, (size_t)cap * sizeof *ev->roots);
		ev->caproots = cap;
	}
	ev->roots[ev->nroots] = (Root){ v, n, env };
	return ev->nroots++;
}

void ev_unroot(Ev *ev, int mark)
{
	ev->nroots = mark;
}

/* ---- names ---- */

const char *ev_suggest(Ev *ev, const char *name, const char *const *cands, int n)
{
	int k = diag_closest(name, cands, n);
	return k < 0 ? "" : arena_printf(ev->arena, "; did you mean '%s'?", cands[k]);
}

const char *ev_suggest_hyper(Ev *ev, const OptInst *o, const char *name)
{
	const Env *h = o->hyper;
	const char **cands = arena_alloc(ev->arena, (size_t)(h->n + 2) * sizeof *cands);
	for (int i = 0; i < h->n; i++)
		cands[i] = h->b[i].name;
	cands[h->n] = "t";
	return ev_suggest(ev, name, cands, h->n + 1);
}

const char *ev_suggest_name(Ev *ev, Env *env, const char *name)
{
	int n = builtin_count, cap = n;
	for (Env *e = env; e; e = e->parent)
		cap += e->n;
	const char **cands = arena_alloc(ev->arena, (size_t)(cap + 1) * sizeof *cands);
	n = 0;
	/* innermost scope first: of equally close names the nearest wins */
	for (Env *e = env; e; e = e->parent)
		for (int i = e->n - 1; i >= 0; i--)
			cands[n++] = e->b[i].name;
	for (int i = 0; i < builtin_count; i++)
		cands[n++] = builtin_table[i].name;
	return ev_suggest(ev, name, cands, n);
}

Env *decl_scope(Ev *ev, const Decl *d)
{
	return d->from_stdlib ? ev->stdlib_globals : ev->globals;
}

static Value eval_name(Ev *ev, Env *env, const Expr *e)
{
	Binding *b = env_find(env, e->str);
	if (b && b->v.kind == V_STATE)
		return opt_state_read(ev, b, e->loc);
	if (b) {
		Value v = b->v;
		if (b->host && is_number(&v)) {
			v.dyn = true;
			v.origin = b;
		}
		return v;
	}
	if (builtin_find(e->str))
		return (Value){ .kind = V_CALLABLE, .s = e->str };
	/* a static host bool: code may branch on it while tracing */
	if (!strcmp(e->str, "training"))
		return v_bool(ev_training(ev));
	ev_error(ev, e->loc, "unknown name '%s'%s", e->str, ev_suggest_name(ev, env, e->str));
}

/* ---- calls ---- */

static Value member_of(Ev *ev, Value b, const Expr *e);

/* A function given a tensor or a model (parameters) is traced into the
   region; one given host numbers, strings and lists of them runs on the
   host (a schedule). */
static bool traces(const Value *v)
{
	if (v->kind == V_TENSOR || v->kind == V_HOST || v->kind == V_PARAM || v->kind == V_MODEL)
		return true;
	if (v->kind == V_LIST)
		for (int i = 0; i < v->n; i++)
			if (traces(&v->items[i]))
				return true;
	return false;
}

static Value call_fn(Ev *ev, const Decl *d, Instance *self, Loc loc, Value *args, const char **names, int nargs)
{
	const FnDecl *fn = d ? d->fn : NULL;
	const char *what = self ? arena_printf(ev->arena, "'%s.%s'", self->decl->name, fn->name)
	                        : arena_printf(ev->arena, "'%s'", fn->name);
	/* the same method of another instance (a model wrapping one of its
	   own kind) is not recursion */
	for (int i = 0; i < ev->depth; i++)
		if (ev->stack[i].fn == fn && ev->stack[i].self == self)
			ev_error(ev, loc, "recursive call of %s (functions are inlined; recursion is not supported)", what);
	if (ev->depth == (int)(sizeof ev->stack / sizeof ev->stack[0]))
		ev_error(ev, loc, "calls nested too deeply");
	Env *env = env_new(ev, self ? self->fields : decl_scope(ev, d));
	bind_params(ev, env, fn->params, fn->nparams, loc, what, args, names, nargs, true);
	bool traced = self != NULL;
	for (int i = 0; i < nargs; i++)
		traced = traced || traces(&args[i]);
	ev->stack[ev->depth++] = (Frame){ loc, what, fn, self, traced };
	Value ret = { .kind = V_NONE };
	int mark = ev_root(ev, NULL, 0, env);
	if (fn->expr_body)
		ret = ev_expr(ev, env, fn->expr_body);
	else
		ev_block(ev, env, fn->body, fn->nbody, &ret);
	ev_unroot(ev, mark);
	ev->depth--;
	if (fn->ret) {
		/* check the declared result type like an argument */
		Param p = { .name = "result", .loc = fn->ret->loc, .type = fn->ret };
		const char *rn = NULL;
		bind_params(ev, env, &p, 1, loc, what, &ret, &rn, 1, true);
	}
	return ret;
}

Value ev_call(Ev *ev, Env *env, Value callee, Loc loc, Value *args, const char **names, int nargs)
{
	(void)env;
	if (callee.kind == V_MODEL) {
		Binding *m = env_find(callee.inst->fields, "call");
		if (!m || m->v.kind != V_CALLABLE)
			ev_error(ev, loc, "model '%s' has no method 'call'", callee.inst->decl->name);
		callee = m->v;
	}
	if (callee.kind != V_CALLABLE)
		ev_error(ev, loc, "a %s is not callable", value_kind_name(&callee));
	if (callee.inst) {
		/* a method: its Decl is found in the model's items */
		const ModelDecl *md = callee.inst->decl->model;
		for (int i = 0; i < md->nitems; i++)
			if (md->items[i].kind == MI_FN && strcmp(md->items[i].fn->name, callee.s) == 0) {
				Decl d = { .kind = D_FN, .fn = md->items[i].fn, .name = callee.s };
				return call_fn(ev, &d, callee.inst, loc, args, names, nargs);
			}
		die("method %s vanished", callee.s);
	}
	const Decl *d = callee.decl;
	if (d && d->kind == D_FN)
		return call_fn(ev, d, NULL, loc, args, names, nargs);
	if (d && d->kind == D_MODEL)
		return model_instantiate(ev, d, loc, args, names, nargs);
	if (d && d->kind == D_OPT)
		return opt_instantiate(ev, d, loc, args, names, nargs);
	Value out;
	if (ev_builtin(ev, callee.s, loc, args, names, nargs, &out))
		return out;
	ev_error(ev, loc, "unknown function '%s'", callee.s);
}

static Value eval_call(Ev *ev, Env *env, const Expr *e)
{
	Value callee;
	if (e->a->kind == E_MEMBER) {
		Value base = ev_expr(ev, env, e->a->a);
		if (!strcmp(e->a->str, "append") && base.kind != V_MODEL)
			return ev_list_append(ev, env, e, base);
		callee = member_of(ev, base, e->a);
	} else if (e->a->kind == E_NAME && !env_find(env, e->a->str) && builtin_find(e->a->str))
		callee = (Value){ .kind = V_CALLABLE, .s = e->a->str };
	else if (e->a->kind == E_NAME && !env_find(env, e->a->str))
		ev_error(ev, e->a->loc, "unknown function '%s'%s", e->a->str, ev_suggest_name(ev, env, e->a->str));
	else
		callee = ev_expr(ev, env, e->a);
	const char *hint = ev->name_hint;
	ev->name_hint = NULL;
	/* the loss of a training step (minimize) is traced in training mode
	   (dropout on) */
	bool training = ev->tr && ev->tr->training;
	const Builtin *b = callee.kind == V_CALLABLE && !callee.inst && !callee.decl ? builtin_find(callee.s) : NULL;
	if (ev->tr && b && b->kind == BUILTIN_STEP)
		ev->tr->training = true;
	Value *args = arena_alloc(ev->arena, (e->nitems + 1) * sizeof *args);
	int mark = ev_root(ev, args, e->nitems, NULL);
	for (int i = 0; i < e->nitems; i++)
		args[i] = ev_expr(ev, env, e->items[i]);
	ev_unroot(ev, mark);
	if (ev->tr)
		ev->tr->training = training;
	for (int i = 0; i < e->nitems; i++)
		for (int j = 0; j < i; j++)
			if (e->argnames[i] && e->argnames[j] && strcmp(e->argnames[i], e->argnames[j]) == 0)
				ev_error(ev, e->items[i]->loc, "argument '%s' given twice", e->argnames[i]);
	ev->name_hint = hint;
	Value v = ev_call(ev, env, callee, e->loc, args, e->argnames, e->nitems);
	ev->name_hint = NULL;
	return v;
}

/* ---- member access and indexing ---- */

static Value shape_list(Ev *ev, const Type *t)
{
	Value l = { .kind = V_LIST, .n = t->rank };
	l.items = arena_alloc(ev->arena, (t->rank + 1) * sizeof *l.items);
	for (int i = 0; i < t->rank; i++)
		l.items[i] = v_int(t->dim[i]);
	return l;
}

/* The static type of a tensor-like value (traced, host or parameter). */
bool tensor_type(Ev *ev, const Value *v, Type *t)
{
	switch (v->kind) {
	case V_TENSOR: *t = ev->tr->r->node[v->node].type; return true;
	case V_HOST: *t = v->ht->t.type; return true;
	case V_PARAM: *t = v->slot->t.type; return true;
	default: return false;
	}
}

/* Member e->str of the value b of e->a. */
static Value member_of(Ev *ev, Value b, const Expr *e)
{
	Type t;
	if (b.kind == V_MODEL) {
		Binding *f = NULL;
		const Env *fs = b.inst->fields;
		for (int i = 0; i < fs->n; i++)
			if (strcmp(fs->b[i].name, e->str) == 0)
				f = &fs->b[i];
		if (!f) {
			const char **names = arena_alloc(ev->arena, (size_t)(fs->n + 1) * sizeof *names);
			for (int i = 0; i < fs->n; i++)
				names[i] = fs->b[i].name;
			ev_error(ev, e->loc, "model '%s' has no member '%s'%s", b.inst->decl->name, e->str,
			         ev_suggest(ev, e->str, names, fs->n));
		}
		return f->v;
	}
	if (b.kind == V_OPT) {
		if (strcmp(e->str, "t") == 0)
			return (Value){ .kind = V_INT, .i = b.opt->t, .dyn = true };
		if (strcmp(e->str, "accumulated") == 0) /* micro-batches summed toward the next step */
			return (Value){ .kind = V_INT, .i = b.opt->accum_n, .dyn = true };
		if (strcmp(e->str, "grad_norm") == 0) {
			if (!b.opt->has_norm)
				ev_error(ev, e->loc, "opt.grad_norm is the gradient norm before clipping of the last step taken "
				         "with minimize(..., clip_norm = c), and no step of this optimizer has clipped yet");
			return (Value){ .kind = V_FLOAT, .f = b.opt->grad_norm, .dyn = true };
		}
		Binding *h = env_find(b.opt->hyper, e->str);
		if (!h)
			ev_error(ev, e->loc, "optimizer '%s' has no hyperparameter '%s'%s", b.opt->decl->name, e->str,
			         ev_suggest_hyper(ev, b.opt, e->str));
		Value v = h->v;
		v.dyn = true;
		v.origin = h;
		return v;
	}
	if (tensor_type(ev, &b, &t)) {
		if (strcmp(e->str, "T") == 0) {
			if (t.rank < 2)
				ev_error(ev, e->loc, ".T needs at least two axes, got %s", type_str(&t, (char[64]){0}, 64));
			int perm[MAX_RANK];
			for (int i = 0; i < t.rank; i++)
				perm[i] = i;
			perm[t.rank - 2] = t.rank - 1;
			perm[t.rank - 1] = t.rank - 2;
			/* DT_COUNT: a bf16 tensor moves as f32 and is rounded back, exactly */
			Value tr = v_tensor(ir_transpose(ev->tr->r, ev_node(ev, b, e->loc, DT_COUNT), perm));
			return ev_bf16_result(ev, NULL, &b, 1, tr);
		}
		if (strcmp(e->str, "shape") == 0)
			return shape_list(ev, &t);
		if (strcmp(e->str, "ndim") == 0)
			return v_int(t.rank);
	}
	static const char *const tensor_members[] = { "T", "shape", "ndim" }, *const list_members[] = { "append" };
	ev_error(ev, e->loc, "a %s has no member '%s'%s", value_kind_name(&b), e->str,
	         tensor_type(ev, &b, &t) ? ev_suggest(ev, e->str, tensor_members, 3)
	         : b.kind == V_LIST ? ev_suggest(ev, e->str, list_members, 1) : "");
}

static Value eval_member(Ev *ev, Env *env, const Expr *e)
{
	return member_of(ev, ev_expr(ev, env, e->a), e);
}

static Value index_value(Ev *ev, Env *env, const Expr *e, Value *b);

static int64_t index_int(Ev *ev, Env *env, const Expr *e, int64_t n, bool clamp)
{
	Value v = ev_expr(ev, env, e);
	if (v.kind != V_INT)
		ev_error(ev, e->loc, "index must be an int, got a %s", value_kind_name(&v));
	int64_t i = v.i < 0 ? v.i + n : v.i;
	if (clamp)
		return i < 0 ? 0 : i > n ? n : i;
	if (i < 0 || i >= n)
		ev_error(ev, e->loc, "index %lld is out of range for an axis of size %lld", (long long)v.i, (long long)n);
	return i;
}

static Value eval_index(Ev *ev, Env *env, const Expr *e)
{
	Value b = ev_expr(ev, env, e->a);
	/* the indices are host ints, but computing one may run the region */
	int mark = ev_root(ev, &b, 1, NULL);
	Value v = index_value(ev, env, e, &b); /* reads b after the indices */
	ev_unroot(ev, mark);
	return v;
}

static Value index_value(Ev *ev, Env *env, const Expr *e, Value *b)
{
	if (b->kind == V_LIST) {
		if (e->nitems != 1 || e->items[0]->kind == E_SLICE)
			ev_error(ev, e->loc, "a list takes one integer index");
		return b->items[index_int(ev, env, e->items[0], b->n, false)];
	}
	Type t;
	if (!tensor_type(ev, b, &t))
		ev_error(ev, e->loc, "a %s cannot be indexed", value_kind_name(b));
	if (e->nitems > t.rank)
		ev_error(ev, e->loc, "too many indices (%d) for a tensor of rank %d", e->nitems, t.rank);
	Node p = ir_proto(OP_SLICE);
	Type after = { .dt = t.dt == DT_BF16 ? DT_F32 : t.dt }; /* bf16 moves as f32 (ev_node) */
	bool sliced = false;
	for (int k = 0; k < t.rank; k++) {
		int64_t start = 0, stop = t.dim[k], step = 1;
		bool keep = true;
		if (k < e->nitems) {
			const Expr *it = e->items[k];
			if (it->kind == E_SLICE) {
				if (it->c) {
					Value s = ev_expr(ev, env, it->c);
					if (s.kind != V_INT || s.i < 1)
						ev_error(ev, it->c->loc, "slice step must be a positive int");
					step = s.i;
				}
				if (it->a)
					start = index_int(ev, env, it->a, t.dim[k], true);
				if (it->b)
					stop = index_int(ev, env, it->b, t.dim[k], true);
				if (stop < start)
					stop = start;
			} else {
				start = index_int(ev, env, it, t.dim[k], false);
				stop = start + 1;
				keep = false;
			}
		}
		p.ia[3 * k] = start;
		p.ia[3 * k + 1] = stop;
		p.ia[3 * k + 2] = step;
		if (start != 0 || stop != t.dim[k] || step != 1)
			sliced = true;
		if (keep)
			after.dim[after.rank++] = stop > start ? (stop - start - 1) / step + 1 : 0; /* no overflow for a huge step */
	}
	p.nia = 3 * t.rank;
	int x = ev_node(ev, *b, e->loc, DT_COUNT);
	if (sliced)
		x = ir_emit(ev->tr->r, &p, &x, 1, NULL, 0);
	if (after.rank != t.rank)
		x = ir_reshape(ev->tr->r, x, after);
	return ev_bf16_result(ev, NULL, b, 1, v_tensor(x));
}

/* ---- expressions ---- */

/* A list built of v nests one level deeper than v.  Code can nest lists
   without a deep AST (x = [x] in a loop), and printing, comparing and
   converting lists recurse, so list values obey the parser's bound too. */
void ev_nest_list(Ev *ev, Loc loc, Value *l, const Value *item)
{
	int64_t d = item->kind == V_LIST ? (item->j > 1 ? item->j : 1) + 1 : 1;
	if (d > l->j)
		l->j = d;
	if (l->j > AST_MAX_DEPTH)
		ev_error(ev, loc, "list nested too deeply (more than %d levels)", AST_MAX_DEPTH);
}

/*
 * The parser bounds the nesting of one expression (AST_MAX_DEPTH), but
 * calls inline function bodies, so evaluation recurses through the
 * expressions of every function on the call stack at once.  Rather than a
 * fixed product of limits, evaluation measures the stack it has used and
 * stops with a located error well before the system limit.
 */
static void check_stack(Ev *ev, Loc loc)
{
	char here;
	uintptr_t at = (uintptr_t)&here;
	if (!ev->stack_base) {
		struct rlimit rl;
		size_t lim = 8u << 20;
		if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			lim = rl.rlim_cur;
		if (lim > (1u << 30))
			lim = 1u << 30;
		ev->stack_base = at;
		ev->stack_budget = lim / 2;
		return;
	}
	size_t used = at < ev->stack_base ? ev->stack_base - at : at - ev->stack_base;
	if (used > ev->stack_budget)
		ev_error(ev, loc, "expressions and calls nested too deeply (the stack would overflow)");
}

Value ev_expr(Ev *ev, Env *env, const Expr *e)
{
	check_stack(ev, e->loc);
	switch (e->kind) {
	case E_INT: return v_int(e->ival);
	case E_FLOAT: return v_float(e->fval);
	case E_BOOL: return v_bool(e->ival != 0);
	case E_STR: return v_str(e->str);
	case E_NONE: return (Value){ .kind = V_NONE };
	case E_NAME: return eval_name(ev, env, e);
	case E_UNARY: {
		Value a = ev_expr(ev, env, e->a);
		if (e->op == UN_NOT) {
			if (a.kind == V_BOOL) {
				a.i = !a.i;
				return a;
			}
			return ev_unary_op(ev, OP_NOT, a, e->loc);
		}
		if (a.kind == V_INT || a.kind == V_FLOAT) {
			if (a.kind == V_INT && a.i == INT64_MIN)
				ev_error(ev, e->loc, "integer overflow: -(%lld) does not fit in a 64-bit int", (long long)a.i);
			a.i = a.kind == V_INT ? -a.i : 0;
			a.f = -a.f;
			a.origin = NULL;
			return a;
		}
		return ev_unary_op(ev, OP_NEG, a, e->loc);
	}
	case E_BINARY: {
		Value a = ev_expr(ev, env, e->a);
		if ((e->op == BIN_AND || e->op == BIN_OR) && a.kind == V_BOOL) {
			if ((e->op == BIN_AND) != (a.i != 0))
				return a; /* short circuit on host booleans */
		}
		int mark = ev_root(ev, &a, 1, NULL);
		Value b = ev_expr(ev, env, e->b);
		ev_unroot(ev, mark);
		if (e->op == BIN_ADD && a.kind == V_LIST && b.kind == V_LIST)
			return ev_list_join(ev, e->loc, a, b.items, b.n); /* concatenation, as in Python */
		Loc locs[2] = { e->a->loc, e->b->loc };
		return ev_binary(ev, e->op, a, b, e->loc, locs);
	}
	case E_CALL: return eval_call(ev, env, e);
	case E_MEMBER: return eval_member(ev, env, e);
	case E_INDEX: return eval_index(ev, env, e);
	case E_SLICE: ev_error(ev, e->loc, "a slice is only allowed inside []");
	case E_LIST: {
		const char *hint = ev->name_hint;
		Value l = { .kind = V_LIST, .n = e->nitems };
		l.items = arena_alloc(ev->arena, (e->nitems + 1) * sizeof *l.items);
		int mark = ev_root(ev, l.items, e->nitems, NULL);
		for (int i = 0; i < e->nitems; i++) {
			/* [A(), B()] names its models like [A(); 2] does: hint.0, hint.1 */
			ev->name_hint = hint ? arena_printf(ev->arena, "%s.%d", hint, i) : NULL;
			l.items[i] = ev_expr(ev, env, e->items[i]);
			ev_nest_list(ev, e->loc, &l, &l.items[i]);
		}
		ev_unroot(ev, mark);
		ev->name_hint = NULL;
		return l;
	}
	case E_REPEAT: {
		const char *hint = ev->name_hint;
		ev->name_hint = NULL;
		Value n = ev_expr(ev, env, e->b);
		if (n.kind != V_INT)
			ev_error(ev, e->b->loc, "repeat count must be a non-negative int, got a %s", value_kind_name(&n));
		if (n.i < 0 || n.i > INT32_MAX) /* a list's length is an int */
			ev_error(ev, e->b->loc, "repeat count must be an int from 0 to %d, got %lld", INT32_MAX, (long long)n.i);
		Value l = { .kind = V_LIST, .n = (int)n.i };
		l.items = arena_alloc(ev->arena, (n.i + 1) * sizeof *l.items);
		int mark = ev_root(ev, l.items, l.n, NULL);
		for (int i = 0; i < n.i; i++) {
			ev->name_hint = hint ? arena_printf(ev->arena, "%s.%d", hint, i) : NULL;
			l.items[i] = ev_expr(ev, env, e->a);
			ev_nest_list(ev, e->loc, &l, &l.items[i]);
		}
		ev_unroot(ev, mark);
		ev->name_hint = NULL;
		return l;
	}
	case E_RANGE: {
		Value a = ev_expr(ev, env, e->a), b = ev_expr(ev, env, e->b);
		if (a.kind != V_INT || b.kind != V_INT)
			ev_error(ev, e->loc, "range bounds must be ints, got %s and %s", value_kind_name(&a), value_kind_name(&b));
		return (Value){ .kind = V_RANGE, .i = a.i, .j = b.i, .dyn = a.dyn || b.dyn };
	}
	}
	die("bad expression kind %d", e->kind);
}
