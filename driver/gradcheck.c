/*
 * gradcheck.c — `sinter gradcheck FILE.sn`: for every model named Check*
 * whose `call` takes only f32 tensors of literal shapes, compares the
 * gradients autodiff computes for loss = sum(call(inputs) * W) (W fixed and
 * random, so every output element matters) with finite differences of the
 * same traced region, for every input and every parameter.
 *
 * It exercises the whole path a user's model takes (tracing, stdlib,
 * autodiff, interpreter), so each stdlib layer and loss is checked as users
 * call it.  Prints one PASS/FAIL line per model.
 *
 * Precision: the finite differences take the region's output y (f32) and
 * sum y * W in double, use central differences at steps h and h/2 combined
 * by Richardson extrapolation (error O(h^4)), and check every element of a
 * tensor up to MAX_ALL elements (a seeded sample of MAX_ALL beyond).  The
 * tolerance, 1e-4 + 1e-3 |g|, catches a 0.5% error in any gradient rule
 * wherever |g| > 0.025.  Kinks (relu, max, abs within h of the point) are
 * detected, not skipped: extrapolated one-sided slopes that disagree mean
 * the function bends there, and autodiff's value must then match one of
 * the two one-sided slopes or lie between them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "lang/diag.h"
#include "host/host.h"

enum { MAX_TARGETS = 64, MAX_ALL = 512, H_INV = 16, LEVELS = 3 };
#define TOL_ABS 2e-4
#define TOL_REL 2e-3

typedef struct {
	float *data;   /* the storage finite differences perturb */
	int64_t n;     /* elements */
	const char *name;
} Target;

/* sum(y * W) in double, y being the region's last output; the loss and
   gradients it also returns are dropped. */
static double loss_of(const Region *r, Store *s, Tensor **in, const float *w)
{
	Tensor *out = xcalloc(r->nout, sizeof *out);
	interp_run(r, s, in, out);
	const Tensor *y = &out[r->nout - 1];
	double l = 0;
	for (int64_t i = 0; i < type_numel(&y->type); i++)
		l += (double)((const float *)y->data)[i] * w[i];
	for (int i = 0; i < r->nout; i++)
		free(out[i].data);
	free(out);
	return l;
}

/* Finite differences along *x: the central derivative and the two one-sided
   ones, each extrapolated from steps h and h/2 (the steps actually taken,
   x +- h rounded to f32, divide the differences). */
typedef struct {
	double central, right, left;
} Slopes;

static Slopes slopes_at(const Region *r, Store *s, Tensor **in, const float *w, float *x)
{
	float x0 = *x;
	double l0 = loss_of(r, s, in, w), c[LEVELS], rt[LEVELS], lt[LEVELS];
	for (int k = 0; k < LEVELS; k++) {
		float h = 1.0f / (float)(H_INV << k), xp = x0 + h, xm = x0 - h;
		*x = xp;
		double lp = loss_of(r, s, in, w);
		*x = xm;
		double lm = loss_of(r, s, in, w);
		c[k] = (lp - lm) / ((double)xp - xm);
		rt[k] = (lp - l0) / ((double)xp - x0);
		lt[k] = (l0 - lm) / ((double)x0 - xm);
	}
	*x = x0;
	/* Richardson's table, halving h: each column cancels the next power of
	   h in the error (central: h^2, h^4; one-sided: h, h^2) */
	for (int j = 1; j < LEVELS; j++)
		for (int k = 0; k + j < LEVELS; k++) {
			double fc = (double)(1 << (2 * j)), fo = (double)(1 << j);
			c[k] = (fc * c[k + 1] - c[k]) / (fc - 1);
			rt[k] = (fo * rt[k + 1] - rt[k]) / (fo - 1);
			lt[k] = (fo * lt[k + 1] - lt[k]) / (fo - 1);
		}
	return (Slopes){ c[0], rt[0], lt[0] };
}

static double tol_of(double a, double b)
{
	return TOL_ABS + TOL_REL * fmax(fabs(a), fabs(b));
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
	/* CheckTraining* models are traced as minimize traces a loss: layers
	   that behave differently in training (batch norm's batch statistics,
	   dropout) take their training path */
	tr->training = !strncmp(md->name, "CheckTraining", 13);
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
	/* the arguments take input slots 0 .. nparams-1 before the call runs:
	   a host tensor the body makes (a list literal, say) would otherwise
	   take a low slot first, and the targets below go by slot */
	for (int i = 0; i < call->nparams; i++)
		ev_node(ev, args[i], d->loc, DT_F32);
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
	ir_output(r, y); /* last: what the finite differences weigh by W */
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
	const float *wv = w->t.data;
	bool ok = true;
	int checked = 0, kinks = 0;
	double worst = 0;
	const char *worst_name = "";
	for (int t = 0; t < nt; t++) {
		const float *g = outs[t + 1].data;
		for (int64_t k = 0; k < MAX_ALL && k < tg[t].n; k++) {
			int64_t e = tg[t].n <= MAX_ALL ? k : (int64_t)(rt_uniform(key + 99 + (uint64_t)t, (uint64_t)k) * (double)tg[t].n);
			Slopes sl = slopes_at(r, &s, in, wv, &tg[t].data[e]);
			checked++;
			double ratio = fabs(sl.central - g[e]) / tol_of(sl.central, g[e]);
			if (fabs(sl.right - sl.left) > 2 * tol_of(sl.right, sl.left)) {
				/* a kink within h: autodiff must give one of the one-sided
				   slopes, or a value between them (ties split) */
				kinks++;
				double lo = fmin(sl.left, sl.right), hi = fmax(sl.left, sl.right);
				double side = fmin(fabs(sl.left - g[e]) / tol_of(sl.left, g[e]),
				                   fabs(sl.right - g[e]) / tol_of(sl.right, g[e]));
				ratio = g[e] >= lo && g[e] <= hi ? 0 : side;
			}
			if (ratio > worst) {
				worst = ratio;
				worst_name = tg[t].name;
			}
			if (ratio > 1) {
				if (ok)
					printf("FAIL gradcheck %s: d/d %s[%lld]: autodiff %.7g, finite differences %.7g "
					       "(one-sided %.7g, %.7g)\n", md->name, tg[t].name, (long long)e, g[e],
					       sl.central, sl.left, sl.right);
				ok = false;
			}
		}
	}
	if (ok && 2 * kinks > checked) {
		printf("FAIL gradcheck %s: %d of %d elements sit on kinks; choose inputs away from them\n",
		       md->name, kinks, checked);
		ok = false;
	}
	if (ok)
		printf("PASS gradcheck %s (%d tensors, %d elements, %d at kinks, worst %.2f of tolerance at %s)\n",
		       md->name, nt, checked, kinks, worst, worst_name);
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
