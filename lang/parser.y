/*
 * parser.y — the grammar of LANGUAGE.md: builds the AST of lang/ast.h
 * for one file.  The lexer (lexer.l) has already decided which newlines end
 * statements, so the grammar sees NEWLINE only as a separator.  Syntax
 * errors are reported here with the expected tokens worked out by LAC, so
 * the message names what was expected rather than "syntax error".
 */
%require "3.8"
%define api.pure full
%define api.prefix {sn_}
%define api.token.prefix {T_}
%define parse.error custom
%define parse.lac full
%locations
%param {ParseCtx *ctx}

%code requires {
#include "lang/ast.h"
#include "base/arena.h"

typedef struct Lexer Lexer;

/* Growable list of pointers used while a production is being collected;
   finished lists are copied into the typed arrays of ast.h (ast.c). */
typedef struct {
	void **v;
	int n, cap;
} PList;

/* One argument of a call: keyword (or NULL) and value. */
typedef struct {
	const char *name;
	Expr *value;
} Arg;

/* One item of an optimizer body: "state name = init", "state name: type
   [= init]" or "update(p, g) {}". */
typedef struct {
	bool is_update;
	Loc loc;
	const char *name, *p, *g; /* state name; update's parameter names */
	Expr *init;
	TypeExpr *type;           /* a typed state's declared type, else NULL */
	PList *body;
} OptItem;

/* Everything one parse needs; decls receives the file's declarations. */
typedef struct {
	Arena *arena;
	Lexer *lx;
	const char *file;
	bool from_stdlib;
	PList *decls;
} ParseCtx;
}

%code provides {
/* lexer.l */
Lexer *lexer_new(Arena *a, const char *file, const char *text, size_t len);
void lexer_free(Lexer *lx);
int lexer_next(Lexer *lx, SN_STYPE *val, SN_LTYPE *loc);
/* Text for "but found X" describing the token last handed to the parser. */
const char *lexer_found(Lexer *lx);
/* Innermost bracket still open before the last token: its closing
   character and where it was opened; false when none is open. */
bool lexer_open_bracket(Lexer *lx, char *closer, Loc *opened);

/* ast.c */
PList *plist_new(Arena *a);
void plist_push(Arena *a, PList *l, void *p);
Expr **plist_exprs(Arena *a, const PList *l, int *n);
Stmt **plist_stmts(Arena *a, const PList *l, int *n);
const char **plist_strs(Arena *a, const PList *l, int *n);
Param *plist_params(Arena *a, const PList *l, int *n);
ModelItem *plist_mitems(Arena *a, const PList *l, int *n);
Expr *ast_expr(Arena *a, ExprKind kind, Loc loc);
Expr *ast_binary(Arena *a, BinOp op, Loc loc, Expr *l, Expr *r);
Expr *ast_unary(Arena *a, UnOp op, Loc loc, Expr *x);
Expr *ast_call(Arena *a, Loc loc, Expr *callee, const PList *args);
Expr *ast_list(Arena *a, ExprKind kind, Loc loc, Expr *base, const PList *items);
/* Sets e->depth (and s->depth) from the children; a located error past
   AST_MAX_DEPTH.  The constructors above seal what they build. */
Expr *ast_seal(Expr *e);
void ast_seal_stmt(Stmt *s);
/* A located error for a break or continue in ss that no loop encloses
   (in_loop: ss is a loop's body). */
void ast_check_loops(Stmt *const *ss, int n, bool in_loop);
Stmt *ast_stmt(Arena *a, StmtKind kind, Loc loc);
OptDecl *ast_optimizer(Arena *a, const char *name, Loc loc, const PList *params,
		       const PList *items);

int sn_parse(ParseCtx *ctx);
}

