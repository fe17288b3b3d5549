/*
 * ir.h — the one header that declares sinter's IR.
 *
 * A Region is one native function's worth of tensor work: a list of Nodes in
 * SSA form, where node i defines value %i.  Operands are indices into the
 * region's node array (never pointers), variadic operand lists live in the
 * region's `arg` pool.  Every node carries its static result Type.
 *
 * References to state that outlives a region (parameters, optimizer state)
 * are ordinary nodes (OP_PARAM, OP_STATE) naming the slot; OP_WRITE stores a
 * new value into such a slot when the region finishes.  The host keeps the
 * slots of one family (all parameters; all states of one name, "opt.m") in
 * one block, a packed arena, each slot at a 64-byte-aligned byte offset
 * (`at`), the states at their parameter's offset; OP_PACKED is a span of
 * such a block, which the pack pass uses to update many slots at once.  OP_GRAD is the
 * placeholder the frontend emits for "d loss / d param"; the autodiff pass
 * replaces every OP_GRAD by ordinary IR.
 *
 * Fields later passes fill in (`group` for fused kernels, `offset` and
 * `work` for the memory plan) are present from the start so that the text form, the
 * interpreter and codegen never need a second representation.
 */
#ifndef SINTER_IR_H
#define SINTER_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

enum { MAX_RANK = 6 };

/* bf16 is a storage type: only F_BF16 ops take or give it (computing is in f32) */
typedef enum { DT_F32, DT_I32, DT_BOOL, DT_BF16, DT_COUNT } DType;

/* A static tensor type: element type and shape; rank 0 is a scalar. */
typedef struct {
	DType dt;
	int rank;
	int64_t dim[MAX_RANK];
} Type;

typedef enum {
#define OP(id, name, arity, flags, attrs, shape, grad, interp) OP_##id,
#include "ir/ops.def"
#undef OP
	OP_COUNT
} OpKind;

/* Op flags (column `flags` of ops.def). */
enum {
	F_UNARY = 1 << 0,   /* elementwise, one operand, same shape */
	F_BINARY = 1 << 1,  /* elementwise, two operands, broadcasting */
	F_REDUCE = 1 << 2,  /* reduction over attr axes */
	F_EFFECT = 1 << 3,  /* has a side effect, kept even when unused */
	F_NOGRAD = 1 << 4,  /* output carries no gradient (comparisons, ints) */
	F_SOURCE = 1 << 5,  /* no operands: input, param, constant, ... */
	/* Elementwise map: element i of the result is computed from element i
	   of each operand broadcast to the result's shape, every operand read
	   before the result is written, so the result may be computed over an
	   operand of its shape in place (memplan, schedule).  Every F_UNARY and
	   F_BINARY op, where, dropout. */
	F_MAP = 1 << 6,
	/* Computed element by element over the result's index space, each
	   operand read at an index derived from the result's: the maps plus
	   broadcast and reshape.  Fusion puts these in one loop nest; remat
	   recomputes the ones without F_RANDOM. */
	F_LOOP = 1 << 7,
	/* The value is its operand's bytes unchanged when the element types
	   agree (reshape, stop_gradient, a cast to the same type): it may share
	   the operand's buffer.  ir_is_alias applies the type condition. */
	F_ALIAS = 1 << 8,
	/* A reduction a kernel computes with a running accumulator, element by
	   element (sum, max, min); argmax keeps a position and is only F_REDUCE. */
	F_ACCUM = 1 << 9,
	/* Draws from a random stream, ia[0] = stream: recomputing it elsewhere
	   is not free, and each one takes the next stream number. */
	F_RANDOM = 1 << 10,
	/* op(a, b) == op(b, a) for all operands (binary ops). */
	F_COMMUTE = 1 << 11,
	/* The builder supplies the result type (a source's, reshape's target,
	   cast's element type, ...); the shape rule checks it instead of
	   computing it. */
	F_GIVEN = 1 << 12,
	/* May take or give bf16 values: stores or converts them, computes
	   nothing (input, const, cast); ir_emit refuses bf16 to every other op. */
	F_BF16 = 1 << 13,
};

