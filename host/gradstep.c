/*
 * gradstep.c — what minimize does to the gradients between autodiff and
 * the optimizer's update: gradient accumulation over micro-batches
 * (`accumulate = k`) and clipping by the global norm (`clip_norm = c`).
 *
 * Accumulation keeps one more optimizer-state-like slot per parameter,
 * "<opt>.@accum" (a name no `state` declaration can spell), in the store's
 * state blocks at its parameter's offset.  The first call of a step traces
 * forward, backward and `write acc, g`, nothing else; the calls after it
 * `write acc, acc + g`; the k-th call traces `(acc + g) / k` as the
 * gradient the update takes, and leaves acc as it is (the next step's
 * first call overwrites it).  So there are at most three regions per batch
 * shape, each compiled once, and the averaged gradient is what one batch
 * k times as large gives for a loss that is a mean over the batch.
 *
 * Clipping packs the step's gradients into one vector in the layout of the
 * parameter block (`pack`, operands in order of their place), reduces it
 * once (`sqrt(sum(pk * pk))`, the pre-clip norm, a second output of the
 * region) and multiplies every gradient by min(1, c / (norm + 1e-6)), the
 * formula of torch.nn.utils.clip_grad_norm_.  The pack pass takes that
 * `pack` as the packed gradient of the update (passes/pack.c), so after it
 * the norm is one reduction over the gradient arena.
 */
#include "host/host.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"
#include "runtime/dist.h"

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

