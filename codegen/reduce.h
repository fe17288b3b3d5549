/*
 * reduce.h — the kernels of SUM, MAX, MIN, ARGMAX and CONV2D (reduce.c),
 * and the reduction accumulators that fused kernels (fused.c) are built
 * with as well.
 */
#ifndef SINTER_CODEGEN_REDUCE_H
#define SINTER_CODEGEN_REDUCE_H

#include "codegen/builder.h"
#include "codegen/codegen.h"

void cg_reduce(Cg *g, int v);
void cg_argmax(Cg *g, int v);
/* For node v, when it is a convolution: chooses the kernel of each of
   its products, counts them in *stats (reporting them when verbose) and
   returns the bytes of GEMM workspace its call needs (0: none, or not a
   convolution).  Called by cg_matmul_setup before anything is emitted. */
int64_t cg_conv_setup(Cg *g, CgGemmStats *stats, int v);
/* CONV2D, CONV2D_DX, CONV2D_DW: a call of the runtime's kernel, with
   sinter's GEMM for each product the rule of matmul.c gives it. */
void cg_conv(Cg *g, int v);
/* Node v's work buffer (ir_work_bytes): at the memory plan's Node.work, or
   past the arena in scratch without a plan; null when it needs none. */
LLVMValueRef cg_work_ptr(Cg *g, int v);
/* A private constant global of init that the runtime reads (a call's
   geometry, its table of generated kernels). */
LLVMValueRef cg_const_table(Cg *g, LLVMValueRef init, const char *name);
/* The region's GEMM workspace (g->gemm_work), null when it has none. */
LLVMValueRef cg_gemm_work_ptr(Cg *g);

/* The accumulator of a SUM, MAX or MIN. */
typedef struct {
	OpKind op;
	DType in, out;   /* element types of operand and result */
	LLVMTypeRef acc; /* accumulator type: f64 / i64 for SUM, else the operand's */
} CgRed;
CgRed cg_red(Cg *g, OpKind op, DType in, DType out);
LLVMValueRef cg_red_init(Cg *g, const CgRed *R);
LLVMValueRef cg_red_combine(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef x);
/* Two accumulators of the same reduction over different elements, as one
   (a column walk's blocks: fused.c). */
LLVMValueRef cg_red_merge(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef other);
LLVMValueRef cg_red_final(Cg *g, const CgRed *R, LLVMValueRef acc);

#endif
