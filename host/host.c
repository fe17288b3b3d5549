/*
 * host.c — the host program: runs `train` blocks statement by statement.
 *
 * Tensor work inside a host statement is traced into a region, which
 * host/compile.c compiles (once per distinct structure) and runs when the
 * statement needs its values.  In dry mode (`sinter check`, `sinter ir`)
 * every loop runs once per distinct batch shape and nothing is executed:
 * all regions are traced, shape-checked and compiled, none run.
 */
#include "host/host.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lang/diag.h"

HostTensor *ht_new(Type t)
{
	HostTensor *h = xcalloc(1, sizeof *h);
	h->t.type = t;
	h->t.data = xcalloc((size_t)type_numel(&t), dtype_size(t.dt));
	h->refs = 0;
	rt_mem_hold(type_bytes(&t));
	return h;
}

/* Frees h when no host variable holds it (any more). */
void ht_release(HostTensor *h)
{
	if (h && --h->refs <= 0) {
		rt_mem_hold(-type_bytes(&h->t.type));
		free(h->t.data);
		free(h);
	}
}

/* A list holds its tensors too: a batch appended to a list outlives the
   loop iteration that made it.  Lists nest at most AST_MAX_DEPTH deep. */
void ht_bind(Value v)
{
	if (v.kind == V_HOST)
		v.ht->refs++;
	else if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			ht_bind(v.items[i]);
}

void ht_unbind(Value v)
{
	if (v.kind == V_HOST)
		ht_release(v.ht);
	else if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			ht_unbind(v.items[i]);
}

void env_release(Env *env)
{
	for (int i = 0; i < env->n; i++)
		if (env->b[i].host) {
			ht_unbind(env->b[i].v);
			env->b[i].host = false;
			env->b[i].v = (Value){ .kind = V_NONE };
		}
}

/* ---- minimize ---- */

Value host_minimize(Ev *ev, Value opt, Value loss, Value clip_norm, Value accumulate, Loc loc)
{
	if (opt.kind != V_OPT)
		ev_error(ev, loc, "minimize needs an optimizer as its first argument, got a %s", value_kind_name(&opt));
	if (is_number(&loss))
		ev_error(ev, loc, "minimize needs the loss expression, got a %s: a loss computed in an earlier statement "
		         "is already a number, so write minimize(opt, loss_fn(...))", value_kind_name(&loss));
	if (loss.kind != V_TENSOR)
		ev_error(ev, loc, "minimize needs a tensor loss that depends on parameters, got a %s", value_kind_name(&loss));
	Region *r = ev->tr->r;
	Type lt = r->node[loss.node].type;
	if (lt.rank == 0 && lt.dt == DT_BF16) /* as loss.backward() on a bf16 loss: the step is in f32 */
		loss = v_tensor(ev_node(ev, loss, loc, DT_F32));
	else if (lt.rank != 0 || lt.dt != DT_F32)
		ev_error(ev, loc, "minimize needs a scalar f32 loss, got %s", type_str(&lt, (char[96]){ 0 }, 96));
	StepOpts so = step_options(ev, opt.opt, clip_norm, accumulate, loc);
	r->name = "step";
	return step_minimize(ev, opt.opt, &so, loss, loc);
}

/* ---- statements ---- */

static bool body_calls(Stmt *const *ss, int n, const char *fname);

static bool expr_calls(const Expr *e, const char *fname)
{
	if (!e)
		return false;
	if (e->kind == E_CALL && e->a->kind == E_NAME && !strcmp(e->a->str, fname))
		return true;
	if (expr_calls(e->a, fname) || expr_calls(e->b, fname) || expr_calls(e->c, fname))
		return true;
	for (int i = 0; i < e->nitems; i++)
		if (expr_calls(e->items[i], fname))
			return true;
	return false;
}

static bool body_calls(Stmt *const *ss, int n, const char *fname)
{
	for (int i = 0; i < n; i++)
		if (expr_calls(ss[i]->value, fname) || body_calls(ss[i]->body, ss[i]->nbody, fname) ||
		    body_calls(ss[i]->els, ss[i]->nels, fname))
			return true;
	return false;
}