%code {
#include "lang/diag.h"

#include <stdio.h>
#include <string.h>

static int yylex(SN_STYPE *val, SN_LTYPE *loc, ParseCtx *ctx);
static void yyerror(SN_LTYPE *loc, ParseCtx *ctx, const char *msg);

#define ARENA (ctx->arena)
/* Loc of a grammar symbol: where its first token starts. */
#define L(at) ((Loc){ctx->file, (at).first_line, (at).first_column})

static PList *push(ParseCtx *ctx, PList *l, void *p)
{
	if (!l)
		l = plist_new(ctx->arena);
	plist_push(ctx->arena, l, p);
	return l;
}

/* The list p, l[0], l[1], ... */
static PList *prepend(ParseCtx *ctx, void *p, PList *l)
{
	PList *out = push(ctx, NULL, p);
	for (int i = 0; i < l->n; i++)
		plist_push(ctx->arena, out, l->v[i]);
	return out;
}

static Decl *decl(ParseCtx *ctx, DeclKind kind, Loc loc, const char *name)
{
	Decl *d = arena_alloc(ctx->arena, sizeof *d);
	d->kind = kind;
	d->loc = loc;
	d->name = name;
	d->from_stdlib = ctx->from_stdlib;
	return d;
}

static Stmt *stmt(ParseCtx *ctx, StmtKind kind, Loc loc, Expr *value)
{
	Stmt *s = ast_stmt(ctx->arena, kind, loc);
	s->value = value;
	return s;
}

static void set_body(ParseCtx *ctx, Stmt *s, PList *body)
{
	s->body = plist_stmts(ctx->arena, body, &s->nbody);
}

/* A contextual keyword (param, state, update) must be spelled exactly. */
static void want_word(ParseCtx *ctx, SN_LTYPE at, const char *got,
		      const char *want, const char *what)
{
	if (strcmp(got, want) != 0)
		diag_error(L(at), "expected %s but found '%s'", what, got);
}
}

%union {
	int64_t ival;
	double fval;
	const char *str;
	Expr *expr;
	Stmt *stmt;
	TypeExpr *type;
	FnDecl *fn;
	Decl *decl;
	PList *list;
	Param *param;
	ModelItem *mitem;
	OptItem *oitem;
	Arg *arg;
}

/* Token order matters only for how expected-token lists are printed. */
%token <str> IDENT "identifier"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token <str> STRING "string"
%token NEWLINE "newline"
%token '=' ',' ')' ']' '}' '(' '[' '{' ':' ';' '.'
%token IMPORT "'import'" CONST "'const'" FN "'fn'" MODEL "'model'"
%token OPTIMIZER "'optimizer'" TRAIN "'train'" LET "'let'" FOR "'for'"
%token IN "'in'" IF "'if'" ELSE "'else'" RETURN "'return'"
%token WHILE "'while'" BREAK "'break'" CONTINUE "'continue'"
%token AND "'and'" OR "'or'" NOT "'not'" TRUE "'true'" FALSE "'false'"
%token NONE "'none'"
%token EQ "'=='" NE "'!='" LE "'<='" GE "'>='" '<' '>'
%token '+' '-' '*' '/' '%' '@' DSLASH "'//'" POW "'**'"
%token DOTDOT "'..'" ARROW "'->'"

%type <decl> decl
%type <fn> fn_decl
%type <type> type type_opt ret_opt
%type <expr> expr or_expr and_expr not_expr cmp_expr arith term unary power
%type <expr> postfix primary default_opt index_item expr_opt
%type <stmt> stmt if_stmt
%type <list> decls decl_list stmts stmt_list block names params param_list
%type <list> model_params model_items model_item_list opt_params opt_items
%type <list> opt_item_list args arg_list expr_list index_list dims
%type <param> param
%type <mitem> model_item
%type <oitem> opt_item
%type <arg> arg
%type <ival> cmp_op mul_op

%start file

%%

/* file: decls EOF */
file
	: decls { ctx->decls = $1; }
	;

/* decls: [ decl { sep decl } [seps] ] */
decls
	: %empty { $$ = NULL; }
	| decl_list
	| decl_list seps
	;

/* decl_list: decl { seps decl } */
decl_list
	: decl { $$ = push(ctx, NULL, $1); }
	| decl_list seps decl { $$ = push(ctx, $1, $3); }
	;

/* seps: (NEWLINE | ';')+ */
seps
	: sep
	| seps sep
	;

/* sep: NEWLINE | ; */
sep
	: NEWLINE
	| ';'
	;

/* decl: import STRING | const NAME = expr | fn_decl
       | model NAME [( params )] { model_items }
       | optimizer NAME [( params )] { opt_items } | train block */
