/*
 * ops.c — the op table expanded into the arrays every stage indexes by
 * OpKind: static facts (op_info) and the hooks (shape, gradient, kernel).
 */
#include "ir/ops.h"

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, arity, flags, shape, grad, interp) [OP_##id] = { name, arity, flags },
#include "ir/ops.def"
#undef OP
};

ShapeFn *const op_shape[OP_COUNT] = {
#define OP(id, name, arity, flags, shape, grad, interp) [OP_##id] = shape,
#include "ir/ops.def"
#undef OP
};

GradFn *const op_grad[OP_COUNT] = {
#define OP(id, name, arity, flags, shape, grad, interp) [OP_##id] = grad,
#include "ir/ops.def"
#undef OP
};

InterpFn *const op_interp[OP_COUNT] = {
#define OP(id, name, arity, flags, shape, grad, interp) [OP_##id] = interp,
#include "ir/ops.def"
#undef OP
};