static void bind_loop(Ev *ev, Env *env, const Stmt *s, Value *vals, int n)
{
	if (s->nnames != n)
		ev_error(ev, s->loc, "this %s %d value%s, but %d name%s given", s->kind == S_LET ? "list has" : "loop yields",
		         n, n == 1 ? "" : "s", s->nnames, s->nnames == 1 ? " is" : "s are");
	for (int i = 0; i < n; i++)
		env_set(ev, env, s->names[i], vals[i], true);
}

/* A batch of a text set is batch size x context examples, so a large
   batch of a large set can overflow or outgrow the memory limit. */
static void check_batch(Ev *ev, const Type *tx, const Type *ty, Loc loc)
{
	int64_t bx, by;
	char err[512], sx[96], sy[96];
	type_str(tx, sx, sizeof sx);
	type_str(ty, sy, sizeof sy);
	if (!type_bytes_ok(tx, &bx) || !type_bytes_ok(ty, &by))
		ev_error(ev, loc, "a batch of %s is too large: a tensor holds at most 2^48 bytes", sx);
	if (!rt_mem_check(bx + by, arena_printf(ev->arena, "a batch (%s and %s)", sx, sy), err, sizeof err))
		ev_error(ev, loc, "%s", err);
}

void host_poll_interrupt(Ev *ev)
{
	int sig = rt_signal_pending();
	if (!sig || ev->dry)
		return;
	Host *h = ev->host;
	if (h->log)
		rt_log_close(h->log); /* every record is already written */
	h->log = NULL;
	fflush(stdout);
	fprintf(stderr, "sinter: interrupted by %s after step %lld; stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
	        (long long)h->log_step);
	exit(128 + sig);
}

/* ---- host variables in checkpoints ----
 *
 * A checkpoint records the host variables that hold numbers or lists of
 * numbers in the scopes around the running loops, so that a resumed run
 * continues with the values an early-stopping counter, a best loss or an
 * epoch counter had.  A variable is found again by its loop: LEVEL is the
 * loop of meta.loops whose scope (or a scope HOPS levels above it, up to
 * the next outer loop) declares it, and it is restored when that loop is
 * entered again, after its `let` has run.  Variables of the innermost
 * loop's iteration are not recorded: resume starts a new iteration.
 */

struct HostVar {
	int level, hops;
	const char *name;
	Value v;
};

enum { VAR_INT, VAR_FLOAT, VAR_BOOL, VAR_LIST };

/* A value computed from literals and constants alone (no variable, no
   region result: Value.dyn is clear), as a let of `MAX_STEPS * 2` gives. */
static bool var_static(const Value *v)
{
	for (int i = 0; v->kind == V_LIST && i < v->n; i++)
		if (v->items[i].dyn)
			return false;
	return !v->dyn;
}

static bool var_storable(const Value *v)
{
	if (is_number(v))
		return true;
	if (v->kind != V_LIST)
		return false;
	for (int i = 0; i < v->n; i++)
		if (!is_number(&v->items[i]))
			return false;
	return true;
}

/* One row: kind, then the 64 bits of the int or the double, low half first. */
static void var_row(int32_t *row, const Value *v)
{
	uint64_t bits = (uint64_t)v->i;
	if (v->kind == V_FLOAT)
		memcpy(&bits, &v->f, sizeof bits);
	row[0] = v->kind == V_INT ? VAR_INT : v->kind == V_FLOAT ? VAR_FLOAT : VAR_BOOL;
	row[1] = (int32_t)(uint32_t)bits;
	row[2] = (int32_t)(uint32_t)(bits >> 32);
}

static Value var_value(const int32_t *row)
{
	uint64_t bits = (uint64_t)(uint32_t)row[1] | (uint64_t)(uint32_t)row[2] << 32;
	double f;
	memcpy(&f, &bits, sizeof f);
	return row[0] == VAR_INT ? v_int((int64_t)bits) : row[0] == VAR_FLOAT ? v_float(f) : v_bool(bits != 0);
}

