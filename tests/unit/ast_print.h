/*
 * ast_print.h — the parser tests' printer of the AST as S-expressions: one
 * string per declaration, statement or expression (put_decl, put_stmt,
 * put_expr into a growing Buf), so that a test states the structure it
 * expects as one line of text.  Static functions: only test_parse.c
 * includes it.
 */
#ifndef SINTER_TESTS_AST_PRINT_H
#define SINTER_TESTS_AST_PRINT_H

#include "lang/lang.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char *s;
	size_t n, cap;
} Buf;

static void put(Buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->n + (size_t)k + 1 > b->cap) {
		b->cap = 2 * (b->n + (size_t)k + 1);
		b->s = realloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, (size_t)k + 1, fmt, ap);
	va_end(ap);
	b->n += (size_t)k;
}

static const char *binop_name[] = {
	"+", "-", "*", "/", "//", "%", "@", "**", "==", "!=", "<", "<=", ">", ">=", "and", "or",
};

static void put_expr(Buf *b, const Expr *e)
{
	if (!e) {
		put(b, "_");
		return;
	}
	switch (e->kind) {
	case E_INT: put(b, "%lld", (long long)e->ival); break;
	case E_FLOAT: put(b, "%gf", e->fval); break;
	case E_STR: put(b, "\"%s\"", e->str); break;
	case E_BOOL: put(b, e->ival ? "true" : "false"); break;
	case E_NONE: put(b, "none"); break;
	case E_NAME: put(b, "%s", e->str); break;
	case E_BINARY:
		put(b, "(%s ", binop_name[e->op]);
		put_expr(b, e->a);
		put(b, " ");
		put_expr(b, e->b);
		put(b, ")");
		break;
	case E_UNARY:
		put(b, e->op == UN_NEG ? "(neg " : "(not ");
		put_expr(b, e->a);
		put(b, ")");
		break;
	case E_CALL:
		put(b, "(call ");
		put_expr(b, e->a);
		for (int i = 0; i < e->nitems; i++) {
			put(b, " ");
			if (e->argnames[i])
				put(b, "%s=", e->argnames[i]);
			put_expr(b, e->items[i]);
		}
		put(b, ")");
		break;
	case E_MEMBER:
		put(b, "(. ");
		put_expr(b, e->a);
		put(b, " %s)", e->str);
		break;
	case E_INDEX:
	case E_LIST:
		put(b, e->kind == E_INDEX ? "(idx " : "[");
		if (e->kind == E_INDEX)
			put_expr(b, e->a);
		for (int i = 0; i < e->nitems; i++) {
			put(b, i || e->kind == E_INDEX ? " " : "");
			put_expr(b, e->items[i]);
		}
		put(b, e->kind == E_INDEX ? ")" : "]");
		break;
	case E_SLICE:
	case E_REPEAT:
	case E_RANGE:
		put(b, e->kind == E_SLICE ? "(: " : e->kind == E_REPEAT ? "(rep " : "(.. ");
		put_expr(b, e->a);
		put(b, " ");
		put_expr(b, e->b);
		if (e->kind == E_SLICE) {
			put(b, " ");
			put_expr(b, e->c);
		}
		put(b, ")");
		break;
	}
}

static void put_stmts(Buf *b, Stmt *const *s, int n);

static void put_stmt(Buf *b, const Stmt *s)
{
	switch (s->kind) {
	case S_LET:
		put(b, "(let");
		for (int i = 0; i < s->nnames; i++)
			put(b, " %s", s->names[i]);
		put(b, " = ");
		put_expr(b, s->value);
		put(b, ")");
		break;
	case S_ASSIGN:
		put(b, "(set ");
		put_expr(b, s->target);
		put(b, " ");
		put_expr(b, s->value);
		put(b, ")");
		break;
	case S_EXPR: put_expr(b, s->value); break;
	case S_FOR:
		put(b, "(for");
		for (int i = 0; i < s->nnames; i++)
			put(b, " %s", s->names[i]);
		put(b, " in ");
		put_expr(b, s->value);
		put(b, " ");
		put_stmts(b, s->body, s->nbody);
		put(b, ")");
		break;
	case S_IF:
		put(b, "(if ");
		put_expr(b, s->value);
		put(b, " ");
		put_stmts(b, s->body, s->nbody);
		if (s->els) {
			put(b, " else ");
			put_stmts(b, s->els, s->nels);
		}
		put(b, ")");
		break;
	case S_RETURN:
		put(b, "(return ");
		put_expr(b, s->value);
		put(b, ")");
		break;
	case S_WHILE:
		put(b, "(while ");
		put_expr(b, s->value);
		put(b, " ");
		put_stmts(b, s->body, s->nbody);
		put(b, ")");
		break;
	case S_BREAK: put(b, "break"); break;
	case S_CONTINUE: put(b, "continue"); break;
	}
}

