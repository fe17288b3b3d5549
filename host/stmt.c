/*
 * stmt.c — statements of function bodies, methods and optimizer updates,
 * and the lists that grow (append, +).
 *
 * A function body is evaluated at each call with the caller's values, so
 * its `if`, `for` and `while` are decided then: in a traced function they
 * unroll into the region, in one called on host numbers they simply run.
 * The train block's statements are run by host/host.c instead, which
 * executes regions between them.
 */
#include "host/eval.h"

#include <string.h>

#include "host/host.h"
#include "lang/diag.h"

/* ---- lists that grow ---- */


/*
 * Lists are values, as tuples are in Python: `ys = xs` and then
 * `xs.append(v)` leaves ys as it was.  So that a loop appending n items
 * costs O(n), not O(n^2), a list built by append or + has room after its
 * items (Value.cap) and, in the Value before its first item, the length of
 * the longest list sharing that block.  Only a list of that length may
 * write past its end; any other copies first.
 */
Value ev_list_join(Ev *ev, Loc loc, Value a, const Value *add, int nadd)
{
	int64_t n = (int64_t)a.n + nadd;
	if (n > INT32_MAX)
		ev_error(ev, loc, "a list holds at most %d items", INT32_MAX);
	Value *used = a.cap ? &a.items[-1] : NULL;
	if (!used || used->n != a.n || n > a.cap) {
		int64_t cap = n < 8 ? 8 : 2 * n > INT32_MAX ? INT32_MAX : 2 * n;
		Value *block = arena_alloc(ev->arena, (size_t)(cap + 1) * sizeof *block);
		for (int i = 0; i < a.n; i++)
			block[1 + i] = a.items[i];
		a.items = block + 1;
		a.cap = (int)cap;
		used = block;
	}
	for (int i = 0; i < nadd; i++) {
		/* an item read from a variable must not share that variable's
		   region input with a later value of it */
		Value v = add[i];
		v.origin = NULL;
		a.items[a.n + i] = v;
		ev_nest_list(ev, loc, &a, &v);
	}
	a.n = (int)n;
	used->n = a.n;
	a.origin = NULL;
	return a;
}

static void field_assign(Ev *ev, const Instance *self, Binding *b, Value v, Loc loc, const char *how);

/* xs.append(v): xs, a variable holding a list, then holds it with v at the end. */
Value ev_list_append(Ev *ev, Env *env, const Expr *call, Value list)
{
	const Expr *recv = call->a->a;
	if (list.kind != V_LIST)
		ev_error(ev, call->a->loc, "cannot append to a %s: append is a method of lists", value_kind_name(&list));
	if (call->nitems != 1 || call->argnames[0])
		ev_error(ev, call->loc, "append takes one value: xs.append(v)");
	if (recv->kind != E_NAME)
		ev_error(ev, call->a->loc, "append needs a variable holding the list (xs.append(v)); "
		         "write xs = xs + [v] for other lists");
	Binding *b = env_find(env, recv->str);
	if (b == env_find(ev->globals, recv->str) || b == env_find(ev->stdlib_globals, recv->str))
		ev_error(ev, recv->loc, "cannot append to global '%s' (declare a variable with let)", recv->str);
	int mark = ev_root(ev, &list, 1, NULL);
	Value v = ev_expr(ev, env, call->items[0]);
	ev_unroot(ev, mark);
	/* a member of the model whose method this is: set like `outs = outs + [v]` */
	const Instance *self = ev->depth > 0 ? ev->stack[ev->depth - 1].self : NULL;
	if (self && b == env_find(self->fields, recv->str)) {
		field_assign(ev, self, b, ev_list_join(ev, call->loc, list, &v, 1), recv->loc, "append to");
		return (Value){ .kind = V_NONE };
	}
	if (b->host) /* a train block's list keeps values, not nodes of this statement's region */
		v = host_force(ev, v, call->items[0]->loc);
	Value l = ev_list_join(ev, call->loc, list, &v, 1);
	if (b->host)
		ht_bind(l.items[l.n - 1]);
	b->v = l;
	b->changed = true;
	return (Value){ .kind = V_NONE };
}