/* The value of the user's const d (NULL: not a number), -D included. */
static const Value *const_number(Ev *ev, const Decl *d)
{
	if (d->kind != D_CONST || d->from_stdlib)
		return NULL;
	const Binding *b = env_find(ev->globals, d->name);
	return b && (b->v.kind == V_INT || b->v.kind == V_FLOAT) ? &b->v : NULL;
}

int host_vars_save(Ev *ev, const char ***names, Tensor **ts)
{
	Host *h = ev->host;
	int loops = h->nloops < HOST_MAX_LOOPS ? h->nloops : HOST_MAX_LOOPS, level = loops, hops = 0, n = 0;
	int cap = ev->prog->ndecls;
	for (Env *e = h->env; e && e != ev->globals; e = e->parent)
		cap += e->n;
	*names = arena_alloc(ev->arena, (size_t)(cap + 1) * sizeof **names);
	*ts = arena_alloc(ev->arena, (size_t)(cap + 1) * sizeof **ts);
	for (Env *e = h->env; e && e != ev->globals; e = e->parent, hops++) {
		if (level > 0 && e == h->loop_env[level - 1]) {
			level--;
			hops = 0;
		}
		if (level == loops)
			continue;
		for (int i = 0; i < e->n; i++) {
			const Binding *b = &e->b[i];
			if (!b->host || !var_storable(&b->v))
				continue;
			/* still its let's value from constants: the resumed run's let
			   computes it again, from the -D values of that run */
			if (!b->changed && var_static(&b->v))
				continue;
			bool list = b->v.kind == V_LIST;
			int rows = list ? b->v.n + 1 : 1;
			int32_t *d = arena_alloc(ev->arena, (size_t)rows * 3 * sizeof *d);
			if (list) {
				d[0] = VAR_LIST;
				d[1] = b->v.n;
				for (int k = 0; k < b->v.n; k++)
					var_row(d + 3 * (k + 1), &b->v.items[k]);
			} else
				var_row(d, &b->v);
			(*names)[n] = arena_printf(ev->arena, "meta.var.%d.%d.%s", level, hops, b->name);
			(*ts)[n++] = (Tensor){ .type = type_make(DT_I32, 2, (int64_t[]){ rows, 3 }), .data = d };
		}
	}
	/* the numeric consts, so that resume can say which -D values changed */
	for (int i = 0; i < ev->prog->ndecls; i++) {
		const Value *v = const_number(ev, ev->prog->decls[i]);
		if (!v)
			continue;
		int32_t *d = arena_alloc(ev->arena, 3 * sizeof *d);
		var_row(d, v);
		(*names)[n] = arena_printf(ev->arena, "meta.const.%s", ev->prog->decls[i]->name);
		(*ts)[n++] = (Tensor){ .type = type_make(DT_I32, 2, (int64_t[]){ 1, 3 }), .data = d };
	}
	return n;
}

/* meta.const.NAME of a checkpoint against the const's value in this run:
   a -D that differs is what the run goes on with, said once, at resume
   (before a parameter whose shape it changed is refused). */
static void consts_compare(Ev *ev, Loc loc, const char *path, const RtTensor *t)
{
	const char *name = t->name + strlen("meta.const.");
	const int32_t *d = t->data;
	if (t->dt != RT_I32 || t->rank != 2 || t->dim[0] != 1 || t->dim[1] != 3 || (d[0] != VAR_INT && d[0] != VAR_FLOAT))
		ev_error(ev, loc, "'%s': tensor '%s' is not a recorded const (meta.const.NAME: i32[1, 3] holding an int "
		         "or a float)", path, t->name);
	Value was = var_value(d);
	for (int i = 0; i < ev->prog->ndecls; i++) {
		const Value *now = const_number(ev, ev->prog->decls[i]);
		if (now && !strcmp(ev->prog->decls[i]->name, name) && num(now) != num(&was))
			diag_warning(loc, "const %s is %s in this run but was %s when '%s' was written; the resumed run goes "
			             "on with %s", name, host_format(ev, *now), host_format(ev, was), path, host_format(ev, *now));
	}
}

