/*
 * eval.h — semantic evaluation: the program is run by a host evaluator, and
 * every piece of tensor work between host statements is traced into an IR
 * region, specialized to the shapes it meets (see docs/ARCHITECTURE.md).
 *
 * A Value is either a host value (numbers, strings, models, optimizers,
 * data sets, concrete tensors) or a traced tensor (a node of the region
 * being built).  Host numbers remember whether they are static (literals,
 * constants: folded into the IR as constants) or dynamic (they come from
 * host variables, so they enter the IR as scalar inputs and may change from
 * one execution to the next without recompiling).
 */
#ifndef SINTER_EVAL_H
#define SINTER_EVAL_H

#include "lang/ast.h"
#include "ir/ir.h"
#include "runtime/runtime.h"

typedef struct Value Value;
typedef struct Env Env;
typedef struct Instance Instance;
typedef struct OptInst OptInst;
typedef struct Slot Slot;
typedef struct HostTensor HostTensor;
typedef struct Ev Ev;
typedef struct ParamGroup ParamGroup;
typedef struct OptParams OptParams;

typedef enum {
	V_NONE,
	V_INT,     /* i */
	V_FLOAT,   /* f */
	V_BOOL,    /* i */
	V_STR,     /* s */
	V_TENSOR,  /* node of the region being traced */
	V_HOST,    /* ht: a concrete tensor held by the host */
	V_PARAM,   /* slot: a model parameter */
	V_LIST,    /* items[n] */
	V_MODEL,   /* inst */
	V_OPT,     /* opt */
	V_DATASET, /* ds */
	V_BATCHES, /* ds + batching options in items: n, shuffle, drop_last, seed */
	V_INIT,    /* initializer: s = kind, items = numeric arguments */
	V_RANGE,   /* i .. j */
	V_CALLABLE,/* s = name of a fn, model, optimizer or builtin */
	V_GROUP,   /* group: parameters with hyperparameter overrides */
	V_STATE,   /* an optimizer state not yet created for the parameter being
	              updated: i = its index, origin = the update (model.c);
	              reading the name creates it (opt_state_read) */
	V_PACKED,  /* packed_batches: ds (documents) + items: B, shuffle, T, seed,
	              strategy (host/hostdocs.c) */
} VKind;

struct Value {
	VKind kind;
	bool dyn;          /* host number that comes from a host variable */
	const void *origin;/* for dyn numbers read from a variable: the binding, so one
	                      variable becomes one region input */
	int64_t i, j;      /* V_RANGE: i..j; V_LIST: nesting depth (0: unknown, flat) */
	double f;
	const char *s;
	int node;          /* V_TENSOR */
	HostTensor *ht;    /* V_HOST */
	Slot *slot;        /* V_PARAM */
	Instance *inst;    /* V_MODEL, or the instance of a method in V_CALLABLE */
	const Decl *decl;  /* V_CALLABLE naming a fn, model or optimizer (NULL: builtin) */
	OptInst *opt;      /* V_OPT */
	ParamGroup *group; /* V_GROUP */
	RtDataset *ds;     /* V_DATASET, V_BATCHES, V_PACKED */
	Value *items;      /* V_LIST, V_BATCHES, V_PACKED, V_INIT */
	int n;
	int cap;           /* V_LIST built by append or +: room in items (eval.c, list_join) */
};

/* A concrete tensor owned by the host (batches, results kept in variables).
   refs counts the host variables holding it; one that none holds is freed
   by its creator's ht_release (or kept for the program's life). */
struct HostTensor {
	Tensor t;
	int refs;
};

/* A parameter, an optimizer state or a model buffer: one tensor in the
   program's store. */
struct Slot {
	const char *name;   /* "net.l1.weight"; for state "net.l1.weight" */
	const char *sname;  /* NULL for a parameter, SLOT_BUFFER for a buffer, else "opt.m" */
	Tensor t;           /* t.data: in its family's block, or its own allocation */
	int64_t off;        /* byte offset in its family's block (Node.at), -1: alone */
	Slot *next;         /* hash chain */
};

/* The sname of a model buffer's slot (`buffer running_mean: ...`): a
   state of no optimizer, so regions read it as an OP_STATE node and write
   it back with OP_WRITE like optimizer state, while optimizers, which
   update OP_PARAM slots alone, never see it.  Optimizer states are named
   "<variable>.<state>", with a dot, so they cannot collide with it. */
