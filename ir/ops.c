/*
 * ops.c — the op table expanded into the arrays every stage indexes by
 * OpKind: static facts (op_info) and the hooks (shape, gradient, kernel);
 * and the attribute schema those facts name (attr_def), which the IR
 * printer and parser read.
 */
#include "ir/ops.h"

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, arity, flags, attrs, shape, grad, interp) [OP_##id] = { name, arity, flags, attrs },
#include "ir/ops.def"
#undef OP
};

ShapeFn *const op_shape[OP_COUNT] = {
#define OP(id, name, arity, flags, attrs, shape, grad, interp) [OP_##id] = shape,
#include "ir/ops.def"
#undef OP
};

GradFn *const op_grad[OP_COUNT] = {
#define OP(id, name, arity, flags, attrs, shape, grad, interp) [OP_##id] = grad,
#include "ir/ops.def"
#undef OP
};

InterpFn *const op_interp[OP_COUNT] = {
#define OP(id, name, arity, flags, attrs, shape, grad, interp) [OP_##id] = interp,
#include "ir/ops.def"
#undef OP
};

bool ir_is_alias(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	return op_has(nd->op, F_ALIAS) && nd->narg == 1 && nd->type.dt == r->node[ir_operand(r, v, 0)].type.dt;
}

/* Bit b of the attrs column is attr_def[b]; the comments in ir.h say what each holds. */
const AttrDef attr_def[ATTR_BITS] = {
	{ "index", AK_INT, AS_IA0, AU_POSITIONAL },
	{ "value", AK_FLOAT, AS_F, AU_POSITIONAL },
	{ "name", AK_STRING, AS_NAME, AU_POSITIONAL },
	{ "state", AK_STRING, AS_SNAME, AU_POSITIONAL },
	{ "state", AK_STRING, AS_SNAME, AU_POSITIONAL_SET },
	{ "at", AK_INT, AS_AT, AU_SET },
	{ "at", AK_INT, AS_AT, AU_NEEDED },
	{ "k", AK_INT, AS_IA0, AU_ZERO },
	{ "p", AK_FLOAT, AS_F, AU_NEEDED },
	{ "stream", AK_INT, AS_IA0, AU_ZERO },
	{ "axes", AK_LIST, AS_IA, AU_NEEDED },
	{ "keep", AK_FLAG, AS_KEEP, AU_ZERO },
	{ "perm", AK_LIST, AS_IA, AU_NEEDED },
	{ "axis", AK_INT, AS_IA0, AU_NEEDED },
	{ "ranges", AK_RANGES, AS_IA, AU_NEEDED },
	{ "ta", AK_FLAG, AS_IA0, AU_ZERO },
	{ "tb", AK_FLAG, AS_IA1, AU_ZERO },
	{ "conv", AK_LIST, AS_IA, AU_NEEDED },
	{ "window", AK_LIST, AS_IA, AU_NEEDED },
	{ "causal", AK_FLAG, AS_IA0, AU_ZERO },
	{ "scale", AK_FLOAT, AS_F, AU_NEEDED },
	{ "bf16", AK_FLAG, AS_IA2, AU_SET },
	{ "heads", AK_INT, AS_IA1, AU_SET },
};

int64_t attr_int(const Node *n, AttrSlot slot)
{
	switch (slot) {
	case AS_IA0: return n->ia[0];
	case AS_IA1: return n->ia[1];
	case AS_IA2: return n->ia[2];
	case AS_KEEP: return n->keep;
	case AS_AT: return n->at;
	default: die("attr_int: slot %d holds no integer", (int)slot);
	}
}

void attr_set_int(Node *n, AttrSlot slot, int64_t v)
{
	switch (slot) {
	case AS_IA0: n->ia[0] = v; break;
	case AS_IA1: n->ia[1] = v; break;
	case AS_IA2: n->ia[2] = v; break;
	case AS_KEEP: n->keep = v != 0; break;
	case AS_AT: n->at = v; break;
	default: die("attr_set_int: slot %d holds no integer", (int)slot);
	}
	/* an op that has ia[k] has ia[0..k] whether or not the text gave them */
	if (slot == AS_IA0 || slot == AS_IA1) {
		int need = slot == AS_IA0 ? 1 : 2;
		n->nia = n->nia > need ? n->nia : need;
	}
	/* matmul's bf16 mark, ia[2], is there only when set: an unmarked
	   matmul keeps nia 2, the node it was before the mark existed */
	if (slot == AS_IA2)
		n->nia = v ? (n->nia > 3 ? n->nia : 3) : n->nia == 3 ? 2 : n->nia;
}

bool attr_is_set(const Node *n, const AttrDef *d)
{
	switch (d->slot) {
	case AS_NAME: return n->name != NULL;
	case AS_SNAME: return n->sname != NULL;
	case AS_AT: return n->at >= 0; /* ir_proto's -1: not placed in a block */
	case AS_IA: return n->nia > 0;
	case AS_F: return n->f != 0;
	default: return attr_int(n, d->slot) != 0;
	}
}
