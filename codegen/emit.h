/*
 * emit.h — internals shared by the code generator's files: the emission
 * context and the loop, memory and call helpers (emit.c), element math
 * (scalar.c), the per-op kernels (kernels.c, reduce.c) and the JIT (jit.c).
 * Only codegen/ includes this header (it pulls in LLVM's C API).
 */
#ifndef SINTER_CODEGEN_EMIT_H
#define SINTER_CODEGEN_EMIT_H

#include <llvm-c/Core.h>

#include "ir/ops.h"

enum { CG_MAXOWN = 8 };

/* The state of emitting one region into one LLVM function. */
typedef struct {
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMValueRef fn;
	/* the function's arguments, in CgRegionFn order */
	LLVMValueRef inputs, slots, outputs, scratch, seed, step;
	const Region *r;
	LLVMValueRef *ptr;      /* [nnode] data pointer of each node's value */
	int64_t used;           /* bytes of scratch handed out so far (bump, 64-aligned) */
	/* alias scope of the node being emitted: its stores (and reads of its own
	   buffers own[]) are in scope, every other load is declared not to alias
	   them, so LLVM vectorizes without runtime overlap checks */
	LLVMValueRef scope;     /* !{scope of the current node}, NULL outside nodes */
	LLVMValueRef own[CG_MAXOWN]; /* its buffers: result, operands it overwrites, accumulators */
	int nown;
	unsigned kind_scope, kind_noalias;
	LLVMMetadataRef domain; /* alias domain of the region */
	struct {
		char *key;          /* what the kernel's code depends on (emit.c) */
		LLVMValueRef fn;
	} *kern;                /* kernel functions emitted so far */
	int nkern, capkern;
	int64_t *home;          /* [nnode] scratch offset of each value's buffer, -1 = elsewhere */
	bool *shared;           /* [nnode] value is its operand's buffer (alias ops) */
	bool *internal;         /* [nnode] value lives only inside its fused kernel: no buffer */
	LLVMValueRef bad;       /* i1 a range-checked kernel (take, scatter_rows, one_hot) returns:
	                           some index was outside its table; NULL = none can be */
	LLVMTypeRef f32, f64, i1, i8, i32, i64, ptrty, voidty;
} Cg;

/* An operand of a strided walk: element (off + sum_a i_a * st[a]) of ptr. */
typedef struct {
	LLVMValueRef ptr;
	DType dt;
	int64_t off;
	int64_t st[MAX_RANK];
} Opnd;

/* Emits the work for one point of a walk; idx[k] is operand k's element index (i64). */
typedef void ElemFn(Cg *g, const void *ctx, const Opnd *op, const LLVMValueRef *idx);

/* A counted loop 0 <= i < n (n >= 1, bottom-tested). */
typedef struct {
	LLVMBasicBlockRef pre, body;
	LLVMValueRef i;
	int64_t n;
	int width; /* vector lanes asked of LLVM's vectorizer, 0 = its own choice (set after cg_loop_begin) */
} Loop;

/* ---- emit.c ---- */
/* Builds r's function `fname` into a new module of ctx; *scratch receives the bytes it needs. */
LLVMModuleRef cg_build_module(LLVMContextRef ctx, const Region *r, const char *fname, int64_t *scratch);

LLVMTypeRef cg_elem_type(Cg *g, DType dt);
LLVMValueRef cg_i64(Cg *g, int64_t v);
LLVMValueRef cg_i32(Cg *g, int32_t v);
LLVMValueRef cg_f32(Cg *g, float v);
/* Element idx (i64 value) of a buffer of dtype dt. */
LLVMValueRef cg_load(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx);
void cg_store(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef val);
LLVMValueRef cg_elem_ptr(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx);
/* Tags a load or store with the current node's alias scope (own buffer) or
   as not aliasing it (any other buffer). */
void cg_mark(Cg *g, LLVMValueRef inst, bool own);
/* A fresh scratch region of `bytes`, 64-byte aligned. */
LLVMValueRef cg_scratch(Cg *g, int64_t bytes);
void cg_memcpy(Cg *g, LLVMValueRef dst, LLVMValueRef src, int64_t bytes);
void cg_memset0(Cg *g, LLVMValueRef dst, int64_t bytes);