decl
	: IMPORT STRING {
		$$ = decl(ctx, D_IMPORT, L(@1), NULL);
		$$->path = $2;
	}
	| CONST IDENT '=' expr {
		$$ = decl(ctx, D_CONST, L(@1), $2);
		$$->value = $4;
	}
	| fn_decl {
		$$ = decl(ctx, D_FN, $1->loc, $1->name);
		$$->fn = $1;
	}
	| MODEL IDENT model_params '{' model_items '}' {
		$$ = decl(ctx, D_MODEL, L(@1), $2);
		ModelDecl *m = arena_alloc(ARENA, sizeof *m);
		m->name = $2;
		m->loc = L(@1);
		m->params = plist_params(ARENA, $3, &m->nparams);
		m->items = plist_mitems(ARENA, $5, &m->nitems);
		$$->model = m;
	}
	| OPTIMIZER IDENT opt_params '{' opt_items '}' {
		$$ = decl(ctx, D_OPT, L(@1), $2);
		$$->opt = ast_optimizer(ARENA, $2, L(@1), $3, $5);
	}
	| TRAIN block {
		$$ = decl(ctx, D_TRAIN, L(@1), NULL);
		$$->body = plist_stmts(ARENA, $2, &$$->nbody);
		ast_check_loops($$->body, $$->nbody, false);
	}
	;

/* fn_decl: fn NAME ( params ) [-> type] ( = expr | block ) */
fn_decl
	: FN IDENT '(' params ')' ret_opt '=' expr {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->name = $2;
		$$->loc = L(@1);
		$$->params = plist_params(ARENA, $4, &$$->nparams);
		$$->ret = $6;
		$$->expr_body = $8;
	}
	| FN IDENT '(' params ')' ret_opt block {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->name = $2;
		$$->loc = L(@1);
		$$->params = plist_params(ARENA, $4, &$$->nparams);
		$$->ret = $6;
		$$->body = plist_stmts(ARENA, $7, &$$->nbody);
		ast_check_loops($$->body, $$->nbody, false);
	}
	;

/* ret_opt: [ -> type ] */
ret_opt
	: %empty { $$ = NULL; }
	| ARROW type { $$ = $2; }
	;

/* params: [ param { , param } [,] ] */
params
	: %empty { $$ = NULL; }
	| param_list
	| param_list ','
	;

/* param_list: param { , param } */
param_list
	: param { $$ = push(ctx, NULL, $1); }
	| param_list ',' param { $$ = push(ctx, $1, $3); }
	;

/* param: NAME [: type] [= expr] */
param
	: IDENT type_opt default_opt {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->name = $1;
		$$->loc = L(@1);
		$$->type = $2;
		$$->def = $3;
	}
	;

/* type_opt: [ : type ] */
type_opt
	: %empty { $$ = NULL; }
	| ':' type { $$ = $2; }
	;

/* default_opt: [ = expr ] */
default_opt
	: %empty { $$ = NULL; }
	| '=' expr { $$ = $2; }
	;

/* type: DTYPE [ '[' [ expr { , expr } ] ']' ] */
type
	: IDENT {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->loc = L(@1);
		$$->dtype = $1;
	}
	| IDENT '[' dims ']' {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->loc = L(@1);
		$$->dtype = $1;
		$$->dims = plist_exprs(ARENA, $3, &$$->ndims);
	}
	;

/* dims: [ expr { , expr } [,] ] */
dims
	: %empty { $$ = NULL; }
	| expr_list
	| expr_list ','
	;

/* model_params: [ ( params ) ] */
model_params
	: %empty { $$ = NULL; }
	| '(' params ')' { $$ = $2; }
	;

/* model_items: [ model_item { sep model_item } [seps] ] */
model_items
	: %empty { $$ = NULL; }
	| model_item_list
	| model_item_list seps
	;

/* model_item_list: model_item { seps model_item } */
model_item_list
	: model_item { $$ = push(ctx, NULL, $1); }
	| model_item_list seps model_item { $$ = push(ctx, $1, $3); }
	;

/* model_item: (param | buffer) NAME : type [= expr] | NAME = expr | fn_decl */
model_item
	: IDENT IDENT ':' type default_opt {
		bool buffer = strcmp($1, "buffer") == 0;
		if (!buffer)
			want_word(ctx, @1, $1, "param", "'param', 'buffer', 'fn' or 'name = value'");
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->kind = buffer ? MI_BUFFER : MI_PARAM;
		$$->loc = L(@1);
		$$->name = $2;
		$$->type = $4;
		$$->value = $5;
	}
	| IDENT '=' expr {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->kind = MI_FIELD;
		$$->loc = L(@1);
		$$->name = $1;
		$$->value = $3;
	}
	| fn_decl {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->kind = MI_FN;
		$$->loc = $1->loc;
		$$->name = $1->name;
		$$->fn = $1;
	}
	;

