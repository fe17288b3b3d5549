/*
 * model.c — models, parameters, initializers and optimizers.
 *
 * A model instance is a host object: its constructor arguments, fields and
 * parameters live in an Env, and its parameters are Slots of the program's
 * store, named by their dotted path ("net.blocks.3.attn.qkv.weight").  An
 * optimizer instance holds its hyperparameters as host variables (so they
 * enter regions as scalar inputs) and its step count; its per-parameter
 * state lives in Slots too.  opt_trace_update appends, for every parameter
 * the loss depends on that the optimizer owns (host/optparams.c), the
 * update rule of the optimizer to the region.
 * The slots themselves are host/store.c's.
 */
#include "host/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lang/diag.h"

#define TS(t) type_str((t), (char[96]){ 0 }, 96)

/* ---- arguments ---- */

static int64_t eval_dim(Ev *ev, Env *env, const Expr *d)
{
	Value v = ev_expr(ev, env, d);
	if (v.kind != V_INT)
		ev_error(ev, d->loc, "a dimension must be an int, got a %s", value_kind_name(&v));
	if (v.i < 0)
		ev_error(ev, d->loc, "a dimension must not be negative (got %lld)", (long long)v.i);
	return v.i;
}

static DType eval_dtype(Ev *ev, const TypeExpr *te)
{
	for (int dt = 0; dt < DT_COUNT; dt++)
		if (!strcmp(te->dtype, dtype_name(dt)))
			return dt;
	ev_error(ev, te->loc, "unknown element type '%s' (expected f32, bf16, i32 or bool)", te->dtype);
}

static Type eval_type(Ev *ev, Env *env, const TypeExpr *te)
{
	Type t = { .dt = eval_dtype(ev, te), .rank = te->ndims };
	if (te->ndims > MAX_RANK)
		ev_error(ev, te->loc, "at most %d axes are supported", MAX_RANK);
	for (int i = 0; i < te->ndims; i++)
		t.dim[i] = eval_dim(ev, env, te->dims[i]);
	if (!type_bytes_ok(&t, NULL))
		ev_error(ev, te->loc, "%s is too large: a tensor holds at most 2^48 bytes", TS(&t));
	return t;
}

/* Checks v against a declared type, binding dimension variables in env. */
static void check_type(Ev *ev, Env *env, const Param *p, Value v, Loc loc, const char *what)
{
	const TypeExpr *te = p->type;
	Type t;
	if (is_number(&v)) {
		DType want = eval_dtype(ev, te);
		if ((want == DT_I32 && v.kind != V_INT) || (want == DT_BOOL && v.kind != V_BOOL))
			ev_error(ev, loc, "%s of %s must be %s, got a %s", p->name, what, te->dtype, value_kind_name(&v));
		if (te->ndims)
			ev_error(ev, loc, "%s of %s must be a tensor %s, got a %s", p->name, what, te->dtype, value_kind_name(&v));
		return;
	}
	if (v.kind == V_TENSOR)
		t = ev->tr->r->node[v.node].type;
	else if (v.kind == V_HOST)
		t = v.ht->t.type;
	else if (v.kind == V_PARAM)
		t = v.slot->t.type;
	else
		ev_error(ev, loc, "%s of %s must be a tensor, got a %s", p->name, what, value_kind_name(&v));
	DType dt = eval_dtype(ev, te);
	bool ok = dt == t.dt && te->ndims == t.rank;
	/* the declared type as written (f32[N, 784]) and the sizes its names
	   stand for (N = 8), for the message */
	char decl[256], bound[256] = "";
	size_t dlen = snprintf(decl, sizeof decl, "%s%s", te->dtype, te->ndims ? "[" : ""), blen = 0;
	for (int i = 0; i < te->ndims; i++) {
		const Expr *d = te->dims[i];
		int64_t want;
		if (d->kind == E_NAME && !env_find(env, d->str)) {
			if (ok)
				env_set(ev, env, d->str, v_int(t.dim[i]), false); /* a dimension variable binds */
			want = ok ? t.dim[i] : -1;
		} else
			want = eval_dim(ev, env, d);
		if (d->kind == E_NAME)
			dlen += snprintf(decl + dlen, sizeof decl - dlen, "%s%s", i ? ", " : "", d->str);
		else
			dlen += snprintf(decl + dlen, sizeof decl - dlen, "%s%lld", i ? ", " : "", (long long)want);
		if (d->kind == E_NAME && want >= 0)
			blen += snprintf(bound + blen, sizeof bound - blen, "%s%s = %lld", blen ? ", " : "", d->str, (long long)want);
		if (ok && want != t.dim[i])
			ok = false;
		/* very long names only shorten the message */
		dlen = dlen < sizeof decl ? dlen : sizeof decl - 1;
		blen = blen < sizeof bound ? blen : sizeof bound - 1;
	}
	if (te->ndims && dlen + 1 < sizeof decl)
		strcpy(decl + dlen, "]");
	if (!ok) {
		int depth = ev_error_begin(ev, loc, "%s of %s has type %s, but the declaration requires %s%s%s",
		                           p->name, what, TS(&t), decl, blen ? " with " : "", bound);
		diag_note(te->loc, "declared here");
		ev_error_end(ev, depth);
	}
}