/* ---- model fields assigned in methods ---- */

/* A value a field can take: what a PyTorch module keeps in a plain
   attribute (a number, a string, a tensor, a list of them); a model, an
   optimizer or a data set would change what the model is made of. */
static bool field_value_ok(const Value *v)
{
	switch (v->kind) {
	case V_NONE: case V_INT: case V_FLOAT: case V_BOOL: case V_STR: case V_TENSOR: case V_HOST:
		return true;
	case V_LIST:
		for (int i = 0; i < v->n; i++)
			if (!field_value_ok(&v->items[i]))
				return false;
		return true;
	default:
		return false;
	}
}

/* Whether v is, or lists, a model or a parameter: part of what the model
   is made of (its parameter list counts them), fixed when it is made. */
static const char *field_structure(const Value *v)
{
	if (v->kind == V_MODEL)
		return "a model";
	if (v->kind == V_PARAM)
		return "a parameter";
	if (v->kind == V_CALLABLE)
		return "a method";
	for (int i = 0; v->kind == V_LIST && i < v->n; i++)
		if (field_structure(&v->items[i]))
			return "a list of models or parameters";
	return NULL;
}

/*
 * `name = value` in a method of the model whose field `name` is: the
 * field takes the value, as `self.name = value` sets an attribute in
 * PyTorch.  A tensor computed in the method is a node of the region being
 * traced; the trace records the field, and when the region runs
 * (compile.c, host_run_trace) the field's tensor is computed with it and
 * becomes a host tensor that the field holds.
 */
static void field_assign(Ev *ev, const Instance *self, Binding *b, Value v, Loc loc, const char *how)
{
	const char *what = field_structure(&b->v);
	if (what)
		ev_error(ev, loc, "cannot %s member '%s' of model '%s' in its method: it holds %s, and sub-models, "
		         "parameters and methods are fixed when the model is made (a plain member holding a number, "
		         "a string or a tensor can be assigned)", how, b->name, self->decl->name, what);
	if (v.kind == V_PARAM) /* the parameter's value now, as w.detach().clone() */
		v = v_tensor(ev_node(ev, v, loc, DT_COUNT));
	if (!field_value_ok(&v))
		ev_error(ev, loc, "member '%s' of model '%s' can hold a number, a string, a tensor or a list of them, "
		         "got a %s", b->name, self->decl->name, value_kind_name(&v));
	Trace *tr = ev->tr;
	bool recorded = false;
	for (int i = 0; tr && i < tr->nfieldw; i++)
		recorded = recorded || tr->fieldb[i] == b;
	if (tr && !recorded) {
		if (tr->nfieldw == tr->capfieldw) {
			int cap = tr->capfieldw ? 2 * tr->capfieldw : 8;
			size_t n = (size_t)tr->nfieldw;
			tr->fieldb = arena_grow(tr->a, tr->fieldb, n * sizeof *tr->fieldb, (size_t)cap * sizeof *tr->fieldb);
			tr->fieldold = arena_grow(tr->a, tr->fieldold, n * sizeof *tr->fieldold, (size_t)cap * sizeof *tr->fieldold);
			tr->fieldown = arena_grow(tr->a, tr->fieldown, n * sizeof *tr->fieldown, (size_t)cap * sizeof *tr->fieldown);
			tr->capfieldw = cap;
		}
		tr->fieldb[tr->nfieldw] = b;
		tr->fieldold[tr->nfieldw] = b->v;
		tr->fieldown[tr->nfieldw++] = b->host;
	}
	if (!tr) { /* nothing traced: the value is the field's now */
		ht_bind(v);
		if (b->host)
			ht_unbind(b->v);
		b->host = true;
	}
	b->v = v;
}

/* ---- statements (inside functions, methods and optimizer updates) ---- */

