/*
 * gemm_gen.h — what the two files that write sinter's GEMM as LLVM IR
 * share (codegen/gemm.c: the microkernel and the loops over blocks;
 * codegen/gemm_pack.c: the packing of the operands): the emission state of
 * one product and the small IR-building helpers both use.  Private to
 * those two files.
 */
#ifndef SINTER_CODEGEN_GEMM_GEN_H
#define SINTER_CODEGEN_GEMM_GEN_H

#include "codegen/gemm.h"

#include <string.h>

/* Emission state of one product. */
typedef struct {
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMValueRef fn; /* the function being written */
	LLVMTypeRef f32, i1, i64, ptr, vec, voidty;
	LLVMTypeRef elt; /* of the packed panels: f32, or i16 (bf16 bits) for a bf16 product */
	const CgGemmSpec *s;
	const CgGemmIsa *isa;
	const CgGemmBlocking *blk;
	int nr; /* isa->nv * isa->lanes */
	bool direct; /* B is read in place, not packed: a tapped B whose stored rows are k (the
	                microkernel loads each k's row from the image, at an offset that
	                cg_gemm_tap_rows put in the B workspace) */
} GemmGen;

/* A counted loop [from, to) by step whose body is being emitted. */
typedef struct {
	LLVMBasicBlockRef head, done;
	LLVMValueRef iv;
	int64_t step;
	LLVMValueRef stepv; /* a step known at run time only (else NULL: step) */
} GemmLoop;

/* ---- IR helpers ---- */

static inline LLVMValueRef ci(GemmGen *g, int64_t v)
{
	return LLVMConstInt(g->i64, (unsigned long long)v, true);
}

static inline LLVMValueRef gep_t(GemmGen *g, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef i)
{
	return LLVMBuildInBoundsGEP2(g->b, t, p, &i, 1, "");
}

static inline LLVMValueRef gep(GemmGen *g, LLVMValueRef p, LLVMValueRef i)
{
	return gep_t(g, g->f32, p, i);
}

static inline LLVMValueRef mul(GemmGen *g, LLVMValueRef a, int64_t c)
{
	return c == 1 ? a : LLVMBuildNSWMul(g->b, a, ci(g, c), "");
}

static inline LLVMValueRef add(GemmGen *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildNSWAdd(g->b, a, b, "");
}

static inline LLVMValueRef min64(GemmGen *g, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* The k extent of a packed panel for kc steps: kc, or kc rounded up to a
   whole pair for bf16 (the odd k's partner is a zero). */
static inline LLVMValueRef cg_gemm_kpad(GemmGen *g, LLVMValueRef kc)
{
	return g->s->bf16 ? LLVMBuildAnd(g->b, add(g, kc, ci(g, 1)), ci(g, -2), "") : kc;
}

static inline LLVMValueRef cg_gemm_call_intrinsic(GemmGen *g, const char *name, LLVMTypeRef *over, int nover,
	LLVMValueRef *args, int nargs)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->mod, id, over, (size_t)nover);
	LLVMTypeRef ft = LLVMIntrinsicGetType(g->ctx, id, over, (size_t)nover);
	return LLVMBuildCall2(g->b, ft, f, args, (unsigned)nargs, "");
}

/* Opens a loop over [from, to) by step; its body is emitted after this. */
static inline LLVMValueRef cg_gemm_loop(GemmGen *g, GemmLoop *l, LLVMValueRef from, LLVMValueRef to, int64_t step)
{
	LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
	l->head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "head");
	LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
	l->done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "done");
	l->step = step;
	l->stepv = NULL;
	LLVMBuildBr(g->b, l->head);
	LLVMPositionBuilderAtEnd(g->b, l->head);
	l->iv = LLVMBuildPhi(g->b, g->i64, "i");
	LLVMAddIncoming(l->iv, &from, &pre, 1);
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, l->iv, to, ""), body, l->done);
	LLVMPositionBuilderAtEnd(g->b, body);
	return l->iv;
}

static inline void cg_gemm_loop_end(GemmGen *g, GemmLoop *l)
{
	LLVMValueRef next = add(g, l->iv, l->stepv ? l->stepv : ci(g, l->step));
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
	LLVMBuildBr(g->b, l->head);
	LLVMAddIncoming(l->iv, &next, &latch, 1);
	LLVMPositionBuilderAtEnd(g->b, l->done);
}

/* A new internal function of the module with i64/ptr/i1 parameters; the
   builder is left at its entry.  Pointer parameters are noalias: the
   packed panels, the operands and C never overlap. */
static inline LLVMValueRef cg_gemm_function(GemmGen *g, const char *name, LLVMTypeRef *params, int n, bool internal)
{
	LLVMTypeRef ft = LLVMFunctionType(g->voidty, params, (unsigned)n, false);
	LLVMValueRef f = LLVMAddFunction(g->mod, name, ft);
	if (internal)
		LLVMSetLinkage(f, LLVMInternalLinkage);
	unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
	unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
	LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, nounwind, 0));
	for (int i = 0; i < n; i++)
		if (params[i] == g->ptr)
			LLVMAddAttributeAtIndex(f, (unsigned)i + 1, LLVMCreateEnumAttribute(g->ctx, noalias, 0));
	g->fn = f;
	LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, f, "entry"));
	return f;
}

/* How pack() reads its operand: op(X)[x][k] = src[x*sx + k*sk] (bf16 bits
   when src_bf16), plus, with taps (B of a tapped product: taps->kh > 0),
   the offset of stored row r0 + k (rows_k) or r0 + x (rows_k false) of
   the image's taps, that row's own stride being 0 in sk or sx. */
typedef struct {
	int64_t sk, sx;
	bool src_bf16;
	const CgGemmTaps *taps;
	bool rows_k;
} GemmSrc;

/* pack(dst, src, kc, xeff, r0): a function of the module that packs the
   panels of R rows (of A) or columns (of B) covering x in [0, xeff), each
   kc long, from src as `how` says (r0: the first stored row of a tapped
   operand; 0 otherwise). */
LLVMValueRef cg_gemm_pack(GemmGen *g, const char *name, int64_t R, const GemmSrc *how);

/* rows(dst, src, kc, xeff, r0): for a B read in place (GemmGen.direct),
   the offsets of the tapped rows r0 .. r0 + kc - 1, one i64 each, into
   dst; src and xeff are unused (the signature is pack()'s). */
LLVMValueRef cg_gemm_tap_rows(GemmGen *g, const char *name, const CgGemmTaps *t);

#endif