/*
 * Attributes, by op (how the text form writes them: the op's attrs column
 * in ops.def, below):
 *   INPUT        ia[0] = input index
 *   CONST        f = value, filled over `type`
 *   PARAM/STATE  name = slot name ("net.l1.weight"); STATE: sname = state
 *                slot ("m"); at = byte offset in the family block, -1 = alone
 *   PACKED       sname = state name, NULL for the parameters' block; at =
 *                byte offset of the span; the result type (f32[n]) its size
 *   PACK         none: operand k starts at ir_pack_start(r, v, k)
 *   ARANGE       result type gives n; values 0..n-1
 *   TRIL         ia[0] = diagonal offset k; ones where j <= i + k
 *   RAND/RANDN   ia[0] = stream (program seed mixed in at run time)
 *   DROPOUT      f = p, ia[0] = stream
 *   CAST         result type gives the element type
 *   reductions   ia[0..nia) = axes (ascending), keep = keepdims
 *   RESHAPE/BROADCAST  the result type is the target shape
 *   TRANSPOSE    ia[0..rank) = permutation
 *   CONCAT       ia[0] = axis
 *   SLICE        ia[3*k+0..2] = start, stop, step of axis k (nia = 3*rank)
 *   UNSLICE      as SLICE; result type is the original (pre-slice) shape
 *   ONE_HOT      result type gives n (last axis)
 *   SCATTER_ROWS result type gives the table shape
 *   MATMUL       ia[0] = transpose a, ia[1] = transpose b (last two axes),
 *                ia[2] = bf16: both operands rounded to bf16, products
 *                summed in f32 (set by passes/precision.c, `{bf16=1}`)
 *   CONV2D, CONV2D_DX, CONV2D_DW  ia[0..7) = stride h, w, padding h, w,
 *                dilation h, w, groups (nia = 7); DX/DW: the result type is
 *                x's or w's
 *   MAX_POOL, AVG_POOL and their _GRAD ops: ia[0..6) = kernel height
 *                and width, stride height and width, padding height and
 *                width (ir/pool.h); AVG_POOL_GRAD's result type is x's
 *   ATTENTION, ATTENTION_GRAD  ia[0] = causal (0 or 1), f = score scale,
 *                ia[1] = heads of the packed form (0: q, k, v apart)
 *                (ir/attention.c)
 * TAKE, SCATTER_ROWS and ONE_HOT carry `loc`, where their indices came from
 * in the source, for the range check at run time.
 */
typedef struct {
	OpKind op;
	Type type;         /* result type */
	int arg, narg;     /* operands: r->arg[arg .. arg+narg) are node indices */
	int64_t ia[3 * MAX_RANK];
	int nia;
	double f;          /* float attribute (CONST value, dropout p) */
	bool keep;         /* reductions: keepdims */
	const char *name;  /* PARAM/STATE slot; arena-owned */
	const char *sname; /* STATE: which optimizer state */
	int64_t at;        /* PARAM/STATE/PACKED: byte offset in the family block, -1 = none */
	int group;         /* fused kernel id, -1 = none (set by fusion) */
	int64_t offset;    /* byte offset in the activation arena, -1 = unplanned */
	int64_t work;      /* byte offset of its work buffer in the arena (ir_work_bytes), -1 = none or unplanned */
	int loc;           /* source location: entry loc-1 of Region.loc, 0 = none */
} Node;

/* A source location of the program a region was traced from; ops that can
   fail at run time (an index outside its table) name theirs in errors. */
typedef struct {
	const char *file;  /* arena-owned */
	int line, col;     /* 1-based */
} IrLoc;