void bind_params(Ev *ev, Env *env, const Param *ps, int np, Loc loc, const char *what,
                 Value *args, const char **names, int nargs, bool typed)
{
	Value *got = arena_alloc(ev->arena, (np + 1) * sizeof *got);
	int pos = 0;
	for (int i = 0; i < nargs; i++) {
		int k = -1;
		if (names && names[i]) {
			for (int j = 0; j < np; j++)
				if (!strcmp(ps[j].name, names[i]))
					k = j;
			if (k < 0) {
				const char **pn = arena_alloc(ev->arena, (size_t)(np + 1) * sizeof *pn);
				for (int j = 0; j < np; j++)
					pn[j] = ps[j].name;
				ev_error(ev, loc, "%s has no parameter '%s'%s", what, names[i], ev_suggest(ev, names[i], pn, np));
			}
		} else {
			if (pos >= np)
				ev_error(ev, loc, "%s takes %d argument%s, got %d", what, np, np == 1 ? "" : "s", nargs);
			k = pos++;
		}
		if (got[k].kind != V_NONE)
			ev_error(ev, loc, "argument '%s' of %s given twice", ps[k].name, what);
		got[k] = args[i];
		if (got[k].kind == V_NONE)
			got[k].kind = V_NONE; /* nothing: caught below as missing */
	}
	for (int j = 0; j < np; j++) {
		Value v = got[j];
		if (v.kind == V_NONE) {
			if (!ps[j].def)
				ev_error(ev, loc, "missing argument '%s' in call to %s", ps[j].name, what);
			v = ev_expr(ev, env, ps[j].def);
		}
		if (typed && ps[j].type)
			check_type(ev, env, &ps[j], v, loc, what);
		env_set(ev, env, ps[j].name, v, false);
	}
}

/* ---- initializers ---- */

