/*
 * optparams.c — which parameters an optimizer updates.
 *
 * `adamw(params = ..., lr = ...)` gives an optimizer the parameters it
 * owns, as a PyTorch optimizer is given model.parameters(): a model, a
 * parameter, a list of them, or parameter groups, `group(params, name =
 * value, ...)`, each with hyperparameters of its own.  minimize then adds
 * a gradient and an update for the owned parameters the loss reaches and
 * for no other: the rest are constants of the step (no grad node, so
 * autodiff does not differentiate towards them, no update, no state).
 * An optimizer without `params` owns every parameter (OptInst.owns NULL).
 *
 * A group's update is traced in an environment of its overrides above the
 * optimizer's hyperparameters, as host variables of their own, so each
 * group's numbers are region inputs of their own: the pack pass, which
 * merges updates whose rules and inputs are the same, never merges two
 * groups.  decay_params/no_decay_params split a model the way GPT
 * training scripts do: weights of rank >= 2 decay, biases, norm
 * parameters and embedding tables (parameters of an `Embedding` model) do
 * not.
 */
#include "host/host.h"

#include <string.h>

#include "lang/diag.h"

/* The groups of an optimizer and, for minimize, a hash from parameter
   name to group (open addressing; names are the OP_PARAM nodes'). */
struct OptParams {
	ParamGroup *groups;
	int ngroups;
	const char **key;
	int *grp;
	unsigned cap; /* a power of two, at least twice the parameters */
};

static unsigned name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (unsigned)(h ^ h >> 32);
}

/* The slot of name's entry: where it is, or the empty one it would go. */
static unsigned own_find(const OptParams *op, const char *name)
{
	unsigned i = name_hash(name) & (op->cap - 1);
	while (op->key[i] && strcmp(op->key[i], name))
		i = (i + 1) & (op->cap - 1);
	return i;
}

bool opt_owns(const OptInst *o, const char *pname)
{
	return !o->owns || o->owns->key[own_find(o->owns, pname)];
}

/* ---- gathering parameters ---- */

typedef struct {
	Slot **s;
	int n, cap;
} SlotList;

static void slots_add(Ev *ev, SlotList *l, Slot *s)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		l->s = arena_grow(ev->arena, l->s, (size_t)l->n * sizeof *l->s, (size_t)cap * sizeof *l->s);
		l->cap = cap;
	}
	l->s[l->n++] = s;
}

/* Appends the parameters v names: a parameter, a model's, a list's. */
static void gather(Ev *ev, Value v, SlotList *l, Loc loc, const char *what)
{
	if (v.kind == V_PARAM) {
		if (slot_is_buffer(v.slot))
			ev_error(ev, loc, "%s: '%s' is a buffer, which no optimizer updates", what, v.slot->name);
		slots_add(ev, l, v.slot);
	} else if (v.kind == V_MODEL) {
		for (int i = 0; i < v.inst->nparams; i++)
			slots_add(ev, l, v.inst->params[i]);
	} else if (v.kind == V_LIST) {
		for (int i = 0; i < v.n; i++)
			gather(ev, v.items[i], l, loc, what);
	} else if (v.kind == V_GROUP)
		ev_error(ev, loc, "%s: a parameter group cannot be inside another group or a nested list", what);
	else
		ev_error(ev, loc, "%s must be models, parameters (net.fc.weight) or groups, got a %s%s", what,
		         value_kind_name(&v), v.kind == V_TENSOR || v.kind == V_HOST
		         ? " computed from them (give the parameter itself)" : "");
}

/* ---- builtins ---- */

/* group(params, name = value, ...): a parameter group; the names are
   checked against the optimizer that receives it (opt_params_set). */
Value prim_group(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	(void)b;
	ParamGroup *g = arena_alloc(ev->arena, sizeof *g);
	g->over = env_new(ev, NULL);
	g->loc = loc;
	SlotList l = { 0 };
	bool have = false;
	for (int i = 0; i < n; i++) {
		const char *name = names ? names[i] : NULL;
		if (!name || !strcmp(name, "params")) {
			if (have)
				ev_error(ev, loc, "group takes one list of parameters, then hyperparameters by name "
				         "(group(params, weight_decay = 0))");
			have = true;
			gather(ev, args[i], &l, loc, "the parameters of a group");
			continue;
		}
		if (!is_number(&args[i]))
			ev_error(ev, loc, "hyperparameter '%s' of a group must be a number, got a %s", name,
			         value_kind_name(&args[i]));
		Value v = args[i];
		v.dyn = false;
		v.origin = NULL;
		env_set(ev, g->over, name, v, true);
	}
	if (!have)
		ev_error(ev, loc, "group needs the parameters it holds: group(params, weight_decay = 0)");
	g->params = l.s;
	g->nparams = l.n;
	return (Value){ .kind = V_GROUP, .group = g };
}