/* opt_params: [ ( params ) ] */
opt_params
	: %empty { $$ = NULL; }
	| '(' params ')' { $$ = $2; }
	;

/* opt_items: [ opt_item { sep opt_item } [seps] ] */
opt_items
	: %empty { $$ = NULL; }
	| opt_item_list
	| opt_item_list seps
	;

/* opt_item_list: opt_item { seps opt_item } */
opt_item_list
	: opt_item { $$ = push(ctx, NULL, $1); }
	| opt_item_list seps opt_item { $$ = push(ctx, $1, $3); }
	;

/* opt_item: state NAME = expr | state NAME : type [= expr]
            | update ( NAME , NAME ) block */
opt_item
	: IDENT IDENT '=' expr {
		want_word(ctx, @1, $1, "state", "'state' or 'update'");
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->loc = L(@1);
		$$->name = $2;
		$$->init = $4;
	}
	| IDENT IDENT ':' type default_opt {
		/* a typed state: its type is evaluated per parameter (host/model.c) */
		want_word(ctx, @1, $1, "state", "'state' or 'update'");
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->loc = L(@1);
		$$->name = $2;
		$$->type = $4;
		$$->init = $5;
	}
	| IDENT '(' IDENT ',' IDENT ')' block {
		want_word(ctx, @1, $1, "update", "'state' or 'update'");
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->is_update = true;
		$$->loc = L(@1);
		$$->p = $3;
		$$->g = $5;
		$$->body = $7;
	}
	;

/* block: { stmts } */
block
	: '{' stmts '}' { $$ = $2; }
	;

/* stmts: [ stmt { sep stmt } [seps] ] */
stmts
	: %empty { $$ = NULL; }
	| stmt_list
	| stmt_list seps
	;

/* stmt_list: stmt { seps stmt } */
stmt_list
	: stmt { ast_seal_stmt($1); $$ = push(ctx, NULL, $1); }
	| stmt_list seps stmt { ast_seal_stmt($3); $$ = push(ctx, $1, $3); }
	;

/* stmt: let names = expr | expr = expr | expr
       | for names in expr block | if_stmt | return [expr]
       | while expr block | break | continue */
stmt
	: LET names '=' expr {
		$$ = stmt(ctx, S_LET, L(@1), $4);
		$$->names = plist_strs(ARENA, $2, &$$->nnames);
	}
	| expr '=' expr {
		if ($1->kind != E_NAME && $1->kind != E_MEMBER)
			diag_error(L(@2), "cannot assign to this expression "
				   "(only a name or a member 'a.b' can be assigned)");
		$$ = stmt(ctx, S_ASSIGN, L(@1), $3);
		$$->target = $1;
	}
	| expr { $$ = stmt(ctx, S_EXPR, L(@1), $1); }
	| FOR names IN expr block {
		$$ = stmt(ctx, S_FOR, L(@1), $4);
		$$->names = plist_strs(ARENA, $2, &$$->nnames);
		set_body(ctx, $$, $5);
	}
	| if_stmt
	| RETURN { $$ = stmt(ctx, S_RETURN, L(@1), NULL); }
	| RETURN expr { $$ = stmt(ctx, S_RETURN, L(@1), $2); }
	| RETURN expr ',' expr_list {
		/* return a, b: a tuple, which is a list */
		$$ = stmt(ctx, S_RETURN, L(@1), ast_list(ARENA, E_LIST, L(@2), NULL, prepend(ctx, $2, $4)));
	}
	| WHILE expr block {
		$$ = stmt(ctx, S_WHILE, L(@1), $2);
		set_body(ctx, $$, $3);
	}
	| BREAK { $$ = stmt(ctx, S_BREAK, L(@1), NULL); }
	| CONTINUE { $$ = stmt(ctx, S_CONTINUE, L(@1), NULL); }
	;