static void init_param(Ev *ev, Slot *s, Value init, Loc loc)
{
	Type *t = &s->t.type;
	float *p = s->t.data;
	int64_t n = type_numel(t);
	/* fans of an empty tensor are 0, not a division by zero (no parameter
	   is empty, model_instantiate says so, but optimizer states share this) */
	int64_t fan_out = t->rank ? t->dim[t->rank - 1] : 1, fan_in = t->rank > 1 && fan_out ? n / fan_out : n;
	const char *kind = init.kind == V_INIT || init.kind == V_CALLABLE ? init.s : NULL;
	if (init.kind == V_CALLABLE && kind && (!strcmp(kind, "normal") || !strcmp(kind, "uniform"))) {
		/* a bare `normal` or `uniform`: their defaults, N(0, 1) and U(0, 1) */
		init.items = (Value[2]){ v_float(!strcmp(kind, "normal")), v_float(!strcmp(kind, "uniform")) };
		if (!strcmp(kind, "normal"))
			init.items[1] = v_float(0);
		else
			init.items[0] = v_float(0);
	}
	if (init.kind == V_CALLABLE && kind && !strcmp(kind, "constant"))
		ev_error(ev, loc, "constant needs a value: constant(v)");
	uint64_t key = rt_key(ev->seed, s->name);
	if (t->dt != DT_F32)
		ev_error(ev, loc, "parameters must be f32");
	if (is_number(&init)) {
		for (int64_t i = 0; i < n; i++)
			p[i] = (float)num(&init);
	} else if (!kind)
		ev_error(ev, loc, "a parameter initializer must be zeros, ones, constant(v), normal(std, mean), "
		                  "uniform(lo, hi), xavier_uniform or he_normal, got a %s", value_kind_name(&init));
	else if (!strcmp(kind, "zeros") || !strcmp(kind, "ones") || !strcmp(kind, "constant")) {
		float v = !strcmp(kind, "ones") ? 1.f : !strcmp(kind, "constant") ? (float)init.items[0].f : 0.f;
		for (int64_t i = 0; i < n; i++)
			p[i] = v;
	} else if (!strcmp(kind, "normal"))
		rt_fill_normal(p, n, (float)init.items[1].f, (float)init.items[0].f, key);
	else if (!strcmp(kind, "uniform"))
		rt_fill_uniform(p, n, (float)init.items[0].f, (float)init.items[1].f, key);
	else if (!strcmp(kind, "xavier_uniform")) {
		float a = (float)sqrt(6.0 / (double)(fan_in + fan_out));
		rt_fill_uniform(p, n, -a, a, key);
	} else if (!strcmp(kind, "he_normal"))
		rt_fill_normal(p, n, 0.f, (float)sqrt(2.0 / (double)fan_in), key);
	else
		ev_error(ev, loc, "'%s' is not an initializer", kind);
}

/* ---- models ---- */

/* The parameters (buf false) or buffers (buf true) in field value v. */
static int count_slots(Value v, bool buf)
{
	int n = 0;
	if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			n += count_slots(v.items[i], buf);
	if (v.kind == V_PARAM)
		n += slot_is_buffer(v.slot) == buf;
	if (v.kind == V_MODEL)
		n += buf ? v.inst->nbuffers : v.inst->nparams;
	return n;
}

static void append_slots(Slot **to, int *n, Value v, bool buf)
{
	if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			append_slots(to, n, v.items[i], buf);
	if (v.kind == V_PARAM && slot_is_buffer(v.slot) == buf)
		to[(*n)++] = v.slot;
	for (int i = 0; v.kind == V_MODEL && i < (buf ? v.inst->nbuffers : v.inst->nparams); i++)
		to[(*n)++] = buf ? v.inst->buffers[i] : v.inst->params[i];
}

/* Appends the parameters and buffers of field value v to inst's; each
   array grows once per field, so a list of n layers costs O(n), not
   O(n^2). */
static void collect_slots(Ev *ev, Instance *inst, Value v)
{
	for (int buf = 0; buf < 2; buf++) {
		int add = count_slots(v, buf);
		if (add == 0)
			continue;
		Slot ***list = buf ? &inst->buffers : &inst->params;
		int *n = buf ? &inst->nbuffers : &inst->nparams;
		*list = arena_grow(ev->arena, *list, *n * sizeof(Slot *), (*n + add) * sizeof(Slot *));
		append_slots(*list, n, v, buf);
	}
}

