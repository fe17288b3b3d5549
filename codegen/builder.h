/*
 * builder.h — the bottom of the code generator: the emission context Cg
 * that every codegen file passes around, and the LLVM IR-builder helpers
 * (builder.c) the kernels are made of: constants, element loads and stores
 * tagged with the current kernel's alias scope, counted loops, strided
 * walks with merged axes, scratch, memory copies, calls of C functions and
 * intrinsics, and the kernel functions a region emits and shares by key.
 * It includes nothing else of codegen/; only codegen/ includes it (it pulls
 * in LLVM's C API).
 */
#ifndef SINTER_CODEGEN_BUILDER_H
#define SINTER_CODEGEN_BUILDER_H

#include <llvm-c/Core.h>

#include "codegen/codegen.h"
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
	bool planned;           /* the memory plan placed every value: Node.offset and Node.work hold */
	/* alias scope of the node being emitted: its stores (and reads of its own
	   buffers own[]) are in scope, every other load is declared not to alias
	   them, so LLVM vectorizes without runtime overlap checks */
	LLVMValueRef scope;     /* !{scope of the current node}, NULL outside nodes */
	LLVMValueRef own[CG_MAXOWN]; /* its buffers: result, operands it overwrites, accumulators */
	int nown;
	unsigned kind_scope, kind_noalias;
	LLVMMetadataRef domain; /* alias domain of the region */
	struct {
		char *key;          /* what the kernel's code depends on (cg_fn_find) */
		LLVMValueRef fn;
	} *kern;                /* kernel functions emitted so far */
	int nkern, capkern;
	int64_t *home;          /* [nnode] scratch offset of each value's buffer, -1 = elsewhere */
	bool *shared;           /* [nnode] value is its operand's buffer (alias ops) */
	bool *internal;         /* [nnode] value lives only inside its fused kernel: no buffer */
	int64_t gemm_work;      /* scratch offset of the workspace of sinter's GEMMs (matmul.c), -1 = none */
	CgGemmStats *gemm;      /* the region's products, counted by cg_matmul_setup; epilogues added as emitted */
	LLVMValueRef bad;       /* i1 a range-checked kernel (take, scatter_rows, one_hot) returns:
	                           some index was outside its table; NULL = none can be */
	LLVMTypeRef f32, f64, i1, i8, i16, i32, i64, ptrty, voidty;
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
	LLVMValueRef nv; /* the bound when only known at run time (cg_loop_begin_n), else NULL */
	int width; /* vector lanes asked of LLVM's vectorizer, 0 = its own choice (set after cg_loop_begin) */
	int interleave; /* with width: vectors per iteration asked of LLVM, 0 = its own choice (it takes 4,
	                   more than a loop of a few vectors has) */
} Loop;

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
/* The scratch region at offset off (bytes) that cg_scratch made before, in
   the function now being emitted. */
LLVMValueRef cg_scratch_at(Cg *g, int64_t off);
/* The builder at the start of block bb, before its first instruction:
   where a function's allocas go (its entry block). */
void cg_position_top(Cg *g, LLVMBasicBlockRef bb);
/* x in every lane of vector type vt, built at b (the GEMM generator's
   builder as well as a Cg's). */
LLVMValueRef cg_vec_splat(LLVMBuilderRef b, LLVMTypeRef vt, LLVMValueRef x);
void cg_memcpy(Cg *g, LLVMValueRef dst, LLVMValueRef src, int64_t bytes);
void cg_memset0(Cg *g, LLVMValueRef dst, int64_t bytes);

LLVMValueRef cg_loop_begin(Cg *g, Loop *L, int64_t n);
/* The same with a bound n computed at run time (an i64 at least 1). */
LLVMValueRef cg_loop_begin_n(Cg *g, Loop *L, LLVMValueRef n);
/* A loop-carried value; call right after cg_loop_begin. */
LLVMValueRef cg_loop_phi(Cg *g, Loop *L, LLVMTypeRef t, LLVMValueRef init);
/* Its value for the next iteration; call right before cg_loop_end. */
void cg_loop_carry(Cg *g, LLVMValueRef phi, LLVMValueRef next);
void cg_loop_end(Cg *g, Loop *L);

/* Walks index space `space` with operands op[0..nop) (nop <= 4), merging axes where possible. */
void cg_map(Cg *g, const Type *space, Opnd *op, int nop, ElemFn *fn, const void *ctx);
/* Strides of t read in index space sp (NumPy right alignment, 0 on broadcast axes). */
void cg_bstrides(const Type *t, const Type *sp, int64_t *st);
/* Row-major strides of t. */
void cg_cstrides(const Type *t, int64_t *st);

/* Calls an external C function (declared on first use); ret may be g->voidty. */
LLVMValueRef cg_call(Cg *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, LLVMValueRef *args, int n);
/* Calls an overloaded intrinsic ("llvm.exp") on type t. */
LLVMValueRef cg_intrinsic(Cg *g, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n);
/* The same with several overload types (e.g. llvm.fptosi.sat: result, operand). */
LLVMValueRef cg_intrinsic_n(Cg *g, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int n);
/* Gives function f the enum attribute `name` ("nounwind"). */
void cg_fn_attr(Cg *g, LLVMValueRef f, const char *name);

/* Array p of *cap elements of elem bytes, n of them used, with room for
   one more (doubled when full; p may be NULL with *cap 0). */
void *cg_grow(void *p, int n, int *cap, size_t elem);

/*
 * Kernel functions: internal, noinline, called from the region function
 * with the pointers they use, then scratch, seed and step.  Kernels whose
 * code would be identical share one function, found by a key naming
 * everything the code depends on.
 */
/* The kernel function emitted before under key, or NULL. */
LLVMValueRef cg_fn_find(Cg *g, const char *key);
/* Adds kernel function `name` of type ft, remembered under key (if not NULL). */
LLVMValueRef cg_fn_new(Cg *g, const char *name, LLVMTypeRef ft, const char *key);
/* Remembers function f (made elsewhere: a GEMM of gemm.c) under key. */
void cg_fn_keep(Cg *g, const char *key, LLVMValueRef f);
/* Fills the trailing scratch, seed and step of a kernel's parameter types
   pt and call arguments args after their n pointers; returns n + 3. */
int cg_fn_tail(Cg *g, LLVMTypeRef *pt, LLVMValueRef *args, int n);

/* Where the region function's emission stands while a kernel's body is emitted. */
typedef struct {
	LLVMBasicBlockRef back;
	LLVMValueRef fn, scratch, seed, step;
} CgOuter;
/* Continues in a new entry block of kernel function f, whose parameters
   from `first` on are scratch, seed and step (the caller maps the
   pointers before first); *o keeps what cg_fn_leave restores. */
void cg_fn_enter(Cg *g, LLVMValueRef f, unsigned first, CgOuter *o);
void cg_fn_leave(Cg *g, const CgOuter *o);

#endif
