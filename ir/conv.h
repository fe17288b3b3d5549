/*
 * conv.h — the geometry of the convolution ops (CONV2D and its gradients
 * CONV2D_DX, CONV2D_DW; ir/conv.c), shared by their shape rules, the
 * interpreter, the autodiff rules and codegen, which hands it to the
 * runtime's GEMM-based kernels (runtime/conv.c) as an RtConv.
 */
#ifndef SINTER_IR_CONV_H
#define SINTER_IR_CONV_H

#include "ir/ir.h"
#include "runtime/runtime.h"

/* The numbers of a conv node's {conv=[...]} attribute, in order. */
enum { CONV_SH, CONV_SW, CONV_PH, CONV_PW, CONV_DH, CONV_DW, CONV_GROUPS, CONV_NATTR };

/*
 * The geometry of convolving x with w under node n's attribute: sizes,
 * output size by PyTorch's formula, every number checked (ranks, f32,
 * channels against groups, stride and dilation >= 1, padding >= 0, the
 * dilated kernel within the padded input, no empty axis but the batch).
 * False with a message naming both shapes in err otherwise.
 */
bool ir_conv_geom(const Type *x, const Type *w, const Node *n, RtConv *g, char *err, size_t errlen);
/* The geometry of conv node v of r (which the verifier accepted). */
RtConv ir_conv_of(const Region *r, int v);
/* Emits op (CONV2D, CONV2D_DX or CONV2D_DW) on a and b with the attribute
   of conv node like; for DX and DW the result type is t.  Dies on a shape
   error: the callers are passes. */
int ir_conv(Region *r, OpKind op, int a, int b, const Node *like, Type t);

#endif
