/*
 * ast.c — node constructors and the list helpers the parser uses to
 * collect children before they become the (pointer, count) arrays of
 * lang/ast.h.  Everything is allocated in the compilation arena.
 */
#include "parser.h"
#include "lang/diag.h"

#include <string.h>

PList *plist_new(Arena *a)
{
	return arena_alloc(a, sizeof(PList));
}

void plist_push(Arena *a, PList *l, void *p)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 8;
		l->v = arena_grow(a, l->v, (size_t)l->cap * sizeof *l->v, (size_t)cap * sizeof *l->v);
		l->cap = cap;
	}
	l->v[l->n++] = p;
}

static int count(const PList *l)
{
	return l ? l->n : 0;
}

Expr **plist_exprs(Arena *a, const PList *l, int *n)
{
	*n = count(l);
	if (!*n)
		return NULL;
	Expr **out = arena_alloc(a, (size_t)*n * sizeof *out);
	for (int i = 0; i < *n; i++)
		out[i] = l->v[i];
	return out;
}

Stmt **plist_stmts(Arena *a, const PList *l, int *n)
{
	*n = count(l);
	if (!*n)
		return NULL;
	Stmt **out = arena_alloc(a, (size_t)*n * sizeof *out);
	for (int i = 0; i < *n; i++)
		out[i] = l->v[i];
	return out;
}

const char **plist_strs(Arena *a, const PList *l, int *n)
{
	*n = count(l);
	if (!*n)
		return NULL;
	const char **out = arena_alloc(a, (size_t)*n * sizeof *out);
	for (int i = 0; i < *n; i++)
		out[i] = l->v[i];
	return out;
}

Param *plist_params(Arena *a, const PList *l, int *n)
{
	*n = count(l);
	if (!*n)
		return NULL;
	Param *out = arena_alloc(a, (size_t)*n * sizeof *out);
	for (int i = 0; i < *n; i++)
		out[i] = *(const Param *)l->v[i];
	return out;
}

ModelItem *plist_mitems(Arena *a, const PList *l, int *n)
{
	*n = count(l);
	if (!*n)
		return NULL;
	ModelItem *out = arena_alloc(a, (size_t)*n * sizeof *out);
	for (int i = 0; i < *n; i++)
		out[i] = *(const ModelItem *)l->v[i];
	return out;
}

Expr *ast_expr(Arena *a, ExprKind kind, Loc loc)
{
	Expr *e = arena_alloc(a, sizeof *e);
	e->kind = kind;
	e->loc = loc;
	e->depth = 1;
	return e;
}

static int deeper(int d, const Expr *c)
{
	return c && c->depth + 1 > d ? c->depth + 1 : d;
}

Expr *ast_seal(Expr *e)
{
	int d = deeper(deeper(deeper(1, e->a), e->b), e->c);
	for (int i = 0; i < e->nitems; i++)
		d = deeper(d, e->items[i]);
	e->depth = d;
	if (d > AST_MAX_DEPTH)
		diag_error(e->loc, "expression nested too deeply (more than %d levels; split it with let)", AST_MAX_DEPTH);
	return e;
}

void ast_seal_stmt(Stmt *s)
{
	int d = s->value ? s->value->depth : 1;
	if (s->target && s->target->depth > d)
		d = s->target->depth;
	for (int i = 0; i < s->nbody; i++)
		d = s->body[i]->depth + 1 > d ? s->body[i]->depth + 1 : d;
	for (int i = 0; i < s->nels; i++)
		d = s->els[i]->depth + 1 > d ? s->els[i]->depth + 1 : d;
	s->depth = d;
	if (d > AST_MAX_DEPTH)
		diag_error(s->loc, "statement nested too deeply (more than %d levels)", AST_MAX_DEPTH);
}

/* break and continue are checked where the file is parsed, not when they
   run: a misplaced one in a branch that a run rarely takes (an evaluation
   every 1000 steps) should not wait an hour to be reported.  The walk is as
   deep as the statements, which ast_seal_stmt bounds. */