void host_vars_read(Ev *ev, Loc loc, const char *path, const RtTensor *f, int nf, int nloops)
{
	Host *h = ev->host;
	h->pending_vars = arena_alloc(ev->arena, (size_t)(nf + 1) * sizeof *h->pending_vars);
	h->npending_vars = 0;
	for (int i = 0; i < nf; i++) {
		const RtTensor *t = &f[i];
		if (!strncmp(t->name, "meta.const.", strlen("meta.const.")))
			consts_compare(ev, loc, path, t);
		if (strncmp(t->name, "meta.var.", 9) != 0)
			continue;
		int level, hops, used = 0;
		const int32_t *d = t->data;
		bool ok = sscanf(t->name + 9, "%d.%d.%n", &level, &hops, &used) == 2 && used > 0 &&
		          t->name[9 + used] && level >= 0 && level < nloops && hops >= 0 && t->dt == RT_I32 &&
		          t->rank == 2 && t->dim[1] == 3 && t->dim[0] >= 1 &&
		          (d[0] == VAR_LIST ? d[1] == t->dim[0] - 1 : d[0] >= VAR_INT && d[0] <= VAR_BOOL && t->dim[0] == 1);
		for (int64_t r = 1; ok && r < t->dim[0]; r++)
			ok = d[3 * r] >= VAR_INT && d[3 * r] <= VAR_BOOL;
		if (!ok)
			ev_error(ev, loc, "'%s': tensor '%s' is not a recorded host variable "
			         "(meta.var.LEVEL.HOPS.NAME: i32[rows, 3] of numbers or a list, LEVEL below %d, the rows of meta.loops)",
			         path, t->name, nloops);
		Value v;
		if (d[0] == VAR_LIST) {
			v = (Value){ .kind = V_LIST, .n = d[1] };
			v.items = arena_alloc(ev->arena, (size_t)(v.n + 1) * sizeof *v.items);
			for (int k = 0; k < v.n; k++)
				v.items[k] = var_value(d + 3 * (k + 1));
		} else
			v = var_value(d);
		h->pending_vars[h->npending_vars++] = (struct HostVar){ level, hops,
			arena_strdup(ev->arena, t->name + 9 + used), v };
	}
}

/* Loop `level` of the checkpoint is entered again in env: its variables
   get their recorded values (a variable the program no longer has, or
   that holds something else now, is left alone). */
static void vars_restore(Ev *ev, Env *env, int level)
{
	Host *h = ev->host;
	for (int i = 0; i < h->npending_vars; i++) {
		const struct HostVar *p = &h->pending_vars[i];
		if (p->level != level)
			continue;
		Env *e = env;
		for (int k = 0; k < p->hops && e && e != ev->globals; k++)
			e = e->parent;
		if (!e || e == ev->globals)
			continue;
		for (int k = 0; k < e->n; k++)
			if (!strcmp(e->b[k].name, p->name) && e->b[k].host && var_storable(&e->b[k].v)) {
				e->b[k].v = p->v;
				e->b[k].changed = true;
			}
	}
}

/* Enters a loop at s: pushes it on the stack of running loops and returns
   the iteration to start at.  After resume, the loops that were running
   when the checkpoint was taken continue where they were, matched by their
   `for` statement and nesting: the innermost one at the iteration after the
   checkpoint's, the outer ones at the same iteration (their part before
   the inner loop runs again).  *call receives the recorded batches() count
   of a continued batches loop, else -1. */
static int64_t loop_enter(Ev *ev, Env *env, const Stmt *s, int64_t *call)
{
	Host *h = ev->host;
	int64_t start = 0;
	*call = -1;
	if (h->nmatched < h->npending && h->nmatched == h->nloops) {
		LoopPos *p = &h->pending[h->nmatched];
		if (p->line == s->loc.line && p->col == s->loc.col) {
			start = p->iter + (h->nmatched == h->npending - 1);
			*call = p->call;
			vars_restore(ev, env, h->nmatched);
			h->nmatched++;
		}
	}
	if (h->nloops < HOST_MAX_LOOPS) {
		h->loops[h->nloops] = (LoopPos){ s->loc.line, s->loc.col, start, -1 };
		h->loop_env[h->nloops] = env;
	}
	h->nloops++;
	return start;
}