/* Whether parameter s, declared by instance owner, decays: the rule of
   decay_params. */
static bool decays(const Instance *owner, const Slot *s)
{
	return s->t.type.rank >= 2 && strcmp(owner->decl->name, "Embedding");
}

static void split_value(Ev *ev, const Instance *owner, Value v, bool want, SlotList *out);

/* The parameters below inst, in the order of its parameter list, that
   decay (want) or do not. */
static void split_model(Ev *ev, const Instance *inst, bool want, SlotList *out)
{
	const ModelDecl *md = inst->decl->model;
	for (int i = 0; i < md->nitems; i++) {
		const ModelItem *it = &md->items[i];
		if (it->kind == MI_FN || it->kind == MI_BUFFER)
			continue;
		Binding *b = env_find(inst->fields, it->name);
		if (b)
			split_value(ev, inst, b->v, want, out);
	}
}

static void split_value(Ev *ev, const Instance *owner, Value v, bool want, SlotList *out)
{
	if (v.kind == V_PARAM && !slot_is_buffer(v.slot) && decays(owner, v.slot) == want)
		slots_add(ev, out, v.slot);
	else if (v.kind == V_MODEL)
		split_model(ev, v.inst, want, out);
	else if (v.kind == V_LIST)
		for (int i = 0; i < v.n; i++)
			split_value(ev, owner, v.items[i], want, out);
}

/* decay_params(model), no_decay_params(model): lists of parameters. */
Value prim_decay_params(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[1];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	if (v[0].kind != V_MODEL)
		ev_error(ev, loc, "%s needs a model, got a %s", b->name, value_kind_name(&v[0]));
	SlotList l = { 0 };
	split_model(ev, v[0].inst, !strcmp(b->name, "decay_params"), &l);
	Value out = { .kind = V_LIST, .n = l.n, .j = 1 };
	out.items = arena_alloc(ev->arena, (size_t)(l.n + 1) * sizeof *out.items);
	for (int i = 0; i < l.n; i++)
		out.items[i] = (Value){ .kind = V_PARAM, .slot = l.s[i] };
	return out;
}

/* ---- the optimizer's side ---- */

Value opt_params_arg(Ev *ev, const Decl *d, Loc loc, Value *args, const char ***names, int *nargs)
{
	const OptDecl *od = d->opt;
	for (int j = 0; j < od->nparams; j++)
		if (!strcmp(od->params[j].name, "params"))
			ev_error(ev, loc, "optimizer '%s' declares a hyperparameter named 'params', the keyword that gives "
			         "an optimizer its parameters; rename it", d->name);
	Value got = { .kind = V_NONE };
	const char **in = *names;
	if (!in)
		return got;
	/* the names are the call's, in the AST: the rest goes to a copy */
	const char **out = arena_alloc(ev->arena, (size_t)(*nargs + 1) * sizeof *out);
	int k = 0;
	for (int i = 0; i < *nargs; i++) {
		if (in[i] && !strcmp(in[i], "params")) {
			got = args[i]; /* a keyword given twice is the caller's error */
			continue;
		}
		args[k] = args[i];
		out[k++] = in[i];
	}
	*names = out;
	*nargs = k;
	return got;
}

static void check_overrides(Ev *ev, const OptInst *o, const ParamGroup *g, Loc loc)
{
	const Env *h = o->hyper;
	const char **cands = arena_alloc(ev->arena, (size_t)(h->n + 1) * sizeof *cands);
	for (int i = 0; i < h->n; i++)
		cands[i] = h->b[i].name;
	for (int i = 0; i < g->over->n; i++) {
		const char *name = g->over->b[i].name;
		/* the optimizer's own names: env_find would go on to the globals */
		int k = 0;
		while (k < h->n && strcmp(h->b[k].name, name))
			k++;
		if (k == h->n) {
			diag_begin_error(g->loc, "optimizer '%s' has no hyperparameter '%s' for this group to set%s",
			                 o->decl->name, name, ev_suggest(ev, name, cands, h->n));
			diag_note(loc, "the group is given to optimizer '%s' here", o->decl->name);
			diag_exit();
		}
	}
}