/* if_stmt: if expr block [ else ( block | if_stmt ) ] */
if_stmt
	: IF expr block {
		$$ = stmt(ctx, S_IF, L(@1), $2);
		set_body(ctx, $$, $3);
	}
	| IF expr block ELSE block {
		$$ = stmt(ctx, S_IF, L(@1), $2);
		set_body(ctx, $$, $3);
		$$->els = plist_stmts(ARENA, $5, &$$->nels);
	}
	| IF expr block ELSE if_stmt {
		$$ = stmt(ctx, S_IF, L(@1), $2);
		set_body(ctx, $$, $3);
		ast_seal_stmt($5);
		$$->els = arena_alloc(ARENA, sizeof *$$->els);
		$$->els[0] = $5;
		$$->nels = 1;
	}
	;

/* names: NAME { , NAME } */
names
	: IDENT { $$ = push(ctx, NULL, (void *)$1); }
	| names ',' IDENT { $$ = push(ctx, $1, (void *)$3); }
	;

/* expr: or_expr [ .. or_expr ] */
expr
	: or_expr
	| or_expr DOTDOT or_expr {
		$$ = ast_expr(ARENA, E_RANGE, L(@1));
		$$->a = $1;
		$$->b = $3;
		ast_seal($$);
	}
	;

/* or_expr: or_expr or and_expr | and_expr */
or_expr
	: and_expr
	| or_expr OR and_expr { $$ = ast_binary(ARENA, BIN_OR, L(@2), $1, $3); }
	;

/* and_expr: and_expr and not_expr | not_expr */
and_expr
	: not_expr
	| and_expr AND not_expr { $$ = ast_binary(ARENA, BIN_AND, L(@2), $1, $3); }
	;

/* not_expr: not not_expr | cmp_expr */
not_expr
	: cmp_expr
	| NOT not_expr { $$ = ast_unary(ARENA, UN_NOT, L(@1), $2); }
	;

/* cmp_expr: arith [ (== | != | < | <= | > | >=) arith ]  (non-associative) */
cmp_expr
	: arith
	| arith cmp_op arith { $$ = ast_binary(ARENA, (BinOp)$2, L(@2), $1, $3); }
	;

/* cmp_op: == | != | < | <= | > | >= */
cmp_op
	: EQ { $$ = BIN_EQ; }
	| NE { $$ = BIN_NE; }
	| '<' { $$ = BIN_LT; }
	| LE { $$ = BIN_LE; }
	| '>' { $$ = BIN_GT; }
	| GE { $$ = BIN_GE; }
	;

/* arith: arith (+ | -) term | term */
arith
	: term
	| arith '+' term { $$ = ast_binary(ARENA, BIN_ADD, L(@2), $1, $3); }
	| arith '-' term { $$ = ast_binary(ARENA, BIN_SUB, L(@2), $1, $3); }
	;

/* term: term (* | / | // | % | @) unary | unary */
term
	: unary
	| term mul_op unary { $$ = ast_binary(ARENA, (BinOp)$2, L(@2), $1, $3); }
	;

/* mul_op: * | / | // | % | @ */
mul_op
	: '*' { $$ = BIN_MUL; }
	| '/' { $$ = BIN_DIV; }
	| DSLASH { $$ = BIN_FLOORDIV; }
	| '%' { $$ = BIN_MOD; }
	| '@' { $$ = BIN_MATMUL; }
	;

/* unary: - unary | power */
unary
	: power
	| '-' unary { $$ = ast_unary(ARENA, UN_NEG, L(@1), $2); }
	;

/* power: postfix ** unary | postfix   (right-associative; -x**2 = -(x**2),
   and the exponent may carry its own sign: 2 ** -1) */
power
	: postfix
	| postfix POW unary { $$ = ast_binary(ARENA, BIN_POW, L(@2), $1, $3); }
	;

/* postfix: primary | postfix ( args ) | postfix . NAME | postfix [ index_list ] */
postfix
	: primary
	| postfix '(' args ')' { $$ = ast_call(ARENA, L(@2), $1, $3); }
	| postfix '.' IDENT {
		$$ = ast_expr(ARENA, E_MEMBER, L(@1));
		$$->a = $1;
		$$->str = $3;
		ast_seal($$);
	}
	| postfix '[' index_list ']' { $$ = ast_list(ARENA, E_INDEX, L(@1), $1, $3); }
	| postfix '[' index_list ',' ']' { $$ = ast_list(ARENA, E_INDEX, L(@1), $1, $3); }
	;

/* primary: INT | FLOAT | STRING | true | false | NAME | ( expr )
          | [ [ expr { , expr } [,] ] ] | [ expr ; expr ] */
