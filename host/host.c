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

void ht_bind(Value v)
{
	if (v.kind == V_HOST)
		v.ht->refs++;
}

void ht_unbind(Value v)
{
	if (v.kind == V_HOST)
		ht_release(v.ht);
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

Value host_minimize(Ev *ev, Value opt, Value loss, Loc loc)
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
	if (lt.rank != 0 || lt.dt != DT_F32)
		ev_error(ev, loc, "minimize needs a scalar f32 loss, got %s", type_str(&lt, (char[96]){ 0 }, 96));
	r->name = "step";
	opt_trace_update(ev, opt.opt, loss.node, loc);
	host_run_trace(ev, &loss, 1, loc, true);
	opt.opt->t++;
	ev->host->log_step = opt.opt->t;
	if (!ev->dry && !isfinite(loss.f))
		ev_error(ev, loc, "the loss is %s at step %lld; stopping", isnan(loss.f) ? "nan" : "infinite",
		         (long long)opt.opt->t);
	return loss;
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

/* Enters a loop at s: pushes it on the stack of running loops and returns
   the iteration to start at.  After resume, the loops that were running
   when the checkpoint was taken continue where they were, matched by their
   `for` statement and nesting: the innermost one at the iteration after the
   checkpoint's, the outer ones at the same iteration (their part before
   the inner loop runs again).  *call receives the recorded batches() count
   of a continued batches loop, else -1. */
static int64_t loop_enter(Ev *ev, const Stmt *s, int64_t *call)
{
	Host *h = ev->host;
	int64_t start = 0;
	*call = -1;
	if (h->nmatched < h->npending && h->nmatched == h->nloops) {
		LoopPos *p = &h->pending[h->nmatched];
		if (p->line == s->loc.line && p->col == s->loc.col) {
			start = p->iter + (h->nmatched == h->npending - 1);
			*call = p->call;
			h->nmatched++;
		}
	}
	if (h->nloops < HOST_MAX_LOOPS)
		h->loops[h->nloops] = (LoopPos){ s->loc.line, s->loc.col, start, -1 };
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

static void run_batches(Ev *ev, Env *env, const Stmt *s, Value b)
{
	Host *h = ev->host;
	int64_t len = rt_dataset_len(b.ds), bs = b.items[0].i;
	bool shuffle = b.items[1].i, drop_last = b.items[2].i;
	uint64_t seed = b.items[3].kind == V_INT ? (uint64_t)b.items[3].i : ev->seed;
	int64_t nb = rt_batch_count(len, bs, drop_last);
	int64_t call;
	int64_t start = loop_enter(ev, s, &call);
	if (call < 0)
		call = ev->batches_calls++; /* a continued loop was counted before the checkpoint */
	int64_t *order = rt_batch_order(len, shuffle, rt_mix64(seed ^ rt_mix64((uint64_t)call)));
	bool training = body_calls(s->body, s->nbody, "minimize");
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
		int64_t n = len - k * bs < bs ? len - k * bs : bs;
		if (ev->dry && k == nb - 1 && k != 0 && n == bs)
			continue; /* same shapes as the first batch */
		Type tx = { .dt = xs.dt == RT_F32 ? DT_F32 : DT_I32, .rank = xs.rank + 1, .dim = { n } };
		Type ty = { .dt = ys.dt == RT_F32 ? DT_F32 : DT_I32, .rank = has_y ? ys.rank + 1 : 1, .dim = { has_y ? n : 0 } };
		memcpy(tx.dim + 1, xs.dim, xs.rank * sizeof *xs.dim);
		if (has_y)
			memcpy(ty.dim + 1, ys.dim, ys.rank * sizeof *ys.dim);
		check_batch(ev, &tx, &ty, s->loc);
		HostTensor *x = ht_new(tx), *y = has_y ? ht_new(ty) : NULL;
		rt_dataset_fill(b.ds, order + k * bs, n, x->t.data, y ? y->t.data : NULL);
		Env *inner = env_new(ev, env);
		bind_loop(ev, inner, s, (Value[]){ { .kind = V_HOST, .ht = x }, { .kind = V_HOST, .ht = y } }, has_y ? 2 : 1);
		host_block(ev, inner, s->body, s->nbody);
		env_release(inner);
		host_poll_interrupt(ev);
	}
	free(order);
	h->nloops--;
}

static void run_for(Ev *ev, Env *env, const Stmt *s)
{
	Host *h = ev->host;
	Value it = host_value(ev, env, s->value);
	if (it.kind == V_BATCHES) {
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
	for (int64_t i = loop_enter(ev, s, &unused); i < count; i++) {
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
		host_block(ev, inner, s->body, s->nbody);
		env_release(inner);
		host_poll_interrupt(ev);
	}
	h->loop_depth--;
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
			ev_error(ev, t->loc, "optimizer '%s' has no hyperparameter '%s'", base.opt->decl->name, t->str);
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
		ev_error(ev, t->loc, "assignment to undeclared variable '%s' (declare it with let)", t->str);
	Value v = host_value(ev, env, s->value);
	v.origin = NULL;
	if (b->host) { /* bind first: v may be the value b holds */
		ht_bind(v);
		ht_unbind(b->v);
	}
	b->v = v;
}

/* A block in a scope of its own, whose host tensors go with it. */
static void host_scope(Ev *ev, Env *env, Stmt *const *ss, int n)
{
	Env *inner = env_new(ev, env);
	host_block(ev, inner, ss, n);
	env_release(inner);
}

void host_block(Ev *ev, Env *env, Stmt *const *ss, int n)
{
	for (int k = 0; k < n; k++) {
		const Stmt *s = ss[k];
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
			Value c = host_value(ev, env, s->value);
			if (c.kind == V_HOST)
				ev_error(ev, s->value->loc, "condition must be one bool, got a tensor %s (reduce it to one value first, e.g. with sum)",
				         type_str(&c.ht->t.type, (char[96]){ 0 }, 96));
			if (!is_number(&c))
				ev_error(ev, s->value->loc, "condition must be a bool, got a %s", value_kind_name(&c));
			if (ev->dry) { /* both branches are checked */
				host_scope(ev, env, s->body, s->nbody);
				host_scope(ev, env, s->els, s->nels);
			} else if (num(&c) != 0)
				host_scope(ev, env, s->body, s->nbody);
			else
				host_scope(ev, env, s->els, s->nels);
			break;
		}
		case S_RETURN:
			ev_error(ev, s->loc, "return outside of a function");
		}
	}
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