#define SLOT_BUFFER "buffer"
bool slot_is_buffer(const Slot *s);

/* A packed arena: one block for the f32 slots of one family (the parameters,
   or every state of one name), each at its 64-byte-aligned offset; a state
   sits at its parameter's offset, so every block has the same layout. */
typedef struct Family {
	const char *sname;  /* NULL: the parameters */
	Tensor t;           /* the block: f32[capacity / 4], 64-byte aligned, zeroed */
	struct Family *next;
} Family;

typedef struct Binding {
	const char *name;
	Value v;
	bool host;           /* a host variable: its numbers are dynamic */
	bool changed;        /* assigned (or appended to, or restored) since its let */
} Binding;

struct Env {
	Env *parent;
	Binding *b;
	int n, cap;
};

struct Instance {
	const Decl *decl;   /* D_MODEL */
	const char *path;   /* dotted name prefix, "net.blocks.3" */
	Env *fields;        /* constructor arguments, fields, params */
	Slot **params;      /* every parameter below this instance, in order */
	int nparams;
	Slot **buffers;     /* every buffer below this instance, in order */
	int nbuffers;
};

struct OptInst {
	const Decl *decl;   /* D_OPT */
	const char *name;   /* variable name, prefixes its state slots */
	Env *hyper;         /* hyperparameters (assignable) */
	int64_t t;          /* steps taken */
	OptParams *owns;    /* `params =`: what it updates (NULL: every parameter
	                       a loss reaches; host/optparams.c) */
	/* minimize's clip_norm and accumulate (host/gradstep.c) */
	double grad_norm;   /* the pre-clip gradient norm of the last clipped step */
	bool has_norm;      /* grad_norm is set */
	int64_t accum_k;    /* micro-batches per step of the accumulation under way */
	int64_t accum_n;    /* micro-batches accumulated toward the next step, < accum_k */
	const char **accum_names; /* the parameters of that accumulation, sorted */
	int accum_nnames, accum_cap;
};

/* `group(params, name = value, ...)`: parameters and the hyperparameters
   their updates take instead of the optimizer's. */
struct ParamGroup {
	Slot **params;
	int nparams;
	Env *over;          /* the overrides, host numbers */
	Loc loc;            /* the group(...) call */
};

/* Tracing state of one region. */
typedef struct {
	Region *r;
	Arena *a;
	Tensor *inputs;     /* value of each INPUT slot */
	HostTensor **keep;  /* host tensors referenced (kept alive) */
	const void **origin;/* what each input came from (dedupe) */
	int *innode;        /* the INPUT node of each input */
	struct Derived *derived; /* origins of host arithmetic on dyn numbers */
	int ninputs, cap;
	bool training;      /* inside minimize: dropout active, `training` true */
	/* buffer assignments of this trace, written back when the region
	   runs (the last assignment of a buffer wins) */
	Slot **bufslot;
	int *bufval;        /* the value node of each */
	int nbufw, capbufw;
	/* where this trace's part of the root stack (Ev.roots) begins */
	int root_base;
	/* model fields a method assigned in this trace (stmt.c, field_assign):
	   each binding with the value it held before, which it owned when
	   fieldown; settled when the trace runs or ends (fields_settle) */
	Binding **fieldb;
	Value *fieldold;
	bool *fieldown;
	int nfieldw, capfieldw;
} Trace;

/* A place that holds values while more of the same trace is evaluated:
   n values at v (an operand, a call's arguments, a list's items), or the
   bindings of env (a traced call's scope), when v is NULL. */
typedef struct {
	Value *v;
	int n;
	Env *env;
} Root;

/* A call in progress.  fn and self are set by function calls (NULL for
   model constructors and optimizer updates), so that call_fn can tell
   recursion (eval.c) from the same method of another instance. */
typedef struct {
	Loc loc;
	const char *what;
	const FnDecl *fn;
	const Instance *self;
	bool traced;        /* its body is traced into a region: a method, an
	                       optimizer update, a fn given a tensor or a model */
} Frame;

/* How a block of statements ended: the next statement runs, or a break,
   continue or return leaves it. */
typedef enum { FLOW_NEXT, FLOW_BREAK, FLOW_CONTINUE, FLOW_RETURN } Flow;