primary
	: INT {
		$$ = ast_expr(ARENA, E_INT, L(@1));
		$$->ival = $1;
	}
	| FLOAT {
		$$ = ast_expr(ARENA, E_FLOAT, L(@1));
		$$->fval = $1;
	}
	| STRING {
		$$ = ast_expr(ARENA, E_STR, L(@1));
		$$->str = $1;
	}
	| TRUE {
		$$ = ast_expr(ARENA, E_BOOL, L(@1));
		$$->ival = 1;
	}
	| FALSE { $$ = ast_expr(ARENA, E_BOOL, L(@1)); }
	| NONE { $$ = ast_expr(ARENA, E_NONE, L(@1)); }
	| IDENT {
		$$ = ast_expr(ARENA, E_NAME, L(@1));
		$$->str = $1;
	}
	| '(' expr ')' { $$ = $2; }
	/* (a,) and (a, b, ...): tuples, which are lists */
	| '(' expr ',' ')' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, push(ctx, NULL, $2)); }
	| '(' expr ',' expr_list ')' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, prepend(ctx, $2, $4)); }
	| '(' expr ',' expr_list ',' ')' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, prepend(ctx, $2, $4)); }
	| '[' ']' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, NULL); }
	| '[' expr_list ']' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, $2); }
	| '[' expr_list ',' ']' { $$ = ast_list(ARENA, E_LIST, L(@1), NULL, $2); }
	| '[' expr ';' expr ']' {
		$$ = ast_expr(ARENA, E_REPEAT, L(@1));
		$$->a = $2;
		$$->b = $4;
		ast_seal($$);
	}
	;

/* expr_list: expr { , expr } */
expr_list
	: expr { $$ = push(ctx, NULL, $1); }
	| expr_list ',' expr { $$ = push(ctx, $1, $3); }
	;

/* args: [ arg { , arg } [,] ] */
args
	: %empty { $$ = NULL; }
	| arg_list
	| arg_list ','
	;

/* arg_list: arg { , arg } */
arg_list
	: arg { $$ = push(ctx, NULL, $1); }
	| arg_list ',' arg { $$ = push(ctx, $1, $3); }
	;

/* arg: expr | NAME = expr */
arg
	: expr {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->value = $1;
	}
	| IDENT '=' expr {
		$$ = arena_alloc(ARENA, sizeof *$$);
		$$->name = $1;
		$$->value = $3;
	}
	;

/* index_list: index_item { , index_item } */
index_list
	: index_item { $$ = push(ctx, NULL, $1); }
	| index_list ',' index_item { $$ = push(ctx, $1, $3); }
	;

/* index_item: expr | [expr] : [expr] [ : [expr] ] */
index_item
	: expr
	| expr_opt ':' expr_opt {
		$$ = ast_expr(ARENA, E_SLICE, $1 ? L(@1) : L(@2));
		$$->a = $1;
		$$->b = $3;
		ast_seal($$);
	}
	| expr_opt ':' expr_opt ':' expr_opt {
		$$ = ast_expr(ARENA, E_SLICE, $1 ? L(@1) : L(@2));
		$$->a = $1;
		$$->b = $3;
		$$->c = $5;
		ast_seal($$);
	}
	;

/* expr_opt: [ expr ] */
expr_opt
	: %empty { $$ = NULL; }
	| expr
	;

%%

static int yylex(SN_STYPE *val, SN_LTYPE *loc, ParseCtx *ctx)
{
	return lexer_next(ctx->lx, val, loc);
}

/* Only reached when the parser stack is exhausted (syntax errors go to
   yyreport_syntax_error), which takes thousands of nested brackets. */
static void yyerror(SN_LTYPE *loc, ParseCtx *ctx, const char *msg)
{
	if (strcmp(msg, "memory exhausted") == 0)
		diag_error(L(*loc), "nesting too deep for the parser");
	diag_error(L(*loc), "%s", msg);
}

/* How an expected token is named in "expected X". */
static const char *expected_name(yysymbol_kind_t k)
{
	switch (k) {
	case YYSYMBOL_IDENT: return "a name";
	case YYSYMBOL_INT: return "an integer";
	case YYSYMBOL_FLOAT: return "a number";
	case YYSYMBOL_STRING: return "a string";
	case YYSYMBOL_NEWLINE: return "newline";
	case YYSYMBOL_YYEOF: return "end of file";
	default: return yysymbol_name(k);
	}
}