Value model_instantiate(Ev *ev, const Decl *d, Loc loc, Value *args, const char **names, int nargs)
{
	const ModelDecl *md = d->model;
	Instance *inst = arena_alloc(ev->arena, sizeof *inst);
	inst->decl = d;
	inst->path = ev->name_hint ? ev->name_hint : arena_printf(ev->arena, "model%d", ev->anon_models++);
	ev->name_hint = NULL;
	inst->fields = env_new(ev, decl_scope(ev, d));
	const char *what = arena_printf(ev->arena, "model '%s'", md->name);
	for (int i = 0; i < nargs; i++)
		if (args[i].kind == V_TENSOR)
			ev_error(ev, loc, "argument %d of %s is a tensor computed in this statement; to run a model on x, "
			         "create it first (let m = %s(...)), then call m(x)", i + 1, what, md->name);
	bind_params(ev, inst->fields, md->params, md->nparams, loc, what, args, names, nargs, true);
	if (ev->depth == (int)(sizeof ev->stack / sizeof ev->stack[0]))
		ev_error(ev, loc, "models nested too deeply (does a model contain itself?)");
	ev->stack[ev->depth++] = (Frame){ .loc = loc, .what = what };
	for (int i = 0; i < md->nitems; i++) {
		const ModelItem *it = &md->items[i];
		for (int j = 0; j < i; j++)
			if (!strcmp(md->items[j].name, it->name)) {
				diag_begin_error(it->loc, "model '%s' defines '%s' twice", md->name, it->name);
				diag_note(md->items[j].loc, "first defined here");
				diag_exit();
			}
		const char *full = arena_printf(ev->arena, "%s.%s", inst->path, it->name);
		Value v;
		switch (it->kind) {
		case MI_PARAM:
		case MI_BUFFER: {
			bool buf = it->kind == MI_BUFFER;
			const char *kind = buf ? "buffer" : "parameter";
			Type t = eval_type(ev, inst->fields, it->type);
			/* `= none` declares no tensor, PyTorch's register_parameter(name,
			   None): the name reads as none, nothing is saved or optimized
			   (Conv2d and Linear with bias = false) */
			Value init = it->value ? ev_expr(ev, inst->fields, it->value) : (Value){ .kind = V_CALLABLE, .s = "zeros" };
			if (init.kind == V_NONE) {
				v = init;
				break;
			}
			/* A zero-size parameter has nothing to train and no fan for the
			   initializers; PyTorch accepts one with a warning, sinter says
			   so at once (LANGUAGE.md, Models). */
			for (int k = 0; k < t.rank; k++)
				if (t.dim[k] == 0) {
					/* a standard layer's declaration is not the user's
					   mistake: point at the call that sized it */
					Loc at = d->from_stdlib ? loc : it->type->dims[k]->loc;
					ev->depth -= d->from_stdlib;
					ev_error(ev, at, "%s '%s' of %s has size 0 along axis %d (%s); "
					         "a %s needs at least one element", kind, it->name, what, k, TS(&t), kind);
				}
			if (buf && t.dt != DT_F32)
				ev_error(ev, it->type->loc, "buffer '%s' of %s must be f32, like a parameter, got %s",
				         it->name, what, TS(&t));
			const char *for_what = buf ? arena_printf(ev->arena, "the buffer %s: %s", full, TS(&t))
			                           : arena_printf(ev->arena, "the block of parameters (for %s: %s)", full, TS(&t));
			Slot *s = slot_new_for(ev, full, buf ? SLOT_BUFFER : NULL, t, it->loc, for_what);
			init_param(ev, s, init, it->value ? it->value->loc : it->loc);
			v = (Value){ .kind = V_PARAM, .slot = s };
			break;
		}
		case MI_FIELD: {
			/* evaluated in a region of its own, so a tensor field (a mask,
			   a table) becomes a host tensor: a node of the caller's region
			   would not outlive the statement that creates the model */
			Trace *caller = ev->tr;
			ev->tr = NULL;
			ev->name_hint = full;
			v = host_value(ev, inst->fields, it->value);
			ev->name_hint = NULL;
			ev->tr = caller;
			break;
		}
		case MI_FN:
			v = (Value){ .kind = V_CALLABLE, .s = it->fn->name, .inst = inst };
			break;
		}
		env_set(ev, inst->fields, it->name, v, false);
		if (it->kind != MI_FN)
			collect_slots(ev, inst, v);
	}
	ev->depth--;
	return (Value){ .kind = V_MODEL, .inst = inst };
}

/* ---- optimizers ---- */

/* Forgets the state slots of optimizers named oname: a new optimizer of that
   name (`let opt = adam()` in a loop) starts from fresh state, created on its
   first step like any other. */