static void loop_at(Ev *ev, int64_t iter, int64_t call)
{
	Host *h = ev->host;
	if (h->nloops <= HOST_MAX_LOOPS) {
		h->loops[h->nloops - 1].iter = iter;
		h->loops[h->nloops - 1].call = call;
	}
}

/* Runs a loop's body in inner, its iteration's scope, then drops the scope
   and stops here after a SIGINT; false when a break ends the loop. */
static bool host_iteration(Ev *ev, Env *inner, const Stmt *s)
{
	Flow f = host_block(ev, inner, s->body, s->nbody);
	env_release(inner);
	host_poll_interrupt(ev);
	return f != FLOW_BREAK;
}

/* A loop over batches(...) or packed_batches(...) (host/hostdocs.c): the
   order of the examples, or the packing plan of the pass, is drawn once
   the loop is entered, from the seed and the batches() call count. */
static void run_batches(Ev *ev, Env *env, const Stmt *s, Value b)
{
	Host *h = ev->host;
	bool packed = b.kind == V_PACKED;
	int64_t len = rt_dataset_len(b.ds), bs = b.items[0].i;
	bool shuffle = b.items[1].i, drop_last = b.items[2].i;
	uint64_t seed = b.items[3].kind == V_INT ? (uint64_t)b.items[3].i : ev->seed;
	int64_t call;
	int64_t start = loop_enter(ev, env, s, &call);
	if (call < 0)
		call = ev->batches_calls++; /* a continued loop was counted before the checkpoint */
	uint64_t key = rt_mix64(seed ^ rt_mix64((uint64_t)call));
	RtPack *pack = packed ? host_pack_plan(ev, &b, key, s->loc) : NULL;
	int64_t *order = packed ? NULL : rt_batch_order(len, shuffle, key);
	bool training = body_calls(s->body, s->nbody, "minimize");
	/* shard = true: this rank's part of the (shuffled) order */
	int64_t part = !packed && b.items[4].i ? host_dist_part(ev, s->value->loc, training, &len) : 0;
	int64_t nb = packed ? host_pack_count(pack, &b) : rt_batch_count(len, bs, drop_last);
	if (training && h->log && !ev->dry) {
		int64_t total = nb - (start < nb ? start : nb);
		for (int i = 0; i < h->loop_depth; i++)
			total *= h->loop_left[i];
		rt_log_set_total(h->log, h->log_step + total);
	}
	RtShape xs = rt_dataset_xshape(b.ds), ys = rt_dataset_yshape(b.ds);
	bool has_y = ys.rank >= 0; /* tensors(x) has examples without a y */
	for (int64_t k = start; k < nb; k++) {
		if (ev->dry && k != 0 && k != nb - 1)
			continue;
		loop_at(ev, k, call);
		int64_t n = packed || len - k * bs >= bs ? bs : len - k * bs;
		if (ev->dry && k == nb - 1 && k != 0 && n == bs)
			continue; /* same shapes as the first batch */
		int64_t first = training ? host_dist_shard(ev, s->value->loc, packed, k, &n) : 0;
		Value vals[4];
		int nvals = has_y ? 2 : 1;
		double t0 = rt_prof_on ? rt_prof_now() : 0;
		if (packed) {
			host_pack_batch(ev, pack, &b, k, vals, s->loc);
			nvals = 4;
		} else {
			Type tx = { .dt = xs.dt == RT_F32 ? DT_F32 : DT_I32, .rank = xs.rank + 1, .dim = { n } };
			Type ty = { .dt = ys.dt == RT_F32 ? DT_F32 : DT_I32, .rank = has_y ? ys.rank + 1 : 1, .dim = { has_y ? n : 0 } };
			memcpy(tx.dim + 1, xs.dim, xs.rank * sizeof *xs.dim);
			if (has_y)
				memcpy(ty.dim + 1, ys.dim, ys.rank * sizeof *ys.dim);
			check_batch(ev, &tx, &ty, s->loc);
			HostTensor *x = ht_new(tx), *y = has_y ? ht_new(ty) : NULL;
			rt_dataset_fill(b.ds, order + part + k * bs + first, n, x->t.data, y ? y->t.data : NULL);
			vals[0] = (Value){ .kind = V_HOST, .ht = x };
			vals[1] = (Value){ .kind = V_HOST, .ht = y };
		}
		if (rt_prof_on && !ev->dry)
			rt_prof_span("load batch", "load", t0, rt_prof_now());
		Env *inner = env_new(ev, env);
		bind_loop(ev, inner, s, vals, nvals);
		if (!host_iteration(ev, inner, s))
			break;
	}
	free(order);
	rt_pack_free(pack);
	h->nloops--;
}

