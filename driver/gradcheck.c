/*
 * gradcheck.c — `sinter gradcheck FILE.sn`: for every model named Check*
 * whose `call` takes only f32 tensors of literal shapes, compares the
 * gradients autodiff computes for loss = sum(call(inputs) * W) (W fixed and
 * random, so every output element matters) with central finite differences
 * of the same traced region, for every input and every parameter.
 *
 * It exercises the whole path a user's model takes (tracing, stdlib,
 * autodiff, interpreter), so each stdlib layer and loss is checked as users
 * call it.  Prints one PASS/FAIL line per model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "frontend/diag.h"
#include "frontend/host.h"

enum { MAX_TARGETS = 64, SAMPLES = 12 };

typedef struct {
	float *data;   /* the storage finite differences perturb */
	int64_t n;     /* elements */
	const char *name;
} Target;

/* The loss (output 0) of the region; the gradients it also returns are dropped. */
static float loss_of(const Region *r, Store *s, Tensor **in)
{
	Tensor *out = xcalloc(r->nout, sizeof *out);
	interp_run(r, s, in, out);
	float l = *(float *)out[0].data;
	for (int i = 0; i < r->nout; i++)
		free(out[i].data);
	free(out);
	return l;
}

/* Checks one Check* model; returns true when every gradient agrees. */
static bool check_model(Ev *ev, const Decl *d)
{
	const ModelDecl *md = d->model;
	const FnDecl *call = NULL;
	for (int i = 0; i < md->nitems; i++)
		if (md->items[i].kind == MI_FN && !strcmp(md->items[i].fn->name, "call"))
			call = md->items[i].fn;
	if (!call) {
		printf("FAIL gradcheck %s: no call method\n", md->name);
		return false;
	}
	Arena *a = arena_new();
	Trace *tr = arena_alloc(a, sizeof *tr);
	tr->a = a;
	tr->r = ir_region_new(a, "gradcheck");
	ev->tr = tr;
	ev->name_hint = md->name;
	Value inst = model_instantiate(ev, d, d->loc, NULL, NULL, 0);
	Value *args = arena_alloc(a, (call->nparams + 1) * sizeof *args);
	uint64_t key = rt_key(ev->seed + 7, md->name);
	for (int i = 0; i < call->nparams; i++) {
		const Param *p = &call->params[i];
		if (!p->type || strcmp(p->type->dtype, "f32"))
			ev_error(ev, p->loc, "gradcheck: parameter '%s' needs an f32 type with a literal shape", p->name);
		Type t = { .dt = DT_F32, .rank = p->type->ndims };
		for (int k = 0; k < t.rank; k++) {
			if (p->type->dims[k]->kind != E_INT)
				ev_error(ev, p->type->dims[k]->loc, "gradcheck: dimensions must be literal ints");
			t.dim[k] = p->type->dims[k]->ival;
		}
		HostTensor *h = ht_new(t);
		rt_fill_normal(h->t.data, type_numel(&t), 0.f, 1.f, key + (uint64_t)i);
		args[i] = (Value){ .kind = V_HOST, .ht = h };
	}
	Value out = ev_call(ev, NULL, inst, d->loc, args, NULL, call->nparams);
	Region *r = tr->r;
	int y = ev_node(ev, out, d->loc, DT_F32);
	/* W as a constant-valued input: a fixed random weighting of the outputs */
	HostTensor *w = ht_new(r->node[y].type);
	rt_fill_normal(w->t.data, type_numel(&w->t.type), 0.f, 1.f, key ^ 0x5eed);
	int wn = ev_node(ev, (Value){ .kind = V_HOST, .ht = w }, d->loc, DT_F32);
	int loss = ir_reduce(r, OP_SUM, ir_op2(r, OP_MUL, y, wn), (int[]){ 0, 1, 2, 3, 4, 5 },
	                     r->node[y].type.rank, false);
	ir_output(r, loss);
	int nfwd = r->nnode;
	/* targets: every input, then every parameter */
	Target tg[MAX_TARGETS];
	int nt = 0, grads[MAX_TARGETS];
	for (int v = 0; v < nfwd && nt < MAX_TARGETS; v++) {
		Node *n = &r->node[v];
		if (n->op == OP_INPUT && n->ia[0] < call->nparams) {
			tg[nt] = (Target){ tr->inputs[n->ia[0]].data, type_numel(&n->type), call->params[n->ia[0]].name };
			grads[nt++] = ir_op2(r, OP_GRAD, loss, v);
		} else if (n->op == OP_PARAM) {
			Slot *s = slot_find(ev, n->name, NULL);
			tg[nt] = (Target){ s->t.data, type_numel(&n->type), n->name };
			grads[nt++] = ir_op2(r, OP_GRAD, loss, v);
		}
	}
	for (int i = 0; i < nt; i++)
		ir_output(r, grads[i]);
	char err[256];
	PipeOpts po = { 0 };
	if (!pipeline_run(r, &po, err, sizeof err))
		die("%s", err);
	Store s = ev_store(ev);
	Tensor **in = xcalloc(tr->ninputs + 1, sizeof *in);
	for (int i = 0; i < tr->ninputs; i++)
		in[i] = &tr->inputs[i];
	Tensor *outs = xcalloc(r->nout + 1, sizeof *outs);
	interp_run(r, &s, in, outs);
	bool ok = true;
	int checked = 0, skipped = 0;
	double worst = 0;
	const char *worst_name = "";
	for (int t = 0; t < nt; t++) {
		const float *g = outs[t + 1].data;
		for (int k = 0; k < SAMPLES && k < tg[t].n; k++) {
			int64_t e = tg[t].n <= SAMPLES ? k : (int64_t)(rt_uniform(key + 99 + t, k) * tg[t].n);
			float keep = tg[t].data[e];
			const float eps = 1e-2f;
			double l0 = loss_of(r, &s, in);
			tg[t].data[e] = keep + eps;
			double lp = loss_of(r, &s, in);
			tg[t].data[e] = keep - eps;
			double lm = loss_of(r, &s, in);
			tg[t].data[e] = keep;
			/* one-sided slopes that disagree mean a kink (relu, max) within
			   eps: finite differences say nothing there, skip the sample */
			double fwd = (lp - l0) / eps, bwd = (l0 - lm) / eps, num = (lp - lm) / (2 * eps);
			checked++;
			if (fabs(fwd - bwd) > 2e-2 + 2e-2 * fabs(num)) {
				skipped++;
				continue;
			}
			double err = fabs(num - g[e]) / (5e-3 + 1e-2 * fabs(num));
			if (err > worst) {
				worst = err;
				worst_name = tg[t].name;
			}
			if (err > 1) {
				if (ok)
					printf("FAIL gradcheck %s: d/d %s[%lld]: autodiff %g, finite differences %g\n",
					       md->name, tg[t].name, (long long)e, g[e], num);
				ok = false;
			}
		}
	}
	if (ok && 2 * skipped > checked) {
		printf("FAIL gradcheck %s: %d of %d samples sit on kinks; choose inputs away from them\n",
		       md->name, skipped, checked);
		ok = false;
	}
	if (ok)
		printf("PASS gradcheck %s (%d tensors, worst %.2f of tolerance at %s)\n", md->name, nt, worst, worst_name);
	for (int i = 0; i < r->nout; i++)
		free(outs[i].data);
	free(outs);
	free(in);
	/* the host tensors made here are ours: the trace copied what it needed */
	for (int i = 0; i < call->nparams; i++)
		ht_release(args[i].ht);
	ht_release(w);
	ev->tr = NULL;
	arena_free(a);
	return ok;
}

int cmd_gradcheck(const Options *o)
{
	Arena *a = arena_new();
	Ev *ev = driver_setup(o, a);
	int fails = 0, count = 0;
	for (int i = 0; i < ev->prog->ndecls; i++) {
		const Decl *d = ev->prog->decls[i];
		if (d->kind == D_MODEL && !d->from_stdlib && !strncmp(d->name, "Check", 5)) {
			fails += !check_model(ev, d);
			count++;
		}
	}
	if (!count)
		fatal("%s: no Check* models to check", o->file);
	host_free(ev);
	arena_free(a);
	return fails ? 1 : 0;
}
