/*
 * host.c — the host program: runs `train` blocks statement by statement.
 *
 * Tensor work inside a host statement is traced into a region; the region
 * is compiled once per distinct trace (the cache is keyed by the region's
 * text form, so shapes or structure that change give a new specialization,
 * and host numbers that change do not: they are inputs) and executed by the
 * reference interpreter.  In dry mode (`sinter check`, `sinter ir`) every
 * loop runs once per distinct batch shape and nothing is executed: all
 * regions are traced, shape-checked and compiled, none run.
 */
#include "host/host.h"
#include "host/run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel/kernel.h"
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

/* ---- tracing and running regions ---- */

/* When the current trace began, for Host.trace_ms (--time-passes). */
static struct timespec trace_t0;

static void trace_begin(Ev *ev, bool training)
{
	clock_gettime(CLOCK_MONOTONIC, &trace_t0);
	Arena *a = arena_new();
	Trace *tr = arena_alloc(a, sizeof *tr);
	tr->a = a;
	tr->r = ir_region_new(a, training ? "step" : "eval");
	tr->training = training;
	ev->tr = tr;
}

static void trace_discard(Ev *ev)
{
	if (ev->tr)
		arena_free(ev->tr->a);
	ev->tr = NULL;
}

/* Compiles (or finds compiled) the traced region, found by structure
   (ir_hash, ir_equal); takes ownership of its arena on a miss.  Native code when a JIT or an ahead-of-time table is present. */
static CacheEntry *compile(Ev *ev)
{
	Host *h = ev->host;
	Trace *tr = ev->tr;
	uint64_t hash = ir_hash(tr->r);
	for (int i = 0; i < h->ncache; i++)
		if (h->cache[i].hash == hash && ir_equal(h->cache[i].traced, tr->r))
			return &h->cache[i];
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	h->trace_ms += (t1.tv_sec - trace_t0.tv_sec) * 1e3 + (t1.tv_nsec - trace_t0.tv_nsec) / 1e6;
	/* a new specialization: its text keys the regions of built binaries */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ir_print_with(f, tr->r, kernel_print_comments);
	fclose(f);
	if (h->ncache == h->capcache) {
		h->capcache = h->capcache ? 2 * h->capcache : 16;
		h->cache = realloc(h->cache, h->capcache * sizeof *h->cache);
	}
	Region *r = tr->r;
	r->name = arena_printf(tr->a, "%s%d", r->name, h->ncache);
	CacheEntry *c = &h->cache[h->ncache++];
	*c = (CacheEntry){ hash, text, r, tr->a, NULL, ir_copy(tr->a, r), false };
	tr->a = NULL; /* the cache owns the arena now */
	char err[256];
	PipeOpts o = h->pipe;
	if (!pipeline_run(r, &o, err, sizeof err))
		fatal("%s", err);
	if (h->ir_out && !o.after)
		ir_print_with(h->ir_out, r, kernel_print_comments);
	if (h->backend.compile && !ev->dry) {
		c->cg = h->backend.compile(h->backend.ctx, r, text);
		if (!c->cg)
			return c;
		h->codegen_ms += c->cg->ms;
		if (o.time_passes)
			fprintf(stderr, "codegen %-9s %8.3f ms  (%s: LLVM IR, O3, machine code)\n", "", c->cg->ms, r->name);
	}
	return c;
}

static Value output_value(Ev *ev, Tensor *t)
{
	if (t->type.rank == 0) {
		Value v;
		switch (t->type.dt) {
		case DT_F32: v = v_float(*(float *)t->data); break;
		case DT_I32: v = v_int(*(int32_t *)t->data); break;
		default: v = v_bool(*(uint8_t *)t->data != 0); break;
		}
		free(t->data);
		v.dyn = true;
		return v;
	}
	HostTensor *h = xcalloc(1, sizeof *h);
	h->t = *t;
	h->refs = 0;
	rt_mem_hold(type_bytes(&t->type));
	(void)ev;
	return (Value){ .kind = V_HOST, .ht = h };
}

/*
 * Before a region runs (and under `check`, where it does not): its arena
 * and its results must fit in the memory limit next to what the program
 * holds.  Native code keeps its arena from one run to the next, so after
 * the first run that arena counts as held.
 */
static void check_memory(Ev *ev, CacheEntry *c, Loc loc)
{
	const Region *r = c->exec;
	int64_t outs = 0;
	for (int i = 0; i < r->nout; i++) {
		const Type *t = &r->node[r->out[i]].type;
		outs += type_bytes(t);
	}
	int64_t need = outs + (c->arena_held ? 0 : r->arena_bytes);
	char what[160], ob[32], ab[32], err[512];
	snprintf(what, sizeof what, "the tensor work here (%s of results, %s of intermediates)",
		rt_format_bytes(outs, ob, sizeof ob), rt_format_bytes(r->arena_bytes, ab, sizeof ab));
	if (!rt_mem_check(need, what, err, sizeof err))
		ev_error(ev, loc, "%s", err);
	if (c->cg && !c->arena_held) {
		rt_mem_hold(r->arena_bytes);
		c->arena_held = true;
	}
}

/* The evaluator whose region is running, and whether it is minimize's
   (a training step), for index_error (one program per process). */
static Ev *running_ev;
static bool minimizing;

/*
 * The hook of ir_index_fail: an index outside its table stopped the
 * region (interpreter or native code), which wrote nothing.  Reported at
 * the op's source location with the step: the optimizer step being taken,
 * or the last one taken for work outside minimize.
 */