typedef struct {
	const char *name;
	Arena *arena;      /* owns nodes, pools and strings */
	Node *node;        /* node i defines value %i */
	int nnode, capnode;
	int *arg;          /* operand pool */
	int narg, caparg;
	int *out;          /* values returned by the region, in order */
	int nout, capout;
	int ninput;        /* number of OP_INPUT slots (max index + 1) */
	int64_t arena_bytes; /* activation arena size set by memplan (bytes, 64-aligned); 0 = unplanned */
	IrLoc *loc;        /* the locations nodes refer to (Node.loc = k: loc[k-1]) */
	int nloc, caploc;
} Region;

/*
 * The attribute schema (column `attrs` of ops.def): which of a Node's
 * attribute fields an op uses and how the text form writes them, so that
 * the printer and the parser read one description instead of each keeping
 * a case per op.  One bit per attribute; attr_def[b] describes bit b.
 * Positional attributes follow the operands, in bit order; named ones go
 * in one pair of braces after them, `{key=value, ...}`, printed in bit
 * order and read in any.
 */
enum {
	A_INDEX = 1 << 0,      /* input's index: ia[0] */
	A_VALUE = 1 << 1,      /* const's value: f */
	A_NAME = 1 << 2,       /* slot name: name */
	A_SNAME = 1 << 3,      /* state name: sname */
	A_SNAME_SET = 1 << 4,  /* state name when there is one (packed) */
	A_AT_SET = 1 << 5,     /* {at}: byte offset in the family block, when placed */
	A_AT = 1 << 6,         /* {at}: the same, always (packed) */
	A_K = 1 << 7,          /* {k}: tril's diagonal, ia[0] */
	A_P = 1 << 8,          /* {p}: dropout's probability, f */
	A_STREAM = 1 << 9,     /* {stream}: random stream, ia[0] */
	A_AXES = 1 << 10,      /* {axes}: reduced axes, ia[0..nia) */
	A_KEEP = 1 << 11,      /* {keep}: keepdims */
	A_PERM = 1 << 12,      /* {perm}: permutation, ia[0..nia) */
	A_AXIS = 1 << 13,      /* {axis}: concat's axis, ia[0] */
	A_RANGES = 1 << 14,    /* {ranges}: start:stop:step per axis, ia[0..nia) */
	A_TA = 1 << 15,        /* {ta}: transpose a, ia[0] */
	A_TB = 1 << 16,        /* {tb}: transpose b, ia[1] */
	A_CONV = 1 << 17,      /* {conv}: stride, padding, dilation (h, w each) and groups, ia[0..7) */
	A_WINDOW = 1 << 18,    /* {window}: pooling's kh, kw, sh, sw, ph, pw, ia[0..6) */
	A_CAUSAL = 1 << 19,    /* {causal}: attention's causal mask, ia[0] */
	A_SCALE = 1 << 20,     /* {scale}: attention's score scale, f */
	A_BF16 = 1 << 21,      /* {bf16}: matmul's or attention's products with bf16 operands, f32
	                          accumulation, ia[2] (passes/precision.c) */
	A_HEADS = 1 << 22,     /* {heads}: attention's packed form and its number of heads, ia[1] */
	ATTR_BITS = 23
};

/* How an attribute's value is written. */
typedef enum {
	AK_INT,     /* 12 */
	AK_FLAG,    /* 0 or 1 */
	AK_FLOAT,   /* shortest form that reads back as the same double */
	AK_STRING,  /* "quoted", escaped */
	AK_LIST,    /* [0, 2]: every ia[0..nia) */
	AK_RANGES,  /* [0:32:1, 0:64:2]: ia[0..nia) in threes */
} AttrKind;

/* Which Node field holds it. */
typedef enum { AS_IA0, AS_IA1, AS_IA, AS_F, AS_KEEP, AS_NAME, AS_SNAME, AS_AT, AS_IA2 } AttrSlot;

/* Where it is written and whether the text may leave it out. */
typedef enum {
	AU_POSITIONAL,     /* after the operands, always */
	AU_POSITIONAL_SET, /* after the operands when set; left out, it is unset */
	AU_NEEDED,         /* in braces, always; the parser requires it */
	AU_ZERO,           /* in braces, always; left out, it reads 0 */
	AU_SET,            /* in braces when set; left out, it is unset */
} AttrUse;

