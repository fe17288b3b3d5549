/*
 * conv.c — 2-D convolution (NCHW) for generated code: the forward pass and
 * its two gradients as GEMMs.  Per image and group, im2col lays the input
 * windows out as a [C/G * KH * KW, OH * OW] matrix in a scratch buffer the
 * caller owns (rt_conv2d_scratch floats), so that
 *   y  = w @ col              (forward)
 *   col = w^T @ dy, dx = col2im(col)   (data gradient)
 *   dw = sum over images of dy @ col^T (weight gradient)
 * are each one cblas_sgemm.  A 1x1 convolution with stride 1 and no
 * padding reads x itself as col: no copy, no scratch.
 *
 * The reference these are compared against is the interpreter's direct
 * loops (ir/conv.c), which sum in double: the two differ by float rounding
 * only.
 */
#include "runtime/runtime.h"

#include <cblas.h>
#include <string.h>

_Static_assert(sizeof(RtConv) == RT_CONV_FIELDS * sizeof(int64_t), "RtConv is an array of int64_t");

/* x itself is the im2col matrix: every window is one pixel, in order. */
static bool conv_plain(const RtConv *g)
{
	return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

int64_t rt_conv2d_scratch(const RtConv *g)
{
	return conv_plain(g) ? 0 : g->c / g->groups * g->kh * g->kw * g->oh * g->ow;
}

/* The window geometry of one im2col row (channel c, tap kh, kw): output
   column ow reads input column iw = ow * sw + iw0, inside when in [0, W). */
typedef struct {
	int64_t c, ki, kj;
} Tap;

static Tap tap_of(const RtConv *g, int64_t row)
{
	Tap t = { row / (g->kh * g->kw), row / g->kw % g->kh, row % g->kw };
	return t;
}

/* col[row][oh * OW + ow] = x[c][ih][iw] (0 outside), x one image's group. */
static void im2col(const RtConv *g, const float *x, float *col)
{
	int64_t rows = g->c / g->groups * g->kh * g->kw, ohw = g->oh * g->ow;
	for (int64_t row = 0; row < rows; row++) {
		Tap t = tap_of(g, row);
		const float *xc = x + t.c * g->h * g->w;
		float *out = col + row * ohw;
		for (int64_t i = 0; i < g->oh; i++) {
			int64_t ih = i * g->sh - g->ph + t.ki * g->dh;
			float *o = out + i * g->ow;
			if (ih < 0 || ih >= g->h) {
				memset(o, 0, (size_t)g->ow * sizeof *o);
				continue;
			}
			const float *xr = xc + ih * g->w;
			for (int64_t j = 0; j < g->ow; j++) {
				int64_t iw = j * g->sw - g->pw + t.kj * g->dw;
				o[j] = iw >= 0 && iw < g->w ? xr[iw] : 0.0f;
			}
		}
	}
}

/* x[c][ih][iw] += col[row][oh * OW + ow] over the windows: im2col's adjoint. */
static void col2im(const RtConv *g, const float *col, float *x)
{
	int64_t rows = g->c / g->groups * g->kh * g->kw, ohw = g->oh * g->ow;
	memset(x, 0, (size_t)(g->c / g->groups * g->h * g->w) * sizeof *x);
	for (int64_t row = 0; row < rows; row++) {
		Tap t = tap_of(g, row);
		float *xc = x + t.c * g->h * g->w;
		const float *in = col + row * ohw;
		for (int64_t i = 0; i < g->oh; i++) {
			int64_t ih = i * g->sh - g->ph + t.ki * g->dh;
			if (ih < 0 || ih >= g->h)
				continue;
			float *xr = xc + ih * g->w;
			const float *c = in + i * g->ow;
			for (int64_t j = 0; j < g->ow; j++) {
				int64_t iw = j * g->sw - g->pw + t.kj * g->dw;
				if (iw >= 0 && iw < g->w)
					xr[iw] += c[j];
			}
		}
	}
}

/* C[M,N] = op(A) @ op(B) (+ C when acc), row-major, small ones serial as
   every GEMM of generated code (runtime.h). */
static void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
	int64_t ldb, bool acc, float *C)
{
	int threads = M * N * K < RT_GEMM_SERIAL_MAX ? rt_gemm_serial_begin() : 0;
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
		1.0f, A, (int)lda, B, (int)ldb, acc ? 1.0f : 0.0f, C, (int)N);
	rt_gemm_serial_end(threads);
}

/* Per group: channels of x, of y, and the GEMMs' inner size. */
typedef struct {
	int64_t cg, og, k, hw, ohw;
} Sizes;

static Sizes sizes_of(const RtConv *g)
{
	Sizes s = { g->c / g->groups, g->o / g->groups, g->c / g->groups * g->kh * g->kw, g->h * g->w, g->oh * g->ow };
	return s;
}

/* The im2col matrix of image n's group gi: x itself when plain, else col. */
static const float *cols(const RtConv *g, const Sizes *s, const float *x, int64_t n, int64_t gi, float *col)
{
	const float *xg = x + (n * g->c + gi * s->cg) * s->hw;
	if (conv_plain(g))
		return xg;
	im2col(g, xg, col);
	return col;
}

void rt_conv2d(const RtConv *g, const float *x, const float *w, float *y, float *col)
{
	Sizes s = sizes_of(g);
	for (int64_t n = 0; n < g->n; n++)
		for (int64_t gi = 0; gi < g->groups; gi++)
			gemm(false, false, s.og, s.ohw, s.k, w + gi * s.og * s.k, s.k, cols(g, &s, x, n, gi, col), s.ohw, false,
				y + (n * g->o + gi * s.og) * s.ohw);
}

void rt_conv2d_dx(const RtConv *g, const float *dy, const float *w, float *dx, float *col)
{
	Sizes s = sizes_of(g);
	bool plain = conv_plain(g);
	for (int64_t n = 0; n < g->n; n++)
		for (int64_t gi = 0; gi < g->groups; gi++) {
			float *dxg = dx + (n * g->c + gi * s.cg) * s.hw;
			gemm(true, false, s.k, s.ohw, s.og, w + gi * s.og * s.k, s.k, dy + (n * g->o + gi * s.og) * s.ohw,
				s.ohw, false, plain ? dxg : col);
			if (!plain)
				col2im(g, col, dxg);
		}
}

void rt_conv2d_dw(const RtConv *g, const float *x, const float *dy, float *dw, float *col)
{
	Sizes s = sizes_of(g);
	if (g->n == 0)
		memset(dw, 0, (size_t)(g->o * s.k) * sizeof *dw);
	for (int64_t n = 0; n < g->n; n++)
		for (int64_t gi = 0; gi < g->groups; gi++)
			gemm(false, true, s.og, s.k, s.ohw, dy + (n * g->o + gi * s.og) * s.ohw, s.ohw, cols(g, &s, x, n, gi, col),
				s.ohw, n > 0, dw + gi * s.og * s.k);
}