static void drop_states(Ev *ev, const char *oname)
{
	size_t n = strlen(oname);
	for (int b = 0; ev->slots && b < SLOT_BUCKETS; b++)
		for (Slot **sp = &ev->slots[b]; *sp;) {
			Slot *s = *sp;
			if (s->sname && !strncmp(s->sname, oname, n) && s->sname[n] == '.') {
				*sp = s->next;
				if (s->off < 0) {
					/* a typed state's own allocation (slot_new) */
					rt_mem_hold(-type_bytes(&s->t.type));
					free(s->t.data);
				}
			} else
				sp = &s->next;
		}
}

Value opt_instantiate(Ev *ev, const Decl *d, Loc loc, Value *args, const char **names, int nargs)
{
	OptInst *o = arena_alloc(ev->arena, sizeof *o);
	o->decl = d;
	o->name = ev->name_hint ? ev->name_hint : arena_printf(ev->arena, "opt%d", ev->anon_models++);
	ev->name_hint = NULL;
	drop_states(ev, o->name);
	o->hyper = env_new(ev, decl_scope(ev, d));
	const char *what = arena_printf(ev->arena, "optimizer '%s'", d->name);
	Value params = opt_params_arg(ev, d, loc, args, &names, &nargs);
	bind_params(ev, o->hyper, d->opt->params, d->opt->nparams, loc, what, args, names, nargs, true);
	for (int i = 0; i < o->hyper->n; i++) {
		Value *h = &o->hyper->b[i].v;
		if (h->kind == V_TENSOR || h->kind == V_HOST || h->kind == V_PARAM)
			ev_error(ev, loc, "hyperparameter '%s' of %s must be a number, got a tensor", o->hyper->b[i].name, what);
		o->hyper->b[i].host = true; /* hyperparameters may change every step */
		o->hyper->b[i].v.dyn = false;
	}
	if (params.kind != V_NONE)
		opt_params_set(ev, o, params, loc);
	return (Value){ .kind = V_OPT, .opt = o };
}

/*
 * Optimizer state, created per parameter when its update first reads or
 * assigns it: the update's scope binds every state name to a V_STATE, and
 * reading one (eval.c, eval_name -> opt_state_read) or assigning it makes
 * the slot and its STATE node.  So a state the traced update never touches
 * for a parameter (Adafactor's factored moments of a bias, sgd's momentum
 * buffer without momentum) takes no memory, as in PyTorch, where step()
 * fills a parameter's state dict with what it uses.  An untyped state has
 * the parameter's type and sits in a family block laid out like the
 * parameters (the pack pass updates many at once); a typed one (`state r:
 * f32[p.shape[0]]`) has the type its declaration gives, evaluated in the
 * update's scope (hyperparameters, t, p, g), and an allocation of its own.
 */
typedef struct OptUpdate {
	OptInst *o;
	Env *env;    /* the update's scope */
	int pn;      /* the PARAM node being updated */
	int *snode;  /* each state's STATE node, -1 until created */
	Loc loc;     /* the minimize call */
} OptUpdate;

static OptUpdate *upd_begin(Ev *ev, OptInst *o, Env *env, int pn, Loc loc)
{
	const OptDecl *od = o->decl->opt;
	OptUpdate *u = arena_alloc(ev->arena, sizeof *u);
	*u = (OptUpdate){ .o = o, .env = env, .pn = pn, .loc = loc };
	u->snode = arena_alloc(ev->arena, (od->nstates + 1) * sizeof *u->snode);
	for (int s = 0; s < od->nstates; s++) {
		u->snode[s] = -1;
		env_set(ev, env, od->states[s], (Value){ .kind = V_STATE, .i = s, .origin = u }, false);
	}
	return u;
}

