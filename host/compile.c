/*
 * compile.c — from traced tensor work to host values: the region cache,
 * the compile path and running a region.
 *
 * Contract of host_compile: a traced region in, the cache entry that runs
 * it out.  A region is compiled once per distinct structure (ir_hash, then
 * ir_equal), so shapes or structure that change give a new specialization
 * and host numbers that change do not: they are inputs.  A new region is
 * printed (that text keys the regions of built binaries), run through the
 * pass pipeline, and handed to the backend (JIT, or the table of a built
 * binary); without native code the reference interpreter runs it.  In dry
 * mode (`sinter check`, `sinter ir`) nothing is compiled to native code and
 * nothing runs: results get their types and zeroed data.
 */
#include "host/host.h"
#include "host/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kernel.h"
#include "lang/diag.h"


/* A new trace; the roots from root_base up are the values it may meet
   (eval.c): those below belong to a statement around it. */
static void trace_begin(Ev *ev, bool training, int root_base)
{
	ev->host->trace_t0 = rt_now_ms();
	Arena *a = arena_new();
	Trace *tr = arena_alloc(a, sizeof *tr);
	tr->a = a;
	tr->r = ir_region_new(a, training ? "step" : "eval");
	tr->training = training;
	tr->root_base = root_base;
	ev->tr = tr;
}

static void trace_discard(Ev *ev)
{
	if (ev->tr)
		arena_free(ev->tr->a);
	ev->tr = NULL;
}

/* memcpy of n bytes from a source that is NULL when there is nothing to
   copy (an array a trace grows on first use): memcpy forbids NULL even
   for 0 bytes. */
static void copy_bytes(void *to, const void *from, size_t n)
{
	if (n)
		memcpy(to, from, n);
}

Trace *host_trace_fork(Ev *ev)
{
	const Trace *tr = ev->tr;
	Arena *a = arena_new();
	Trace *c = arena_alloc(a, sizeof *c);
	*c = *tr;
	c->a = a;
	c->r = ir_copy(a, tr->r);
	c->keep = NULL;
	c->cap = tr->ninputs;
	c->inputs = arena_alloc(a, ((size_t)c->cap + 1) * sizeof *c->inputs);
	c->origin = arena_alloc(a, ((size_t)c->cap + 1) * sizeof *c->origin);
	c->innode = arena_alloc(a, ((size_t)c->cap + 1) * sizeof *c->innode);
	for (int i = 0; i < tr->ninputs; i++) {
		size_t bytes = (size_t)type_bytes(&tr->inputs[i].type);
		c->inputs[i] = (Tensor){ tr->inputs[i].type, arena_alloc(a, bytes + 1) };
		copy_bytes(c->inputs[i].data, tr->inputs[i].data, bytes);
		c->origin[i] = tr->origin[i];
		c->innode[i] = tr->innode[i];
	}
	/* the origins of derived numbers live in tr's arena: the copy keeps
	   its own list, and its inputs name its own entries */
	c->derived = host_derived_copy(a, tr->derived, tr->origin, c->origin, tr->ninputs);
	c->capbufw = tr->nbufw;
	c->bufslot = arena_alloc(a, ((size_t)c->nbufw + 1) * sizeof *c->bufslot);
	c->bufval = arena_alloc(a, ((size_t)c->nbufw + 1) * sizeof *c->bufval);
	copy_bytes(c->bufslot, tr->bufslot, (size_t)tr->nbufw * sizeof *c->bufslot);
	copy_bytes(c->bufval, tr->bufval, (size_t)tr->nbufw * sizeof *c->bufval);
	c->capfieldw = tr->nfieldw;
	c->fieldb = arena_alloc(a, ((size_t)c->nfieldw + 1) * sizeof *c->fieldb);
	c->fieldold = arena_alloc(a, ((size_t)c->nfieldw + 1) * sizeof *c->fieldold);
	c->fieldown = arena_alloc(a, ((size_t)c->nfieldw + 1) * sizeof *c->fieldown);
	copy_bytes(c->fieldb, tr->fieldb, (size_t)tr->nfieldw * sizeof *c->fieldb);
	copy_bytes(c->fieldold, tr->fieldold, (size_t)tr->nfieldw * sizeof *c->fieldold);
	copy_bytes(c->fieldown, tr->fieldown, (size_t)tr->nfieldw * sizeof *c->fieldown);
	return c;
}

void host_trace_switch(Ev *ev, Trace *tr)
{
	trace_discard(ev);
	ev->tr = tr;
}

/* ---- the compile path ---- */

