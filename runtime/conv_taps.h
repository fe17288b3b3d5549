/*
 * conv_taps.h — what runtime/conv.c asks of runtime/conv_taps.c, its
 * convolutions whose GEMMs read the padded image in place.
 * Private to those two files.
 */
#ifndef SINTER_RUNTIME_CONV_TAPS_H
#define SINTER_RUNTIME_CONV_TAPS_H

#include "runtime/runtime.h"

/* Bytes of work the tapped op needs (where rt_conv2d_taps). */
int64_t rt_conv_taps_work(const RtConv *g, RtConvOp op);
/* Its one product, as rt_conv2d_products. */
int rt_conv_taps_products(const RtConv *g, RtConvOp op, RtConvProduct out[RT_CONV_PRODUCTS]);
/* The op: y = conv(x, w) (a = x, b = w), dx (a = dy, b = w) or dw (a = x,
   b = dy) into out, k's generated product fn[0]. */
void rt_conv_taps_run(const RtConv *g, RtConvOp op, const float *a, const float *b, float *out, float *work,
	const RtConvGemm *k, char *gemm_work);

#endif