void opt_params_set(Ev *ev, OptInst *o, Value params, Loc loc)
{
	const char *what = arena_printf(ev->arena, "params of optimizer '%s'", o->decl->name);
	OptParams *op = arena_alloc(ev->arena, sizeof *op);
	/* groups as given; the models and parameters outside any group form
	   one more group, without overrides, first */
	Value *items = params.kind == V_LIST ? params.items : &params;
	int nitems = params.kind == V_LIST ? params.n : 1;
	if (params.kind == V_LIST && nitems == 0)
		ev_error(ev, loc, "%s is an empty list: give the models or parameters it updates", what);
	op->groups = arena_alloc(ev->arena, (size_t)(nitems + 1) * sizeof *op->groups);
	SlotList plain = { 0 };
	bool any_plain = false;
	for (int i = 0; i < nitems; i++)
		if (items[i].kind != V_GROUP) {
			gather(ev, items[i], &plain, loc, what);
			any_plain = true;
		}
	if (any_plain)
		op->groups[op->ngroups++] = (ParamGroup){ plain.s, plain.n, env_new(ev, NULL), loc };
	int total = plain.n;
	for (int i = 0; i < nitems; i++)
		if (items[i].kind == V_GROUP) {
			check_overrides(ev, o, items[i].group, loc);
			op->groups[op->ngroups++] = *items[i].group;
			total += items[i].group->nparams;
		}
	if (total == 0)
		ev_error(ev, loc, "%s names no parameter", what);
	op->cap = 16;
	while (op->cap < 2 * (unsigned)total)
		op->cap *= 2;
	op->key = arena_alloc(ev->arena, op->cap * sizeof *op->key);
	op->grp = arena_alloc(ev->arena, op->cap * sizeof *op->grp);
	for (int g = 0; g < op->ngroups; g++)
		for (int k = 0; k < op->groups[g].nparams; k++) {
			const char *name = op->groups[g].params[k]->name;
			unsigned at = own_find(op, name);
			if (op->key[at])
				ev_error(ev, loc, "parameter '%s' is given twice in %s%s", name, what,
				         op->grp[at] == g ? "" : " (in two groups)");
			op->key[at] = name;
			op->grp[at] = g;
		}
	o->owns = op;
	/* each group one span of the blocks, so that its update packs into
	   one kernel however the model interleaves them (a weight, its bias) */
	Slot **order = arena_alloc(ev->arena, (size_t)total * sizeof *order);
	int k = 0;
	for (int g = 0; g < op->ngroups; g++)
		for (int i = 0; i < op->groups[g].nparams; i++)
			order[k++] = op->groups[g].params[i];
	store_arrange(ev, order, total);
}

int opt_select_params(Ev *ev, const OptInst *o, Env *tenv, const Region *r, int *pnodes, Env **penv, int n, Loc loc)
{
	const OptParams *op = o->owns;
	if (!op) {
		for (int k = 0; k < n; k++)
			penv[k] = tenv;
		return n;
	}
	/* each group's overrides, over this step's t and the optimizer's
	   hyperparameters: host variables, so the values enter as inputs */
	Env **genv = arena_alloc(ev->arena, (size_t)op->ngroups * sizeof *genv);
	for (int g = 0; g < op->ngroups; g++) {
		const Env *over = op->groups[g].over;
		genv[g] = over->n ? env_new(ev, tenv) : tenv;
		for (int i = 0; i < over->n; i++)
			env_set(ev, genv[g], over->b[i].name, over->b[i].v, true);
	}
	int kept = 0;
	for (int k = 0; k < n; k++) {
		unsigned at = own_find(op, r->node[pnodes[k]].name);
		if (!op->key[at])
			continue;
		penv[kept] = genv[op->grp[at]];
		pnodes[kept++] = pnodes[k];
	}
	if (!kept)
		ev_error(ev, loc, "the loss does not depend on any parameter of optimizer '%s' "
		         "(it reads %d parameter%s, none of them in its params)", o->decl->name, n, n == 1 ? "" : "s");
	return kept;
}