void ast_check_loops(Stmt *const *ss, int n, bool in_loop)
{
	for (int i = 0; i < n; i++) {
		const Stmt *s = ss[i];
		if ((s->kind == S_BREAK || s->kind == S_CONTINUE) && !in_loop)
			diag_error(s->loc, "'%s' outside a loop (it must be inside the body of a for or while)",
				   s->kind == S_BREAK ? "break" : "continue");
		bool loop = s->kind == S_FOR || s->kind == S_WHILE;
		ast_check_loops(s->body, s->nbody, in_loop || loop);
		ast_check_loops(s->els, s->nels, in_loop);
	}
}

Expr *ast_binary(Arena *a, BinOp op, Loc loc, Expr *l, Expr *r)
{
	Expr *e = ast_expr(a, E_BINARY, loc);
	e->op = (int)op;
	e->a = l;
	e->b = r;
	return ast_seal(e);
}

Expr *ast_unary(Arena *a, UnOp op, Loc loc, Expr *x)
{
	Expr *e = ast_expr(a, E_UNARY, loc);
	e->op = (int)op;
	e->a = x;
	return ast_seal(e);
}

/* args holds Arg pointers; argnames[i] stays NULL for positional ones. */
Expr *ast_call(Arena *a, Loc loc, Expr *callee, const PList *args)
{
	Expr *e = ast_expr(a, E_CALL, loc);
	e->a = callee;
	e->nitems = count(args);
	if (!e->nitems)
		return ast_seal(e);
	e->items = arena_alloc(a, (size_t)e->nitems * sizeof *e->items);
	e->argnames = arena_alloc(a, (size_t)e->nitems * sizeof *e->argnames);
	for (int i = 0; i < e->nitems; i++) {
		const Arg *arg = args->v[i];
		e->items[i] = arg->value;
		e->argnames[i] = arg->name;
	}
	return ast_seal(e);
}

/* E_LIST and E_INDEX: base is the indexed expression (NULL for a list). */
Expr *ast_list(Arena *a, ExprKind kind, Loc loc, Expr *base, const PList *items)
{
	Expr *e = ast_expr(a, kind, loc);
	e->a = base;
	e->items = plist_exprs(a, items, &e->nitems);
	return ast_seal(e);
}

Stmt *ast_stmt(Arena *a, StmtKind kind, Loc loc)
{
	Stmt *s = arena_alloc(a, sizeof *s);
	s->kind = kind;
	s->loc = loc;
	return s;
}

/*
 * Splits an optimizer body into its states and its single update block.
 * Two update blocks or a state declared twice are errors here because
 * only the parser still sees them in order.
 */
OptDecl *ast_optimizer(Arena *a, const char *name, Loc loc, const PList *params,
		       const PList *items)
{
	OptDecl *o = arena_alloc(a, sizeof *o);
	o->name = name;
	o->loc = loc;
	o->params = plist_params(a, params, &o->nparams);
	int n = count(items);
	o->states = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *o->states);
	o->state_inits = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *o->state_inits);
	o->state_locs = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *o->state_locs);
	o->state_types = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *o->state_types);
	bool have_update = false;
	for (int i = 0; i < n; i++) {
		const OptItem *it = items->v[i];
		if (it->is_update) {
			if (have_update) {
				diag_begin_error(it->loc, "optimizer '%s' has a second update block", name);
				diag_note(o->upd_loc, "the first one is here");
				diag_exit();
			}
			have_update = true;
			o->upd_p = it->p;
			o->upd_g = it->g;
			o->upd_loc = it->loc;
			o->update = plist_stmts(a, it->body, &o->nupdate);
			ast_check_loops(o->update, o->nupdate, false);
			continue;
		}
		for (int j = 0; j < o->nstates; j++) {
			if (strcmp(o->states[j], it->name) == 0) {
				diag_begin_error(it->loc, "state '%s' is declared twice", it->name);
				diag_note(o->state_locs[j], "the first declaration is here");
				diag_exit();
			}
		}
		o->states[o->nstates] = it->name;
		o->state_inits[o->nstates] = it->init;
		o->state_types[o->nstates] = it->type;
		o->state_locs[o->nstates] = it->loc;
		o->nstates++;
	}
	return o;
}
