/*
 * conv.c — 2-D convolution (NCHW) for generated code: the forward pass and
 * its two gradients as GEMMs.  Per image and group, im2col lays the input
 * windows out as a [C/G * KH * KW, OH * OW] matrix in a work buffer the
 * caller owns (rt_conv2d_work bytes), so that
 *   y  = w @ col              (forward)
 *   col = w^T @ dy, dx = col2im(col)   (data gradient)
 *   dw = sum over images of dy @ col^T (weight gradient)
 * are each one cblas_sgemm.  A 1x1 convolution with stride 1 and no
 * padding reads x itself as col: no copy.  A convolution whose products
 * are sinter's GEMM may read the padded image in place instead
 * (runtime/conv_taps.c; RtConvGemm.taps says when).
 *
 * Small images go several to a product: when an image's output is one
 * block of at most RT_CONV_GROUP / 2 pixels (ResNet-8's 7x7 stage: 49),
 * im2col lays the windows of a group of images side by side, [C/G * KH *
 * KW, images * OH * OW], and each product spans the group: one wider
 * product instead of several narrow ones, whose 32-wide tiles a 49-pixel
 * image fills to 77%, and A packed once per group.  y and dy are
 * [image][channel][pixel] in memory, so the forward writes the group's
 * product into scratch and copies each image's rows out, and the data
 * gradient gathers the group's dy rows into scratch first: copies of
 * y-sized rows, a ninth of a 3x3 im2col's.  The weight gradient stays
 * image by image (group_images says why).
 *
 * The images are cut into at most RT_CONV_PARTS parts of consecutive
 * images, which run on the thread pool, each with its own col matrix and
 * single-threaded GEMMs: one image's GEMMs are below the size where a
 * product is cut into parts (RT_GEMM_SERIAL_MAX), and copying windows
 * (im2col, col2im) is as much of the time as the products, which the
 * pool parallelizes too.  The weight gradient sums each part's images into
 * a partial sum of its own (part 0's is dw itself) and then adds the parts
 * in order: the parts depend on the batch size only, never on the thread
 * count or on which thread ran what, so results are the same bits for any
 * --threads.  OpenBLAS is set to one thread around the job (pool.c: no
 * step runs OpenBLAS's own threads).
 *
 * The reference these are compared against is the interpreter's direct
 * loops (ir/conv.c), which sum in double: the two differ by float rounding
 * only.
 */
#include "runtime/conv_taps.h"

#include <cblas.h>
#include <string.h>

_Static_assert(sizeof(RtConv) == RT_CONV_FIELDS * sizeof(int64_t), "RtConv is an array of int64_t");