static CacheEntry *cache_find(Host *h, const Region *r, uint64_t hash)
{
	for (int i = 0; i < h->ncache; i++)
		if (h->cache[i].hash == hash && ir_equal(h->cache[i].traced, r))
			return &h->cache[i];
	return NULL;
}

/* A new entry for the traced region, which it takes with its arena; the
   region is named after its place in the cache ("step3"). */
static CacheEntry *cache_add(Host *h, Trace *tr, uint64_t hash)
{
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
	*c = (CacheEntry){ hash, text, r, tr->a, NULL, ir_copy(tr->a, r), false, NULL };
	tr->a = NULL;
	return c;
}

/* The pass pipeline on the entry's region; `sinter ir` prints the result
   (with --after the pipeline prints instead). */
static void optimize(Host *h, CacheEntry *c)
{
	char err[256];
	if (!pipeline_run(c->exec, &h->pipe, err, sizeof err))
		fatal("%s", err);
	if (h->ir_out && !h->pipe.after)
		ir_print_with(h->ir_out, c->exec, kernel_print_comments);
}

/* Native code from the backend, when it has some for the region. */
static void native_code(Host *h, CacheEntry *c)
{
	c->cg = h->backend.compile(h->backend.ctx, c->exec, c->text);
	if (!c->cg)
		return;
	h->codegen_ms += c->cg->ms;
	if (h->pipe.time_passes)
		fprintf(stderr, "codegen %-9s %8.3f ms  (%s: LLVM IR, O3, machine code)\n", "", c->cg->ms, c->exec->name);
}

CacheEntry *host_compile(Host *h, Trace *tr, bool dry)
{
	uint64_t hash = ir_hash(tr->r);
	CacheEntry *c = cache_find(h, tr->r, hash);
	if (c)
		return c;
	h->trace_ms += rt_now_ms() - h->trace_t0;
	c = cache_add(h, tr, hash);
	optimize(h, c);
	if (h->backend.compile && !dry)
		native_code(h, c);
	return c;
}

void host_cache_free(Host *h)
{
	for (int i = 0; i < h->ncache; i++) {
		free(h->cache[i].text);
		arena_free(h->cache[i].arena);
	}
	free(h->cache);
	h->cache = NULL;
	h->ncache = 0;
}

/* ---- running a region ---- */