StepOpts step_options(Ev *ev, OptInst *o, Value clip, Value accumulate, Loc loc)
{
	StepOpts so = { .clip = clip, .k = 1, .final = true, .norm = -1 };
	if (clip.kind != V_NONE) {
		if (clip.kind != V_INT && clip.kind != V_FLOAT)
			ev_error(ev, loc, "clip_norm must be a positive number (the largest gradient norm), got a %s",
			         value_kind_name(&clip));
		if (!(num(&clip) > 0))
			ev_error(ev, loc, "clip_norm must be a positive number (the largest gradient norm), got %s",
			         host_format(ev, clip));
	}
	if (accumulate.kind != V_NONE) {
		if (accumulate.kind != V_INT)
			ev_error(ev, loc, "accumulate must be an int (the number of micro-batches per step), got a %s",
			         value_kind_name(&accumulate));
		if (accumulate.i < 1 || accumulate.i > INT32_MAX)
			ev_error(ev, loc, "accumulate must be between 1 and 2^31 - 1 micro-batches, got %lld",
			         (long long)accumulate.i);
		so.k = accumulate.i;
		if (so.k > 1 && rt_dist_size() > 1)
			ev_error(ev, loc, "accumulate cannot be combined with training on %d ranks yet: the ranks already "
			         "share each batch, so use a batch %d times larger, or accumulate in one process",
			         rt_dist_size(), rt_dist_size());
	}
	if (o->accum_n > 0 && so.k != o->accum_k)
		ev_error(ev, loc, "minimize with accumulate = %lld while %lld of the %lld micro-batches of a step are "
		         "accumulated: every call of one step must give the same accumulate", (long long)so.k,
		         (long long)o->accum_n, (long long)o->accum_k);
	so.final = so.k == 1 || o->accum_n + 1 == so.k;
	return so;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The parameters of every micro-batch of one step must be the same: an
   accumulator that the last call does not update would carry its sum into
   the next step.  The first call records them (sorted names of the
   store's slots, which outlive the region), the others compare. */
static void accum_params(Ev *ev, OptInst *o, const Region *r, const int *pnodes, int n, Loc loc)
{
	const char **names = arena_alloc(ev->arena, ((size_t)n + 1) * sizeof *names);
	for (int i = 0; i < n; i++)
		names[i] = slot_find(ev, r->node[pnodes[i]].name, NULL)->name;
	qsort(names, (size_t)n, sizeof *names, by_name);
	if (o->accum_n == 0) {
		if (n > o->accum_cap) {
			o->accum_names = arena_grow(ev->arena, o->accum_names, (size_t)o->accum_cap * sizeof *o->accum_names,
			                            (size_t)n * sizeof *o->accum_names);
			o->accum_cap = n;
		}
		memcpy(o->accum_names, names, (size_t)n * sizeof *names);
		o->accum_nnames = n;
		return;
	}
	int i = 0, j = 0, m = o->accum_nnames;
	while (i < n && j < m && !strcmp(names[i], o->accum_names[j]))
		i++, j++;
	if (i == n && j == m)
		return;
	bool extra = j == m || (i < n && strcmp(names[i], o->accum_names[j]) < 0);
	ev_error(ev, loc, "the loss of this micro-batch %s parameter '%s', which the first micro-batch of the step "
	         "did%s: every micro-batch of an accumulation must train the same parameters",
	         extra ? "depends on" : "does not depend on", extra ? names[i] : o->accum_names[j],
	         extra ? " not" : "");
}

/* Sums this micro-batch's gradients g[] into the accumulators (the first
   call of a step stores them, later ones add); the last call reads the
   sums without writing them and makes g[] their average.  No call resets
   the accumulators: a region that wrote zeros would hold a parameter-sized
   constant in its arena. */
static void accumulate(Ev *ev, OptInst *o, const StepOpts *so, const int *pnodes, int *g, int n, Loc loc)
{
	Region *r = ev->tr->r;
	const char *sname = arena_printf(ev->arena, "%s.@accum", o->name);
	for (int k = 0; k < n; k++) {
		const char *pname = r->node[pnodes[k]].name;
		Type pt = r->node[pnodes[k]].type;
		Slot *s = slot_find(ev, pname, sname);
		if (!s)
			s = slot_new_for(ev, pname, sname, pt, loc, arena_printf(ev->arena,
			                 "the gradient accumulator %s (for %s: %s)", sname, pname, TS(&pt)));
		int acc = ir_state(r, pname, sname, pt);
		r->node[acc].at = s->off;
		int sum = so->pos ? ir_op2(r, OP_ADD, acc, g[k]) : g[k];
		if (so->final) {
			g[k] = ir_op2(r, OP_DIV, sum, ir_const(r, type_scalar(DT_F32), (double)so->k));
			continue;
		}
		Node wp = ir_proto(OP_WRITE);
		ir_emit(r, &wp, (int[]){ acc, sum }, 2, NULL, 0);
	}
}

static const Region *sort_region;
static const int *sort_pnodes;

/* Parameter indices by the place of their parameter in the block. */
static int by_place(const void *a, const void *b)
{
	int64_t x = sort_region->node[sort_pnodes[*(const int *)a]].at;
	int64_t y = sort_region->node[sort_pnodes[*(const int *)b]].at;
	return (x > y) - (x < y);
}

/* The pack of v[order[i]] (the gradients in the parameter block's layout). */
static int pack_of(Ev *ev, const int *v, const int *order, int n, Loc loc)
{
	Region *r = ev->tr->r;
	int *ops = arena_alloc(ev->arena, ((size_t)n + 1) * sizeof *ops);
	for (int i = 0; i < n; i++)
		ops[i] = v[order[i]];
	Node pp = ir_proto(OP_PACK);
	char err[256];
	int pk = ir_emit(r, &pp, ops, n, err, sizeof err);
	if (pk < 0)
		ev_error(ev, loc, "clip_norm: %s", err);
	return pk;
}

/* Do the parameters, in block order, lie next to each other, each at the
   first aligned offset after the one before?  Then a pack of their
   gradients has the layout of the block's span from the first. */
static bool adjacent(const Region *r, const int *pnodes, const int *order, int n)
{
	for (int i = 1; i < n; i++) {
		const Node *a = &r->node[pnodes[order[i - 1]]], *b = &r->node[pnodes[order[i]]];
		if (a->at < 0 || b->at != ir_pack_align(a->at + type_bytes(&a->type)))
			return false;
	}
	return n > 0 && r->node[pnodes[order[0]]].at >= 0;
}

/*
 * g[k] *= min(1, clip / (||g||_2 + 1e-6)) over all of g[0..n), the norm
 * one reduction over their pack in the parameter block's layout.  At the
 * end of an accumulation g[k] = (acc_k + raw[k]) / k: there the pack holds
 * the raw gradients, and the norm reads the accumulators as one packed
 * span of their block, so that a weight's gradient is still computed
 * straight into the gradient arena by its GEMM (a pack of the sums would
 * need the GEMM's result in a buffer of its own first).  The span's
 * padding reads as zero: the accumulators' block starts zeroed, and only
 * first calls (which store packed gradients, zero between the tensors)
 * and sums of those write it.
 */
static void clip(Ev *ev, OptInst *o, StepOpts *so, const int *pnodes, int *g, const int *raw, int n, Loc loc)
{
	Region *r = ev->tr->r;
	int *order = arena_alloc(ev->arena, ((size_t)n + 1) * sizeof *order);
	for (int k = 0; k < n; k++)
		order[k] = k;
	sort_region = r;
	sort_pnodes = pnodes;
	qsort(order, (size_t)n, sizeof *order, by_place);
	Type f32 = type_scalar(DT_F32);
	int x;
	if (raw && adjacent(r, pnodes, order, n)) {
		int pk = pack_of(ev, raw, order, n, loc);
		Node sp = ir_proto(OP_PACKED);
		sp.sname = ir_strdup(r, arena_printf(ev->arena, "%s.@accum", o->name));
		sp.at = r->node[pnodes[order[0]]].at;
		sp.type = r->node[pk].type;
		int acc = ir_emit(r, &sp, NULL, 0, NULL, 0);
		x = ir_op2(r, OP_DIV, ir_op2(r, OP_ADD, acc, pk), ir_const(r, f32, (double)so->k));
	} else
		x = pack_of(ev, g, order, n, loc);
	int sq = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, x, x), (int[]){ 0 }, 1, false);
	so->norm = ir_op1(r, OP_SQRT, sq);
	int den = ir_op2(r, OP_ADD, so->norm, ir_const(r, f32, 1e-6));
	int coef = ir_op2(r, OP_DIV, ev_node(ev, so->clip, loc, DT_F32), den);
	int scale = ir_op2(r, OP_MINIMUM, coef, ir_const(r, f32, 1));
	for (int k = 0; k < n; k++)
		g[k] = ir_op2(r, OP_MUL, g[k], scale);
}