/* The type of state s for u's parameter. */
static Type state_type(Ev *ev, const OptUpdate *u, int s)
{
	const OptDecl *od = u->o->decl->opt;
	const TypeExpr *te = od->state_types[s];
	const Node *p = &ev->tr->r->node[u->pn];
	if (!te)
		return p->type;
	Type t = { .dt = eval_dtype(ev, te) };
	if (t.dt != DT_F32)
		ev_error(ev, te->loc, "state '%s' of optimizer '%s' must be f32, like a parameter, got %s", od->states[s],
		         od->name, te->dtype);
	/* a dimension that is a list of ints (p.shape) stands for its items */
	for (int k = 0; k < te->ndims; k++) {
		Value v = ev_expr(ev, u->env, te->dims[k]);
		bool list = v.kind == V_LIST;
		for (int j = 0; j < (list ? v.n : 1); j++) {
			Value d = list ? v.items[j] : v;
			if (d.kind != V_INT || d.i < 1)
				ev_error(ev, te->dims[k]->loc, "axis %d of state '%s' must be a positive int, got %s (for "
				         "parameter %s: %s)", t.rank, od->states[s], d.kind == V_INT
				         ? arena_printf(ev->arena, "%lld", (long long)d.i)
				         : arena_printf(ev->arena, "a %s", value_kind_name(&d)), p->name, TS(&p->type));
			if (t.rank == MAX_RANK)
				ev_error(ev, te->loc, "at most %d axes are supported", MAX_RANK);
			t.dim[t.rank++] = d.i;
		}
	}
	if (!type_bytes_ok(&t, NULL))
		ev_error(ev, te->loc, "%s is too large: a tensor holds at most 2^48 bytes", TS(&t));
	return t;
}

/* State s's node for u's parameter, its slot created on first use. */
static int state_node(Ev *ev, OptUpdate *u, int s)
{
	if (u->snode[s] >= 0)
		return u->snode[s];
	Region *r = ev->tr->r;
	const OptDecl *od = u->o->decl->opt;
	const char *pname = r->node[u->pn].name, *sname = arena_printf(ev->arena, "%s.%s", u->o->name, od->states[s]);
	Type t = state_type(ev, u, s);
	Slot *slot = slot_find(ev, pname, sname);
	if (slot && !type_eq(&slot->t.type, &t)) {
		/* a type computed from t, or a checkpoint resumed (hostlib.c) */
		diag_begin_error(u->loc, "state '%s' of %s was made %s (by an earlier step or by resume), but its "
		                 "declaration now gives %s", od->states[s], pname, TS(&slot->t.type), TS(&t));
		diag_note(od->state_locs[s], "declared here");
		diag_exit();
	}
	if (!slot) {
		const char *what = arena_printf(ev->arena, "the %soptimizer state %s (for %s: %s)",
		                                od->state_types[s] ? "" : "block of ", sname, pname, TS(&t));
		slot = od->state_types[s] ? slot_new_alone_for(ev, pname, sname, t, u->loc, what)
		                          : slot_new_for(ev, pname, sname, t, u->loc, what);
		Value init = od->state_inits[s] ? ev_expr(ev, u->o->hyper, od->state_inits[s])
		                                : (Value){ .kind = V_CALLABLE, .s = "zeros" };
		init_param(ev, slot, init, od->state_locs[s]);
	}
	u->snode[s] = ir_state(r, pname, sname, t);
	r->node[u->snode[s]].at = slot->off;
	return u->snode[s];
}

Value opt_state_read(Ev *ev, Binding *b, Loc loc)
{
	(void)loc;
	OptUpdate *u = (OptUpdate *)b->v.origin;
	b->v = v_tensor(state_node(ev, u, (int)b->v.i));
	return b->v;
}

/* The writes of p and of every state the update assigned; a new value
   broadcasts to the type it replaces. */