struct Ev {
	Arena *arena;        /* long-lived host data */
	Program *prog;
	Env *globals;        /* consts, fns, models, optimizers */
	Env *stdlib_globals; /* the standard library's alone: its code does not see user names */
	Trace *tr;           /* region being traced, NULL outside tensor work */
	Frame stack[64];     /* call stack for diagnostics */
	int depth;
	const char *name_hint; /* dotted name for the next model instance */
	int anon_models;
	uint64_t seed;
	int64_t batches_calls; /* shuffles differ per call of batches() */
	int64_t region_runs;   /* random streams differ per region execution */
	bool dry;            /* check/ir: trace and compile, execute nothing */
	bool interp_only;
	/* store: slots by name, f32 ones in packed family blocks */
	Slot **slots;
	int nslots_cap;
	Family *families;
	int64_t param_end;   /* bytes of the parameters' layout */
	/* services of the host (host/host.c) */
	struct Host *host;
	/* where the first ev_expr ran and how far below it evaluation may
	   recurse (eval.c, check_stack) */
	uintptr_t stack_base;
	size_t stack_budget;
	/* Values that hold traced tensors while evaluation goes on: when a
	   statement inside needs a host value and the region runs, these are
	   computed with it and become host values (compile.c, host_run_trace) */
	Root *roots;
	int nroots, caproots;
};

/* ---- eval.c ---- */
Value ev_expr(Ev *ev, Env *env, const Expr *e);
/* Runs the statements of a function body (stmt.c); returns true when a
   `return` produced *ret. */
bool ev_block(Ev *ev, Env *env, Stmt *const *s, int n, Value *ret);
_Noreturn void ev_error(Ev *ev, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A located error in pieces, for messages with notes of their own:
   ev_error_begin starts it where the user's code reached loc (a place in
   the standard library is reported at the user's call into it, with a
   note at loc) and returns the frames that place is inside;
   ev_error_end(ev, depth) adds the notes of those calls and exits. */