static void run_for(Ev *ev, Env *env, const Stmt *s)
{
	Host *h = ev->host;
	Value it = host_value(ev, env, s->value);
	if (it.kind == V_BATCHES || it.kind == V_PACKED) {
		run_batches(ev, env, s, it);
		return;
	}
	int64_t count = it.kind == V_RANGE ? (it.j > it.i ? it.j - it.i : 0) : it.kind == V_LIST ? it.n : -1;
	if (count < 0)
		ev_error(ev, s->value->loc, "cannot iterate over a %s%s", value_kind_name(&it),
		         it.kind == V_DATASET ? " (use batches(data, size))" : "");
	int d = h->loop_depth < 16 ? h->loop_depth : 15;
	h->loop_depth++;
	int64_t unused;
	for (int64_t i = loop_enter(ev, env, s, &unused); i < count; i++) {
		if (ev->dry && i > 0)
			break;
		loop_at(ev, i, -1);
		h->loop_left[d] = count - i;
		Env *inner = env_new(ev, env);
		Value v = it.kind == V_RANGE ? v_int(it.i + i) : it.items[i];
		if (s->nnames > 1 && v.kind == V_LIST)
			bind_loop(ev, inner, s, v.items, v.n);
		else
			bind_loop(ev, inner, s, &v, 1);
		if (!host_iteration(ev, inner, s))
			break;
	}
	h->loop_depth--;
	h->nloops--;
}

/* The condition of an if or while: a host bool or number (a scalar tensor
   has been computed by host_value).  *known: it holds in a dry run too,
   being computed from constants alone (no variable, no region result). */
static bool host_condition(Ev *ev, Env *env, const Stmt *s, bool *known)
{
	Value c = host_value(ev, env, s->value);
	*known = !c.dyn;
	if (c.kind == V_HOST)
		ev_error(ev, s->value->loc, "condition must be one bool, got a tensor %s (reduce it to one value first, e.g. with sum)",
		         type_str(&c.ht->t.type, (char[96]){ 0 }, 96));
	if (!is_number(&c))
		ev_error(ev, s->value->loc, "condition must be a bool, got a %s", value_kind_name(&c));
	return num(&c) != 0;
}

/* while: a loop of the checkpoint's loop stack like a for, counting its
   iterations; resume does not skip any of them, it evaluates the condition
   again with the restored state (opt.t, host variables).  In dry mode the
   body runs once unless the condition is false by constants alone, so that
   all of it is checked. */
static void run_while(Ev *ev, Env *env, const Stmt *s)
{
	Host *h = ev->host;
	int64_t unused;
	for (int64_t i = loop_enter(ev, env, s, &unused);; i++) {
		bool known, go = host_condition(ev, env, s, &known);
		if (ev->dry ? i > 0 || (known && !go) : !go)
			break;
		loop_at(ev, i, -1);
		Env *inner = env_new(ev, env);
		if (!host_iteration(ev, inner, s))
			break;
	}
	h->nloops--;
}