static void upd_write_back(Ev *ev, OptUpdate *u)
{
	Region *r = ev->tr->r;
	const OptDecl *od = u->o->decl->opt;
	int pn = u->pn;
	const char *pname = r->node[pn].name;
	Type pt = r->node[pn].type;
	for (int s = -1; s < od->nstates; s++) {
		const char *name = s < 0 ? od->upd_p : od->states[s];
		Binding *b = env_find(u->env, name);
		if (b->v.kind == V_STATE)
			continue; /* never used for this parameter: not created */
		Value nv = b->v;
		int ref = s < 0 ? pn : state_node(ev, u, s);
		if (nv.kind == V_TENSOR && nv.node == ref)
			continue;
		int val = ev_node(ev, nv, od->upd_loc, DT_F32);
		Type want = r->node[ref].type;
		if (!type_eq(&r->node[val].type, &want)) {
			Node bp = ir_proto(OP_BROADCAST);
			bp.type = want;
			int to = ir_emit(r, &bp, &val, 1, NULL, 0);
			if (to < 0 && s >= 0 && od->state_types[s]) {
				diag_begin_error(od->upd_loc, "the new value of state '%s' is %s, but the state is declared "
				                 "%s for parameter %s: %s", name, TS(&r->node[val].type), TS(&want), pname,
				                 TS(&pt));
				diag_note(od->state_locs[s], "declared here");
				for (int i = ev->depth - 1; i >= 0 && i >= ev->depth - 8; i--)
					diag_note(ev->stack[i].loc, "in %s, called from here", ev->stack[i].what);
				diag_exit();
			}
			if (to < 0)
				ev_error(ev, od->upd_loc, "the new value of '%s' is %s, but parameter '%s' is %s", name,
				         TS(&r->node[val].type), pname, TS(&pt));
			val = to;
		}
		Node wp = ir_proto(OP_WRITE);
		ir_emit(r, &wp, (int[]){ ref, val }, 2, NULL, 0);
	}
}

void opt_trace_update(Ev *ev, OptInst *o, int loss, Loc loc, StepOpts *so)
{
	Region *r = ev->tr->r;
	const OptDecl *od = o->decl->opt;
	/* the parameters the loss depends on through differentiable ops: like
	   PyTorch, a parameter with no gradient (read only under stop_gradient,
	   say) is not updated */
	int nparams = 0;
	int *pnodes = arena_alloc(ev->arena, (r->nnode + 1) * sizeof *pnodes);
	bool *live = arena_alloc(ev->arena, (r->nnode + 1) * sizeof *live);
	live[loss] = true;
	for (int v = loss; v >= 0; v--)
		if (live[v] && !(op_info[r->node[v].op].flags & F_NOGRAD))
			for (int k = 0; k < r->node[v].narg; k++)
				live[ir_operand(r, v, k)] = true;
	for (int i = 0; i < r->nnode; i++)
		if (r->node[i].op == OP_PARAM && live[i])
			pnodes[nparams++] = i;
	if (!nparams)
		ev_error(ev, loc, "the loss does not depend on any parameter");
	Env *tenv = env_new(ev, o->hyper);
	env_set(ev, tenv, "t", v_int(o->t + 1), true);
	Env **penv = arena_alloc(ev->arena, (size_t)nparams * sizeof *penv);
	nparams = opt_select_params(ev, o, tenv, r, pnodes, penv, nparams, loc);
	/* clip_norm and accumulate act on all the optimizer's gradients (those
	   of its own parameters, like clip_grad_norm_(params)) before any update */
	int *gnodes = so ? step_grads(ev, o, so, loss, pnodes, nparams, loc) : NULL;
	if (so && !gnodes)
		return;
	const char *what = arena_printf(ev->arena, "the update of optimizer '%s'", od->name);
	ev->stack[ev->depth++] = (Frame){ .loc = loc, .what = what, .traced = true };
	for (int k = 0; k < nparams; k++) {
		int pn = pnodes[k];
		Node gp = ir_proto(OP_GRAD);
		int g = gnodes ? gnodes[k] : ir_emit(r, &gp, (int[]){ loss, pn }, 2, NULL, 0);
		Env *env = env_new(ev, penv[k]);
		env_set(ev, env, od->upd_p, v_tensor(pn), false);
		env_set(ev, env, od->upd_g, v_tensor(g), false);
		OptUpdate *u = upd_begin(ev, o, env, pn, loc);
		Value ret;
		ev_block(ev, env, od->update, od->nupdate, &ret);
		upd_write_back(ev, u);
	}
	ev->depth--;
}