/* x itself is the im2col matrix: every window is one pixel, in order. */
static bool conv_plain(const RtConv *g)
{
	return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

int64_t rt_conv2d_parts(const RtConv *g)
{
	return g->n < RT_CONV_PARTS ? g->n : RT_CONV_PARTS;
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

static int64_t block_rows(const RtConv *g);

/*
 * The data gradient of an unpadded unit-stride layer whose output rows are
 * shorter than its input's (LeNet-5's 14 -> 10) has no span of
 * consecutive rows to add (conv_span_ok): col2im row by row added 1500
 * runs of 10 floats an image.  Instead dy is gathered onto a grid as wide
 * as the input, output pixel (i, j) at column i * W + j, the W - OW
 * columns after each row zero.  Then row (c, ki, kj) of col = w^T @ dy
 * lands on dx[c] from ki * dh * W + kj * dw on, one run of the grid's
 * (OH - 1) * W + OW columns: the junk columns add col's zeros to pixels
 * of the image (x + 0 is x: dx starts at +0 and never becomes -0), and
 * without padding the run ends at the plane's last pixel.  The product
 * grows by the junk (1.36x on LeNet-5), so only grids up to 1.4x the
 * pixels and no wider than a group's product.  (A weight holding inf or
 * NaN would spread it through the junk: the gradient is not finite then
 * either way.)
 */
static int64_t grid_cols(const RtConv *g)
{
	return (g->oh - 1) * g->w + g->ow;
}

static bool dx_grid(const RtConv *g, RtConvOp op)
{
	return op == RT_CONV_DX && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->ow != g->w &&
		g->oh > 0 && g->ow > 0 && 5 * grid_cols(g) <= 7 * g->oh * g->ow && grid_cols(g) <= RT_CONV_GROUP;
}

/* Columns of one image in a product through scratch rows: its grid, or
   its pixels. */
static int64_t image_cols(const RtConv *g, RtConvOp op)
{
	return dx_grid(g, op) ? grid_cols(g) : g->oh * g->ow;
}

/*
 * Images per group of op (1: image by image).  Only an image whose output
 * is a single block of at most half of RT_CONV_GROUP pixels is grouped (a
 * larger one's products are wide already), and a group never holds more
 * than the smallest part's images, so each part makes at least one full
 * group and the products are two shapes at most: the full group and one
 * image, for a part's leftover images.  Only the forward and the data
 * gradient: their products keep K (each output element the same sum, the
 * same bits as image by image); the weight gradient's K is the pixels,
 * and grouped it ran slower (docs/ARCHITECTURE.md, "Convolution").
 */
static int64_t group_images(const RtConv *g, RtConvOp op)
{
	int64_t cols = image_cols(g, op), parts = rt_conv2d_parts(g);
	if (op == RT_CONV_DW || conv_plain(g) || cols == 0 || parts == 0 || block_rows(g) < g->oh ||
		2 * cols > RT_CONV_GROUP)
		return 1;
	int64_t gs = RT_CONV_GROUP / cols, least = g->n / parts;
	return gs < least ? gs : least;
}

/* Products through scratch rows: a group's, or a grid's. */
static bool through_rows(const RtConv *g, RtConvOp op)
{
	return group_images(g, op) > 1 || dx_grid(g, op);
}

/* Output pixels of a whole block: the group's or the grid's columns (the
   plain case: the image). */
static int64_t full_pixels(const RtConv *g, RtConvOp op)
{
	return conv_plain(g) ? g->oh * g->ow : through_rows(g, op) ? group_images(g, op) * image_cols(g, op)
		: block_rows(g) * g->ow;
}

/* Floats of one part's col matrix: one block of output rows, or a group. */
static int64_t col_floats(const RtConv *g, RtConvOp op)
{
	return conv_plain(g) ? 0 : sizes_of(g).k * full_pixels(g, op);
}

/* Floats of one part's scratch for a group's y or dy rows, or a grid's
   dy (0 without either), after its col matrix. */
static int64_t rows_floats(const RtConv *g, RtConvOp op)
{
	return through_rows(g, op) ? sizes_of(g).og * full_pixels(g, op) : 0;
}

/* Floats of one part's col matrix and rows. */
static int64_t part_floats(const RtConv *g, RtConvOp op)
{
	return col_floats(g, op) + rows_floats(g, op);
}

/* Either path's: the plan is made before codegen chooses (rt_conv2d_taps). */
int64_t rt_conv2d_work(const RtConv *g, RtConvOp op)
{
	int64_t parts = rt_conv2d_parts(g), floats = parts * part_floats(g, op);
	if (op == RT_CONV_DW && parts > 1)
		floats += (parts - 1) * g->o * sizes_of(g).k; /* a partial sum per part but the first */
	int64_t bytes = floats * (int64_t)sizeof(float), taps = rt_conv2d_taps(g, op, true) ? rt_conv_taps_work(g, op) : 0;
	return taps > bytes ? taps : bytes;
}

/*
 * The columns of one tap kj: output column j reads input column j * sw +
 * off, which is inside [0, W) exactly for j in [j0, j1), computed once per
 * tap (the same for every channel) so that the copy loops test nothing
 * per element.  The rows are walked as nested loops over (ki, kj,
 * channel), no division per row: the narrow images of deep layers have
 * rows of a few elements, where a division or a library call per row
 * costs as much as the row.
 */
typedef struct {
	int64_t off, j0, j1;
} Cols;

static Cols cols_of(const RtConv *g, int64_t kj)
{
	Cols t = { kj * g->dw - g->pw, 0, 0 };
	rt_conv_inside(t.off, g->sw, g->w, g->ow, &t.j0, &t.j1);
	return t;
}

/* Output rows [i0, i1) of one block: bl = (i1 - i0) * OW columns of the
   im2col matrix, col[row][(i - i0) * OW + ow], whose rows are ld floats
   apart (bl, or a group's images * OH * OW with the block one image's
   columns of it). */
typedef struct {
	int64_t i0, i1, bl, ld;
} Block;

/*
 * A unit-stride convolution whose output rows are as long as the input's
 * (a "same" convolution: every 3x3 of a ResNet but the strided ones) reads
 * the rows of one tap from consecutive input rows at one offset: block
 * row i, column j is x[(i + base) * W + j + off].  So a tap's block is
 * one contiguous span of the input plane, copied (or, in col2im, added)
 * as one long run, and only the columns outside the image are fixed up
 * afterwards, a few per row.  Row by row, the copies were runs of 28, 14
 * or 7 floats, where the loop's overhead costs as much as the copy.
 *
 * Span: the valid rows [ia, ib) of the block and the source indices
 * [s, e) they map to.  Indices outside [0, H * W) are always in columns
 * outside the image (a valid row and column is inside the plane), so the
 * run is clipped to the plane and those columns are the fix-up's.
 */
typedef struct {
	int64_t ia, ib, s, e, lo, hi;
} Span;

static bool conv_span_ok(const RtConv *g)
{
	return g->sh == 1 && g->sw == 1 && g->ow == g->w;
}

static Span span_of(const RtConv *g, Block b, int64_t ki, const Cols *t)
{
	int64_t base = ki * g->dh - g->ph, plane = g->h * g->w;
	Span sp = { b.i0 > -base ? b.i0 : -base, b.i1 < g->h - base ? b.i1 : g->h - base, 0, 0, 0, 0 };
	if (sp.ib < sp.ia)
		sp.ib = sp.ia;
	sp.s = (sp.ia + base) * g->w + t->off;
	sp.e = (sp.ib - 1 + base) * g->w + t->off + g->ow;
	sp.lo = sp.s > 0 ? sp.s : 0;
	sp.hi = sp.e < plane ? sp.e : plane;
	return sp;
}

/* Zeroes the columns outside the image, [0, j0) and [j1, OW), of rows
   [ia, ib) of a tap's block `o`.  Column by column: a strided walk of a
   store per row, where a row-by-row loop would become two memset calls
   per row (for one float each at padding 1). */
static void zero_edges(const RtConv *g, const Cols *t, Block b, const Span *sp, float *o)
{
	float *first = o + (sp->ia - b.i0) * g->ow;
	int64_t rows = sp->ib - sp->ia, ow = g->ow;
	for (int64_t j = 0; j < t->j0; j++)
		for (int64_t i = 0; i < rows; i++)
			first[i * ow + j] = 0.0f;
	for (int64_t j = t->j1; j < ow; j++)
		for (int64_t i = 0; i < rows; i++)
			first[i * ow + j] = 0.0f;
}

/* im2col of one tap's block as one run (conv_span_ok), sp its span_of. */
static void im2col_span(const RtConv *g, const float *xc, Block b, const Span *sp, const Cols *t, float *o)
{
	if (sp->ia > b.i0)
		memset(o, 0, (size_t)((sp->ia - b.i0) * g->ow) * sizeof *o);
	if (b.i1 > sp->ib)
		memset(o + (sp->ib - b.i0) * g->ow, 0, (size_t)((b.i1 - sp->ib) * g->ow) * sizeof *o);
	if (sp->ia == sp->ib)
		return;
	float *d = o + (sp->ia - b.i0) * g->ow - sp->s;
	if (sp->hi > sp->lo)
		memcpy(d + sp->lo, xc + sp->lo, (size_t)(sp->hi - sp->lo) * sizeof *o);
	zero_edges(g, t, b, sp, o);
}

/* col2im of one tap's block as one run (conv_span_ok): the columns
   outside the image are zeroed in col first, so the run adds nothing
   there (x + 0 is x: x starts at +0 and never becomes -0). */
static void col2im_span(const RtConv *g, float *in, Block b, const Span *sp, const Cols *t, float *xc)
{
	if (sp->ia == sp->ib)
		return;
	zero_edges(g, t, b, sp, in);
	const float *d = in + (sp->ia - b.i0) * g->ow - sp->s;
	if (sp->hi > sp->lo)
		rt_conv_add_row(xc + sp->lo, d + sp->lo, sp->hi - sp->lo);
}

/* col[row][i * OW + ow] = x[c][ih][iw] (0 outside) over the block's rows,
   x one image's group; row = (c * KH + ki) * KW + kj.  The loops go tap
   by tap, channels innermost: a tap's columns and span are the same for
   every channel, so they are computed once per tap, not once per row
   (576 rows of 49 floats in a 64-channel 7x7 layer, where that work cost
   as much as the copy). */
static void im2col(const RtConv *g, const float *x, Block b, float *col)
{
	int64_t cg = g->c / g->groups, ow = g->ow, sw = g->sw, plane = g->h * g->w, step = g->kh * g->kw * b.ld;
	bool span = conv_span_ok(g);
	for (int64_t ki = 0; ki < g->kh; ki++)
		for (int64_t kj = 0; kj < g->kw; kj++) {
			Cols t = cols_of(g, kj);
			float *out = col + (ki * g->kw + kj) * b.ld;
			if (span) {
				Span sp = span_of(g, b, ki, &t);
				for (int64_t c = 0; c < cg; c++)
					im2col_span(g, x + c * plane, b, &sp, &t, out + c * step);
				continue;
			}
			for (int64_t c = 0; c < cg; c++, out += step) {
				const float *xc = x + c * plane;
				for (int64_t i = b.i0; i < b.i1; i++) {
					int64_t ih = i * g->sh - g->ph + ki * g->dh;
					float *o = out + (i - b.i0) * ow;
					if (ih < 0 || ih >= g->h) {
						for (int64_t j = 0; j < ow; j++)
							o[j] = 0.0f;
						continue;
					}
					const float *xr = xc + ih * g->w;
					for (int64_t j = 0; j < t.j0; j++)
						o[j] = 0.0f;
					if (sw == 1)
						rt_conv_copy_row(o + t.j0, xr + t.j0 + t.off, t.j1 - t.j0);
					else if (sw == 2)
						rt_conv_gather2(o + t.j0, xr + 2 * t.j0 + t.off, t.j1 - t.j0,
							g->w - 2 * t.j0 - t.off);
					else
						for (int64_t j = t.j0; j < t.j1; j++)
							o[j] = xr[j * sw + t.off];
					for (int64_t j = t.j1; j < ow; j++)
						o[j] = 0.0f;
				}
			}
		}
}

/* x[c][ih][iw] += col[row][i * OW + ow] over the block's windows:
   im2col's adjoint (x zeroed by the caller before the first block), tap
   by tap as im2col; each channel's element still gets its taps' terms in
   (ki, kj) order.  col is scratch: the run of a span writes zeros into it. */
static void col2im(const RtConv *g, float *col, Block b, float *x)
{
	int64_t cg = g->c / g->groups, ow = g->ow, sw = g->sw, plane = g->h * g->w, step = g->kh * g->kw * b.ld;
	bool span = conv_span_ok(g);
	for (int64_t ki = 0; ki < g->kh; ki++)
		for (int64_t kj = 0; kj < g->kw; kj++) {
			Cols t = cols_of(g, kj);
			float *in = col + (ki * g->kw + kj) * b.ld;
			if (span) {
				Span sp = span_of(g, b, ki, &t);
				for (int64_t c = 0; c < cg; c++)
					col2im_span(g, in + c * step, b, &sp, &t, x + c * plane);
				continue;
			}
			for (int64_t c = 0; c < cg; c++, in += step) {
				float *xc = x + c * plane;
				for (int64_t i = b.i0; i < b.i1; i++) {
					int64_t ih = i * g->sh - g->ph + ki * g->dh;
					if (ih < 0 || ih >= g->h)
						continue;
					float *xr = xc + ih * g->w;
					const float *cr = in + (i - b.i0) * ow;
					if (sw == 1)
						rt_conv_add_row(xr + t.j0 + t.off, cr + t.j0, t.j1 - t.j0);
					else if (sw == 2)
						rt_conv_scatter_add2(xr + 2 * t.j0 + t.off, cr + t.j0, t.j1 - t.j0,
							g->w - 2 * t.j0 - t.off);
					else
						for (int64_t j = t.j0; j < t.j1; j++)
							xr[j * sw + t.off] += cr[j];
				}
			}
		}
}

/* col2im of one image's grid (dx_grid): row (c, ki, kj) of col, ld
   floats apart, added to dx[c] from ki * dh * W + kj * dw on as one run,
   taps in col2im's order. */
static void col2im_grid(const RtConv *g, const float *col, int64_t ld, float *x)
{
	int64_t cg = g->c / g->groups, plane = g->h * g->w, step = g->kh * g->kw * ld, n = grid_cols(g);
	for (int64_t ki = 0; ki < g->kh; ki++)
		for (int64_t kj = 0; kj < g->kw; kj++) {
			const float *in = col + (ki * g->kw + kj) * ld;
			float *at = x + ki * g->dh * g->w + kj * g->dw;
			for (int64_t c = 0; c < cg; c++)
				rt_conv_add_row(at + c * plane, in + c * step, n);
		}
}

/* Output rows per block: about RT_CONV_BLOCK output pixels (at least a row), so that the
   block's im2col matrix stays in cache between its copy and its GEMM. */
static int64_t block_rows(const RtConv *g)
{
	int64_t rows = g->ow > 0 ? RT_CONV_BLOCK / g->ow : 1;
	return rows < 1 ? 1 : rows > g->oh ? (g->oh > 0 ? g->oh : 1) : rows;
}

/* One call's operands; each part p works on images [lo, hi) of
   bounds(p) with col = work + p * col_floats. */
typedef struct Job {
	const RtConv *g;
	RtConvOp op;
	Sizes s;
	const float *a, *b; /* x, w (forward); dy, w (dx); x, dy (dw) */
	float *out, *work;
	int64_t parts;
	const RtConvGemm *k; /* generated products, or NULL */
	char *gemm_work;
	/* the work of images [n, n + cnt)'s group gi in part p (first: the
	   part's first images) */
	void (*one)(const struct Job *j, int64_t p, int64_t n, int64_t cnt, int64_t gi, bool first);
} Job;

/* The product over bl output pixels (a block, a group of images, or the
   whole image of a plain convolution): the one place that says how each
   op is a GEMM.  y or dy is read or written where it lies (rows OH * OW
   apart) but for a group (bl > OH * OW), whose rows are the scratch's, bl
   apart. */
static RtConvProduct product_of(const RtConv *g, RtConvOp op, int64_t bl)
{
	Sizes s = sizes_of(g);
	int64_t ly = bl > s.ohw ? bl : s.ohw;
	switch (op) {
	case RT_CONV_Y: /* y[og, bl] = w[og, k] @ col[k, bl] */
		return (RtConvProduct){ .m = s.og, .n = bl, .k = s.k, .lda = s.k, .ldb = bl, .ldc = ly };
	case RT_CONV_DX: /* col[k, bl] = w^T @ dy[og, bl] */
		return (RtConvProduct){ .m = s.k, .n = bl, .k = s.og, .ta = true, .lda = s.k, .ldb = ly, .ldc = bl };
	default: /* dw[og, k] += dy[og, bl] @ col^T */
		return (RtConvProduct){ .m = s.og, .n = s.k, .k = bl, .tb = true, .lda = ly, .ldb = bl, .ldc = s.k,
			.acc = true };
	}
}

static void bounds_of(const RtConv *g, int64_t parts, int64_t p, int64_t *lo, int64_t *hi);

int rt_conv2d_products(const RtConv *g, RtConvOp op, bool taps, RtConvProduct out[RT_CONV_PRODUCTS])
{
	if (taps)
		return rt_conv_taps_products(g, op, out);
	int64_t rows = conv_plain(g) ? g->oh : block_rows(g), whole = g->oh / rows, rest = g->oh % rows;
	int64_t per = g->n * g->groups, parts = rt_conv2d_parts(g), gs = group_images(g, op), cols = image_cols(g, op);
	bool scratch = through_rows(g, op);
	if (per == 0 || g->oh * g->ow == 0)
		return 0;
	int n = 0;
	if (scratch) {
		/* each part: its full groups, then its leftover images one by one
		   (a grid's "groups" of one image are all full) */
		int64_t full = 0, single = 0;
		for (int64_t p = 0; p < parts; p++) {
			int64_t lo, hi;
			bounds_of(g, parts, p, &lo, &hi);
			full += (hi - lo) / gs;
			single += (hi - lo) % gs;
		}
		out[n] = product_of(g, op, gs * cols);
		out[n++].calls = full * g->groups;
		if (single > 0) {
			out[n] = product_of(g, op, cols);
			out[n++].calls = single * g->groups;
		}
	} else if (whole > 0) {
		out[n] = product_of(g, op, rows * g->ow);
		out[n++].calls = per * whole;
	}
	if (!scratch && rest > 0) {
		out[n] = product_of(g, op, rest * g->ow);
		out[n++].calls = per;
	}
	for (int i = 0; i < n; i++)
		out[i].parallel = parts == 1 && out[i].m * out[i].n * out[i].k >= RT_GEMM_SERIAL_MAX;
	return n;
}

/* The product over bl pixels into C, by part p: the generated kernel of
   its shape when the call has one, else OpenBLAS.  With several parts
   OpenBLAS is on one thread already (run_parts); a single part's GEMM is
   cut into parts of its own by the size rule of every GEMM (rt_sgemm). */
static void gemm(const Job *j, int64_t p, int64_t bl, const float *A, const float *B, float *C)
{
	RtConvProduct q = product_of(j->g, j->op, bl);
	/* block_rows <= OH: there is always a full block, product 0 */
	RtGemmFn fn = j->k ? j->k->fn[bl == full_pixels(j->g, j->op) ? 0 : 1] : NULL;
	if (fn) {
		fn(A, B, C, j->gemm_work + p * j->k->stride);
		return;
	}
	if (j->parts == 1) {
		rt_sgemm(q.ta, q.tb, q.m, q.n, q.k, 1.0f, A, q.lda, B, q.ldb, q.acc ? 1.0f : 0.0f, C, q.ldc);
		return;
	}
	cblas_sgemm(CblasRowMajor, q.ta ? CblasTrans : CblasNoTrans, q.tb ? CblasTrans : CblasNoTrans, (int)q.m,
		(int)q.n, (int)q.k, 1.0f, A, (int)q.lda, B, (int)q.ldb, q.acc ? 1.0f : 0.0f, C, (int)q.ldc);
}

/* Part p's images [lo, hi) of parts. */
static void bounds_of(const RtConv *g, int64_t parts, int64_t p, int64_t *lo, int64_t *hi)
{
	rt_conv_part_images(g->n, parts, p, lo, hi);
}

static void bounds(const Job *j, int64_t p, int64_t *lo, int64_t *hi)
{
	bounds_of(j->g, j->parts, p, lo, hi);
}

/* The block of output rows from i0 on (the next starts at its i1). */
static Block block_at(const RtConv *g, int64_t i0)
{
	int64_t i1 = i0 + block_rows(g) < g->oh ? i0 + block_rows(g) : g->oh;
	Block b = { i0, i1, (i1 - i0) * g->ow, (i1 - i0) * g->ow };
	return b;
}

/* One image's block of a group of cnt images: all its rows, its columns
   of the group's col matrix. */
static Block group_block(const RtConv *g, int64_t cnt)
{
	Block b = { 0, g->oh, g->oh * g->ow, cnt * g->oh * g->ow };
	return b;
}

/* Image n's group gi of x (forward, dw) or of dx (dx), and of y or dy. */
static int64_t x_at(const RtConv *g, const Sizes *s, int64_t n, int64_t gi)
{
	return (n * g->c + gi * s->cg) * s->hw;
}

static int64_t y_at(const RtConv *g, const Sizes *s, int64_t n, int64_t gi)
{
	return (n * g->o + gi * s->og) * s->ohw;
}

/* Part p's partial weight gradient: dw itself for part 0, else past the
   parts' col matrices and rows. */
static float *partial(const Job *j, int64_t p)
{
	return p == 0 ? j->out : j->work + j->parts * part_floats(j->g, j->op) + (p - 1) * j->g->o * j->s.k;
}

/* Part p's col matrix, and its rows for a group's y or dy after it. */
static float *col_of(const Job *j, int64_t p)
{
	return j->work + p * part_floats(j->g, j->op);
}

static float *rows_of(const Job *j, int64_t p)
{
	return col_of(j, p) + col_floats(j->g, j->op);
}

/* The scratch rows[og][cnt * cols] of a group of cnt images, image i's
   cols (image_cols: OH * OW, or its grid's) at i * cols, and the rows of y
   or dy (group gi) of images [n, n + cnt): the offsets of image i's row o
   in each. */
static int64_t rows_at(int64_t cols, int64_t cnt, int64_t i, int64_t o)
{
	return (o * cnt + i) * cols;
}

static int64_t image_row_at(const Job *j, int64_t n, int64_t gi, int64_t o)
{
	return y_at(j->g, &j->s, n, gi) + o * j->s.ohw;
}

/* dy's rows of the group into its scratch rows: as they are, or onto
   the grid (dx_grid: output row r at r * W, zeros after it). */
static void gather_rows(const Job *j, int64_t n, int64_t cnt, int64_t gi, const float *dy, float *rows)
{
	const RtConv *g = j->g;
	bool grid = dx_grid(g, j->op);
	int64_t cols = image_cols(g, j->op);
	for (int64_t i = 0; i < cnt; i++)
		for (int64_t o = 0; o < j->s.og; o++) {
			float *d = rows + rows_at(cols, cnt, i, o);
			const float *src = dy + image_row_at(j, n + i, gi, o);
			if (!grid) {
				memcpy(d, src, (size_t)j->s.ohw * sizeof *dy);
				continue;
			}
			for (int64_t r = 0; r < g->oh; r++, d += g->w, src += g->ow) {
				rt_conv_copy_row(d, src, g->ow);
				for (int64_t c = g->ow; c < g->w && r + 1 < g->oh; c++)
					d[c] = 0.0f;
			}
		}
}

/* The group's scratch rows out into y. */
static void scatter_rows(const Job *j, int64_t n, int64_t cnt, int64_t gi, const float *rows, float *y)
{
	for (int64_t i = 0; i < cnt; i++)
		for (int64_t o = 0; o < j->s.og; o++)
			memcpy(y + image_row_at(j, n + i, gi, o), rows + rows_at(j->s.ohw, cnt, i, o), (size_t)j->s.ohw * sizeof *y);
}

/* im2col of images [n, n + cnt)'s group gi side by side into col. */
static void group_im2col(const Job *j, int64_t n, int64_t cnt, int64_t gi, float *col)
{
	Block b = group_block(j->g, cnt);
	for (int64_t i = 0; i < cnt; i++)
		im2col(j->g, j->a + x_at(j->g, &j->s, n + i, gi), b, col + i * b.bl);
}

/* y of images [n, n + cnt), group gi = w @ col: block by block for one
   image, one product for a group. */
static void forward_one(const Job *j, int64_t p, int64_t n, int64_t cnt, int64_t gi, bool first)
{
	const RtConv *g = j->g;
	const Sizes *s = &j->s;
	const float *x = j->a + x_at(g, s, n, gi), *w = j->b + gi * s->og * s->k;
	float *y = j->out + y_at(g, s, n, gi), *col = col_of(j, p);
	(void)first;
	if (cnt > 1) {
		group_im2col(j, n, cnt, gi, col);
		gemm(j, p, cnt * s->ohw, w, col, rows_of(j, p));
		scatter_rows(j, n, cnt, gi, rows_of(j, p), j->out);
		return;
	}
	if (conv_plain(g)) {
		gemm(j, p, s->ohw, w, x, y);
		return;
	}
	for (Block b = block_at(g, 0); b.i0 < g->oh; b = block_at(g, b.i1)) {
		im2col(g, x, b, col);
		gemm(j, p, b.bl, w, col, y + b.i0 * g->ow);
	}
}

/* dx of images [n, n + cnt), group gi = col2im(w^T @ dy): block by block
   for one image, one product for a group. */
static void dx_one(const Job *j, int64_t p, int64_t n, int64_t cnt, int64_t gi, bool first)
{
	const RtConv *g = j->g;
	const Sizes *s = &j->s;
	float *dx = j->out + x_at(g, s, n, gi), *col = col_of(j, p);
	const float *dy = j->a + y_at(g, s, n, gi), *w = j->b + gi * s->og * s->k;
	bool grid = dx_grid(g, j->op);
	(void)first;
	/* a group, or a grid (a part's leftover image of a group reads dy
	   where it lies, below) */
	if (cnt > 1 || grid) {
		float *rows = rows_of(j, p);
		int64_t cols = image_cols(g, j->op);
		gather_rows(j, n, cnt, gi, j->a, rows);
		gemm(j, p, cnt * cols, w, rows, col);
		Block b = group_block(g, cnt);
		for (int64_t i = 0; i < cnt; i++) {
			float *dxi = j->out + x_at(g, s, n + i, gi);
			memset(dxi, 0, (size_t)(s->cg * s->hw) * sizeof *dxi);
			if (grid)
				col2im_grid(g, col + i * cols, cnt * cols, dxi);
			else
				col2im(g, col + i * b.bl, b, dxi);
		}
		return;
	}
	if (conv_plain(g)) {
		gemm(j, p, s->ohw, w, dy, dx);
		return;
	}
	memset(dx, 0, (size_t)(s->cg * s->hw) * sizeof *dx);
	for (Block b = block_at(g, 0); b.i0 < g->oh; b = block_at(g, b.i1)) {
		gemm(j, p, b.bl, w, dy + b.i0 * g->ow, col);
		col2im(g, col, b, dx);
	}
}

/* Part p's partial dw, group gi += dy @ col^T of image n (cnt is 1: the
   weight gradient goes image by image, group_images), block by block;
   first: the part's first image, before which it is zeroed (every product
   accumulates: one kernel per shape, not a setting and an accumulating
   one). */
static void dw_one(const Job *j, int64_t p, int64_t n, int64_t cnt, int64_t gi, bool first)
{
	const RtConv *g = j->g;
	const Sizes *s = &j->s;
	const float *x = j->a + x_at(g, s, n, gi), *dy = j->b + y_at(g, s, n, gi);
	float *dw = partial(j, p) + gi * s->og * s->k, *col = col_of(j, p);
	(void)cnt;
	if (first)
		memset(dw, 0, (size_t)(s->og * s->k) * sizeof *dw);
	if (conv_plain(g)) {
		gemm(j, p, s->ohw, dy, x, dw);
		return;
	}
	for (Block b = block_at(g, 0); b.i0 < g->oh; b = block_at(g, b.i1)) {
		im2col(g, x, b, col);
		gemm(j, p, b.bl, dy + b.i0 * g->ow, col, dw);
	}
}

/* Parts [p0, p1): every image of each, every group of each image; the
   images in groups of group_images while a full group is left, then one
   by one (rt_conv2d_products counts them alike). */
static void run_range(void *ctx, int64_t p0, int64_t p1)
{
	const Job *j = ctx;
	int64_t gs = group_images(j->g, j->op);
	for (int64_t p = p0; p < p1; p++) {
		int64_t lo, hi;
		bounds(j, p, &lo, &hi);
		for (int64_t n = lo; n < hi;) {
			int64_t cnt = hi - n >= gs ? gs : 1;
			for (int64_t gi = 0; gi < j->g->groups; gi++)
				j->one(j, p, n, cnt, gi, n == lo);
			n += cnt;
		}
	}
}

/* The call's op read in place when its kernels are tapped ones. */
static bool run_tapped(const Job *j)
{
	if (!j->k || !j->k->taps)
		return false;
	rt_conv_taps_run(j->g, j->op, j->a, j->b, j->out, j->work, j->k, j->gemm_work);
	return true;
}

static void run_parts(Job *j)
{
	j->s = sizes_of(j->g);
	j->parts = rt_conv2d_parts(j->g);
	if (j->parts == 1) {
		run_range(j, 0, 1);
		return;
	}
	int threads = rt_gemm_serial_begin();
	rt_parallel_for(j->parts, run_range, j);
	rt_gemm_serial_end(threads);
}

void rt_conv2d(const RtConv *g, const float *x, const float *w, float *y, float *work, const RtConvGemm *k,
	char *gemm_work)
{
	Job j = { .g = g, .op = RT_CONV_Y, .a = x, .b = w, .out = y, .work = work, .k = k, .gemm_work = gemm_work,
		.one = forward_one };
	if (!run_tapped(&j))
		run_parts(&j);
}

void rt_conv2d_dx(const RtConv *g, const float *dy, const float *w, float *dx, float *work, const RtConvGemm *k,
	char *gemm_work)
{
	Job j = { .g = g, .op = RT_CONV_DX, .a = dy, .b = w, .out = dx, .work = work, .k = k, .gemm_work = gemm_work,
		.one = dx_one };
	if (!run_tapped(&j))
		run_parts(&j);
}

void rt_conv2d_dw(const RtConv *g, const float *x, const float *dy, float *dw, float *work, const RtConvGemm *k,
	char *gemm_work)
{
	Job j = { .g = g, .op = RT_CONV_DW, .a = x, .b = dy, .out = dw, .work = work, .k = k, .gemm_work = gemm_work,
		.one = dw_one };
	int64_t size = g->o * sizes_of(g).k;
	if (g->n == 0) {
		memset(dw, 0, (size_t)size * sizeof *dw);
		return;
	}
	if (run_tapped(&j))
		return;
	run_parts(&j);
	/* the parts in order: the same sum whichever thread ran which part */
	for (int64_t p = 1; p < j.parts; p++)
		rt_conv_add_row(dw, partial(&j, p), size);
}