static void index_error(const Region *r, OpKind op, int loc, int64_t index, int64_t n)
{
	Host *h = running_ev->host;
	char msg[160];
	ir_index_message(op, index, n, msg, sizeof msg);
	const IrLoc *l = loc >= 1 && loc <= r->nloc ? &r->loc[loc - 1] : NULL;
	rt_log_clear_line(h->log);
	Loc at = l ? (Loc){ l->file, l->line, l->col } : (Loc){ 0 };
	if (minimizing)
		diag_begin_error(at, "%s (step %lld)", msg, (long long)h->log_step + 1);
	else if (h->log_step > 0)
		diag_begin_error(at, "%s (after step %lld)", msg, (long long)h->log_step);
	else
		diag_begin_error(at, "%s (before the first step)", msg);
	diag_exit();
}

/* Runs the traced region with the tensors in vals[] as outputs; replaces
   them by host values and starts a new empty trace. */
static void trace_run(Ev *ev, Value *vals, int n, Loc loc)
{
	Trace *tr = ev->tr;
	bool training = tr->training;
	for (int i = 0; i < n; i++)
		ir_output(tr->r, ev_node(ev, vals[i], loc, DT_COUNT));
	Tensor *inputs = tr->inputs;
	CacheEntry *c = compile(ev);
	Region *r = c->exec;
	check_memory(ev, c, loc);
	Arena *keep = tr->a; /* NULL when the cache took the trace's arena */
	Tensor *outs = xcalloc(n + 1, sizeof *outs);
	if (ev->dry) {
		for (int i = 0; i < n; i++) {
			Type t = r->node[r->out[i]].type;
			outs[i] = (Tensor){ t, xcalloc((size_t)type_numel(&t), dtype_size(t.dt)) };
		}
	} else {
		Store s = ev_store(ev);
		s.step = (uint64_t)ev->region_runs++;
		running_ev = ev;
		ir_set_index_hook(index_error);
		Tensor **in = xcalloc(tr->ninputs + 1, sizeof *in);
		for (int i = 0; i < tr->ninputs; i++)
			in[i] = &inputs[i];
		if (c->cg)
			host_run_compiled(c->cg, &s, in, outs);
		else
			interp_run(r, &s, in, outs);
		free(in);
	}
	for (int i = 0; i < n; i++)
		vals[i] = output_value(ev, &outs[i]);
	free(outs);
	if (keep)
		arena_free(keep);
	ev->tr = NULL;
	trace_begin(ev, training);
}

/* Counts the traced tensors in v (lists nest), storing them in ts if given. */
static int collect_traced(Value v, Value *ts, int k)
{
	if (v.kind == V_TENSOR) {
		if (ts)
			ts[k] = v;
		return k + 1;
	}
	if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			k = collect_traced(v.items[i], ts, k);
	return k;
}

/* v with its traced tensors replaced, in order, by the values in ts (lists
   are copied: the originals may be shared). */
static Value replace_traced(Ev *ev, Value v, const Value *ts, int *k)
{
	if (v.kind == V_TENSOR)
		return ts[(*k)++];
	if (v.kind != V_LIST)
		return v;
	Value *items = arena_alloc(ev->arena, (v.n + 1) * sizeof *items);
	for (int i = 0; i < v.n; i++)
		items[i] = replace_traced(ev, v.items[i], ts, k);
	v.items = items;
	return v;
}

/* Makes v a host value: runs the traced work it depends on (all of it in
   one region, however deeply lists nest). */
Value host_force(Ev *ev, Value v, Loc loc)
{
	int n = collect_traced(v, NULL, 0);
	if (!n)
		return v;
	Value *ts = arena_alloc(ev->arena, n * sizeof *ts);
	collect_traced(v, ts, 0);
	trace_run(ev, ts, n, loc);
	int k = 0;
	return replace_traced(ev, v, ts, &k);
}

Value host_value(Ev *ev, Env *env, const Expr *e)
{
	bool outer = ev->tr == NULL;
	if (outer)
		trace_begin(ev, false);
	Value v = host_force(ev, ev_expr(ev, env, e), e->loc);
	if (outer)
		trace_discard(ev);
	return v;
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
	minimizing = true;
	trace_run(ev, &loss, 1, loc);
	minimizing = false;
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
	for (int64_t k = start; k < nb; k++) {
		if (ev->dry && k != 0 && k != nb - 1)
			continue;
		loop_at(ev, k, call);
		int64_t n = len - k * bs < bs ? len - k * bs : bs;
		if (ev->dry && k == nb - 1 && k != 0 && n == bs)
			continue; /* same shapes as the first batch */
		Type tx = { .dt = xs.dt == RT_F32 ? DT_F32 : DT_I32, .rank = xs.rank + 1, .dim = { n } };
		Type ty = { .dt = ys.dt == RT_F32 ? DT_F32 : DT_I32, .rank = ys.rank + 1, .dim = { n } };
		memcpy(tx.dim + 1, xs.dim, xs.rank * sizeof *xs.dim);
		memcpy(ty.dim + 1, ys.dim, ys.rank * sizeof *ys.dim);
		check_batch(ev, &tx, &ty, s->loc);
		HostTensor *x = ht_new(tx), *y = ht_new(ty);
		rt_dataset_fill(b.ds, order + k * bs, n, x->t.data, y->t.data);
		Env *inner = env_new(ev, env);
		bind_loop(ev, inner, s, (Value[]){ { .kind = V_HOST, .ht = x }, { .kind = V_HOST, .ht = y } }, 2);
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
	for (int i = 0; i < h->ncache; i++) {
		free(h->cache[i].text);
		arena_free(h->cache[i].arena);
	}
	free(h->cache);
	h->cache = NULL;
	h->ncache = 0;
	slots_free(ev);
}
