/*
 * precision.c — the bf16 mixed-precision mode (`--precision=bf16`): marks
 * every matrix product of a region as taking bf16 operands with f32
 * accumulation (`{bf16=1}`, Node.ia[2], of every op whose row in ops.def
 * has A_BF16: MATMUL, and ATTENTION and ATTENTION_GRAD, whose tile
 * products those are).
 *
 * Requires: a region after autodiff (the backward's products exist as
 *   MATMUL nodes: dX = dY W^T, dW = X^T dY) and after simplify and pack
 *   (which rebuild nodes and would not carry a mark they do not know);
 *   before fusion, so that a fused kernel's GEMM head is a marked node.
 * Guarantees: every such node has ia[2] = 1 and nothing else changes: no
 *   node is added or removed, types stay f32.  What the mark means is the
 *   codegen's and the interpreter's: both operands rounded to bf16 with
 *   rt_bf16_from_f32, products summed in f32 (codegen/gemm.c's bf16
 *   kernel; ir/interp.c rounds and calls sgemm, ir/attention.c runs the
 *   runtime's attention, whose tile products round).
 *
 * Why only the products: they are the FLOPs (75-90% of a step's time) and
 * the only ops where bf16's 8-bit significand costs little, because the
 * sums stay f32.  Everything else keeps f32 as PyTorch's CPU autocast
 * lists do: master weights and the optimizer's states and update,
 * reductions (sums, means, losses), softmax, log-softmax, norms and
 * convolutions (their own kernels); the attention's softmax too, only its
 * products are bf16 (PyTorch's autocast runs scaled_dot_product_attention
 * in bf16).  bf16 has
 * f32's 8-bit exponent, so gradients do not underflow where f16's would:
 * no loss scaling.
 *
 * The mode's second pass, passes/bf16store.c (after remat), stores the
 * activations the backward reads in bf16.
 *
 * The pass runs only when the mode asks for it (PipeOpts.enable, set by
 * the driver's --precision=bf16) or `sinter opt --passes=precision`.
 */
#include "ir/ir.h"

void precision_run(Region *r)
{
	for (int v = 0; v < r->nnode; v++)
		if (op_info[r->node[v].op].attrs & A_BF16)
			attr_set_int(&r->node[v], AS_IA2, 1);
}