int *step_grads(Ev *ev, OptInst *o, StepOpts *so, int loss, const int *pnodes, int n, Loc loc)
{
	Region *r = ev->tr->r;
	int *g = arena_alloc(ev->arena, ((size_t)n + 1) * sizeof *g);
	for (int k = 0; k < n; k++) {
		Node gp = ir_proto(OP_GRAD);
		g[k] = ir_emit(r, &gp, (int[]){ loss, pnodes[k] }, 2, NULL, 0);
	}
	int *raw = NULL;
	if (so->k > 1) {
		raw = arena_alloc(ev->arena, ((size_t)n + 1) * sizeof *raw);
		memcpy(raw, g, (size_t)n * sizeof *raw);
		accum_params(ev, o, r, pnodes, n, loc);
		accumulate(ev, o, so, pnodes, g, n, loc);
		if (!so->final)
			return NULL;
	}
	if (so->clip.kind != V_NONE)
		clip(ev, o, so, pnodes, g, raw, n, loc);
	return g;
}

/* Traces the update (or the accumulation) into the region and runs it. */
static Value run_step(Ev *ev, OptInst *o, StepOpts *so, Value loss, Loc loc)
{
	so->norm = -1;
	opt_trace_update(ev, o, loss.node, loc, so);
	Value vals[2] = { loss, v_tensor(so->norm) };
	host_run_trace(ev, vals, so->norm >= 0 ? 2 : 1, loc, true);
	if (rt_dist_on && !ev->dry) /* the whole batch's loss, the same on every rank */
		vals[0].f = (float)rt_dist_mean(vals[0].f);
	if (so->norm >= 0) {
		o->grad_norm = vals[1].f;
		o->has_norm = true;
	}
	if (so->final) {
		o->accum_n = 0;
		o->t++;
		if (o->t % HOST_DIST_GUARD_EVERY == 0)
			host_dist_guard(ev, o->t, loc);
	} else {
		o->accum_k = so->k;
		o->accum_n++;
	}
	return vals[0];
}

Value step_minimize(Ev *ev, OptInst *o, StepOpts *so, Value loss, Loc loc)
{
	if (ev->dry && so->k > 1) {
		/* a dry run meets the statement once: trace (and compile) each
		   kind of region of a step, the first call's, a middle one's
		   (when k > 2) and the last one's, each from a copy of the trace */
		for (int64_t pos = 0; pos < so->k - 1 && pos < 2; pos++) {
			Trace *copy = host_trace_fork(ev);
			o->accum_n = so->pos = pos;
			so->final = false;
			run_step(ev, o, so, loss, loc);
			host_trace_switch(ev, copy);
		}
		o->accum_n = so->k - 1;
		so->final = true;
	}
	so->pos = o->accum_n;
	loss = run_step(ev, o, so, loss, loc);
	ev->host->log_step = o->t;
	if (!ev->dry && !isfinite(loss.f)) {
		if (o->accum_n)
			ev_error(ev, loc, "the loss is %s at micro-batch %lld of %lld of step %lld; stopping",
			         isnan(loss.f) ? "nan" : "infinite", (long long)o->accum_n, (long long)so->k,
			         (long long)o->t + 1);
		ev_error(ev, loc, "the loss is %s at step %lld; stopping", isnan(loss.f) ? "nan" : "infinite",
		         (long long)o->t);
	}
	return loss;
}

/* Resume replaces parameters and state: an accumulation under way in this
   process would add old gradients to them, so it is dropped. */
void step_forget(Ev *ev, OptInst *o, const Instance *inst)
{
	const char *sname = arena_printf(ev->arena, "%s.@accum", o->name);
	for (int i = 0; i < inst->nparams; i++) {
		Slot *s = slot_find(ev, inst->params[i]->name, sname);
		if (s)
			memset(s->t.data, 0, (size_t)type_bytes(&s->t.type));
	}
	o->accum_n = 0;
}
