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

bool ir_is_alias(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	return op_has(nd->op, F_ALIAS) && nd->narg == 1 && nd->type.dt == r->node[ir_operand(r, v, 0)].type.dt;
}
