/*
 * ast.h — the syntax tree the parser builds and semantic evaluation walks.
 *
 * Every node carries a Loc for diagnostics.  Lists are (pointer, count)
 * pairs allocated in the compilation arena.  The tree is close to the
 * surface syntax of LANGUAGE.md; meaning is given by host/eval.c.
 */
#ifndef SINTER_AST_H
#define SINTER_AST_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
	const char *file; /* path as given by the user (or import) */
	int line, col;    /* 1-based */
} Loc;

typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct TypeExpr TypeExpr;
typedef struct FnDecl FnDecl;

typedef enum {
	E_INT,    /* ival */
	E_FLOAT,  /* fval */
	E_STR,    /* str (escapes already decoded) */
	E_BOOL,   /* ival 0/1 */
	E_NONE,   /* `none`: the absent value (a default meaning "not given") */
	E_NAME,   /* str */
	E_BINARY, /* op (BinOp), a, b */
	E_UNARY,  /* op (UnOp), a */
	E_CALL,   /* a = callee, items = arguments, argnames[i] = keyword or NULL */
	E_MEMBER, /* a.str  (x.T is a member named "T") */
	E_INDEX,  /* a[items]; an item is an expression or an E_SLICE */
	E_SLICE,  /* a:b:c inside an index; any of a, b, c may be NULL */
	E_LIST,   /* [items] */
	E_REPEAT, /* [a; b]: b copies of a (b evaluated first, a once per copy) */
	E_RANGE,  /* a..b  (half open) */
} ExprKind;

typedef enum {
	BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_FLOORDIV, BIN_MOD, BIN_MATMUL,
	BIN_POW, BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE, BIN_AND, BIN_OR,
} BinOp;

typedef enum { UN_NEG, UN_NOT } UnOp;

struct Expr {
	ExprKind kind;
	Loc loc;          /* of the operator for E_BINARY, of the '(' for E_CALL, else of the first token */
	int op;           /* BinOp or UnOp */
	int64_t ival;
	double fval;
	const char *str;
	Expr *a, *b, *c;
	Expr **items;
	const char **argnames; /* E_CALL only, parallel to items */
	int nitems;
	int depth;        /* 1 + the deepest child's depth (ast_seal) */
};

/* The deepest expression or block nesting the parser accepts.  Every walker
   of the tree (evaluation, tracing, printing) recurses along it, so a bound
   here keeps them all far from the end of the stack; Python has a similar
   limit ("too many nested parentheses", RecursionError while compiling). */
#define AST_MAX_DEPTH 1000

/* f32, f32[N, 4*C]: dtype name and dimension expressions. */
struct TypeExpr {
	Loc loc;
	const char *dtype; /* "f32", "i32", "bool" */
	Expr **dims;
	int ndims;         /* 0 for a scalar */
};

typedef enum {
	S_LET,    /* let names[0..nnames) = value */
	S_ASSIGN, /* target = value; target is E_NAME or E_MEMBER */
	S_EXPR,   /* value */
	S_FOR,    /* for names in value { body } */
	S_IF,     /* if value { body } else { els } ("else if" is an S_IF alone in els) */
	S_RETURN, /* return value (value may be NULL) */
	S_WHILE,  /* while value { body } */
	S_BREAK,  /* break: leaves the innermost loop */
	S_CONTINUE, /* continue: the innermost loop's next iteration */
} StmtKind;

struct Stmt {
	StmtKind kind;
	Loc loc;
	int depth;        /* blocks nest: 1 + the deepest statement of body/els */
	const char **names;
	int nnames;
	Expr *target;
	Expr *value;
	Stmt **body;
	int nbody;
	Stmt **els;
	int nels;
};

/* A parameter of a fn, model or optimizer: name, optional type, optional default. */
typedef struct {
	const char *name;
	Loc loc;
	TypeExpr *type; /* NULL when not given */
	Expr *def;      /* NULL when no default */
} Param;

/* fn name(params) -> ret = expr   or   fn name(params) -> ret { body } */
struct FnDecl {
	const char *name;
	Loc loc;
	Param *params;
	int nparams;
	TypeExpr *ret;   /* NULL when not given */
	Expr *expr_body; /* the "= expr" form, else NULL */
	Stmt **body;
	int nbody;
};

typedef enum {
	MI_PARAM, /* param name: type = init */
	MI_FIELD, /* name = value (a submodule, a list of them, or a value) */
	MI_FN,    /* fn ... (a method; `call` is invoked by inst(x)) */
	MI_BUFFER,/* buffer name: type = init (persistent, not trained) */
} ModelItemKind;

typedef struct {
	ModelItemKind kind;
	Loc loc;
	const char *name;
	TypeExpr *type; /* MI_PARAM, MI_BUFFER */
	Expr *value;    /* MI_PARAM, MI_BUFFER initializer (NULL = zeros), MI_FIELD value */
	FnDecl *fn;     /* MI_FN */
} ModelItem;

typedef struct {
	const char *name;
	Loc loc;
	Param *params; /* constructor arguments */
	int nparams;
	ModelItem *items;
	int nitems;
} ModelDecl;

/* optimizer name(hyper = default, ...) { state s = init ... update(p, g) { body } } */
typedef struct {
	const char *name;
	Loc loc;
	Param *params;
	int nparams;
	const char **states;  /* state names */
	Expr **state_inits;   /* parallel to states; NULL: zeros (typed states only) */
	TypeExpr **state_types; /* parallel to states; NULL: the parameter's type */
	Loc *state_locs;
	int nstates;
	const char *upd_p, *upd_g; /* names of update's two parameters */
	Loc upd_loc;
	Stmt **update;
	int nupdate;
} OptDecl;

typedef enum { D_IMPORT, D_CONST, D_FN, D_MODEL, D_OPT, D_TRAIN } DeclKind;

typedef struct {
	DeclKind kind;
	Loc loc;
	const char *name; /* D_CONST, D_FN, D_MODEL, D_OPT */
	const char *path; /* D_IMPORT (as written) */
	Expr *value;      /* D_CONST */
	FnDecl *fn;
	ModelDecl *model;
	OptDecl *opt;
	Stmt **body;      /* D_TRAIN */
	int nbody;
	bool from_stdlib; /* declared in stdlib/ (user code may shadow it) */
} Decl;

/* One parsed file, kept so that `sinter build` can embed the program. */
typedef struct {
	const char *path;
	const char *text;
	bool from_stdlib;
} Source;

typedef struct {
	Decl **decls; /* stdlib first, then imports in order, then the user's file */
	int ndecls;
	Source *src;  /* the files, in the order their decls were appended:
	                 parsing them again in this order gives the same decls */
	int nsrc;
} Program;

#endif