static Value output_value(Ev *ev, Tensor *t)
{
	if (t->type.rank == 0) {
		Value v;
		switch (t->type.dt) {
		case DT_F32: v = v_float(*(float *)t->data); break;
		case DT_I32: v = v_int(*(int32_t *)t->data); break;
		case DT_BF16: v = v_float(rt_bf16_to_f32(*(uint16_t *)t->data)); break;
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

/*
 * The profiler's ids of c's kernels (--profile), registered on the entry's
 * first profiled run: every node where generated code may mark the end of
 * a kernel call (a fused kernel's last member, a node computed on its own)
 * is described by kernel_describe (kernel/kernel.c); one more id names
 * the copies.  Linear in the region: members are bucketed by kernel in
 * one pass.
 */
static const int32_t *prof_kernels(CacheEntry *c)
{
	const Region *r = c->exec;
	if (c->prof_kid)
		return c->prof_kid;
	int n = r->nnode, ng = 0;
	c->prof_kid = arena_alloc(c->arena, ((size_t)n + 1) * sizeof *c->prof_kid);
	bool *internal = xcalloc((size_t)n + 1, sizeof *internal), *written = xcalloc((size_t)n + 1, sizeof *written);
	kernel_internal(r, internal);
	for (int v = 0; v < n; v++) {
		ng = r->node[v].group >= ng ? r->node[v].group + 1 : ng;
		if (r->node[v].op == OP_WRITE)
			written[ir_operand(r, v, 1)] = true;
	}
	/* members of kernel g: mem[start[g] .. start[g + 1]), in node order */
	int *start = xcalloc((size_t)ng + 2, sizeof *start), *mem = xmalloc(((size_t)n + 1) * sizeof *mem);
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= 0)
			start[r->node[v].group + 2]++;
	for (int g = 0; g < ng; g++)
		start[g + 2] += start[g + 1];
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= 0)
			mem[start[r->node[v].group + 1]++] = v;
	KernelInfo ki;
	for (int v = -1; v < n; v++) {
		int g = v >= 0 ? r->node[v].group : -1;
		const int *m = g >= 0 ? mem + start[g] : &v;
		int k = g >= 0 ? start[g + 1] - start[g] : 1;
		int32_t *id = &c->prof_kid[v < 0 ? n : v];
		*id = -1;
		if (v >= 0 && ((g >= 0 && m[k - 1] != v) || ir_is_slot(r->node[v].op) || r->node[v].op == OP_INPUT ||
			       r->node[v].op == OP_WRITE))
			continue;
		kernel_describe(r, v, m, k, internal, written, &ki);
		char args[1400];
		int at = snprintf(args, sizeof args, "\"region\":\"%s\",\"ops\":\"%s\",\"bytes\":%.0f", r->name, ki.ops,
			ki.bytes);
		if (ki.m && at > 0 && (size_t)at < sizeof args)
			snprintf(args + at, sizeof args - (size_t)at,
				",\"gemm\":{\"M\":%lld,\"N\":%lld,\"K\":%lld,\"batch\":%lld},\"flop\":%.0f", (long long)ki.m,
				(long long)ki.n, (long long)ki.k, (long long)ki.batch, ki.flop);
		*id = rt_prof_kernel(ki.name, r->name, args, ki.flop, ki.bytes, ki.m > 0);
	}
	free(start);
	free(mem);
	free(written);
	free(internal);
	return c->prof_kid;
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

/* ---- values that outlive a run ---- */

/* The values, held by the roots or by model fields assigned in tr, that
   are tensors of tr (lists searched through), which the run computes too. */
typedef struct {
	Value **p;
	int n, cap;
	int nroots;        /* p[0..nroots) are held by roots, the rest by fields */
} Live;

static void live_add(Live *l, Value *v)
{
	if (v->kind == V_LIST)
		for (int i = 0; i < v->n; i++)
			live_add(l, &v->items[i]);
	if (v->kind != V_TENSOR)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->p = realloc(l->p, (size_t)l->cap * sizeof *l->p);
		if (!l->p)
			die("out of memory");
	}
	l->p[l->n++] = v;
}

static void live_values(Ev *ev, const Trace *tr, Live *l)
{
	for (int i = tr->root_base; i < ev->nroots; i++) {
		const Root *rt = &ev->roots[i];
		if (rt->env)
			for (int k = 0; k < rt->env->n; k++)
				live_add(l, &rt->env->b[k].v);
		for (int k = 0; k < rt->n; k++)
			live_add(l, &rt->v[k]);
	}
	l->nroots = l->n;
	for (int i = 0; i < tr->nfieldw; i++)
		live_add(l, &tr->fieldb[i]->v);
}

static bool fields_traced(const Trace *tr)
{
	Live l = { 0 };
	for (int i = 0; i < tr->nfieldw; i++)
		live_add(&l, &tr->fieldb[i]->v);
	free(l.p);
	return l.n > 0;
}

/* The model fields assigned in tr keep their new values: each binding
   holds its host tensors and lets go of those it held before. */
static void fields_settle(Trace *tr)
{
	for (int i = 0; i < tr->nfieldw; i++) {
		Binding *b = tr->fieldb[i];
		ht_bind(b->v);
		if (tr->fieldown[i])
			ht_unbind(tr->fieldold[i]);
		b->host = true;
	}
	tr->nfieldw = 0;
}

void host_run_trace(Ev *ev, Value *vals, int n, Loc loc, bool step)
{
	Trace *tr = ev->tr;
	bool training = tr->training;
	/* a training step is one region, run once the update is traced */
	if (!step && (training || !strcmp(tr->r->name, "step")))
		ev_error(ev, loc, "this needs the value of a tensor while a training step is traced (the loss given to "
		         "minimize, or an optimizer's update), but a step runs as one region once it is traced; "
		         "print or log the loss minimize returns, or compute the value in a statement of its own");
	int nn = tr->r->nnode;
	int *slot = xmalloc(((size_t)nn + 1) * sizeof *slot);
	for (int i = 0; i < nn; i++)
		slot[i] = -1;
	for (int i = 0; i < n; i++) {
		int x = ev_node_stored(ev, vals[i], loc, DT_COUNT);
		ir_output(tr->r, x);
		if (vals[i].kind == V_TENSOR)
			slot[x] = i;
	}
	Live live = { 0 };
	live_values(ev, tr, &live);
	int nout = n;
	for (int i = 0; i < live.n; i++) {
		int x = live.p[i]->node;
		if (x < 0 || x >= nn)
			die("host_run_trace: a held value %%%d is not in region %s", x, tr->r->name);
		if (slot[x] < 0) {
			slot[x] = nout++;
			ir_output(tr->r, x);
		}
	}
	buffer_emit_writes(ev);
	Tensor *inputs = tr->inputs;
	ev->host->run_loc = loc;
	bool prof = rt_prof_on && !ev->dry;
	double tc = prof ? rt_prof_now() : 0;
	int ncache = ev->host->ncache;
	CacheEntry *c = host_compile(ev->host, tr, ev->dry);
	if (prof) /* a new region is traced text printed, the pipeline, code generation */
		rt_prof_span(ev->host->ncache > ncache ? "compile" : "look up region", "compile", tc, rt_prof_now());
	Region *r = c->exec;
	if (step)
		host_dist_check_step(ev, r, loc);
	check_memory(ev, c, loc);
	Arena *keep = tr->a; /* NULL when the cache took the trace's arena */
	Tensor *outs = xcalloc((size_t)nout + 1, sizeof *outs);
	if (ev->dry) {
		for (int i = 0; i < nout; i++) {
			Type t = r->node[r->out[i]].type;
			outs[i] = (Tensor){ t, xcalloc((size_t)type_numel(&t), dtype_size(t.dt)) };
		}
	} else {
		Store s = ev_store(ev);
		s.step = (uint64_t)ev->region_runs++;
		running_ev = ev;
		minimizing = step;
		ir_set_index_hook(index_error);
		Tensor **in = xcalloc(tr->ninputs + 1, sizeof *in);
		for (int i = 0; i < tr->ninputs; i++)
			in[i] = &inputs[i];
		const int32_t *kid = prof && c->cg ? prof_kernels(c) : NULL;
		rt_prof_region_begin();
		double t0 = prof ? rt_prof_now() : 0;
		if (c->cg)
			host_run_compiled(c->cg, &s, in, outs);
		else
			interp_run(r, &s, in, outs);
		if (prof) {
			double t1 = rt_prof_now();
			int64_t n = ev->host->log_step + step;
			rt_prof_region_end(r->name, n, t0, t1, kid, kid ? r->nnode + 1 : 0);
			if (step)
				rt_prof_step(n, t1);
		}
		minimizing = false;
		free(in);
	}
	Value *res = xcalloc((size_t)nout + 1, sizeof *res);
	for (int i = 0; i < nout; i++)
		res[i] = output_value(ev, &outs[i]);
	for (int i = 0; i < n; i++)
		vals[i] = res[i];
	for (int i = 0; i < live.n; i++)
		if (live.p[i]->kind == V_TENSOR) { /* a value held twice is replaced once */
			*live.p[i] = res[slot[live.p[i]->node]];
			/* held by a traced call's scope (borrowed bindings) for as
			   long as it runs: kept, so that the temporaries of a host
			   builtin can be freed (prims.c, ev_builtin) */
			if (i < live.nroots)
				ht_bind(*live.p[i]);
		}
	fields_settle(tr);
	free(res);
	free(live.p);
	free(slot);
	free(outs);
	int root_base = tr->root_base;
	if (keep)
		arena_free(keep);
	ev->tr = NULL;
	trace_begin(ev, training, root_base);
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
	v.cap = 0; /* the copy has no room after its items (eval.h, Value.cap) */
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
	host_run_trace(ev, ts, n, loc, false);
	int k = 0;
	return replace_traced(ev, v, ts, &k);
}

bool *host_force_args(Ev *ev, Value *args, int n, Loc loc)
{
	/* the tensor arguments come from one trace, run once for all */
	bool *fresh = arena_alloc(ev->arena, (size_t)n * sizeof *fresh);
	for (int i = 0; i < n; i++)
		fresh[i] = args[i].kind == V_TENSOR;
	Value all = host_force(ev, (Value){ .kind = V_LIST, .items = args, .n = n }, loc);
	for (int i = 0; i < n; i++)
		args[i] = all.items[i];
	return fresh;
}

/* A tensor computed for one call alone (print(net(x)) in a loop) is freed
   after it: no variable holds it, and every host builtin copies what it
   keeps (a data set its tensors) or returns new values. */
void host_release_args(Value *args, const bool *fresh, int n)
{
	for (int i = 0; fresh && i < n; i++)
		if (fresh[i] && args[i].kind == V_HOST && args[i].ht->refs == 0)
			ht_release(args[i].ht);
}

Value host_value(Ev *ev, Env *env, const Expr *e)
{
	bool outer = ev->tr == NULL;
	if (outer)
		trace_begin(ev, false, ev->nroots);
	Value v = host_force(ev, ev_expr(ev, env, e), e->loc);
	/* a statement whose only tensor work assigns buffers or model fields
	   still runs it */
	if (outer && ev->tr && (ev->tr->nbufw || fields_traced(ev->tr)))
		host_run_trace(ev, NULL, 0, e->loc, false);
	if (outer && ev->tr)
		fields_settle(ev->tr);
	if (outer)
		trace_discard(ev);
	return v;
}