LLVMValueRef cg_loop_begin(Cg *g, Loop *L, int64_t n);
/* A loop-carried value; call right after cg_loop_begin. */
LLVMValueRef cg_loop_phi(Cg *g, Loop *L, LLVMTypeRef t, LLVMValueRef init);
/* Its value for the next iteration; call right before cg_loop_end. */
void cg_loop_carry(Cg *g, LLVMValueRef phi, LLVMValueRef next);
void cg_loop_end(Cg *g, Loop *L);
/* Runs the rest of the current block's code only when cond holds; returns the join block. */
LLVMBasicBlockRef cg_if_begin(Cg *g, LLVMValueRef cond);
void cg_if_end(Cg *g, LLVMBasicBlockRef join);

/* Walks index space `space` with operands op[0..nop) (nop <= 4), merging axes where possible. */
void cg_map(Cg *g, const Type *space, Opnd *op, int nop, ElemFn *fn, const void *ctx);
/* Strides of t read in index space sp (NumPy right alignment, 0 on broadcast axes). */
void cg_bstrides(const Type *t, const Type *sp, int64_t *st);
/* Row-major strides of t. */
void cg_cstrides(const Type *t, int64_t *st);
int64_t cg_bytes(const Type *t);

/* Calls an external C function (declared on first use); ret may be g->voidty. */
LLVMValueRef cg_call(Cg *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, LLVMValueRef *args, int n);
/* Calls an overloaded intrinsic ("llvm.exp") on type t. */
LLVMValueRef cg_intrinsic(Cg *g, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n);
/* The same with several overload types (e.g. llvm.fptosi.sat: result, operand). */
LLVMValueRef cg_intrinsic_n(Cg *g, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int n);

/* ---- scalar.c: element math, exactly as ir/interp.c computes it ---- */
LLVMValueRef cg_unary(Cg *g, OpKind op, DType dt, LLVMValueRef x);
/* Result is bool (i8) for comparisons, dt otherwise. */
LLVMValueRef cg_binary(Cg *g, OpKind op, DType dt, LLVMValueRef x, LLVMValueRef y);
LLVMValueRef cg_convert(Cg *g, DType from, DType to, LLVMValueRef x);
/* The same value as interp.c's store_val(to, ., ., v) stores, as a constant. */
LLVMValueRef cg_const_of(Cg *g, DType to, double v);
/* Key of random stream `stream` for this call's seed and step (runtime value). */
LLVMValueRef cg_stream_key(Cg *g, int64_t stream);
/* rt_uniform(key, i), inline. */
LLVMValueRef cg_uniform(Cg *g, LLVMValueRef key, LLVMValueRef i);

/* ---- kernels.c, reduce.c ---- */
/* Emits node v (not a source slot, WRITE or alias: emit.c handles those). */
void cg_node(Cg *g, int v);
/* Ops whose kernels check indices against a table (take, scatter_rows,
   one_hot, kernels.c): their kernel functions return the flag g->bad. */
bool cg_range_checked(OpKind op);
/* In the region function after the call of such a kernel (result rc):
   when it saw a bad index, records it and returns 1. */
void cg_index_exit(Cg *g, int v, LLVMValueRef rc);
void cg_reduce(Cg *g, int v);
void cg_argmax(Cg *g, int v);
void cg_matmul(Cg *g, int v);

/* The accumulator of a SUM, MAX or MIN (reduce.c), for fused kernels too. */
typedef struct {
	OpKind op;
	DType in, out;   /* element types of operand and result */
	LLVMTypeRef acc; /* accumulator type: f64 / i64 for SUM, else the operand's */
} CgRed;
CgRed cg_red(Cg *g, OpKind op, DType in, DType out);
LLVMValueRef cg_red_init(Cg *g, const CgRed *R);
LLVMValueRef cg_red_combine(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef x);
LLVMValueRef cg_red_final(Cg *g, const CgRed *R, LLVMValueRef acc);

/* ---- fused.c ---- */
/* Emits fused kernel `group` (kernel/kernel.h) as one function and its call;
   last is its last member in node order, where the call goes. */
void cg_fused(Cg *g, int group, int last);


#endif
