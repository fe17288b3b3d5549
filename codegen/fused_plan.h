/*
 * fused_plan.h — what the two files of a fused kernel's code share
 * (codegen/fused_plan.c plans it, codegen/fused.c emits it): the state of
 * one kernel's generation.  Private to codegen/fused*.c.
 */
#ifndef SINTER_CODEGEN_FUSED_PLAN_H
#define SINTER_CODEGEN_FUSED_PLAN_H

#include "codegen/builder.h"
#include "kernel/kernel.h"

typedef struct {
	int64_t st[MAX_RANK]; /* strides over X, 0 on unit axes */
} Access;

/* A pointer parameter of the kernel function: one buffer. */
typedef struct {
	LLVMValueRef outer; /* its value in the region function */
	int64_t lo, hi;     /* bytes of scratch it covers; lo = -1: the caller's storage */
	bool written, alone; /* alone: written, and no other parameter's bytes overlap it */
} Param;

typedef struct {
	int u, a, depth; /* value, access, scope depth of the load */
	LLVMValueRef x;
} Cached;

typedef struct {
	Cg *g;
	const Region *r;
	Arena *a;           /* everything below, for the time of one kernel */
	int *mem, n;        /* members, node order */
	int *mi;            /* [nnode] member index of a node, -1 */
	KernelSpace s;
	int *level, *pass, *redpass; /* pass: BIG: the pass computing it; SMALL: passes before it */
	bool *mat, *rowbuf; /* stored to its buffer; kept in a row buffer for later passes */
	int npass;
	bool rows;          /* row walk with passes (else: one walk plus a loop over kept points) */
	Param *par;
	int npar;
	int *param;         /* [nnode] parameter of a value's buffer, -1 */
	Access *acc;
	int nacc, capacc;
	int *opstart, *opacc; /* access of operand k of member i: opacc[opstart[i] + k], -1 */
	int *nat;           /* [n] natural access of a member */
	int rowacc;         /* access of row buffers */
	LLVMValueRef *idx;  /* [nacc] current element index of each access */
	LLVMValueRef *val, *accum, *rbuf, *dkey; /* [n] */
	int64_t *accoff;    /* [n] a column walk's accumulator array: its offset in scratch (bytes) */
	Cached *cache;
	int ncache, capcache, depth, curpass;
	bool parallel;      /* the outermost loop runs on the thread pool (rows only) */
	int colsplit;       /* a column walk's blocks of kept points run on the pool: how many, 0 = serial */
	int redsplit;       /* or its outermost, reduced loop's blocks, each into accumulators of its own: how many, 0 */
	int64_t nkept;      /* a column walk's kept points: the entries of one block's accumulator array */
	char *key;
	size_t klen, kcap;
} Fk;

/* A member that reduces by an accumulator (F_ACCUM: sum, max, min). */
static inline bool is_red(const Node *nd)
{
	return op_has(nd->op, F_ACCUM);
}

/*
 * Plans kernel f (members, space and levels filled in): the pass that
 * computes each member, which members are stored and which kept in row
 * buffers, the function's pointer parameters and the accesses through
 * them, and f->key, the text that kernels with the same code share.
 */
void cg_fused_plan(Fk *f);

/* fused.c: a point of X in pass *ctx (an int), as the walks compute it;
   the vector lanes a column walk's inner loop asks of LLVM. */
void cg_fused_point(Fk *f, const void *ctx);
int cg_fused_lanes(void);

/* epilogue.c: whether f's members after its GEMM head can run on the
   product's tiles (head, space, plan and parameters known); then, in the
   kernel function with the column walk's accumulators made, the product
   with that epilogue. */
bool cg_epi_ok(Fk *f);
void cg_epi_run(Fk *f);

#endif
