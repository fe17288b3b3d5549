/*
 * conv_taps.h — what runtime/conv.c asks of runtime/conv_taps.c, its
 * convolutions whose GEMMs read the padded image in place, and the small
 * pieces both files use.  Private to those two files.
 */
#ifndef SINTER_RUNTIME_CONV_TAPS_H
#define SINTER_RUNTIME_CONV_TAPS_H

#include "runtime/runtime.h"

#include <string.h>

/* Outputs j in [0, n) whose input column j * stride + off is inside [0, w)
   are exactly [*lo, *hi): computed once per tap or phase, so that copy
   loops test nothing per element (no division for a unit stride). */
static inline void rt_conv_inside(int64_t off, int64_t stride, int64_t w, int64_t n, int64_t *lo, int64_t *hi)
{
	/* j * stride + off >= 0  <=>  j >= ceil(-off / stride) */
	int64_t a = off >= 0 ? 0 : stride == 1 ? -off : (-off + stride - 1) / stride;
	/* j * stride + off < w  <=>  j < ceil((w - off) / stride) */
	int64_t b = w - off <= 0 ? 0 : stride == 1 ? w - off : (w - off + stride - 1) / stride;
	*hi = b < n ? b : n;
	*lo = a < *hi ? a : *hi;
}

/* Images [*lo, *hi) of part p of parts: consecutive, as even as they come. */
static inline void rt_conv_part_images(int64_t n, int64_t parts, int64_t p, int64_t *lo, int64_t *hi)
{
	*lo = n * p / parts;
	*hi = n * (p + 1) / parts;
}

/* dst[0..n) += src[0..n), in blocks of 8 that compile to vector adds
   (col2im's runs, and the weight gradient's partial sums).  Vectors of
   4, the width every x86-64 has: GCC kept a float[8], and a vector of 8
   without AVX, on the stack, a store and a reload per block. */
typedef float RtConvV4 __attribute__((vector_size(16)));

static inline void rt_conv_add_row(float *dst, const float *src, int64_t n)
{
	int64_t j = 0;
	for (; j + 8 <= n; j += 8) {
		RtConvV4 a0, a1, b0, b1;
		memcpy(&a0, dst + j, sizeof a0);
		memcpy(&a1, dst + j + 4, sizeof a1);
		memcpy(&b0, src + j, sizeof b0);
		memcpy(&b1, src + j + 4, sizeof b1);
		a0 += b0;
		a1 += b1;
		memcpy(dst + j, &a0, sizeof a0);
		memcpy(dst + j + 4, &a1, sizeof a1);
	}
	for (; j < n; j++)
		dst[j] += src[j];
}

/* dst[0..n) = src[0..n): in blocks of 8 that compile to vector moves
   (memcpy of a constant size), for rows too short for a memcpy call to
   pay (the 7 to 28 floats of a small image's rows). */
static inline void rt_conv_copy_row(float *dst, const float *src, int64_t n)
{
	int64_t j = 0;
	for (; j + 8 <= n; j += 8)
		memcpy(dst + j, src + j, 8 * sizeof *dst);
	for (; j < n; j++)
		dst[j] = src[j];
}

/*
 * A stride-2 convolution's copies: dst[j] = src[2 j] (im2col's rows and
 * the phase planes of conv_taps.c) and its adjoint dst[2 j] += src[j]
 * (col2im's), for j < n with src (dst) readable up to avail floats.  Four
 * at a time from two vector loads and a shuffle, where loops of a float
 * per load and store made most of im2col's and col2im's tenth of a
 * ResNet-8 step; the odd floats between are added +0 (x + 0 is x:
 * col2im's x starts at +0 and never becomes -0).  __builtin_shufflevector:
 * GCC 12 and clang both have it.
 */
static inline void rt_conv_gather2(float *dst, const float *src, int64_t n, int64_t avail)
{
	int64_t j = 0;
	for (; j + 4 <= n && 2 * j + 8 <= avail; j += 4) {
		RtConvV4 a, b;
		memcpy(&a, src + 2 * j, sizeof a);
		memcpy(&b, src + 2 * j + 4, sizeof b);
		RtConvV4 e = __builtin_shufflevector(a, b, 0, 2, 4, 6);
		memcpy(dst + j, &e, sizeof e);
	}
	for (; j < n; j++)
		dst[j] = src[2 * j];
}

static inline void rt_conv_scatter_add2(float *dst, const float *src, int64_t n, int64_t avail)
{
	const RtConvV4 z = { 0, 0, 0, 0 };
	int64_t j = 0;
	for (; j + 4 <= n && 2 * j + 8 <= avail; j += 4) {
		RtConvV4 a, b, s;
		memcpy(&a, dst + 2 * j, sizeof a);
		memcpy(&b, dst + 2 * j + 4, sizeof b);
		memcpy(&s, src + j, sizeof s);
		a += __builtin_shufflevector(s, z, 0, 4, 1, 4);
		b += __builtin_shufflevector(s, z, 2, 4, 3, 4);
		memcpy(dst + 2 * j, &a, sizeof a);
		memcpy(dst + 2 * j + 4, &b, sizeof b);
	}
	for (; j < n; j++)
		dst[2 * j] += src[j];
}

/* Bytes of work the tapped op needs (where rt_conv2d_taps). */
int64_t rt_conv_taps_work(const RtConv *g, RtConvOp op);
/* Its one product, as rt_conv2d_products. */
int rt_conv_taps_products(const RtConv *g, RtConvOp op, RtConvProduct out[RT_CONV_PRODUCTS]);
/* The op: y = conv(x, w) (a = x, b = w), dx (a = dy, b = w) or dw (a = x,
   b = dy) into out, k's generated product fn[0]. */
void rt_conv_taps_run(const RtConv *g, RtConvOp op, const float *a, const float *b, float *out, float *work,
	const RtConvGemm *k, char *gemm_work);

#endif