static void assign(Ev *ev, Env *env, const Stmt *s)
{
	const Expr *t = s->target;
	if (t->kind == E_MEMBER) {
		Value base = host_value(ev, env, t->a);
		if (base.kind != V_OPT)
			ev_error(ev, t->loc, "only optimizer hyperparameters can be assigned with '.', not members of a %s",
			         value_kind_name(&base));
		Binding *b = env_find(base.opt->hyper, t->str);
		if (!b || b->v.kind == V_CALLABLE)
			ev_error(ev, t->loc, "optimizer '%s' has no hyperparameter '%s'%s", base.opt->decl->name, t->str,
			         ev_suggest_hyper(ev, base.opt, t->str));
		Value v = host_value(ev, env, s->value);
		if (!is_number(&v))
			ev_error(ev, s->value->loc, "a hyperparameter must be a number, got a %s", value_kind_name(&v));
		v.origin = NULL;
		b->v = v;
		return;
	}
	if (t->kind != E_NAME)
		ev_error(ev, t->loc, "cannot assign to this expression");
	Binding *b = env_find(env, t->str);
	if (b && env_find(ev->globals, t->str) == b)
		ev_error(ev, t->loc, "cannot assign to global '%s' (a const, function, model or optimizer; "
		         "declare a variable with let)", t->str);
	if (!b)
		ev_error(ev, t->loc, "assignment to undeclared variable '%s' (declare it with let)%s", t->str,
		         ev_suggest_name(ev, env, t->str));
	Value v = host_value(ev, env, s->value);
	v.origin = NULL;
	if (b->host) { /* bind first: v may be the value b holds */
		ht_bind(v);
		ht_unbind(b->v);
	}
	b->v = v;
	b->changed = true;
}

/* A block in a scope of its own, whose host tensors go with it. */
static Flow host_scope(Ev *ev, Env *env, Stmt *const *ss, int n)
{
	Env *inner = env_new(ev, env);
	Flow f = host_block(ev, inner, ss, n);
	env_release(inner);
	return f;
}

Flow host_block(Ev *ev, Env *env, Stmt *const *ss, int n)
{
	for (int k = 0; k < n; k++) {
		const Stmt *s = ss[k];
		ev->host->env = env;
		switch (s->kind) {
		case S_LET: {
			ev->name_hint = s->nnames == 1 ? s->names[0] : NULL;
			Value v = host_value(ev, env, s->value);
			ev->name_hint = NULL;
			v.origin = NULL;
			if (s->nnames == 1)
				env_set(ev, env, s->names[0], v, true);
			else if (v.kind == V_LIST)
				bind_loop(ev, env, s, v.items, v.n);
			else
				ev_error(ev, s->loc, "cannot unpack a %s into %d names", value_kind_name(&v), s->nnames);
			break;
		}
		case S_ASSIGN:
			assign(ev, env, s);
			break;
		case S_EXPR:
			host_value(ev, env, s->value);
			break;
		case S_FOR:
			run_for(ev, env, s);
			break;
		case S_IF: {
			bool known, c = host_condition(ev, env, s, &known);
			Flow f = FLOW_NEXT;
			if (ev->dry && !known) { /* both branches are checked */
				host_scope(ev, env, s->body, s->nbody);
				host_scope(ev, env, s->els, s->nels);
			} else /* a dry run takes the branch a condition on constants (-D USE=0.1) chooses */
				f = c ? host_scope(ev, env, s->body, s->nbody) : host_scope(ev, env, s->els, s->nels);
			if (f != FLOW_NEXT)
				return f;
			break;
		}
		case S_WHILE:
			run_while(ev, env, s);
			break;
		case S_BREAK:
		case S_CONTINUE:
			/* a dry run goes on past them, so that what follows is checked */
			if (!ev->dry)
				return s->kind == S_BREAK ? FLOW_BREAK : FLOW_CONTINUE;
			break;
		case S_RETURN:
			ev_error(ev, s->loc, "return outside of a function");
		}
	}
	return FLOW_NEXT;
}

void host_run_train(Ev *ev, const Decl *train)
{
	Env *env = env_new(ev, ev->globals);
	host_block(ev, env, train->body, train->nbody);
}

void host_free(Ev *ev)
{
	Host *h = ev->host;
	if (h->backend.release)
		h->backend.release(h->backend.ctx); /* before the regions its code refers to */
	h->backend = (Backend){ 0 };
	host_cache_free(h);
	slots_free(ev);
}