typedef struct {
	const char *key; /* the name in braces (positional: what it is, for messages) */
	AttrKind kind;
	AttrSlot slot;
	AttrUse use;
} AttrDef;

extern const AttrDef attr_def[ATTR_BITS];
static inline bool attr_positional(const AttrDef *d)
{
	return d->use == AU_POSITIONAL || d->use == AU_POSITIONAL_SET;
}
/* The integer in slot AS_IA0, AS_IA1, AS_IA2, AS_KEEP or AS_AT of n, and storing one. */
int64_t attr_int(const Node *n, AttrSlot slot);
void attr_set_int(Node *n, AttrSlot slot, int64_t v);
/* Does n hold a value in d's slot other than ir_proto's (unset) one? */
bool attr_is_set(const Node *n, const AttrDef *d);

/* Static facts about one op, from ops.def. */
typedef struct {
	const char *name; /* text name, as in the IR text form */
	int arity;        /* -1: variadic */
	unsigned flags;
	unsigned attrs;   /* A_* bits: its attribute schema */
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

static inline bool op_has(OpKind op, unsigned flags) { return (op_info[op].flags & flags) != 0; }
/* Is node v an alias of its operand (F_ALIAS, element types equal)? (ir/ops.c) */
bool ir_is_alias(const Region *r, int v);

/* ---- types (ir/type.c) ---- */
/* Elements of t; t must have passed type_bytes_ok (dies otherwise). */
int64_t type_numel(const Type *t);
/* The largest tensor, in bytes (256 TiB): far above any memory, and small
   enough that sums of many tensors' sizes (an arena) stay far from
   overflowing int64. */
#define TYPE_MAX_BYTES ((int64_t)1 << 48)
/* Whether t is a valid size: no negative dimension and at most
   TYPE_MAX_BYTES bytes; stores the byte count in *bytes (may be NULL). */
bool type_bytes_ok(const Type *t, int64_t *bytes);
/* Bytes of a tensor of type t (row-major, contiguous); t as for type_numel. */
int64_t type_bytes(const Type *t);
size_t dtype_size(DType dt);
const char *dtype_name(DType dt);
bool type_eq(const Type *a, const Type *b);
/* Same rank and dimensions (the element types may differ). */
bool type_same_dims(const Type *a, const Type *b);
Type type_make(DType dt, int rank, const int64_t *dim);
Type type_scalar(DType dt);
/* "f32[2,3]" into buf; returns buf */
char *type_str(const Type *t, char *buf, size_t n);
/* NumPy broadcasting; false if the shapes are incompatible */
bool type_broadcast(const Type *a, const Type *b, Type *out);

/* ---- building regions (ir/build.c) ---- */
Region *ir_region_new(Arena *a, const char *name);
static inline Node *ir_node(const Region *r, int v) { return &r->node[v]; }
static inline int ir_operand(const Region *r, int v, int k) { return r->arg[r->node[v].arg + k]; }

/*
 * ir_emit appends a node: `proto` supplies op and attributes (its type is
 * ignored unless the op takes its result type from the caller, see
 * ops.def), `args` the operands.  The op's shape rule computes the result
 * type.  On a shape error it returns -1 and writes a message naming the
 * shapes into err (when err is not NULL); nothing is appended.
 */
int ir_emit(Region *r, const Node *proto, const int *args, int nargs, char *err, size_t errlen);
/* Shorthands for passes, where a shape error is an internal bug (die). */
Node ir_proto(OpKind op);
int ir_op1(Region *r, OpKind op, int a);
int ir_op2(Region *r, OpKind op, int a, int b);
int ir_op3(Region *r, OpKind op, int a, int b, int c);
int ir_const(Region *r, Type t, double v);
int ir_input(Region *r, int index, Type t);
int ir_param(Region *r, const char *name, Type t);
int ir_state(Region *r, const char *param, const char *state, Type t);
int ir_reduce(Region *r, OpKind op, int a, const int *axes, int naxes, bool keep);
int ir_reshape(Region *r, int a, Type t);      /* t: target shape, a's dtype */
int ir_broadcast(Region *r, int a, Type t);
int ir_transpose(Region *r, int a, const int *perm);
int ir_cast(Region *r, int a, DType dt);
int ir_matmul(Region *r, int a, int b, bool ta, bool tb);
/* The users of every node in CSR form, one entry per operand edge: the users
   of v are (*users)[(*ustart)[v] .. (*ustart)[v + 1]); both arrays are the
   caller's to free(). */
void ir_users(const Region *r, int **ustart, int **users);
/* Sum g (shape of a broadcast result) back down to shape t (grad of broadcasting). */
int ir_sum_to(Region *r, int g, Type t);
void ir_output(Region *r, int v);
/* Puts node order[i] at position i, renumbering operands and outputs;
   order must be topological (dies otherwise). */
void ir_reorder(Region *r, const int *order);
/* The same for the n nodes order[0..n): the others are dropped (nothing
   kept may use them, no output may be one). */
void ir_select(Region *r, const int *order, int n);
char *ir_strdup(Region *r, const char *s);
/* The Node.loc value of file:line:col in r's table, added when new. */
int ir_add_loc(Region *r, const char *file, int line, int col);
/* Node v's location, NULL when it has none. */
const IrLoc *ir_node_loc(const Region *r, int v);

/*
 * Index errors at run time: an index outside its table reached take,
 * scatter_rows or one_hot (n rows or classes).  The interpreter and the
 * host's runner of compiled regions call ir_index_fail, which calls the hook the
 * host installed (it reports with the source line and exits) or, with no
 * hook, prints the location and message and exits 1.  Never returns.
 */
typedef void IrIndexHook(const Region *r, OpKind op, int loc, int64_t index, int64_t n);
void ir_set_index_hook(IrIndexHook *hook);
_Noreturn void ir_index_fail(const Region *r, OpKind op, int loc, int64_t index, int64_t n);
/* "index 255 out of range for take from a table of 100 rows" into buf. */
char *ir_index_message(OpKind op, int64_t index, int64_t n, char *buf, size_t len);

/* ---- slots and packed arenas (ir/build.c) ---- */
enum { IR_PACK_ALIGN = 64 }; /* bytes: slots and PACK operands start at multiples */
static inline int64_t ir_pack_align(int64_t bytes)
{
	return align_up(bytes, IR_PACK_ALIGN);
}
/* PARAM, STATE, PACKED: storage of the host that outlives the region. */
bool ir_is_slot(OpKind op);
/* Node indices of r's slot nodes in node order into nodes (if not NULL);
   returns their number.  Compiled regions take their slots in this order. */
int ir_slot_nodes(const Region *r, int *nodes);
/* Does a value of this op need activation memory?  Not slots and inputs
   (the host's and the caller's storage), nor writes (they define nothing). */
bool ir_takes_memory(OpKind op);
/* May slot nodes a and b share bytes?  Slots of one family (the parameters,
   or the states of one name) overlap where their byte ranges do; slots
   without an offset are the same storage when their names are. */
bool ir_slots_overlap(const Node *a, const Node *b);
/* Byte offset of operand k of PACK node v in its result. */
int64_t ir_pack_start(const Region *r, int v, int k);
typedef struct Store Store;
typedef struct Tensor Tensor;
/* The storage of slot node nd in store s (a PACKED node: a span of a
   family block), type- and layout-checked; false with a message if none. */
bool ir_store_slot(Store *s, const Node *nd, Tensor *t, char *err, size_t errlen);

/* ---- structural identity (ir/compare.c): what the region cache keys on ---- */
uint64_t ir_hash(const Region *r);
/* Same ops, types, attributes, operands, names and outputs. */
bool ir_equal(const Region *a, const Region *b);
/* Bytes of the work buffer node v's code needs while it runs, which the
   memory plan holds for that node only (Node.work): the convolutions'
   im2col matrices (ir/conv.c, runtime/conv.c); 0 for every other op. */
int64_t ir_work_bytes(const Region *r, int v);

/* A deep copy into arena a. */
Region *ir_copy(Arena *a, const Region *r);

/* ---- shape rules (ir/shape.c): set n->type from operand types ---- */
typedef bool ShapeFn(const Region *r, Node *n, const int *args, char *err, size_t errlen);

/* ---- text form (ir/print.c, ir/parse.c) ---- */
#include <stdio.h>
void ir_print(FILE *f, const Region *r);
/* Writes lines before a region's text, each a comment (starting with ';'). */
typedef void IrPrintHook(FILE *f, const Region *r);
/* ir_print with before(f, r) first (NULL: none): how the kernel comments
   (kernel_print_comments) get in without ir/ reading kernels. */
void ir_print_with(FILE *f, const Region *r, IrPrintHook *before);
/* v[0..n) as "[a, b, c]". */
void ir_print_ints(FILE *f, const int64_t *v, int n);
/* Parses every region in text; returns count, regions into *out (arena). */
int ir_parse(Arena *a, const char *text, const char *filename, Region ***out, char *err, size_t errlen);

/* ---- verifier (ir/verify.c) ---- */
/* Returns true when r is well formed; otherwise writes the first problem. */
bool ir_verify(const Region *r, char *err, size_t errlen);

/* ---- reference interpreter (ir/interp.c) ---- */
struct Tensor {
	Type type;
	void *data; /* row-major, contiguous, type_numel * dtype_size bytes */
};

/* Where PARAM and STATE nodes find their storage (provided by the host). */
struct Store {
	void *ctx;
	/* Returns the tensor for param `name` (state == NULL) or its optimizer state. */
	Tensor *(*lookup)(Store *s, const char *name, const char *state);
	uint64_t seed; /* program seed for RAND/RANDN/DROPOUT */
	uint64_t step; /* counter mixed into random streams */
	/* Returns the whole block of a family (state == NULL: the parameters) as
	   f32[n], for PACKED nodes and the layout check of slots with an `at`;
	   NULL when the store keeps no such block (or has no blocks at all). */
	Tensor *(*family)(Store *s, const char *state);
};

/*
 * Runs r: inputs[k] feeds OP_INPUT k; outputs receive freshly allocated
 * tensors (caller frees data with free()).  OP_WRITE stores happen after all
 * nodes ran, so every read sees the values from before the region.
 */
void interp_run(const Region *r, Store *s, Tensor *const *inputs, Tensor *outputs);

/* ---- passes ---- */
/* autodiff: replaces every OP_GRAD by reverse-mode IR (passes/autodiff.c). */
void ad_run(Region *r);
/* simplify: folding, identities, CSE and dead-code elimination (passes/simplify.c). */
void simplify_run(Region *r);
/* pack: the updates of many parameters become one over packed arenas (passes/pack.c). */
void pack_run(Region *r);
/* precision: marks every matmul bf16-operand, f32-accumulate (passes/precision.c; --precision=bf16). */
void precision_run(Region *r);
/* bf16store: activations the backward reads kept in bf16 (passes/bf16store.c; --precision=bf16). */
void bf16store_run(Region *r);
/* fusion: groups nodes into fused kernels, Node.group (passes/fusion.c, kernel/kernel.h). */
void fusion_run(Region *r);
/* remat: the backward part recomputes cheap forward values instead of keeping them (passes/remat.c). */
void remat_run(Region *r);
/* schedule: reorders nodes to keep the live set small (passes/schedule.c). */
void schedule_run(Region *r);
/* memplan: places every activation at an offset of one arena (passes/memplan.c). */
void memplan_run(Region *r);

#endif