static void put_stmts(Buf *b, Stmt *const *s, int n)
{
	put(b, "{");
	for (int i = 0; i < n; i++) {
		put(b, i ? "; " : "");
		put_stmt(b, s[i]);
	}
	put(b, "}");
}

static void put_type(Buf *b, const TypeExpr *t)
{
	put(b, "%s", t->dtype);
	if (!t->ndims)
		return;
	put(b, "[");
	for (int i = 0; i < t->ndims; i++) {
		put(b, i ? " " : "");
		put_expr(b, t->dims[i]);
	}
	put(b, "]");
}

static void put_params(Buf *b, const Param *p, int n)
{
	put(b, "(");
	for (int i = 0; i < n; i++) {
		put(b, "%s%s", i ? " " : "", p[i].name);
		if (p[i].type) {
			put(b, ":");
			put_type(b, p[i].type);
		}
		if (p[i].def) {
			put(b, "=");
			put_expr(b, p[i].def);
		}
	}
	put(b, ")");
}

static void put_fn(Buf *b, const FnDecl *f)
{
	put(b, "(fn %s ", f->name);
	put_params(b, f->params, f->nparams);
	if (f->ret) {
		put(b, " -> ");
		put_type(b, f->ret);
	}
	put(b, " ");
	if (f->expr_body)
		put_expr(b, f->expr_body);
	else
		put_stmts(b, f->body, f->nbody);
	put(b, ")");
}

static void put_decl(Buf *b, const Decl *d)
{
	switch (d->kind) {
	case D_IMPORT: put(b, "(import \"%s\")", d->path); break;
	case D_CONST:
		put(b, "(const %s ", d->name);
		put_expr(b, d->value);
		put(b, ")");
		break;
	case D_FN: put_fn(b, d->fn); break;
	case D_MODEL:
		put(b, "(model %s ", d->name);
		put_params(b, d->model->params, d->model->nparams);
		for (int i = 0; i < d->model->nitems; i++) {
			const ModelItem *it = &d->model->items[i];
			put(b, " ");
			if (it->kind == MI_FN) {
				put_fn(b, it->fn);
				continue;
			}
			put(b, "(%s %s ", it->kind == MI_PARAM ? "param" : it->kind == MI_BUFFER ? "buffer" : "field", it->name);
			if (it->kind == MI_PARAM || it->kind == MI_BUFFER) {
				put_type(b, it->type);
				put(b, " ");
			}
			put_expr(b, it->value);
			put(b, ")");
		}
		put(b, ")");
		break;
	case D_OPT:
		put(b, "(optimizer %s ", d->name);
		put_params(b, d->opt->params, d->opt->nparams);
		for (int i = 0; i < d->opt->nstates; i++) {
			put(b, " (state %s ", d->opt->states[i]);
			if (d->opt->state_types[i]) {
				put_type(b, d->opt->state_types[i]);
				put(b, " ");
			}
			put_expr(b, d->opt->state_inits[i]);
			put(b, ")");
		}
		put(b, " (update %s %s ", d->opt->upd_p, d->opt->upd_g);
		put_stmts(b, d->opt->update, d->opt->nupdate);
		put(b, "))");
		break;
	case D_TRAIN:
		put(b, "(train ");
		put_stmts(b, d->body, d->nbody);
		put(b, ")");
		break;
	}
}

#endif