static bool has(const yysymbol_kind_t *exp, int n, yysymbol_kind_t k)
{
	for (int i = 0; i < n; i++)
		if (exp[i] == k)
			return true;
	return false;
}

/* Symbol kind of a one-character token such as ')'. */
static yysymbol_kind_t char_symbol(char c)
{
	return (yysymbol_kind_t)yytranslate[(unsigned char)c];
}

/*
 * Turns the parser's view (the tokens it could accept here) into one
 * message, most specific first: a bracket left open, then the kind of
 * thing expected (declaration, statement, expression), then a short list.
 */
static int yyreport_syntax_error(const yypcontext_t *pc, ParseCtx *ctx)
{
	yysymbol_kind_t exp[YYNTOKENS];
	int n = yypcontext_expected_tokens(pc, exp, YYNTOKENS);
	if (n < 0)
		n = 0;
	yysymbol_kind_t got = yypcontext_token(pc);
	Loc loc = L(*yypcontext_location(pc));
	const char *found = lexer_found(ctx->lx);
	char closer;
	Loc opened;
	bool open = lexer_open_bracket(ctx->lx, &closer, &opened);
	/* After these, "expected ','" would be no help: the bracket is the issue. */
	bool bracket_only = got == YYSYMBOL_NEWLINE || got == YYSYMBOL_YYEOF ||
			 got == char_symbol(')') || got == char_symbol(']') || got == char_symbol('}');

	bool expr_ok = has(exp, n, YYSYMBOL_INT) && has(exp, n, YYSYMBOL_IDENT);

	if (open && has(exp, n, char_symbol(closer)) && (closer != '}' || got == YYSYMBOL_YYEOF)) {
		if (bracket_only || closer == '}')
			diag_begin_error(loc, "expected '%c' but found %s", closer, found);
		else if (expr_ok)
			diag_begin_error(loc, "expected an expression or '%c' but found %s", closer, found);
		else if (has(exp, n, char_symbol(',')))
			diag_begin_error(loc, "expected ',' or '%c' but found %s", closer, found);
		else
			diag_begin_error(loc, "expected '%c' but found %s", closer, found);
		if (opened.line != loc.line)
			diag_note(opened, "to match this '%c'",
				  closer == ')' ? '(' : closer == ']' ? '[' : '{');
		diag_exit();
	}
	if (!open && got != YYSYMBOL_NEWLINE && got != YYSYMBOL_YYEOF && bracket_only)
		diag_error(loc, "unexpected %s: no bracket is open here", found);
	/* A comparison is refused only right after another comparison. */
	bool cmp = got == YYSYMBOL_EQ || got == YYSYMBOL_NE || got == YYSYMBOL_LE ||
		   got == YYSYMBOL_GE || got == char_symbol('<') || got == char_symbol('>');
	if (cmp && has(exp, n, char_symbol('+')))
		diag_error(loc, "comparisons do not chain; write 'a < b and b < c'");
	if (has(exp, n, YYSYMBOL_FN) && has(exp, n, YYSYMBOL_TRAIN))
		diag_error(loc, "expected a declaration (import, const, fn, model, "
			   "optimizer or train) but found %s", found);
	if (has(exp, n, YYSYMBOL_FN))
		diag_error(loc, "expected a model item ('param', 'fn' or 'name = value') "
			   "but found %s", found);
	if (has(exp, n, YYSYMBOL_LET))
		diag_error(loc, "expected a statement but found %s", found);
	if (expr_ok && n > 4)
		diag_error(loc, "expected an expression but found %s", found);
	if (n > 4 && has(exp, n, char_symbol('{')))
		diag_error(loc, "expected '{' but found %s", found);
	if (n > 4 && has(exp, n, YYSYMBOL_NEWLINE))
		diag_error(loc, "expected newline or ';' but found %s", found);
	if (n == 0 || n > 4)
		diag_error(loc, "unexpected %s", found);
	char list[256] = "";
	for (int i = 0; i < n; i++) {
		const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
		size_t len = strlen(list);
		snprintf(list + len, sizeof list - len, "%s%s", sep, expected_name(exp[i]));
	}
	diag_error(loc, "expected %s but found %s", list, found);
}
