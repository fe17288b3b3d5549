/*
 * reduce.h — the kernels of SUM, MAX, MIN, ARGMAX and CONV2D (reduce.c),
 * and the reduction accumulators that fused kernels (fused.c) are built
 * with as well.
 */
#ifndef SINTER_CODEGEN_REDUCE_H
#define SINTER_CODEGEN_REDUCE_H

#include "codegen/builder.h"

void cg_reduce(Cg *g, int v);
void cg_argmax(Cg *g, int v);
/* CONV2D, CONV2D_DX, CONV2D_DW: a call of the runtime's kernel. */
void cg_conv(Cg *g, int v);
/* ATTENTION, ATTENTION_GRAD: a call of the runtime's fused kernel. */
void cg_attention(Cg *g, int v);

/* The accumulator of a SUM, MAX or MIN. */
typedef struct {
	OpKind op;
	DType in, out;   /* element types of operand and result */
	LLVMTypeRef acc; /* accumulator type: f64 / i64 for SUM, else the operand's */
} CgRed;
CgRed cg_red(Cg *g, OpKind op, DType in, DType out);
LLVMValueRef cg_red_init(Cg *g, const CgRed *R);
LLVMValueRef cg_red_combine(Cg *g, const CgRed *R, LLVMValueRef acc, LLVMValueRef x);
LLVMValueRef cg_red_final(Cg *g, const CgRed *R, LLVMValueRef acc);

#endif
