/*
 * scalar.h — the math of one element in LLVM IR (scalar.c), exactly as
 * ir/opsem.h computes it for the interpreter: what every kernel emitter
 * (kernels.c, fused.c) computes at each point of its walks.
 */
#ifndef SINTER_CODEGEN_SCALAR_H
#define SINTER_CODEGEN_SCALAR_H

#include "codegen/builder.h"

LLVMValueRef cg_unary(Cg *g, OpKind op, DType dt, LLVMValueRef x);
/* Result is bool (i8) for comparisons, dt otherwise. */
LLVMValueRef cg_binary(Cg *g, OpKind op, DType dt, LLVMValueRef x, LLVMValueRef y);
LLVMValueRef cg_convert(Cg *g, DType from, DType to, LLVMValueRef x);
/* f32 (or a vector of f32) -> the i16 bits of rt_bf16_from_f32, bit for bit. */
LLVMValueRef cg_bf16_bits(LLVMBuilderRef b, LLVMValueRef x);
/* The same value as interp.c's store_val(to, ., ., v) stores, as a constant. */
LLVMValueRef cg_const_of(Cg *g, DType to, double v);
/* Key of random stream `stream` for this call's seed and step (runtime value). */
LLVMValueRef cg_stream_key(Cg *g, int64_t stream);
/* rt_uniform(key, i), inline. */
LLVMValueRef cg_uniform(Cg *g, LLVMValueRef key, LLVMValueRef i);

#endif