int ev_error_begin(Ev *ev, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void ev_error_end(Ev *ev, int depth);
Env *env_new(Ev *ev, Env *parent);
void env_set(Ev *ev, Env *env, const char *name, Value v, bool host);
Binding *env_find(Env *env, const char *name);
Value ev_call(Ev *ev, Env *env, Value callee, Loc loc, Value *args, const char **names, int nargs);
int ev_node(Ev *ev, Value v, Loc loc, DType want); /* tensor node of v (inputs/consts as needed) */
int ev_node_stored(Ev *ev, Value v, Loc loc, DType want); /* the same, bf16 kept bf16 */
/* The static type of a traced, host or parameter tensor; false for others. */
bool tensor_type(Ev *ev, const Value *v, Type *t);
const char *value_kind_name(const Value *v);
bool is_number(const Value *v);
double num(const Value *v);
Value v_int(int64_t i);
Value v_float(double f);
Value v_bool(bool b);
Value v_str(const char *s);
Value v_tensor(int node);
/* "; did you mean 'x'?" naming the candidate closest to name, or "" when
   none is close (lang/diag.c, diag_closest); an arena string. */
const char *ev_suggest(Ev *ev, const char *name, const char *const *cands, int n);
/* The same over every name visible in env and the builtins. */
const char *ev_suggest_name(Ev *ev, Env *env, const char *name);
/* The same over the hyperparameters of o and its step count t. */
const char *ev_suggest_hyper(Ev *ev, const OptInst *o, const char *name);
/* The global scope code of d sees (the stdlib's own for stdlib code). */
Env *decl_scope(Ev *ev, const Decl *d);

/* A located error when l, getting item, would nest past AST_MAX_DEPTH;
   keeps l's nesting depth (Value.j). */
void ev_nest_list(Ev *ev, Loc loc, Value *l, const Value *item);
/* Pushes the n values at v (or, with v NULL, the bindings of env) on the
   root stack until ev_unroot(ev, mark) with the mark returned. */
int ev_root(Ev *ev, Value *v, int n, Env *env);
void ev_unroot(Ev *ev, int mark);

/* ---- stmt.c ---- */
/* The list a followed by add[0..nadd) (a's block is extended in place when
   no other list value uses its room). */
Value ev_list_join(Ev *ev, Loc loc, Value a, const Value *add, int nadd);
/* call is `recv.append(v)` and list the value of recv. */
Value ev_list_append(Ev *ev, Env *env, const Expr *call, Value list);

/* ---- the builtin table (prims.c) ---- */
/* What a builtin is, which decides how it is called: tensor primitives,
   initializers and minimize take their arguments as traced; host, data set
   and io builtins take host values (the traced work runs first). */
typedef enum {
	BUILTIN_TENSOR, /* emits IR into the trace (host numbers: computed on the host) */
	BUILTIN_INIT,   /* an initializer of parameters */
	BUILTIN_STEP,   /* minimize: the loss, traced, becomes a training step */
	BUILTIN_HOST,   /* computes on host values */
	BUILTIN_DATA,   /* opens, splits or batches a data set */
	BUILTIN_IO,     /* prints, logs, saves or loads */
} BuiltinKind;

typedef struct Builtin Builtin;
typedef Value BuiltinFn(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int nargs);
struct Builtin {
	const char *name;
	BuiltinKind kind;
	const char *spec; /* the arguments, for get_args; NULL: the handler reads them */
	BuiltinFn *fn;    /* NULL: a name, not callable */
	OpKind op;        /* the op of a tensor primitive, or OP_COUNT */
};

/* Every function the language predefines, one row each (rows of one name
   are adjacent and tried in order). */
extern const Builtin builtin_table[];
extern const int builtin_count;
/* The first row of the table called name, or NULL: every "is this a
   builtin" question asks here. */
const Builtin *builtin_find(const char *name);
/* The innermost location in the user's files, loc or a call that reached
   the standard library, and the frames it is inside (*depth). */
Loc ev_user_loc(Ev *ev, Loc loc, int *depth, const char **via);
/* Calls builtin `name`; false when no callable builtin of that name exists. */
bool ev_builtin(Ev *ev, const char *name, Loc loc, Value *args, const char **names, int nargs, Value *out);

/* ---- builtins.c ---- */
/* operand_locs: where each operand came from (for shape errors), or NULL */
Value ev_binary(Ev *ev, int op, Value a, Value b, Loc loc, const Loc *operand_locs);
/* Matches call arguments against a spec like "x, axis=, keepdims=" (names
   with '=' are optional); out[i] is V_NONE for an absent optional one. */
void get_args(Ev *ev, Loc loc, const char *fname, const char *spec, Value *args, const char **names, int nargs, Value *out);
Value ev_unary_op(Ev *ev, OpKind op, Value a, Loc loc);
/* out, rounded to bf16 where bf16 operands make PyTorch's result bf16 (host/bf16.c;
   b: the builtin that computed out, NULL for an operator) */
Value ev_bf16_result(Ev *ev, const Builtin *b, const Value *args, int nargs, Value out);
/* A trace's derived origins copied into arena a; the n input origins
   old[] become new[], naming the copies (host_trace_fork). */
struct Derived *host_derived_copy(Arena *a, struct Derived *list, const void *const *old, const void **new, int n);
/* int(x) of a host float, truncating; a located error outside int64 or NaN. */
int64_t ev_float_to_int(Ev *ev, Loc loc, double x);
/* A located error when the host number v cannot be an i32 element. */
void ev_check_i32(Ev *ev, Loc loc, const Value *v);

/* ---- model.c ---- */
Value model_instantiate(Ev *ev, const Decl *d, Loc loc, Value *args, const char **names, int nargs);
Value opt_instantiate(Ev *ev, const Decl *d, Loc loc, Value *args, const char **names, int nargs);
/* Appends the optimizer update of every parameter in the traced region;
   so (NULL: none) says what minimize does to the gradients first. */
typedef struct StepOpts StepOpts;
void opt_trace_update(Ev *ev, OptInst *o, int loss, Loc loc, StepOpts *so);
/* The state that binding b stands for (a V_STATE), created for the
   parameter being updated; b then holds its node. */
Value opt_state_read(Ev *ev, Binding *b, Loc loc);
/* Binds arguments to declared parameters (defaults, keywords, checks). */
void bind_params(Ev *ev, Env *env, const Param *ps, int np, Loc loc, const char *what,
                 Value *args, const char **names, int nargs, bool typed);

/* ---- optparams.c ---- */
/* Takes `params = ...` out of an optimizer's arguments (*nargs shrinks,
   *names becomes a copy without it); V_NONE when it is not given. */
Value opt_params_arg(Ev *ev, const Decl *d, Loc loc, Value *args, const char ***names, int *nargs);
/* Makes o update the parameters of `params` (a model, a parameter, a
   group or a list of them) and nothing else. */
void opt_params_set(Ev *ev, OptInst *o, Value params, Loc loc);
/* Whether o updates (and keeps state for) parameter pname. */
bool opt_owns(const OptInst *o, const char *pname);
/* Keeps, of the n OP_PARAM nodes pnodes of r that a loss reaches, those o
   updates, and gives each the environment its update is traced in (tenv,
   or its group's overrides over tenv); returns how many are kept, a
   located error at loc when none is. */
int opt_select_params(Ev *ev, const OptInst *o, Env *tenv, const Region *r, int *pnodes, Env **penv, int n, Loc loc);

/* ---- store.c ---- */
/* Hash buckets of the store: a slot's chain (drop_states walks them all). */
enum { SLOT_BUCKETS = 1024 };
Slot *slot_find(Ev *ev, const char *name, const char *sname);
Slot *slot_new(Ev *ev, const char *name, const char *sname, Type t);
/* slot_new for what the user declared at loc (a memory-limit error names
   `what` there). */
Slot *slot_new_for(Ev *ev, const char *name, const char *sname, Type t, Loc loc, const char *what);
/* Moves the parameters first[0..nfirst) to the front of the store's
   layout, in that order, the others after them in their order, and every
   state with its parameter (an optimizer's groups then sit in one span
   each, which the pack pass updates at once); the values are kept. */
void store_arrange(Ev *ev, Slot *const *first, int nfirst);
/* slot_new_for in an allocation of its own, never in a family's block. */
Slot *slot_new_alone_for(Ev *ev, const char *name, const char *sname, Type t, Loc loc, const char *what);
/* Frees the data of every slot and family block (the Ev's arena holds the rest). */
void slots_free(Ev *ev);
/* The store regions read and write slots through (interp_run, host_run_compiled). */
Store ev_store(Ev *ev);
/* Buffers: `name = value` inside a method of the instance that declares
   buffer `name` (checked against its declared type, written back after
   the region runs), and the write nodes of a trace's assignments. */
void buffer_assign(Ev *ev, const Instance *self, Slot *s, Value v, Loc loc);
void buffer_emit_writes(Ev *ev);
/* Whether code being traced runs in training mode: while the loss given
   to minimize is traced.  `training` and dropout both ask here. */
bool ev_training(const Ev *ev);

/* ---- gradstep.c: minimize's clip_norm and accumulate ---- */
struct StepOpts {
	Value clip;         /* clip_norm: a positive number, V_NONE for no clipping */
	int64_t k;          /* accumulate: micro-batches per step (1: none) */
	int64_t pos;        /* this call's place among them, from 0 */
	bool final;         /* this call ends the accumulation: the update runs */
	int norm;           /* out: the node of the pre-clip global norm, -1 if none */
};
/* Checks minimize's clip_norm and accumulate arguments (V_NONE: absent). */
StepOpts step_options(Ev *ev, OptInst *o, Value clip, Value accumulate, Loc loc);
/* The gradients of the parameters pnodes[0..n) as the update is to take
   them: emitted, summed into the accumulator, averaged and clipped as so
   says; NULL when this call only accumulates (no update). */
int *step_grads(Ev *ev, OptInst *o, StepOpts *so, int loss, const int *pnodes, int n, Loc loc);
/* Traces the updates of minimize into the region being traced and runs
   it (in dry mode, with accumulate, both the accumulating and the final
   region); returns the loss as a host value. */
Value step_minimize(Ev *ev, OptInst *o, StepOpts *so, Value loss, Loc loc);
/* resume: drops an accumulation under way (its sums and count). */
void step_forget(Ev *ev, OptInst *o, const Instance *inst);

/* ---- host.c ---- */
/* Runs a host expression: traces tensor work into a region, executes it. */
Value host_value(Ev *ev, Env *env, const Expr *e);
/* The arguments of a host builtin as host values, computed in one run;
   returns which were computed (traced tensors) for host_release_args,
   which frees those no variable holds after the call (compile.c). */
bool *host_force_args(Ev *ev, Value *args, int n, Loc loc);
void host_release_args(Value *args, const bool *fresh, int n);
void host_run_train(Ev *ev, const Decl *train);
HostTensor *ht_new(Type t);
void ht_release(HostTensor *h);
/* A host variable starts or stops holding v (a no-op unless v is V_HOST). */
void ht_bind(Value v);
void ht_unbind(Value v);
/* Drops what the host variables of a finished scope hold. */
void env_release(Env *env);

#endif
