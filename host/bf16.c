/*
 * bf16.c — the bf16 dtype on the host side: the cast builtin bf16(x) and
 * the rule that gives an operation's result its dtype when bf16 tensors
 * take part (LANGUAGE.md §6.3).
 *
 * In the IR bf16 is a storage type (ir.h, F_BF16): ev_node reads a bf16
 * tensor as f32, every op computes in f32, and ev_bf16_result rounds the
 * result back to bf16 where PyTorch's result would be bf16.  Rounding an
 * f32 result once is what PyTorch's CPU kernels do for bf16 operands
 * (they compute in float and round on the store), so the two agree
 * element for element on elementwise work.
 */
#include "host/host.h"

#include <string.h>

static bool is_tensor_value(const Value *v)
{
	return v->kind == V_TENSOR || v->kind == V_HOST || v->kind == V_PARAM;
}

static DType tensor_dtype(const Ev *ev, const Value *v)
{
	switch (v->kind) {
	case V_TENSOR: return ev->tr->r->node[v->node].type.dt;
	case V_HOST: return v->ht->t.type.dt;
	case V_PARAM: return v->slot->t.type.dt;
	default: return DT_COUNT;
	}
}

/*
 * PyTorch's promotion with bf16: bf16 with bf16, with an integer or bool
 * tensor, or with a host number stays bf16; bf16 with an f32 tensor (a
 * parameter among them) gives f32.  Lists of numbers are weak, like host
 * numbers; the tensors of a list (concat's) take part.  Only f32 results are rounded: comparisons stay bool, argmax
 * i32.  b is the builtin that computed out (NULL for an operator): only
 * tensor primitives are rounded, and casts give what they name.
 */
Value ev_bf16_result(Ev *ev, const Builtin *b, const Value *args, int nargs, Value out)
{
	if (b && (b->kind != BUILTIN_TENSOR || b->op == OP_CAST))
		return out;
	if (out.kind != V_TENSOR || !ev->tr)
		return out;
	Region *r = ev->tr->r;
	if (r->node[out.node].type.dt != DT_F32)
		return out;
	bool bf = false, f32 = false;
	for (int i = 0; i < nargs; i++) {
		/* a list argument (concat's) counts by the tensors it holds */
		bool list = args[i].kind == V_LIST;
		for (int k = 0; k < (list ? args[i].n : 1); k++) {
			const Value *a = list ? &args[i].items[k] : &args[i];
			if (!is_tensor_value(a))
				continue;
			DType dt = tensor_dtype(ev, a);
			bf |= dt == DT_BF16;
			f32 |= dt == DT_F32;
		}
	}
	if (!bf || f32)
		return out;
	return v_tensor(ir_cast(r, out.node, DT_BF16));
}

/*
 * bf16(x): a tensor rounded to bf16 (nearest even; NaN stays NaN, as
 * torch.Tensor.bfloat16()).  A host number is rounded the same way and
 * stays a host float: the language has no bf16 scalars, as Python has
 * none (tensor.item() of a bf16 tensor is a float).
 */
Value prim_bf16(Ev *ev, const Builtin *b, Loc loc, Value *a, const char **names, int n)
{
	Value x;
	get_args(ev, loc, b->name, b->spec, a, names, n, &x);
	if (is_number(&x)) {
		Value r = v_float(rt_bf16_to_f32(rt_bf16_from_f32((float)num(&x))));
		r.dyn = x.dyn;
		return r;
	}
	return v_tensor(ev_node(ev, x, loc, DT_BF16));
}