static void assign_names(Ev *ev, Env *env, const Stmt *s, Value v, bool host)
{
	if (s->nnames == 1) {
		env_set(ev, env, s->names[0], v, host);
		return;
	}
	if (v.kind != V_LIST || v.n != s->nnames)
		ev_error(ev, s->loc, "cannot unpack a %s into %d names", value_kind_name(&v), s->nnames);
	for (int i = 0; i < s->nnames; i++)
		env_set(ev, env, s->names[i], v.items[i], host);
}

/* A function's loops unroll while it is traced; a while loop whose host
   condition never turns false would grow the region without end, so one is
   stopped at this many iterations (far more than any model unrolls). */
enum { EV_MAX_UNROLL = 10000 };
/* A dry run (sinter check) computes zeros for region results, so a host
   function's while waiting for a value may never end there; it stops
   after this many iterations, as every host loop of a dry run stops early. */
enum { EV_DRY_WHILE = 1000000 };

static bool in_traced_fn(Ev *ev)
{
	return ev->depth > 0 && ev->stack[ev->depth - 1].traced;
}

/* The condition of an if or while in a function: decided when the body is
   evaluated, so it must be a host value then. */
static bool fn_condition(Ev *ev, Env *env, const Stmt *s)
{
	Value c = ev_expr(ev, env, s->value);
	if (c.kind == V_BOOL || c.kind == V_INT)
		return c.i != 0;
	if (s->kind == S_WHILE)
		ev_error(ev, s->value->loc, "while condition must be a host bool known at trace time, got a %s "
		         "(a function's loops unroll when it is traced, so they cannot wait for a tensor's value)",
		         value_kind_name(&c));
	ev_error(ev, s->value->loc, "condition must be a host bool known at compile time, got a %s "
	         "(where(c, a, b) chooses per element)", value_kind_name(&c));
}

static Flow fn_block(Ev *ev, Env *env, Stmt *const *ss, int n, Value *ret);

/* One iteration's body in a scope of its own; FLOW_BREAK and FLOW_RETURN
   end the loop (the caller passes FLOW_RETURN on). */
static Flow fn_iteration(Ev *ev, Env *env, const Stmt *s, Value v, bool bind, Value *ret)
{
	Env *inner = env_new(ev, env);
	if (bind)
		assign_names(ev, inner, s, v, false);
	Flow f = fn_block(ev, inner, s->body, s->nbody, ret);
	return f == FLOW_CONTINUE ? FLOW_NEXT : f;
}

static Flow fn_statements(Ev *ev, Env *env, Stmt *const *ss, int n, Value *ret);

/* The statements in env, whose traced values live on when a statement
   runs the region (eval.c, roots). */
static Flow fn_block(Ev *ev, Env *env, Stmt *const *ss, int n, Value *ret)
{
	int mark = ev_root(ev, NULL, 0, env);
	Flow f = fn_statements(ev, env, ss, n, ret);
	ev_unroot(ev, mark);
	return f;
}

