/*
 * ops.h — prototypes of every hook named in ops.def, generated from it, so
 * that a row whose function is missing fails to link rather than to run.
 */
#ifndef SINTER_OPS_H
#define SINTER_OPS_H

#include "ir/ir.h"

typedef struct AdCtx AdCtx;
/* Gradient rule: g holds d loss / d %v; add contributions with ad_accum. */
typedef void GradFn(AdCtx *ad, int v, int g);
/* Reference kernel: computes node v into out (allocated by the caller). */
typedef void InterpFn(const Region *r, int v, Tensor *out, Tensor *const *in, Store *s);

#define OP(id, name, arity, flags, attrs, shape, grad, interp) \
	ShapeFn shape; GradFn grad; InterpFn interp;
#include "ir/ops.def"
#undef OP

extern ShapeFn *const op_shape[OP_COUNT];
extern GradFn *const op_grad[OP_COUNT];
extern InterpFn *const op_interp[OP_COUNT];

/* autodiff context services for gradient rules (passes/autodiff.c) */
Region *ad_region(AdCtx *ad);
void ad_accum(AdCtx *ad, int operand_value, int contribution);

#endif
