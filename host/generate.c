/*
 * generate.c — the host builtin generate(net, prompt, n, temperature = 1.0,
 * top_k = 0, context = T): samples n tokens from a trained language model
 * and returns the prompt followed by them.
 *
 * A string prompt is encoded as text(...) encodes data (each byte is a token,
 * so the model's vocabulary must be at most 256) and the result is a string;
 * a list of ints is taken as token ids (as tokens(...) data) and the result
 * is a list.  Each step runs net on one i32[1, T] window, traced and compiled
 * like any other host statement: the region is specialized to batch 1,
 * compiled once and reused for every token.
 */
#include "host/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"
#include "host/host.h"

/* Candidate next tokens, best first. */
typedef struct {
	float logit;
	int32_t tok;
} Cand;

static int by_logit(const void *a, const void *b)
{
	const Cand *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit < y->logit ? 1 : -1;
	return x->tok - y->tok; /* ties: the lower id first, so the order is total */
}

/* Draws one token from softmax(logits / temperature) over the top_k largest
   logits (top_k 0: all of them) with the uniform number u in [0, 1).
   temperature 0 is greedy: the largest logit, the lowest id among equals. */
static int32_t sample(const float *logits, int64_t V, double temperature, int64_t top_k, double u, Cand *c)
{
	for (int64_t i = 0; i < V; i++)
		c[i] = (Cand){ logits[i], (int32_t)i };
	qsort(c, (size_t)V, sizeof *c, by_logit);
	int64_t k = top_k > 0 && top_k < V ? top_k : V;
	if (temperature == 0)
		return c[0].tok;
	/* exp of the max-shifted logits, in double: no overflow, and the
	   cumulative sum below is exact enough for any V */
	double total = 0;
	double *w = xmalloc((size_t)k * sizeof *w);
	for (int64_t i = 0; i < k; i++) {
		w[i] = exp(((double)c[i].logit - c[0].logit) / temperature);
		total += w[i];
	}
	double target = u * total, acc = 0;
	int32_t tok = c[k - 1].tok;
	for (int64_t i = 0; i < k; i++) {
		acc += w[i];
		if (target < acc) {
			tok = c[i].tok;
			break;
		}
	}
	free(w);
	return tok;
}

/* The model's context: rows of its position embedding `wpe.weight`, the
   GPT convention of docs/LANGUAGE.md, unless the caller says context = T. */
static int64_t model_context(Ev *ev, Loc loc, Instance *inst, Value given)
{
	if (given.kind != V_NONE) {
		if (given.kind != V_INT || given.i < 1)
			ev_error(ev, loc, "generate: context must be a positive int");
		return given.i;
	}
	const char *want = arena_printf(ev->arena, "%s.wpe.weight", inst->path);
	for (int i = 0; i < inst->nparams; i++)
		if (!strcmp(inst->params[i]->name, want) && inst->params[i]->t.type.rank >= 1)
			return inst->params[i]->t.type.dim[0];
	ev_error(ev, loc, "generate: model '%s' has no parameter wpe.weight to take its context from; "
	         "pass context = T", inst->decl->name);
}

/* Runs net on the window x [1, T] in a trace of its own (the statement's
   trace may hold unrelated work) and returns logits [1, T, V] on the host. */
static HostTensor *run_window(Ev *ev, Loc loc, Value net, HostTensor *x)
{
	Trace *saved = ev->tr;
	Arena *a = arena_new();
	Trace *tr = arena_alloc(a, sizeof *tr);
	tr->a = a;
	tr->r = ir_region_new(a, "eval");
	tr->root_base = ev->nroots; /* the caller's values are not this trace's */
	ev->tr = tr;
	Value in = { .kind = V_HOST, .ht = x };
	Value out = ev_call(ev, NULL, net, loc, &in, NULL, 1);
	Type xt = x->t.type;
	/* a print in the model's call ran the window's trace and began another */
	Type lt = out.kind == V_TENSOR ? ev->tr->r->node[out.node].type : (Type){ 0 };
	if (out.kind != V_TENSOR || lt.dt != DT_F32 || lt.rank != 3 || lt.dim[0] != 1 || lt.dim[1] != xt.dim[1])
		ev_error(ev, loc, "generate: the model must map i32[1, %lld] to logits f32[1, %lld, V], got %s",
		         (long long)xt.dim[1], (long long)xt.dim[1],
		         out.kind == V_TENSOR ? type_str(&lt, (char[96]){ 0 }, 96) : value_kind_name(&out));
	out = host_force(ev, out, loc);
	/* host_force started a fresh, empty trace: drop it, restore the caller's */
	if (ev->tr && ev->tr->a)
		arena_free(ev->tr->a);
	ev->tr = saved;
	return out.ht;
}