static Flow fn_statements(Ev *ev, Env *env, Stmt *const *ss, int n, Value *ret)
{
	for (int k = 0; k < n; k++) {
		const Stmt *s = ss[k];
		switch (s->kind) {
		case S_LET:
			ev->name_hint = s->nnames == 1 ? s->names[0] : NULL;
			assign_names(ev, env, s, ev_expr(ev, env, s->value), false);
			break;
		case S_ASSIGN: {
			if (s->target->kind != E_NAME)
				ev_error(ev, s->target->loc, "only names can be assigned here");
			Binding *b = env_find(env, s->target->str);
			if (!b)
				ev_error(ev, s->target->loc, "assignment to undeclared name '%s' (use let)%s", s->target->str,
				         ev_suggest_name(ev, env, s->target->str));
			if (env_find(ev->globals, s->target->str) == b || env_find(ev->stdlib_globals, s->target->str) == b)
				ev_error(ev, s->target->loc, "cannot assign to global '%s'", s->target->str);
			/* a parameter or buffer of the model whose method this is */
			const Instance *self = ev->depth ? ev->stack[ev->depth - 1].self : NULL;
			if (self && b->v.kind == V_PARAM && b >= self->fields->b && b < self->fields->b + self->fields->n) {
				if (!slot_is_buffer(b->v.slot))
					ev_error(ev, s->target->loc, "cannot assign parameter '%s' in a method: parameters change "
					         "only through an optimizer (minimize) or load; declare it `buffer %s` for state "
					         "the model updates itself", s->target->str, s->target->str);
				buffer_assign(ev, self, b->v.slot, ev_expr(ev, env, s->value), s->target->loc);
				break;
			}
			if (self && b >= self->fields->b && b < self->fields->b + self->fields->n) {
				field_assign(ev, self, b, ev_expr(ev, env, s->value), s->target->loc, "assign");
				break;
			}
			b->v = ev_expr(ev, env, s->value);
			break;
		}
		case S_EXPR:
			ev_expr(ev, env, s->value);
			break;
		case S_RETURN:
			*ret = s->value ? ev_expr(ev, env, s->value) : (Value){ .kind = V_NONE };
			return FLOW_RETURN;
		case S_IF: {
			Env *inner = env_new(ev, env);
			Flow f = fn_condition(ev, env, s) ? fn_block(ev, inner, s->body, s->nbody, ret)
			                                  : fn_block(ev, inner, s->els, s->nels, ret);
			if (f != FLOW_NEXT)
				return f;
			break;
		}
		case S_FOR: {
			Value it = ev_expr(ev, env, s->value);
			int64_t count = it.kind == V_RANGE ? (it.j > it.i ? it.j - it.i : 0) : it.kind == V_LIST ? it.n : -1;
			if (count < 0)
				ev_error(ev, s->value->loc, "cannot iterate over a %s here", value_kind_name(&it));
			int mark = ev_root(ev, &it, 1, NULL); /* the list's tensors live on */
			Flow f = FLOW_NEXT;
			for (int64_t i = 0; i < count && f != FLOW_RETURN && f != FLOW_BREAK; i++)
				f = fn_iteration(ev, env, s, it.kind == V_RANGE ? v_int(it.i + i) : it.items[i], true, ret);
			ev_unroot(ev, mark);
			if (f == FLOW_RETURN)
				return f;
			break;
		}
		case S_WHILE:
			for (int64_t i = 0; fn_condition(ev, env, s) && !(ev->dry && i == EV_DRY_WHILE); i++) {
				if (i == EV_MAX_UNROLL && in_traced_fn(ev))
					ev_error(ev, s->loc, "while loop unrolled %d times while %s was traced; its condition "
					         "never became false", EV_MAX_UNROLL, ev->stack[ev->depth - 1].what);
				Flow f = fn_iteration(ev, env, s, (Value){ .kind = V_NONE }, false, ret);
				if (f == FLOW_RETURN)
					return f;
				if (f == FLOW_BREAK)
					break;
				host_poll_interrupt(ev);
			}
			break;
		case S_BREAK:
		case S_CONTINUE:
			/* Python would allow it; here a traced body is specialized once
			   and its loops unroll, so the loop is left by its range or a
			   while condition instead, which say how far it unrolls. */
			if (in_traced_fn(ev))
				ev_error(ev, s->loc, "'%s' inside a traced function (%s): its loops unroll into the region; "
				         "end the loop by its range or a while condition", s->kind == S_BREAK ? "break" : "continue",
				         ev->stack[ev->depth - 1].what);
			return s->kind == S_BREAK ? FLOW_BREAK : FLOW_CONTINUE;
		}
	}
	return FLOW_NEXT;
}

bool ev_block(Ev *ev, Env *env, Stmt *const *ss, int n, Value *ret)
{
	return fn_block(ev, env, ss, n, ret) == FLOW_RETURN;
}