Value host_generate(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int nargs)
{
	Value v[6];
	get_args(ev, loc, b->name, b->spec, args, names, nargs, v);
	if (v[0].kind != V_MODEL)
		ev_error(ev, loc, "generate needs a model, got a %s", value_kind_name(&v[0]));
	bool text = v[1].kind == V_STR;
	if (!text && v[1].kind != V_LIST)
		ev_error(ev, loc, "generate: the prompt must be a string or a list of token ids, got a %s",
		         value_kind_name(&v[1]));
	if (v[2].kind != V_INT || v[2].i < 0)
		ev_error(ev, loc, "generate: n must be a non-negative int");
	double temperature = v[3].kind == V_NONE ? 1.0 : is_number(&v[3]) ? num(&v[3]) : -1;
	if (!(temperature >= 0) || isinf(temperature))
		ev_error(ev, loc, "generate: temperature must be a non-negative number");
	if (v[4].kind != V_NONE && (v[4].kind != V_INT || v[4].i < 0))
		ev_error(ev, loc, "generate: top_k must be a non-negative int (0: all tokens)");
	int64_t top_k = v[4].kind == V_INT ? v[4].i : 0;
	int64_t T = model_context(ev, loc, v[0].inst, v[5]);
	int64_t plen = text ? (int64_t)strlen(v[1].s) : v[1].n, n = v[2].i;
	if (plen == 0)
		ev_error(ev, loc, "generate needs a non-empty prompt");

	int32_t *toks = xmalloc((size_t)(plen + n) * sizeof *toks);
	for (int64_t i = 0; i < plen; i++) {
		if (text) {
			toks[i] = (unsigned char)v[1].s[i];
			continue;
		}
		Value t = v[1].items[i];
		if (t.kind != V_INT || t.i < 0 || t.i > INT32_MAX)
			ev_error(ev, loc, "generate: prompt item %lld is not a token id (a non-negative int)", (long long)i);
		toks[i] = (int32_t)t.i;
	}
	/* One stream per call: the program seed and how many regions ran
	   before, so two calls differ and a rerun repeats them. */
	uint64_t key = rt_mix64(rt_key(ev->seed, "generate") ^ rt_mix64((uint64_t)ev->region_runs));
	Cand *cand = NULL;
	int64_t len = plen;
	for (int64_t step = 0; step < n; step++) {
		/* The last T tokens at positions 0.., zeros after them: a causal
		   model's logits at the last real position do not see the padding. */
		int64_t w = len < T ? len : T;
		HostTensor *x = ht_new(type_make(DT_I32, 2, (int64_t[]){ 1, T }));
		memcpy(x->t.data, toks + len - w, (size_t)w * sizeof *toks);
		HostTensor *logits = run_window(ev, loc, v[0], x);
		ht_release(x);
		int64_t V = logits->t.type.dim[2];
		if (step == 0) {
			if (text && V > 256)
				ev_error(ev, loc, "generate: a string prompt needs a byte-level model (V <= 256), "
				         "but this one has V = %lld; pass a list of token ids", (long long)V);
			for (int64_t i = 0; i < plen; i++)
				if (toks[i] >= V)
					ev_error(ev, loc, "generate: prompt token %d at position %lld is outside the "
					         "model's vocabulary (V = %lld)", toks[i], (long long)i, (long long)V);
			cand = xmalloc((size_t)V * sizeof *cand);
		}
		const float *row = (const float *)logits->t.data + (w - 1) * V;
		toks[len++] = sample(row, V, temperature, top_k, rt_uniform(key, (uint64_t)step), cand);
		ht_release(logits);
		if (ev->dry)
			break; /* compiled; nothing ran, so there is nothing to sample */
	}
	free(cand);

	Value out;
	if (text) {
		/* A NUL byte would end the string: it is kept in the model's
		   context but left out of the result. */
		char *s = arena_alloc(ev->arena, (size_t)len + 1);
		int64_t k = 0;
		for (int64_t i = 0; i < len; i++)
			if (toks[i] != 0)
				s[k++] = (char)toks[i];
		out = v_str(s);
	} else {
		Value *items = arena_alloc(ev->arena, (size_t)(len + 1) * sizeof *items);
		for (int64_t i = 0; i < len; i++)
			items[i] = v_int(toks[i]);
		out = (Value){ .kind = V_LIST, .items = items, .n = (int)len };
	}
	free(toks);
	return out;
}
